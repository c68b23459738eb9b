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

On a CUDA device (``device=``) a large draw is made there, by a device generator seeded from the caller's CPU
generator: drawing 10^6+ numbers on the CPU and copying them over made a GPU training epoch of DiffRec on ML-1M
20x its matrix-product floor and a DiffuRec validation pass on Beauty 50 s on an H100 (its lambda is a fresh
(B, L, d) draw at every step). Such draws are reproducible on a GPU, but not equal to the CPU's numbers; small
draws (every page trajectory, every sample-world training batch) stay on the CPU stream on every device, so the
app shows the same trajectories on a GPU as on a laptop (``tests/test_cuda.py``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np
import torch

CHUNKS = 4                 # fixed: the numbers never depend on the machine
MIN_SPLIT = 1 << 18        # elements; smaller draws use one generator as before
_pools: dict = {}


def _shape(shape: Sequence[int]):
    shape = tuple(int(s) for s in shape)
    n = 1
    for s in shape:
        n *= s
    return shape, n


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diffrec-rng")
    return _pools[workers]


def draw(shape: Sequence[int], kind: str = "normal", generator: Optional[torch.Generator] = None,
         dtype: torch.dtype = torch.float32, device=None, chunked: bool = True) -> torch.Tensor:
    """Standard-normal (``kind='normal'``) or U[0, 1) (``'uniform'``) draws on ``device`` (default the CPU).
    ``chunked=False`` keeps a large CPU draw on the one plain stream (callers whose released numbers predate
    the chunking)."""
    shape, n = _shape(shape)
    plain = torch.randn if kind == "normal" else torch.rand
    if kind not in ("normal", "uniform"):
        raise ValueError(f"kind must be 'normal' or 'uniform', got {kind!r}")
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and n >= MIN_SPLIT:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return plain(shape, generator=torch.Generator(device).manual_seed(seed), dtype=dtype, device=device)
    out = _cpu(shape, n, kind, plain, generator, dtype, chunked)
    return out if device is None else out.to(device)


def _cpu(shape, n, kind, plain, generator, dtype, chunked) -> torch.Tensor:
    if n < MIN_SPLIT or not chunked:
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

    # the calling thread fills its share too, rather than idling while a pool of `workers` threads is woken
    workers = max(1, min(CHUNKS, torch.get_num_threads()))
    mine = [i for i in range(CHUNKS) if i % workers == 0]
    theirs = [i for i in range(CHUNKS) if i % workers != 0]
    pending = [_pool(workers - 1).submit(fill, i) for i in theirs] if theirs else []
    for i in mine:
        fill(i)
    for f in pending:
        f.result()
    return out


def column_major(t: torch.Tensor) -> bool:
    """A 2-D batch stored column by column (DiffRec's training rows, ``DiffRec.fit_epoch``): draws made for it
    are made in its memory order (``like``), so element-wise passes over both read memory in order."""
    return t.dim() == 2 and t.shape[0] > 1 and t.shape[1] > 1 and t.stride(0) == 1


def normal_like(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard normal noise shaped (and laid out) like ``like``, from the caller's CPU generator (the "same noise
    across settings" promise of the app): small draws are the CPU stream on any device; large ones are split over
    threads on the CPU and made on the GPU itself there (:func:`draw`). The diffusion's noise."""
    return draw_like(like, "normal", generator)


def cpu_normal_like(like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard normal draws of the plain CPU stream at any size, moved to ``like``'s device: the same numbers on
    any device and under any thread count (L-DiffRec's reparameterisation noise, whose recorded runs read it)."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)


def draw_like(like: torch.Tensor, kind: str = "normal", generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``draw`` with ``like``'s shape, dtype, device and memory order (row- or column-major)."""
    if column_major(like):
        return draw(like.shape[::-1], kind, generator, like.dtype, like.device).t()
    return draw(like.shape, kind, generator, like.dtype, like.device)


def keep_mask_like(like: torch.Tensor, p: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``keep_mask`` with ``like``'s shape, device and memory order."""
    if column_major(like):
        return keep_mask(like.shape[::-1], p, generator, like.dtype, like.device).t()
    return keep_mask(like.shape, p, generator, like.dtype, like.device)


def keep_mask(shape: Sequence[int], p: float, generator: Optional[torch.Generator] = None, dtype=torch.float32,
              device=None) -> torch.Tensor:
    """The keep mask of dropout with drop probability ``p``: 1 with probability 1 - p, else 0 (as
    ``nn.Dropout``, before its 1/(1-p) scale, which callers fold elsewhere).

    Small draws are ``rand >= p`` on the plain stream, as before. A large CPU draw at p = 1/2 (DiffRec's input
    dropout) reads each bit of uniform random bytes as one fair coin - the same Bernoulli(1/2) distribution -
    from numpy's PCG64 seeded by ``generator``, unpacked by ``np.unpackbits``: about 0.2 ms for a (400 x 2810)
    ML-1M batch instead of 3.3 ms for a float uniform draw plus the compare (some 45 ms of a 0.9 s epoch on 2
    cores). The result is then a 0/1 uint8 tensor, which a product with a float tensor reads without a copy."""
    shape, n = _shape(shape)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if p == 0.5 and n >= MIN_SPLIT and dev.type == "cpu":
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        coins = np.frombuffer(np.random.default_rng(seed).bytes((n + 7) // 8), dtype=np.uint8)
        return torch.from_numpy(np.unpackbits(coins, count=n)).view(shape)
    return draw(shape, "uniform", generator, dtype, device).ge_(p)
