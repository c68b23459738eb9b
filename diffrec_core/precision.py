"""Numeric precision of training and scoring: ``fp32`` (the default, unchanged arithmetic) or ``bf16``.

``bf16`` runs the network forward passes under ``torch.autocast(device_type, dtype=torch.bfloat16)``: the matrix
products (Linear, addmm, mm) take bfloat16 inputs (8 bits of mantissa, relative rounding 2^-9) and accumulate
in float32 inside the kernel; their outputs are bfloat16. Everything whose digits matter stays where it was:

* the parameters, their gradients and the optimiser state are float32 (autocast casts a copy per product);
* the diffusion state - noised input x_k, the noise, the reverse chain's x - is float32: ``GaussianDiffusion``
  upcasts a reduced-precision input, and its schedule coefficients are indexed in float64 and cast to the
  state's float32 (``_at``), never to bfloat16; the fused last-layer step of ``denoise_from``
  (``forward_mixed``) is skipped under autocast, so c1 x0_hat + c2 x_k is computed in float32;
* the loss: the per-row MSE of a bfloat16 output against the float32 target promotes to float32; the SNR
  weights (``loss_weight``) are float64, the importance-sampling history (``lt_history``) float64, and the
  step probabilities float64 as before;
* evaluation casts scores to float32 before masking and top-K (``train.evaluate``).

What bf16 does change: the network's output has bfloat16 resolution, so two items whose scores differ by less
than about 2^-9 of their size may tie in the ranking, and training follows a slightly different path (the
gradients are computed from bfloat16 products). Validation Recall@20 is therefore close to fp32's, not equal
(tests/test_precision.py states the tolerance).

Which methods: those whose model class sets ``autocast_ok = True`` (the DiffRec family: DiffRec, T-DiffRec,
L-DiffRec, whose networks and custom autograd functions were checked under autocast). Any other method asked
for bf16 raises :class:`ConfigError` naming why.
"""
from __future__ import annotations

import contextlib

import torch

from . import registry
from .methods.base import ConfigError

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"


def supported_methods() -> list:
    """Registered methods that may run in bf16 (their model class sets ``autocast_ok``)."""
    return [s.name for s in registry.specs() if getattr(s.model_cls, "autocast_ok", False)]


def check(precision: str, method: str = "") -> str:
    """``precision`` if it is known and ``method`` (a registered name, or empty) may use it; else ConfigError."""
    p = str(precision).strip().lower()
    if p not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if p != DEFAULT and method and method in registry.names():
        if not getattr(registry.get(method).model_cls, "autocast_ok", False):
            raise ConfigError(f"{method} does not support {p}: its network has not been checked under autocast "
                              f"(custom autograd functions and float32-only state); {p} is available for "
                              f"{', '.join(supported_methods())}")
    return p


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """The context the network forward passes run in: autocast to bfloat16 on ``device``'s type for 'bf16',
    nothing at all for 'fp32' (so the default path is the same code as without this module)."""
    if check(precision) == DEFAULT:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
