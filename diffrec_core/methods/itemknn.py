"""ItemKNN: item-based collaborative filtering with shrunk cosine similarity and top-k neighbourhoods.

Sarwar, Karypis, Konstan & Riedl, "Item-based collaborative filtering recommendation algorithms", WWW 2001; the
shrinkage term and the per-item top-k pruning follow the tuned baseline of Ferrari Dacrema, Cremonesi & Jannach,
"Are we really making much progress?", RecSys 2019 (docs/methods.md §5.7).

    S_ij  = <x_i, x_j> / (||x_i|| ||x_j|| + shrink)      x_i = item i's column of the binary training matrix
    S_ii  = 0                                            an item is not its own neighbour
    keep, in every column j, only the k largest S_ij     j's k nearest neighbours
    score_uj = sum_i x_ui S_ij                           = x_u . S

Shrinkage pulls similarities computed from few co-occurrences towards 0, so two rare items seen together once do not
look like perfect neighbours. Before pruning S is symmetric; after it, column j holds j's neighbours.

Storage: S is kept as a dense float32 [I, I] buffer (the sample world's 500 items: 1 MB; ML-1M's ~3.7 k items:
55 MB). That is simple, device-agnostic and fast to multiply, but grows as I^2, so more than
``MAX_DENSE_ITEMS`` items is refused with a clear message rather than exhausting memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..data.dataset import Split
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender

MAX_DENSE_ITEMS = 10_000   # a dense [I, I] float32 S is 400 MB at 10 k items (plus a float64 copy while fitting)


@dataclass
class ItemKNNConfig(TrainConfig):
    k: int = 100                        # neighbours kept per item (tune over ~50-200; sample world has 500 items)
    shrink: float = 10.0                # shrinkage added to the cosine denominator (tune over ~0-100)
    epochs: int = 0                     # TrainConfig: 40; closed form: prepare() is the whole fit


ITEMKNN_PRESETS = {
    "sample": {},
    # Same protocol as DiffRec's ML-1M preset; k and shrink should still be tuned on validation.
    "ml-1m": dict(k=100, shrink=10.0, metric_denominator="all"),
}


def cosine_similarity(train: sp.spmatrix, shrink: float) -> np.ndarray:
    """Dense float64 [I, I] shrunk cosine similarity between the item columns of a binary matrix, diagonal 0."""
    x = sp.csr_matrix(train, dtype=np.float64, copy=True)
    x.data[:] = 1.0                                           # binary, whatever the stored values
    gram = np.asarray((x.T @ x).todense())                    # co-occurrence counts
    norms = np.sqrt(np.diag(gram))
    denom = np.outer(norms, norms) + float(shrink)
    sim = np.divide(gram, denom, out=np.zeros_like(gram), where=denom > 0)
    np.fill_diagonal(sim, 0.0)
    return sim


def keep_top_k(sim: torch.Tensor, k: int) -> torch.Tensor:
    """Zero all but the k largest entries of every column (item j keeps its k nearest neighbours)."""
    n = sim.shape[0]
    if k >= n:
        return sim.clone()
    vals, idx = torch.topk(sim, int(k), dim=0)
    return torch.zeros_like(sim).scatter_(0, idx, vals)


class ItemKNN(Recommender):
    name = "itemknn"
    trainable = False

    def __init__(self, config: ItemKNNConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        if self.n_items > MAX_DENSE_ITEMS:
            raise ValueError(f"ItemKNN keeps a dense [I, I] similarity; {self.n_items} items exceed "
                             f"MAX_DENSE_ITEMS = {MAX_DENSE_ITEMS}")
        if int(config.k) < 1:
            raise ValueError("ItemKNN: k must be at least 1")
        self.register_buffer("similarity", torch.zeros(self.n_items, self.n_items, dtype=torch.float32))

    def prepare(self, split: Split) -> None:
        sim = torch.from_numpy(cosine_similarity(split.train, self.config.shrink))
        self.similarity.copy_(keep_top_k(sim, self.config.k).float())

    @torch.no_grad()
    def score(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        return self.input_rows(split, users, which) @ self.similarity


register(MethodSpec(
    name="itemknn", title="ItemKNN", paper="Sarwar et al., WWW 2001; tuned as in Ferrari Dacrema et al., RecSys 2019",
    diffused="", model_cls=ItemKNN, config_cls=ItemKNNConfig, kind="baseline", needs=("interactions",),
    idea="Score an item by how similar (shrunk cosine) it is to the items the user already has.", page="compare",
    presets=ITEMKNN_PRESETS))
