"""DiffRec's denoiser ``DNN`` (DiffRec/models/DNN.py at d35a6c6; methods.md 2.1), also used by L-DiffRec on the
latent and by DiffKG on KG rows.

Mirrored MLP: ``dims`` is the decoder half; ``out = dims + [I]``, ``in = reversed(out)``; the time embedding
(``sinusoid_cos_first`` + a Linear with no activation) is concatenated to the (dropped-out) input; tanh after every
layer but the last. Parameter names equal the authors', so their state_dicts load as they are.

Speed (same arithmetic, less memory traffic; measured in benchmarks/diffrec_ml1m.py):
* the first layer is ``x W_x^T + (emb W_t^T + b)`` instead of a Linear on the concatenation ``[x, emb]``, which
  would copy a (B, I+10) matrix at every step; when every row has the same step k (inference), the time
  embedding is computed once and broadcast;
* input dropout draws ``rand >= p`` in place (a float 0/1 mask: multiplying by a bool mask would first copy it to
  float; large draws are split over threads, ``diffusion/rng.py``) and folds the 1/(1-p) scale into the first
  matrix product (``bernoulli_`` is several times slower on CPU; the distribution is the same as nn.Dropout's);
* the first layer's backward (:class:`_FirstLayer`) writes the weight gradient of the x block and of the time
  block straight into one (H, I+10) tensor; autograd through the two weight slices would zero-fill that tensor
  twice, copy each block in and add the two (about a tenth of a training epoch on ML-1M);
* ``forward_mixed`` fuses the reverse step's posterior mean c1 x0_hat + c2 x_k into the last layer.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.rng import draw
from ..diffusion.timestep import sinusoid_cos_first


class _FirstLayer(torch.autograd.Function):
    """h = scale * x W_x^T + emb W_t^T + b with W = [W_x | W_t] (the Linear on the concatenation ``[x, emb]``).

    ``x`` (the dropped-out, noised batch) never needs a gradient; ``emb`` (B or 1 rows) does, for the time
    embedding layer. Gradients are the Linear's: dW_x = scale g^T x, dW_t = g^T emb, db = sum_rows g,
    d emb = g W_t (summed over rows when one embedding row was broadcast)."""

    @staticmethod
    def forward(ctx, x, emb, weight, bias, scale: float):
        d = x.shape[-1]
        ctx.save_for_backward(x, emb, weight)
        ctx.scale = scale
        return torch.addmm(F.linear(emb, weight[:, d:], bias), x, weight[:, :d].t(), alpha=scale)

    @staticmethod
    def backward(ctx, g):
        x, emb, weight = ctx.saved_tensors
        d = x.shape[-1]
        gw = gb = gemb = None
        if ctx.needs_input_grad[2]:
            gw = torch.empty_like(weight)
            torch.addmm(gw[:, :d], g.t(), x, beta=0.0, alpha=ctx.scale, out=gw[:, :d])   # BLAS writes the block
            if emb.shape[0] == g.shape[0]:
                torch.mm(g.t(), emb, out=gw[:, d:])
            else:                                                       # one broadcast row
                torch.outer(g.sum(0), emb[0], out=gw[:, d:])
        if ctx.needs_input_grad[3]:
            gb = g.sum(0)
        if ctx.needs_input_grad[1]:
            gemb = g @ weight[:, d:]
            if emb.shape[0] != g.shape[0]:
                gemb = gemb.sum(0, keepdim=True)
        return None, gemb, gw, gb, None


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
        self.in_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(ins[:-1], ins[1:]))
        self.out_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(out_dims[:-1], out_dims[1:]))
        self.drop = nn.Dropout(dropout)
        self.reset_parameters(bias_init)

    def reset_parameters(self, bias_init: str = "normal") -> None:
        """Xavier-normal weights (std sqrt(2/(fan_in+fan_out))); biases N(0, 0.001) as DiffRec, or zero as
        L-DiffRec's xavier_normal_ init."""
        for layer in [*self.in_layers, *self.out_layers, self.emb_layer]:
            fan_out, fan_in = layer.weight.shape
            nn.init.normal_(layer.weight, 0.0, float(np.sqrt(2.0 / (fan_in + fan_out))))
            if bias_init == "normal":
                nn.init.normal_(layer.bias, 0.0, 0.001)
            else:
                nn.init.zeros_(layer.bias)

    def time_embedding(self, k: torch.Tensor) -> torch.Tensor:
        return self.emb_layer(sinusoid_cos_first(k, self.emb_size).to(self.emb_layer.weight.device))

    def _hidden(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Everything up to the input of the last layer."""
        if k.numel() > 1 and bool((k == k[0]).all()):
            k = k[:1]                                   # one embedding row, broadcast by addmm
        emb = self.time_embedding(k)
        if self.norm:
            x = F.normalize(x)
        scale, p = 1.0, self.drop.p
        if self.training and p > 0:
            x = x * draw(x.shape, "uniform", None, x.dtype).to(x.device).ge_(p)
            scale = 1.0 / (1.0 - p)
        first = self.in_layers[0]
        # == first([dropout(x), emb]) without materialising the concatenation
        if torch.is_grad_enabled() and first.weight.requires_grad and not x.requires_grad:
            h = torch.tanh(_FirstLayer.apply(x, emb, first.weight, first.bias, scale))
        else:
            d = x.shape[-1]
            h = torch.tanh(torch.addmm(F.linear(emb, first.weight[:, d:], first.bias), x, first.weight[:, :d].t(),
                                       alpha=scale))
        for layer in self.in_layers[1:]:
            h = torch.tanh(layer(h))
        for layer in self.out_layers[:-1]:
            h = torch.tanh(layer(h))
        return h

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.out_layers[-1](self._hidden(x, k))

    def forward_mixed(self, x: torch.Tensor, k: torch.Tensor, c1: float, c2: float) -> torch.Tensor:
        """c1 * forward(x, k) + c2 * x in the last matrix product (the x0-mode posterior mean, methods.md 1.6)."""
        last = self.out_layers[-1]
        out = torch.addmm(last.bias, self._hidden(x, k), last.weight.t(), beta=c1, alpha=c1)
        return out.add_(x, alpha=c2) if c2 != 0.0 else out
