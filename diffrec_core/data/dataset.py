"""Data containers shared by every method.

Interactions are kept sparse (scipy CSR) and densified per batch: the authors' code holds the whole user x item
matrix dense in RAM (docs/methods.md §2.1, quirk 8), which does not scale and buys nothing.

Two shapes of data exist:
* ``InteractionLog`` - the raw event table (user, item, timestamp[, flags]) as loaded from any format, plus optional
  side information (titles, genres, knowledge graph).
* ``Split`` - what a collaborative-filtering method trains on: train / valid / test CSR matrices over the same
  user and item index, with the per-interaction order of the training history (for T-DiffRec's time weights).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp
from ..errors import DiffRecError


class DataFormatError(DiffRecError, ValueError):
    """A file did not have the expected format. The message names the file, the line and what was expected."""


@dataclass
class InteractionLog:
    """A loaded data set before splitting.

    ``events`` has integer columns ``user`` and ``item`` (0-based, contiguous), and ``timestamp`` (int64; the file
    order where the source has no timestamps), optionally ``split`` ('train'/'valid'/'test') when the data set ships
    its own split, and ground-truth columns (``is_noise``) that no model may read.
    ``items`` is a table indexed 0..n_items-1 with at least ``title`` (and ``genre`` where known).
    ``kg`` holds triples ``head, relation, tail`` over entity ids where items are entities 0..n_items-1.
    """

    name: str
    events: pd.DataFrame
    n_users: int
    n_items: int
    items: Optional[pd.DataFrame] = None
    users: Optional[pd.DataFrame] = None
    kg: Optional[pd.DataFrame] = None
    entity_names: Optional[list] = None
    item_emb: Optional[np.ndarray] = None  # pre-trained item embeddings shipped with the data (L-DiffRec clustering)
    meta: dict = field(default_factory=dict)

    @property
    def density(self) -> float:
        return len(self.events) / max(1, self.n_users * self.n_items)

    def summary(self) -> dict:
        ev = self.events
        out = {
            "name": self.name,
            "users": int(self.n_users),
            "items": int(self.n_items),
            "interactions": int(len(ev)),
            "density": float(self.density),
        }
        if "timestamp" in ev and len(ev):
            out["time_span"] = [int(ev["timestamp"].min()), int(ev["timestamp"].max())]
        if self.kg is not None:
            out["kg_triples"] = int(len(self.kg))
        return out


def csr_from_pairs(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                   values: Optional[np.ndarray] = None, dtype=np.float32) -> sp.csr_matrix:
    """Binary (or valued) user x item CSR matrix. Duplicate pairs collapse to one entry: binary input stays
    binary; for explicit ``values`` scipy sums the duplicates' values."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if values is None:
        values = np.ones(len(users), dtype=dtype)
    m = sp.coo_matrix((np.asarray(values, dtype=dtype), (users, items)), shape=(n_users, n_items)).tocsr()
    if values is None or np.all(values == 1):
        m.data[:] = 1  # duplicates were summed by scipy; keep binary
    m.sort_indices()
    return m


def dense_rows(rows, order: str = "C") -> np.ndarray:
    """A sparse batch of rows as a dense float32 array, row-major (``order='C'``) or column by column ('F')."""
    if order == "F":
        return rows.toarray(order="F").astype(np.float32, copy=False)
    return np.asarray(rows.todense(), dtype=np.float32)


@dataclass
class Split:
    """Train / valid / test matrices over one user and item index (all CSR, float32, binary).

    ``train_order`` has the same sparsity pattern as ``train`` and holds, for each training interaction, its
    0-based position in the user's chronological history (0 = oldest). T-DiffRec turns it into time weights.
    ``train_file_order`` is the same position with the user's rows taken in file order, kept only where the two
    differ (a file not written chronologically); ``None`` means the file order is the chronological one.
    ``train_noise`` (sample world only) marks training interactions that were injected as noise: ground truth
    for the app, never read by a model.
    ``kg`` (where the data set has a knowledge graph) holds the triples ``head, relation, tail`` over entity ids,
    items being entities ``0..n_items-1`` (the DiffKG convention), with ``kg_info`` = ``{'n_entities',
    'relation_names', 'entity_names', 'entity_types'}``. A sample-world ``kg`` also has ``is_wrong`` (injected wrong
    triples): ground truth, never read by a model.
    """

    name: str
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    train_order: Optional[sp.csr_matrix] = None
    train_file_order: Optional[sp.csr_matrix] = None
    train_noise: Optional[sp.csr_matrix] = None
    item_titles: Optional[list] = None
    item_genres: Optional[list] = None
    item_emb: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)
    kg: Optional[pd.DataFrame] = None
    kg_info: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return self.train.shape[0]

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    def rows(self, users, which: str = "train", order: str = "C") -> np.ndarray:
        """Dense float32 rows of one matrix for a batch of users (the per-batch densification). ``order='F'``
        stores them column by column (see ``DiffRec.fit_epoch``)."""
        return dense_rows(getattr(self, which)[np.asarray(users)], order)

    def stats(self) -> dict:
        n = self.train.nnz + self.valid.nnz + self.test.nnz
        return {
            "name": self.name,
            "users": int(self.n_users),
            "items": int(self.n_items),
            "train": int(self.train.nnz),
            "valid": int(self.valid.nnz),
            "test": int(self.test.nnz),
            "density": float(n / max(1, self.n_users * self.n_items)),
        }
