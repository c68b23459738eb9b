"""Turn an ``InteractionLog`` into a train / valid / test ``Split`` (docs/methods.md §3.4), and into sequences.

* ``split_chrono``: per user, the oldest 80 % train, the next 10 % valid, the newest 10 % test - the app's protocol
  for the DiffRec family and DiffKG (a global time cut would leave many users without test items).
* ``split_shipped``: the split a release ships (``events['split']``: DiffRec's ``*_list.npy``, DiffuRec's CSV), so
  that figures are comparable with the papers.
* ``split_leave_one_out``: last item test, second-to-last valid - the DiffuRec / DreamRec protocol.

Chronological order everywhere means: by timestamp, ties broken by file order (the row order of ``events``).
Everything is vectorised (one stable sort plus bincounts), so ML-1M's ~570k rows split in well under a second.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .dataset import InteractionLog, Split

_SPLITS = ("train", "valid", "test")


def chrono_order(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Row order by (user, timestamp), ties kept in file order (a stable sort)."""
    if not len(users):
        return np.zeros(0, dtype=np.int64)
    t0, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if int(users.max()) + 1 < np.iinfo(np.int64).max // span:   # one int64 key: much faster than lexsort
        return np.argsort(users * span + (ts - t0), kind="stable")
    return np.lexsort((np.arange(len(users)), ts, users))


def _ranks(sorted_users: np.ndarray) -> np.ndarray:
    """0-based position of each row within its user's block, for rows already grouped by user."""
    if not len(sorted_users):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    return np.arange(len(sorted_users)) - np.repeat(starts, np.diff(np.r_[starts, len(sorted_users)]))


def _prepare(log: InteractionLog) -> pd.DataFrame:
    """Events in chronological order per user, each (user, item) pair once (its earliest event), with ``rank``.

    A binary matrix cannot hold a pair twice, and a pair in both train and test would leak; loaders already
    drop repeats, this keeps hand-made logs safe.
    """
    ev = log.events
    users = ev["user"].to_numpy(np.int64)
    ts = ev["timestamp"].to_numpy(np.int64) if "timestamp" in ev else np.zeros(len(ev), np.int64)
    order = chrono_order(users, ts)
    pair = users[order] * np.int64(log.n_items) + ev["item"].to_numpy(np.int64)[order]
    first = ~pd.Series(pair).duplicated().to_numpy()
    rows = order[first]
    ev = ev.iloc[rows].reset_index(drop=True)
    return ev.assign(rank=_ranks(ev["user"].to_numpy(np.int64)), file_row=rows)


def _file_ranks(users: np.ndarray, file_rows: np.ndarray) -> np.ndarray:
    """0-based position of each row within its user's rows taken in file order (rows need not be grouped)."""
    o = np.lexsort((file_rows, users))
    ranks = np.empty(len(users), dtype=np.int64)
    ranks[o] = _ranks(users[o])
    return ranks


def _csr(users, items, values, shape, dtype=np.float32) -> sp.csr_matrix:
    """CSR from unique (user, item) pairs, keeping explicit zeros (``train_order`` is 0 for the oldest item)."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    o = np.argsort(users * np.int64(shape[1]) + items)
    indptr = np.r_[0, np.cumsum(np.bincount(users, minlength=shape[0]))]
    return sp.csr_matrix((np.asarray(values, dtype=dtype)[o], items[o].astype(np.int32), indptr), shape=shape)


def _assemble(log: InteractionLog, ev: pd.DataFrame, part: np.ndarray, how: str, params: dict) -> Split:
    """Build the Split from prepared events and a per-row part code (0 train, 1 valid, 2 test)."""
    shape = (log.n_users, log.n_items)
    u, i = ev["user"].to_numpy(np.int64), ev["item"].to_numpy(np.int64)
    mats = [_csr(u[part == k], i[part == k], np.ones(int((part == k).sum())), shape) for k in range(3)]
    tr = part == 0
    chrono = _ranks(u[tr])                                                 # ev is chronological: rank in train
    split = Split(name=log.name, train=mats[0], valid=mats[1], test=mats[2],
                  train_order=_csr(u[tr], i[tr], chrono, shape),
                  meta={"how": how, **params, "source": log.meta.get("source")})
    if "file_row" in ev:
        in_file = _file_ranks(u[tr], ev["file_row"].to_numpy(np.int64)[tr])
        if not np.array_equal(in_file, chrono):       # kept only where the file is not already chronological
            split.train_file_order = _csr(u[tr], i[tr], in_file, shape)
    if "is_noise" in ev:
        noisy = tr & (ev["is_noise"].to_numpy() == 1)
        split.train_noise = _csr(u[noisy], i[noisy], np.ones(int(noisy.sum())), shape)
    if log.items is not None:
        if "title" in log.items:
            split.item_titles = log.items["title"].astype(str).tolist()
        if "genre" in log.items:
            split.item_genres = log.items["genre"].fillna("").astype(str).tolist()
    split.item_emb = log.item_emb
    if log.kg is not None:  # the KG is shared by every split of the log (DiffKG); items are entities 0..I-1
        n_ent = int(log.meta.get("n_entities") or 0)
        if len(log.kg):
            n_ent = max(n_ent, int(log.kg[["head", "tail"]].to_numpy().max()) + 1)
        split.kg = log.kg
        split.kg_info = {"n_entities": max(n_ent, log.n_items), "relation_names": log.meta.get("relation_names"),
                         "entity_names": log.entity_names, "entity_types": log.meta.get("entity_types")}
    return split


def split_chrono(log: InteractionLog, valid: float = 0.1, test: float = 0.1, min_train: int = 1) -> Split:
    """Per-user chronological split: each user's oldest share trains, the newest ``test`` share tests.

    A user with n interactions gets ``round(n*test)`` test and ``round(n*valid)`` valid items (ties round half up),
    taken back from valid first, then test, until at least ``min_train`` stay in train: a user the model never saw
    cannot be scored, so a short history is kept for training rather than evaluated.
    """
    ev = _prepare(log)
    users, rank = ev["user"].to_numpy(np.int64), ev["rank"].to_numpy()
    n = np.bincount(users, minlength=log.n_users)
    n_test = np.floor(n * test + 0.5).astype(np.int64)
    n_valid = np.floor(n * valid + 0.5).astype(np.int64)
    short = np.maximum(0, min_train - (n - n_test - n_valid))
    cut = np.minimum(short, n_valid)
    n_valid -= cut
    n_test -= np.minimum(short - cut, n_test)
    n_train = n - n_valid - n_test
    part = (rank >= n_train[users]).astype(np.int8) + (rank >= (n_train + n_valid)[users])
    return _assemble(log, ev, part, "chrono", {"valid": valid, "test": test, "min_train": min_train})


def split_shipped(log: InteractionLog) -> Split:
    """The data set's own split (``events['split']`` in train / valid / test)."""
    if "split" not in log.events:
        raise ValueError(f"{log.name}: the data set ships no split (no events['split']); use split_chrono")
    ev = _prepare(log)
    s = ev["split"].to_numpy()
    part = np.select([s == "train", s == "valid", s == "test"], [0, 1, 2], default=-1)
    if (part < 0).any():
        raise ValueError(f"{log.name}: events['split'] holds {sorted(set(s[part < 0]))[:3]}, expected train/valid/test")
    return _assemble(log, ev, part.astype(np.int8), "shipped", {})


def split_leave_one_out(log: InteractionLog) -> Split:
    """Last item -> test, second-to-last -> valid, the rest train; users keep at least one training item."""
    ev = _prepare(log)
    users, rank = ev["user"].to_numpy(np.int64), ev["rank"].to_numpy()
    n = np.bincount(users, minlength=log.n_users)[users]
    from_end = n - 1 - rank
    part = np.where((from_end == 0) & (n >= 2), 2, np.where((from_end == 1) & (n >= 3), 1, 0)).astype(np.int8)
    return _assemble(log, ev, part, "leave_one_out", {})


def make_split(log: InteractionLog, how: str = "auto", **kwargs) -> Split:
    """``how``: 'auto' (the shipped split if there is one, else chrono), 'chrono', 'shipped', 'loo'."""
    if how == "auto":
        how = "shipped" if "split" in log.events else "chrono"
    fns = {"chrono": split_chrono, "shipped": split_shipped, "loo": split_leave_one_out,
           "leave_one_out": split_leave_one_out}
    if how not in fns:
        raise ValueError(f"unknown split {how!r}; expected one of auto, {', '.join(fns)}")
    return fns[how](log, **kwargs)


def sequences(log: InteractionLog, split: Optional[str] = None) -> list:
    """Each user's item ids in time order (ties by file order): a list of ``n_users`` int64 arrays.

    ``split`` (e.g. 'train') keeps only events of that shipped split; by default all events are used.
    """
    ev = log.events
    if split is not None:
        ev = ev[ev["split"] == split]
    users = ev["user"].to_numpy(np.int64)
    ts = ev["timestamp"].to_numpy(np.int64) if "timestamp" in ev else np.zeros(len(ev), np.int64)
    order = chrono_order(users, ts)
    users = users[order]
    items = ev["item"].to_numpy(np.int64)[order]
    counts = np.bincount(users, minlength=log.n_users)
    return np.split(items, np.cumsum(counts)[:-1])
