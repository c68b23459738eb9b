"""The command line's trainer: :class:`train.Trainer` with the data-parallel parts of :mod:`distributed` and a
resumable state (:mod:`train_state`).

Without torchrun's environment it trains exactly as :class:`train.Trainer` does (same seeds, same numbers);
under torchrun it replaces the parts the Trainer lets a caller replace:

* :meth:`start`: rank 0 keeps the run's seed, rank r > 0 re-seeds its noise from ``rank_seed(seed, r)`` after
  ``prepare``; then every rank takes rank 0's parameters and buffers;
* :meth:`train_epoch`: the model's own epoch (each batch sharded by :func:`distributed.shard`, gradients summed
  by the optimiser hook), then rank 0's buffers to every rank;
* :meth:`report`: progress printed by rank 0 only; every ``state_every`` epochs the ranks' random states are
  gathered and rank 0 writes the training state.

Evaluation is sharded inside :func:`train.evaluate` itself, so the kept epoch and the stop are decided alike on
every rank.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.distributed as dist

from . import distributed, train_state
from .train import Trainer


class RankTrainer(Trainer):
    def __init__(self, *args, state_dir: Optional[str] = None, state_every: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        if distributed.active() and (self.budget_seconds is not None or self.should_stop is not None):
            raise distributed.DistributedError("a time budget or a stop callback is not shared across ranks; "
                                               "run them in one process")
        self.state_dir = Path(state_dir) if state_dir else None
        self.state_every = max(0, int(state_every))

    def start(self) -> "RankTrainer":
        if self.started:
            return self
        super().start()
        if distributed.active():
            rank = distributed.world().rank
            if rank > 0:
                s = distributed.rank_seed(self.seed, rank)
                torch.manual_seed(s)
                self._gen.manual_seed(s)
            distributed.broadcast_state(self.model)
        return self

    def train_epoch(self) -> dict:
        stats = super().train_epoch()
        distributed.broadcast_state(self.model)
        return stats

    def report(self, rec: dict) -> None:
        if distributed.is_main():
            super().report(rec)
        if self.state_dir is not None and self.state_every and self.epoch % self.state_every == 0:
            self.save_state()

    def save_state(self) -> None:
        """Gather every rank's random states (a collective: every rank calls this); rank 0 writes."""
        states = gather_random_states(train_state.rank_random_state(self))
        if distributed.is_main():
            train_state.save(self, self.state_dir, states)

    def resume(self, directory) -> "RankTrainer":
        """Start, then continue from a training state (each rank takes its own random states where the state
        holds as many ranks; otherwise rank 0's states on rank 0 and fresh per-rank seeds elsewhere)."""
        self.start()
        train_state.restore(self, directory, rank=distributed.world().rank)
        distributed.broadcast_state(self.model)
        return self


def gather_random_states(mine: Dict[str, torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
    """Every rank's random states, on every rank (the byte states have one size for one torch build)."""
    if not distributed.active():
        return [mine]
    out: List[Dict[str, torch.Tensor]] = [{} for _ in range(distributed.world().world_size)]
    dev = torch.device("cuda", torch.cuda.current_device()) if distributed.world().backend == "nccl" \
        else torch.device("cpu")
    for key in sorted(mine):
        t = mine[key].to(dev)
        parts = [torch.zeros_like(t) for _ in out]
        dist.all_gather(parts, t)
        for r, p in enumerate(parts):
            out[r][key] = p.cpu()
    return out
