"""DiffRec's denoiser ``DNN`` (DiffRec/models/DNN.py at d35a6c6; methods.md 2.1), also used by L-DiffRec on the
latent and by DiffKG on KG rows.

Mirrored MLP: ``dims`` is the decoder half; ``out = dims + [I]``, ``in = reversed(out)``; the time embedding
(``sinusoid_cos_first`` + a Linear with no activation) is concatenated to the (dropped-out) input; tanh after every
layer but the last. Parameter names equal the authors', so their state_dicts load as they are.

Speed: the first layer is computed as ``x W_x^T + (emb W_t^T + b)`` instead of on the concatenation
``[x, emb]`` - the same arithmetic without copying a (B, I+10) matrix at every reverse step.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.timestep import sinusoid_cos_first


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

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        emb = self.time_embedding(k)
        if self.norm:
            x = F.normalize(x)
        x = self.drop(x)
        first = self.in_layers[0]
        d = x.shape[-1]
        # == first([x, emb]) without materialising the concatenation
        h = torch.tanh(torch.addmm(F.linear(emb, first.weight[:, d:], first.bias), x, first.weight[:, :d].t()))
        for layer in self.in_layers[1:]:
            h = torch.tanh(layer(h))
        last = len(self.out_layers) - 1
        for i, layer in enumerate(self.out_layers):
            h = layer(h)
            if i != last:
                h = torch.tanh(h)
        return h
