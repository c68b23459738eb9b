"""The fast paths of DiffRec's denoiser (``dnn.py``): the same arithmetic as the paper's MLP, less memory traffic.

Measured in benchmarks/diffrec_ml1m.py:
* the first layer is ``x W_x^T + (emb W_t^T + b)`` instead of a Linear on the concatenation ``[x, emb]``, which
  would copy a (B, I+10) matrix at every step; when every row has the same step k (inference), the time
  embedding is computed once and broadcast;
* input dropout multiplies by a 0/1 keep mask (``diffusion/rng.keep_mask``: ``rand >= p`` in place, or at
  p = 1/2 on a large batch eight fair coins per random byte; a bool mask would first be copied to float) and
  folds the 1/(1-p) scale into the first matrix product (``bernoulli_`` is several times slower on CPU; the
  distribution is nn.Dropout's);
* the first layer's backward (:class:`FirstLayerFn`) writes the weight gradient of the x block and of the time
  block straight into one tensor; autograd through the two weight slices would zero-fill that tensor
  twice, copy each block in and add the two (about a tenth of a training epoch on ML-1M); that layer
  (:class:`FirstLinear`) stores its weight transposed, so the gradient is the tall product x^T g, which CPU
  BLAS runs faster than the wide g^T x (the state_dict still holds the authors' (H, I+10) ``weight``);
* :func:`last_layer` writes the output in the input batch's memory order, and :func:`last_layer_mixed`
  (``DNN.forward_mixed``) fuses the reverse step's posterior mean c1 x0_hat + c2 x_k into the last layer.
"""
from __future__ import annotations

import torch
from torch import nn

from ..diffusion.rng import column_major


class FirstLayerFn(torch.autograd.Function):
    """h = scale * x W_x^T + emb W_t^T + b with W = [W_x | W_t] (the Linear on the concatenation ``[x, emb]``),
    given ``wt`` = W^T (I+10, H) as :class:`FirstLinear` stores it.

    ``x`` (the dropped-out, noised batch) never needs a gradient; ``emb`` (B or 1 rows) does, for the time
    embedding layer. Gradients are the Linear's, transposed: dW_x^T = scale x^T g, dW_t^T = emb^T g,
    db = sum_rows g, d emb = g W_t (summed over rows when one embedding row was broadcast). The weight gradient
    is the tall (I, H) product x^T g, which CPU BLAS runs 1.3-1.5x faster than the wide (H, I) product g^T x
    of a row-major Linear weight (measured on ML-1M shapes, 2 cores)."""

    @staticmethod
    def forward(ctx, x, emb, wt, bias, scale: float):
        d = x.shape[-1]
        ctx.save_for_backward(x, emb, wt)
        ctx.scale = scale
        return torch.addmm(torch.addmm(bias, emb, wt[d:]), x, wt[:d], alpha=scale)

    @staticmethod
    def backward(ctx, g):
        x, emb, w32 = ctx.saved_tensors
        wt = w32
        if g.dtype != w32.dtype:   # forward ran under bf16 autocast: the products in g's dtype, as for a Linear
            x, emb, wt = x.to(g.dtype), emb.to(g.dtype), w32.to(g.dtype)
        d = x.shape[-1]
        gw = gb = gemb = None
        if ctx.needs_input_grad[2]:
            gw = torch.empty_like(wt)
            torch.addmm(gw[:d], x.t(), g, beta=0.0, alpha=ctx.scale, out=gw[:d])   # BLAS writes the block
            if emb.shape[0] == g.shape[0]:
                torch.mm(emb.t(), g, out=gw[d:])
            else:                                                       # one broadcast row
                torch.outer(emb[0], g.sum(0), out=gw[d:])
        if ctx.needs_input_grad[3]:
            gb = g.sum(0)
        if ctx.needs_input_grad[1]:
            gemb = g @ wt[d:].t()
            if emb.shape[0] != g.shape[0]:
                gemb = gemb.sum(0, keepdim=True)
        if wt is not w32:          # gradients of float32 parameters in float32
            gw, gb = (None if t is None else t.to(w32.dtype) for t in (gw, gb))
        return None, gemb, gw, gb, None


class FirstLinear(nn.Module):
    """DiffRec's first Linear (I+10 -> H) holding its weight transposed: parameter ``weight_t`` (I+10, H),
    contiguous. ``weight`` is the (H, I+10) view, and the state_dict reads and writes ``weight`` exactly as
    ``nn.Linear`` does, so the authors' checkpoints load and ours stay theirs. Why not a column-major
    ``nn.Linear`` weight: the fused AdamW step runs about 2x slower on a non-contiguous parameter."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        lin = nn.Linear(self.in_features, self.out_features)   # draws what nn.Linear draws, so every later
        self.weight_t = nn.Parameter(lin.weight.detach().t().contiguous())   # draw of a seed stays the same
        self.bias = nn.Parameter(lin.bias.detach().clone())
        self.register_state_dict_post_hook(weight_out)
        self.register_load_state_dict_pre_hook(weight_in)

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_t.t()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, z, self.weight_t)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features} (weight stored transposed)"


def weight_out(module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: write nn.Linear's (H, I+10) ``weight`` from the stored transpose, in nn.Linear's key order."""
    w, b = state_dict.pop(prefix + "weight_t").t(), state_dict.pop(prefix + "bias")
    state_dict[prefix + "weight"], state_dict[prefix + "bias"] = w, b          # nn.Linear's key order


def weight_in(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """Load hook: read nn.Linear's ``weight`` (the authors' checkpoints, ours) into the stored transpose."""
    if prefix + "weight" in state_dict:
        w = state_dict.pop(prefix + "weight")
        state_dict[prefix + "weight_t"] = w.t() if isinstance(w, torch.Tensor) and w.dim() == 2 else w


def first_layer(first: FirstLinear, x: torch.Tensor, emb: torch.Tensor, scale: float) -> torch.Tensor:
    """``first([scale * x, emb])`` (before the tanh) without materialising the concatenation: through
    :class:`FirstLayerFn` when the weights need gradients, else as two fused matrix products. ``emb`` has B rows
    or one (broadcast)."""
    if torch.is_grad_enabled() and first.weight_t.requires_grad and not x.requires_grad:
        return FirstLayerFn.apply(x, emb, first.weight_t, first.bias, scale)
    d, wt = x.shape[-1], first.weight_t
    return torch.addmm(torch.addmm(first.bias, emb, wt[d:]), x, wt[:d], alpha=scale)


def last_layer(last: nn.Linear, h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``last(h)`` in the memory order of ``like`` (the input batch): for a column-major batch computed as its
    transpose W h^T + b, since CPU BLAS writes a (B, I) result about 1.3x faster column by column than row by row
    (the wide last layer is a quarter of a DiffRec step)."""
    if column_major(like):
        return torch.addmm(last.bias.unsqueeze(1), last.weight, h.t()).t()
    return last(h)


def last_layer_mixed(last: nn.Linear, h: torch.Tensor, x: torch.Tensor, c1: float, c2: float) -> torch.Tensor:
    """c1 * last(h) + c2 * x in the last matrix product (the x0-mode posterior mean, docs/methods.md §1.6)."""
    out = torch.addmm(last.bias, h, last.weight.t(), beta=c1, alpha=c1)
    return out.add_(x, alpha=c2) if c2 != 0.0 else out
