"""TopPop: recommend the items most people interacted with in the training matrix.

The floor of every honest comparison (docs/methods.md §5.7; e.g. Cremonesi, Koren & Turrin, "Performance of
recommender algorithms on top-N recommendation tasks", RecSys 2010). It is not personalised at all: every user gets
the same ranking, minus the items they have already seen (masked by the evaluator). A diffusion recommender that
barely beats it has learned little beyond popularity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import Split
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender


@dataclass
class PopConfig(TrainConfig):
    epochs: int = 0                     # TrainConfig: 40; closed form: prepare() is the whole fit (test_input
    #                                     is inherited but unread: popularity never reads the user's row)


POP_PRESETS = {
    "sample": {},
    # Same protocol as DiffRec's ML-1M preset, so the two result cards are comparable.
    "ml-1m": dict(metric_denominator="all"),
}


class TopPop(Recommender):
    """Scores every item by its number of training interactions; ``counts`` is a persistent buffer, so a saved
    checkpoint recommends without the data."""

    name = "pop"
    trainable = False

    def __init__(self, config: PopConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        self.register_buffer("counts", torch.zeros(self.n_items, dtype=torch.float32))

    def prepare(self, split: Split) -> None:
        counts = np.asarray((split.train > 0).sum(axis=0), dtype=np.float32).ravel()
        self.counts.copy_(torch.from_numpy(counts))

    @torch.no_grad()
    def score(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        n = len(np.atleast_1d(np.asarray(users)))
        return self.counts.unsqueeze(0).expand(n, -1).clone()


register(MethodSpec(
    name="pop", title="TopPop", paper="standard baseline (e.g. Cremonesi et al., RecSys 2010)", diffused="",
    model_cls=TopPop, config_cls=PopConfig, kind="baseline", needs=("interactions",),
    idea="Recommend the most popular unseen items: the same list for everyone.", page="compare",
    presets=POP_PRESETS))
