"""DiffRec's denoiser ``DNN`` (DiffRec/models/DNN.py at d35a6c6; docs/methods.md §2.1), also used by L-DiffRec on the
latent and by DiffKG on KG rows.

Mirrored MLP: ``dims`` is the decoder half; ``out = dims + [I]``, ``in = reversed(out)``; the time embedding
(``sinusoid_cos_first`` + a Linear with no activation) is concatenated to the (dropped-out) input; tanh after every
layer but the last. Parameter names equal the authors', so their state_dicts load as they are.

Speed (same arithmetic, less memory traffic; measured in benchmarks/diffrec_ml1m.py):
* the first layer is ``x W_x^T + (emb W_t^T + b)`` instead of a Linear on the concatenation ``[x, emb]``, which
  would copy a (B, I+10) matrix at every step; when every row has the same step k (inference), the time
  embedding is computed once and broadcast;
* input dropout multiplies by a 0/1 keep mask (``diffusion/rng.keep_mask``: ``rand >= p`` in place, or at
  p = 1/2 on a large batch eight fair coins per random byte; a bool mask would first be copied to float) and
  folds the 1/(1-p) scale into the first matrix product (``bernoulli_`` is several times slower on CPU; the
  distribution is nn.Dropout's);
* the first layer's backward (:class:`_FirstLayer`) writes the weight gradient of the x block and of the time
  block straight into one tensor; autograd through the two weight slices would zero-fill that tensor
  twice, copy each block in and add the two (about a tenth of a training epoch on ML-1M); that layer
  (:class:`FirstLinear`) stores its weight transposed, so the gradient is the tall product x^T g, which CPU
  BLAS runs faster than the wide g^T x (the state_dict still holds the authors' (H, I+10) ``weight``);
* ``forward_mixed`` fuses the reverse step's posterior mean c1 x0_hat + c2 x_k into the last layer.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.rng import column_major, keep_mask_like
from ..diffusion.timestep import sinusoid_cos_first


class _FirstLayer(torch.autograd.Function):
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
        self.register_state_dict_post_hook(_weight_out)
        self.register_load_state_dict_pre_hook(_weight_in)

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_t.t()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, z, self.weight_t)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features} (weight stored transposed)"


def _weight_out(module, state_dict, prefix, local_metadata) -> None:
    w, b = state_dict.pop(prefix + "weight_t").t(), state_dict.pop(prefix + "bias")
    state_dict[prefix + "weight"], state_dict[prefix + "bias"] = w, b          # nn.Linear's key order


def _weight_in(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    if prefix + "weight" in state_dict:
        w = state_dict.pop(prefix + "weight")
        state_dict[prefix + "weight_t"] = w.t() if isinstance(w, torch.Tensor) and w.dim() == 2 else w


def mirrored_dims(n_items: int, dims: Sequence[int]):
    out_dims = list(dims) + [int(n_items)]
    return out_dims[::-1], out_dims


class DNN(nn.Module):
    def __init__(self, in_dims: Sequence[int], out_dims: Sequence[int], emb_size: int = 10, norm: bool = False,
                 dropout: float = 0.5, bias_init: str = "normal"):
        super().__init__()
        if in_dims[-1] != out_dims[0] or in_dims[0] != out_dims[-1]:
            raise ValueError(f"in_dims {list(in_dims)} and out_dims {list(out_dims)} do not mirror")
        self.emb_size, self.norm = int(emb_size), bool(norm)
        self.emb_layer = nn.Linear(emb_size, emb_size)
        ins = [in_dims[0] + emb_size] + list(in_dims[1:])
        self.in_layers = nn.ModuleList([FirstLinear(ins[0], ins[1]),
                                        *(nn.Linear(a, b) for a, b in zip(ins[1:-1], ins[2:]))])
        self.out_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(out_dims[:-1], out_dims[1:]))
        self.drop = nn.Dropout(dropout)
        self.reset_parameters(bias_init)

    def reset_parameters(self, bias_init: str = "normal") -> None:
        """Xavier-normal weights (std sqrt(2/(fan_in+fan_out))); biases N(0, 0.001) as DiffRec, or zero as
        L-DiffRec's xavier_normal_ init."""
        for layer in [*self.in_layers, *self.out_layers, self.emb_layer]:
            fan_out, fan_in = layer.weight.shape
            w = torch.empty(fan_out, fan_in)        # drawn row-major: the same numbers for any storage layout
            nn.init.normal_(w, 0.0, float(np.sqrt(2.0 / (fan_in + fan_out))))
            with torch.no_grad():
                layer.weight.copy_(w)
            if bias_init == "normal":
                nn.init.normal_(layer.bias, 0.0, 0.001)
            else:
                nn.init.zeros_(layer.bias)

    def time_embedding(self, k: torch.Tensor) -> torch.Tensor:
        return self.emb_layer(sinusoid_cos_first(k, self.emb_size).to(self.emb_layer.weight.device))

    def _hidden(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Everything up to the input of the last layer."""
        if k.numel() > 1 and (k.stride(0) == 0 or (k.device.type == "cpu" and bool((k == k[0]).all()))):
            k = k[:1]          # one embedding row, broadcast by addmm (stride 0: GaussianDiffusion._k's one step)
        emb = self.time_embedding(k)
        if self.norm:
            x = F.normalize(x)
        scale, p = 1.0, self.drop.p
        if self.training and p > 0:
            x = x * keep_mask_like(x, p)
            scale = 1.0 / (1.0 - p)
        first = self.in_layers[0]
        # == first([dropout(x), emb]) without materialising the concatenation
        if torch.is_grad_enabled() and first.weight_t.requires_grad and not x.requires_grad:
            h = torch.tanh(_FirstLayer.apply(x, emb, first.weight_t, first.bias, scale))
        else:
            d, wt = x.shape[-1], first.weight_t
            h = torch.tanh(torch.addmm(torch.addmm(first.bias, emb, wt[d:]), x, wt[:d], alpha=scale))
        for layer in self.in_layers[1:]:
            h = torch.tanh(layer(h))
        for layer in self.out_layers[:-1]:
            h = torch.tanh(layer(h))
        return h

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        last = self.out_layers[-1]
        if column_major(x):
            # output in x's layout, computed as its transpose W h^T + b: CPU BLAS writes a (B, I) result about
            # 1.3x faster column by column than row by row (the wide last layer is a quarter of a DiffRec step)
            return torch.addmm(last.bias.unsqueeze(1), last.weight, self._hidden(x, k).t()).t()
        return last(self._hidden(x, k))

    def forward_mixed(self, x: torch.Tensor, k: torch.Tensor, c1: float, c2: float) -> torch.Tensor:
        """c1 * forward(x, k) + c2 * x in the last matrix product (the x0-mode posterior mean, docs/methods.md §1.6)."""
        last = self.out_layers[-1]
        out = torch.addmm(last.bias, self._hidden(x, k), last.weight.t(), beta=c1, alpha=c1)
        return out.add_(x, alpha=c2) if c2 != 0.0 else out
