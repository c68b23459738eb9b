"""EASE: a closed-form linear item-item autoencoder.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019 (arXiv 1905.03375); docs/methods.md §5.7.

EASE learns B in  min_B ||X - X B||_F^2 + l2 ||B||_F^2  subject to diag(B) = 0 (no item may predict itself), whose
solution is closed form:

    P = (X^T X + l2 I)^-1,      B = I - P diag(1 / diag(P))   (i.e. B_ij = -P_ij / P_jj, B_jj = 0),
    scores = X B.

It has one hyper-parameter and no training loop, and on many data sets it beats far larger models - which is why
it belongs next to every diffusion recommender. The inverse is taken in float64 on the CPU (the Gram matrix of a
binary matrix is badly conditioned at small l2, and some accelerators have no float64); B is stored as a float32
buffer on the model's device. Cost: O(I^3) time and dense [I, I] memory - instant at the sample world's 500 items,
a second or so at ML-1M's ~3.7 k.
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

MAX_DENSE_ITEMS = 10_000   # dense float64 Gram + inverse is 1.6 GB at 10 k items


@dataclass
class EASEConfig(TrainConfig):
    l2: float = 100.0                   # lambda on the diagonal of X^T X (tune over ~10-1000; Steck: 500 on ML-20M)
    epochs: int = 0                     # TrainConfig: 40; closed form: prepare() is the whole fit


EASE_PRESETS = {
    "sample": {},
    # Same protocol as DiffRec's ML-1M preset; l2 is a starting point, tune it on validation.
    "ml-1m": dict(l2=100.0, metric_denominator="all"),
}


def ease_weights(train: sp.spmatrix, l2: float) -> np.ndarray:
    """The EASE item-item matrix B (float64, [I, I], zero diagonal) of a binary training matrix."""
    x = sp.csr_matrix(train, dtype=np.float64, copy=True)
    x.data[:] = 1.0
    gram = np.asarray((x.T @ x).todense())
    gram[np.diag_indices_from(gram)] += float(l2)
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


class EASE(Recommender):
    name = "ease"
    trainable = False

    def __init__(self, config: EASEConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        if self.n_items > MAX_DENSE_ITEMS:
            raise ValueError(f"EASE inverts a dense [I, I] matrix; {self.n_items} items exceed "
                             f"MAX_DENSE_ITEMS = {MAX_DENSE_ITEMS}")
        if float(config.l2) <= 0:
            raise ValueError("EASE: l2 must be positive (X^T X alone is singular for any unseen item)")
        self.register_buffer("B", torch.zeros(self.n_items, self.n_items, dtype=torch.float32))

    def prepare(self, split: Split) -> None:
        self.B.copy_(torch.from_numpy(ease_weights(split.train, self.config.l2)))

    @torch.no_grad()
    def score(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        return self.input_rows(split, users, which) @ self.B


register(MethodSpec(
    name="ease", title="EASE", paper="Steck, WWW 2019 (arXiv 1905.03375)", diffused="", model_cls=EASE,
    config_cls=EASEConfig, kind="baseline", needs=("interactions",),
    idea="A closed-form linear item-to-item autoencoder: one matrix inverse, no training loop.", page="compare",
    presets=EASE_PRESETS))
