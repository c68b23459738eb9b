"""The two sinusoidal time embeddings of the five codebases (docs/methods.md §1.9).

They differ in frequency spacing and in the order of sin/cos, so a denoiser trained with one cannot be evaluated
with the other; both are kept, by name.
"""
from __future__ import annotations

import math

import torch


def sinusoid_cos_first(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """DiffRec / DiffKG / DiffuRec: f_j = exp(-ln(P) j / half), emb = [cos(t f), sin(t f)] (+ a zero column)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def sinusoid_sin_first(t: torch.Tensor, dim: int) -> torch.Tensor:
    """DreamRec SinusoidalPositionEmbeddings: f_j = exp(-j ln(10000)/(half-1)), emb = [sin(t f), cos(t f)]."""
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device) * -scale)
    args = t[:, None] * freqs[None, :]
    return torch.cat((args.sin(), args.cos()), dim=-1)
