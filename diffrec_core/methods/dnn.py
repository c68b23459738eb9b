"""DiffRec's denoiser ``DNN`` (DiffRec/models/DNN.py at d35a6c6; docs/methods.md §2.1), also used by L-DiffRec on the
latent and by DiffKG on KG rows.

Mirrored MLP: ``dims`` is the decoder half; ``out = dims + [I]``, ``in = reversed(out)``; the time embedding
(``sinusoid_cos_first`` + a Linear with no activation) is concatenated to the (dropped-out) input; tanh after every
layer but the last. Parameter names equal the authors', so their state_dicts load as they are.

The first and last layers take faster routes to the same arithmetic (``dnn_fast.py``: no copy of the
concatenation ``[x, emb]``, a transposed first weight, the reverse step's mix fused into the last product); input
dropout multiplies by a 0/1 keep mask (``diffusion/rng.keep_mask``) and folds the 1/(1-p) scale into the first
product (the distribution is nn.Dropout's).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.rng import keep_mask_like
from ..diffusion.timestep import sinusoid_cos_first
from .dnn_fast import FirstLinear, first_layer, last_layer, last_layer_mixed

__all__ = ["DNN", "FirstLinear", "mirrored_dims"]


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
        h = torch.tanh(first_layer(self.in_layers[0], x, emb, scale))      # Linear([dropout(x), emb])
        for layer in self.in_layers[1:]:
            h = torch.tanh(layer(h))
        for layer in self.out_layers[:-1]:
            h = torch.tanh(layer(h))
        return h

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return last_layer(self.out_layers[-1], self._hidden(x, k), like=x)

    def forward_mixed(self, x: torch.Tensor, k: torch.Tensor, c1: float, c2: float) -> torch.Tensor:
        """c1 * forward(x, k) + c2 * x in the last matrix product (the x0-mode posterior mean, docs/methods.md §1.6)."""
        return last_layer_mixed(self.out_layers[-1], self._hidden(x, k), x, c1, c2)
