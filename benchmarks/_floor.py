"""The arithmetic floor of an MLP workload: the time the plain matrix products of the same shapes take, measured in
the calling process (same thread count, dtype and device as the run it is compared with).

Two workloads, both given as a list of layer sizes ``[d0, d1, ..., dL]`` (``d0`` includes any concatenated
conditioning, e.g. DiffRec's 2810 items + 10 time-embedding dims):

* ``train_epoch_floor`` - one training epoch: for each batch size, the chain of Linear layers forward
  (``F.linear`` = one addmm with the bias) and backward to every weight and bias. The input carries no gradient
  (as a data batch does not), so the first layer's backward computes only its weight gradient, and every other
  layer both its weight and its input gradient: exactly the GEMM shapes autograd runs for the real model.
  No activation, no loss, no optimiser step - those are the overheads the floor leaves out.
* ``eval_pass_floor`` - one evaluation pass: for each batch size, ``steps`` forward chains without autograd.

Each is timed ``reps`` times after a warm-up that runs every distinct batch shape once; the median is reported.
Random data: with ``torch.set_flush_denormal(True)`` (set by the callers) the values do not change the speed.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F


def batch_sizes(n: int, batch: int) -> List[int]:
    """The sizes of ``range(0, n, batch)`` slices: e.g. 5949 users in 400s -> 14 x 400 + 1 x 349."""
    return [min(batch, n - i) for i in range(0, n, batch)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _layers(sizes: Sequence[int], device, dtype, grad: bool):
    g = torch.Generator().manual_seed(0)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = (torch.randn(b, a, generator=g, dtype=dtype) * (2.0 / (a + b)) ** 0.5).to(device)
        bias = (torch.randn(b, generator=g, dtype=dtype) * 1e-3).to(device)
        out.append((w.requires_grad_(grad), bias.requires_grad_(grad)))
    return out


def _chain(x: torch.Tensor, layers) -> torch.Tensor:
    for w, b in layers:
        x = F.linear(x, w, b)
    return x


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where there is none), for the machine line of a report."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_share(cpu_s: float, wall_s: float) -> float:
    """Process CPU seconds over (wall seconds x torch threads): about 1 when the run had its cores to itself, well
    below 1 when other processes took them (then every wall time here is inflated)."""
    return cpu_s / max(wall_s * torch.get_num_threads(), 1e-9)


def flops_train(sizes: Sequence[int], batches: Sequence[int]) -> float:
    """Forward (1 GEMM per layer) + backward (weight GEMM per layer, input GEMM for all layers but the first)."""
    n = sum(batches)
    per_row = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    first = sizes[0] * sizes[1]
    return 2.0 * n * (3 * per_row - first)


def flops_eval(sizes: Sequence[int], batches: Sequence[int], steps: int) -> float:
    n = sum(batches)
    return 2.0 * n * steps * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _timed(fn, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def train_epoch_runner(sizes: Sequence[int], batches: Sequence[int], device="cpu", dtype=torch.float32):
    """A callable that runs the forward+backward GEMMs of one epoch (see the module docstring) and returns its
    wall seconds. Tensors are made, and every shape run once, when the runner is built, so repeated calls -
    e.g. one after every training epoch of a benchmark, the *paired* floor - time only the products."""
    device = torch.device(device)
    layers = _layers(sizes, device, dtype, grad=True)
    params = [t for wb in layers for t in wb]
    g = torch.Generator().manual_seed(1)
    xs = {b: torch.randn(b, sizes[0], generator=g, dtype=dtype).to(device) for b in set(batches)}
    dys = {b: torch.randn(b, sizes[-1], generator=g, dtype=dtype).to(device) for b in set(batches)}

    def epoch(bs):
        for b in bs:
            for p in params:
                p.grad = None       # the model's zero_grad(set_to_none=True): backward writes, never accumulates
            out = _chain(xs[b], layers)
            out.backward(dys[b])

    epoch(sorted(set(batches)))  # warm-up: every shape once
    return lambda: _timed(lambda: epoch(batches), device)


def eval_pass_runner(sizes: Sequence[int], batches: Sequence[int], steps: int, device="cpu",
                     dtype=torch.float32):
    """A callable that runs ``steps`` forward chains for every batch (one evaluation pass over all users) and
    returns its wall seconds; built and warmed up once, like :func:`train_epoch_runner`."""
    device = torch.device(device)
    layers = _layers(sizes, device, dtype, grad=False)
    g = torch.Generator().manual_seed(2)
    xs = {b: torch.randn(b, sizes[0], generator=g, dtype=dtype).to(device) for b in set(batches)}

    @torch.no_grad()
    def run(bs, n_steps):
        for b in bs:
            for _ in range(n_steps):
                _chain(xs[b], layers)

    run(sorted(set(batches)), 1)  # warm-up: every shape once
    return lambda: _timed(lambda: run(batches, steps), device)


def _median_of_runner(runner, reps: int) -> Dict[str, object]:
    times, shares = [], []
    for _ in range(reps):
        c0 = time.process_time()
        times.append(runner())
        shares.append(cpu_share(time.process_time() - c0, times[-1]))
    return {"seconds": statistics.median(times), "reps": times, "cpu_share": shares}


def train_epoch_floor(sizes: Sequence[int], batches: Sequence[int], reps: int = 3, device="cpu",
                      dtype=torch.float32) -> Dict[str, object]:
    """Median seconds of the forward+backward GEMMs of one epoch (see the module docstring)."""
    r = _median_of_runner(train_epoch_runner(sizes, batches, device, dtype), reps)
    r["gflop"] = flops_train(sizes, batches) / 1e9
    r["gflops_per_s"] = r["gflop"] / r["seconds"]
    return r


def eval_pass_floor(sizes: Sequence[int], batches: Sequence[int], steps: int, reps: int = 3, device="cpu",
                    dtype=torch.float32) -> Dict[str, object]:
    """Median seconds of ``steps`` forward chains for every batch (one evaluation pass over all users)."""
    r = _median_of_runner(eval_pass_runner(sizes, batches, steps, device, dtype), reps)
    r["gflop"] = flops_eval(sizes, batches, steps) / 1e9
    r["gflops_per_s"] = r["gflop"] / r["seconds"]
    return r
