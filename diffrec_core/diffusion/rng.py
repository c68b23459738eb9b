"""Large random draws split over threads, reproducibly.

Why: PyTorch's CPU generators are serial. A DiffRec training batch on ML-1M needs two full (400 x 2810) draws - the
Gaussian noise of q(x_k | x0) and the input-dropout mask - and drawn on one core they cost about a seventh of an
epoch on a 2-core machine, while the matrix products around them use both cores. Here a large draw is cut into a
fixed number of contiguous chunks, each filled by its own generator seeded from the caller's generator (or the
global one), on a small thread pool (the fills release the GIL).

Reproducibility: the number of chunks is a constant, not the machine's thread count, so a seed gives the same
numbers on every machine and with any number of threads (only the wall time changes). Draws below ``MIN_SPLIT``
elements - every sample-world batch, every single-user trajectory on a page - are plain ``torch.randn``/``rand``
calls, identical to the unsplit stream.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import torch

CHUNKS = 4                 # fixed: the numbers never depend on the machine
MIN_SPLIT = 1 << 18        # elements; smaller draws use one generator as before
_pools: dict = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diffrec-rng")
    return _pools[workers]


def draw(shape: Sequence[int], kind: str = "normal", generator: Optional[torch.Generator] = None,
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A CPU tensor of standard-normal (``kind='normal'``) or U[0, 1) (``'uniform'``) draws."""
    shape = tuple(int(s) for s in shape)
    n = 1
    for s in shape:
        n *= s
    plain = torch.randn if kind == "normal" else torch.rand
    if kind not in ("normal", "uniform"):
        raise ValueError(f"kind must be 'normal' or 'uniform', got {kind!r}")
    if n < MIN_SPLIT:
        return plain(shape, generator=generator, dtype=dtype)
    seeds = torch.randint(0, 2**62, (CHUNKS,), generator=generator).tolist()
    out = torch.empty(shape, dtype=dtype)
    parts = out.view(-1).tensor_split(CHUNKS)

    def fill(i: int) -> None:
        g = torch.Generator().manual_seed(int(seeds[i]))
        if kind == "normal":
            parts[i].normal_(generator=g)
        else:
            parts[i].uniform_(generator=g)

    workers = max(1, min(CHUNKS, torch.get_num_threads()))
    if workers == 1:
        for i in range(CHUNKS):
            fill(i)
    else:
        list(_pool(workers).map(fill, range(CHUNKS)))
    return out
