"""Tolerances derived from the dtype, for comparing two *different* computations of the same quantity.

BLAS kernels round differently per CPU (AMD EPYC, Intel Xeon with AVX-512 or AMX) and per batch shape, and
vectorised ``exp``/``log`` differ by an ULP between libraries, so two computations that agree exactly on one
machine can differ in the last bits on the next. Bitwise checks are kept for repeating the very same
computation (determinism); everything else compares within a bound that follows from the dtype:

* one float32 GEMM or network layer: a few ULP of the largest term, times the depth of the computation;
* a float32 quantity computed as ``1 - exp(-x)`` or ``1 - prod(...)``: a few ULP *of 1* (absolute), since the
  subtraction turns ``exp``'s last-bit rounding into a relative error of eps/x in the result;
* a cumulative product of T float32 factors: its relative error can grow by up to one ULP per factor.
"""
from __future__ import annotations

import numpy as np
import torch

EPS32 = float(torch.finfo(torch.float32).eps)    # 1.19e-7
EPS64 = float(torch.finfo(torch.float64).eps)    # 2.2e-16

# one float32 forward pass of a small network, two different batchings: ~10 ULP of values of order 1
F32_NET = dict(rtol=1e-5, atol=1e-5)
# a float32 chain of T sampler steps, each adding its own rounding
F32_CHAIN = dict(rtol=1e-4, atol=1e-4)


def f32_schedule_tol(T: int) -> dict:
    """Tolerance for a float32 noise schedule built with the same operations on another machine: 4 ULP of 1
    absolute (``1 - exp(-x)`` for small x), plus one ULP per factor of the cumulative product, relative."""
    return dict(rtol=max(1e-6, EPS32 * T), atol=4 * EPS32)


def assert_same_ranking(topk_a, topk_b, scores, atol: float) -> None:
    """Two top-K lists are the same ranking up to ties: at every rank the two items' reference scores agree
    within ``atol``. Items whose scores differ by an ULP can swap places between two computations; a real
    difference in ranking shows as a score gap larger than the rounding."""
    a, b, s = np.asarray(topk_a), np.asarray(topk_b), np.asarray(scores, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    rows = np.arange(len(a))[:, None] if a.ndim == 2 else slice(None)
    sa, sb = s[rows, a], s[rows, b]
    bad = ~np.isclose(sa, sb, rtol=0, atol=atol) & (a != b)
    assert not bad.any(), (f"rankings differ beyond ties at {np.argwhere(bad)[:5].tolist()}: "
                           f"{a[bad][:5]} vs {b[bad][:5]}")
