"""Data-parallel training under ``torchrun`` (one process per CPU socket share or per GPU).

    torchrun --nproc_per_node 2 -m diffrec_core train --method diffrec --data sample --json
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m diffrec_core train ...                      # the same command on every machine, its own --node_rank

What is shared and what is not:

* **One global batch.** Every rank draws the same shuffled order (the NumPy generator keeps the run's seed) and
  takes its part of each global batch (:func:`shard`: ``np.array_split(batch, world)[rank]``), so the global
  batch is the single-process batch and a run's quality matches a single process within the seed spread.
* **Own noise.** Diffusion noise, step draws and dropout come from a per-rank seed (:func:`rank_seed`); rank 0
  keeps the run's seed, so ``torchrun --nproc_per_node 1`` repeats a plain run.
* **One gradient.** Before every optimiser step the gradients are summed over the ranks, each weighted by its
  share of the global batch (``n_rank / n_batch``), which is the gradient of the global batch's mean loss -
  the arithmetic of ``DistributedDataParallel``. It is installed as a global optimiser step pre-hook rather
  than by wrapping the model in ``DistributedDataParallel``: that wrapper synchronises only through its own
  ``forward``, whereas the methods call their sub-networks directly from ``fit_epoch`` (DiffRec's denoiser
  inside the diffusion loss, DreamRec's closure, DiffKG's two optimisers over different sub-modules), and it
  would rename every state-dict key. The hook reaches every optimiser a method creates, when it steps.
* **Buffers from rank 0.** After ``prepare`` and after each epoch, parameters and buffers (persistent or not:
  the importance sampler's loss history, DiffKG's rebuilt graph) are broadcast from rank 0, so the ranks hold
  one model.
* **Sharded evaluation.** Rank r scores the evaluation batches r, r + world, ... - the very batches (same
  users, same shapes) of the unsharded pass - and the per-user metric terms are gathered in user order, so every
  rank computes the same metrics as one process would, and the same selection and stopping decisions.
* **Rank 0 writes.** Only rank 0 prints the JSON line and writes checkpoints (:func:`is_main`).

Where two ranks differ from one process beyond their own noise: a loss term over the batch as a whole (DiffKG's
InfoNCE) is taken over each rank's share; the importance sampler's loss history (docs/methods.md §1.5) is
updated by each rank from its own rows during an epoch and then replaced by rank 0's; DiffKG's full-graph
propagation and KG rebuild run on every rank (only the batches are shared). Not data-parallel: the closed forms
(EASE, ItemKNN, Pop: ``prepare`` is the fit, run alike on every rank; the evaluation is still sharded) and the
reranking methods (DCDR and the rerank baselines train one list at a time; the command line refuses them
under torchrun).

Backend: gloo on CPU, nccl on CUDA (chosen from the device). Without torchrun's environment nothing here
changes a run: :func:`shard` returns the batch, the seeds are the run's, no hook is installed.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .errors import DiffRecError


class DistributedError(DiffRecError, RuntimeError):
    """torchrun's environment is inconsistent, or a process group cannot be formed."""


@dataclass(frozen=True)
class World:
    rank: int = 0            # this process among all processes (torchrun's RANK)
    world_size: int = 1      # number of processes (WORLD_SIZE); 1 = no process group
    local_rank: int = 0      # this process on its machine (LOCAL_RANK): the GPU it uses
    backend: str = ""        # 'gloo' | 'nccl'; '' without a process group


_WORLD = World()
_BATCH = {"local": 0, "rows": 0}    # rows of the batch being trained: this rank's, all ranks'
_HOOK = None


def world() -> World:
    return _WORLD


def active() -> bool:
    """Whether a process group of more than one process is running."""
    return _WORLD.world_size > 1


def is_main() -> bool:
    """Rank 0: the one process that prints results and writes files."""
    return _WORLD.rank == 0


def env_world(env=None) -> World:
    """torchrun's RANK / WORLD_SIZE / LOCAL_RANK, checked; ``World()`` when they are absent."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return World()
    try:
        size, rank, local = int(env["WORLD_SIZE"]), int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0))
    except ValueError as e:
        raise DistributedError(f"torchrun's environment holds a non-integer rank or world size ({e})") from e
    if size < 1 or not 0 <= rank < size or local < 0:
        raise DistributedError(f"torchrun's environment is inconsistent: RANK={rank}, WORLD_SIZE={size}, "
                               f"LOCAL_RANK={local}")
    return World(rank=rank, world_size=size, local_rank=local)


def device_for(requested: torch.device, w: Optional[World] = None) -> torch.device:
    """The device of this rank: a CUDA device becomes ``cuda:LOCAL_RANK`` (one GPU per process)."""
    w = w or _WORLD
    requested = torch.device(requested)
    if requested.type == "cuda" and w.world_size > 1:
        return torch.device("cuda", w.local_rank)
    return requested


def init(device: torch.device, env=None) -> World:
    """Form the process group torchrun describes (gloo on CPU, nccl on CUDA) and install the gradient
    synchronisation; a no-op returning ``World()`` outside torchrun or with one process."""
    global _WORLD, _HOOK
    w = env_world(env)
    if w.world_size <= 1:
        return w
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(w.local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, rank=w.rank, world_size=w.world_size)
        except (RuntimeError, ValueError) as e:
            raise DistributedError(f"cannot form the {backend} process group: {e}") from e
    _WORLD = World(w.rank, w.world_size, w.local_rank, backend)
    _HOOK = register_optimizer_step_pre_hook(_sync_gradients)
    return _WORLD


def shutdown() -> None:
    """Remove the hook and leave the process group (the end of a run, or of a test)."""
    global _WORLD, _HOOK
    if _HOOK is not None:
        _HOOK.remove()
        _HOOK = None
    if dist.is_initialized():
        dist.destroy_process_group()
    _WORLD = World()
    _BATCH.update(local=0, rows=0)


# ------------------------------------------------------------------------------------------------ seeds, batches
def rank_seed(seed: int, rank: Optional[int] = None) -> int:
    """The seed of a rank's own noise: the run's seed on rank 0 (so one process repeats a plain run); on rank
    r > 0 a 63-bit seed from NumPy's SeedSequence of (seed, r), independent of the other ranks' streams."""
    rank = _WORLD.rank if rank is None else int(rank)
    if rank == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed) & (2 ** 63 - 1), rank]).generate_state(1, np.uint64)[0]
    return int(state) & (2 ** 63 - 1)


def shard(rows):
    """This rank's part of one global batch (consecutive parts in rank order; the first ``len % world`` ranks
    take one row more). Records both counts for the gradient's weights. Without a process group: ``rows``."""
    if not active():
        return rows
    part = np.array_split(np.asarray(rows), _WORLD.world_size)[_WORLD.rank]
    _BATCH.update(local=len(part), rows=len(rows))
    return part


def shard_denominator(d: float) -> float:
    """The divisor for a loss written as ``sum / d`` over the global batch (DiffKG's BPR divides by the
    configured batch size): ``d * n_r / n`` on rank r, so that the weighted gradient sum of the hook gives back
    the gradient of ``sum / d``. Without a process group: ``d``."""
    if not active() or not _BATCH["local"] or not _BATCH["rows"]:
        return d
    return d * _BATCH["local"] / _BATCH["rows"]


def _weight() -> float:
    n, total = _BATCH["local"], _BATCH["rows"]
    return n / total if total else 1.0 / _WORLD.world_size


@torch.no_grad()
def _sync_gradients(optimizer, args, kwargs) -> None:
    """Optimiser step pre-hook: every rank's gradients become ``sum_r (n_r / n) g_r``, the global batch's.
    A parameter without a gradient on every rank is left alone (as the step would skip it); one with a gradient
    on some rank gets the weighted sum everywhere (zero where it had none). A rank with no rows contributes zero."""
    if not active():
        return
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if not params:
        return
    dev = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=dev)
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    live = [p for p, h in zip(params, has.tolist()) if h]
    w = _weight()
    by_dtype: Dict[torch.dtype, List[torch.Tensor]] = {}
    for p in live:
        by_dtype.setdefault(p.dtype, []).append(p)
    for group in by_dtype.values():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group])
        if _BATCH["local"] == 0 and _BATCH["rows"]:
            flat.zero_()                      # an empty shard's mean loss is NaN; it holds no rows to weigh
        else:
            flat.mul_(w)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        off = 0
        for p in group:
            g = flat[off:off + p.numel()].view_as(p)
            off += p.numel()
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)


@torch.no_grad()
def broadcast_state(model: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers (persistent or not) to every rank."""
    if not active():
        return
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on some rank (a time budget or a stop request seen by one rank must
    end the run on all, or the others would wait for it in the next collective)."""
    if not active():
        return bool(flag)
    t = torch.tensor([int(bool(flag))], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if _WORLD.backend == "nccl" else torch.device("cpu")


@contextmanager
def process_group(device: torch.device, env=None):
    """``with process_group(device) as w:`` - init on entry, shutdown on exit (also on an error)."""
    w = init(device, env)
    try:
        yield w
        if w.world_size > 1:
            # Leave together: a rank that finishes first (the others do not write the checkpoint) and tears
            # its gloo pair down while rank 0 still works can abort the process ("terminate called without an
            # active exception"). Not on an error path, where the other ranks may never arrive.
            dist.barrier()
    finally:
        if w.world_size > 1:
            shutdown()


# ------------------------------------------------------------------------------------------------ evaluation
def eval_starts(n_users: int, batch_size: int) -> range:
    """First users of the evaluation batches this rank scores: batches r, r + world, ... of the unsharded pass's
    batches (``range(0, n_users, batch_size)``), so each is the same computation as in one process."""
    w = _WORLD if active() else World()
    return range(w.rank * batch_size, n_users, w.world_size * batch_size)


def _rank_users(rank: int, n_users: int, batch_size: int, size: int) -> np.ndarray:
    starts = range(rank * batch_size, n_users, size * batch_size)
    return np.concatenate([np.arange(s, min(s + batch_size, n_users)) for s in starts] or [np.zeros(0, np.int64)])


def gather_eval(per: Dict[str, Dict[str, list]], ngt: Dict[str, list], n_users: int, batch_size: int):
    """Gather the per-user metric terms of the sharded evaluation (see :func:`eval_starts`), in user order.

    ``per[which][metric]`` and ``ngt[which]`` hold this rank's per-batch tensors; the result has the same form
    with one tensor per list covering all users, identical on every rank. Tensors only (no pickled objects);
    the metric names are rank 0's, sent as bytes."""
    if not active():
        return per, ngt
    names = _broadcast_text("\n".join(f"{w}\t{k}" for w in per for k in per[w]) if is_main() else "")
    cols = [tuple(x.split("\t")) for x in names.split("\n") if x]
    whiches = list(per)
    mine = _rank_users(_WORLD.rank, n_users, batch_size, _WORLD.world_size)
    local = torch.zeros(len(mine), len(cols) + len(whiches), dtype=torch.float64)
    for j, (w, k) in enumerate(cols):
        if per[w].get(k):
            local[:, j] = torch.cat(per[w][k]).double().cpu()
    for j, w in enumerate(whiches):
        if ngt[w]:
            local[:, len(cols) + j] = torch.cat(ngt[w]).double().cpu()
    size = _WORLD.world_size
    counts = [len(_rank_users(r, n_users, batch_size, size)) for r in range(size)]
    dev = _collective_device()
    pad = torch.zeros(max(counts), local.shape[1], dtype=torch.float64, device=dev)
    pad[:len(mine)] = local.to(dev)
    parts = [torch.zeros_like(pad) for _ in range(size)]
    dist.all_gather(parts, pad)
    full = torch.zeros(n_users, local.shape[1], dtype=torch.float64)
    for r in range(size):
        full[torch.from_numpy(_rank_users(r, n_users, batch_size, size))] = parts[r][:counts[r]].cpu()
    out_per = {w: {} for w in whiches}
    for j, (w, k) in enumerate(cols):
        out_per[w][k] = [full[:, j].float()]
    out_ngt = {w: [full[:, len(cols) + j].long()] for j, w in enumerate(whiches)}
    return out_per, out_ngt


def _broadcast_text(text: str) -> str:
    dev = _collective_device()
    data = torch.tensor(list(text.encode()), dtype=torch.uint8, device=dev)
    n = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    dist.broadcast(n, src=0)
    buf = data if is_main() else torch.zeros(int(n.item()), dtype=torch.uint8, device=dev)
    dist.broadcast(buf, src=0)
    return bytes(buf.cpu().tolist()).decode()
