"""Small, pure views of a ``Split`` that several pages share: the genre order of the item axis, one user's
profile (history, injected noise, held-out items) and the sample world at a glance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class ItemAxis:
    """The order in which items are drawn along x: grouped by genre (largest genre first), most-interacted items
    first within a genre, so the structure of a history is visible. ``order[p]`` is the item at position p,
    ``pos[i]`` the position of item i; ``bands`` are (genre, first position, last position + 1)."""

    order: np.ndarray
    pos: np.ndarray
    bands: Tuple[Tuple[str, int, int], ...]

    @property
    def n(self) -> int:
        return int(len(self.order))


def item_axis(genres: Optional[List[str]], popularity: Optional[np.ndarray] = None, n_items: Optional[int] = None
              ) -> ItemAxis:
    """Genre-grouped item order. Without genres, items are ordered by popularity in one band."""
    n = int(n_items if n_items is not None else len(genres or []))
    pop = np.zeros(n) if popularity is None else np.asarray(popularity, dtype=np.float64)[:n]
    if not genres:
        order = np.lexsort((np.arange(n), -pop))
        bands = (("all items", 0, n),) if n else ()
    else:
        g = np.asarray([str(x) for x in genres[:n]])
        names, counts = np.unique(g, return_counts=True)
        rank = {name: r for r, name in enumerate(names[np.lexsort((names, -counts))])}
        grank = np.array([rank[x] for x in g])
        order = np.lexsort((np.arange(n), -pop, grank))
        bands_l, start = [], 0
        for name in sorted(rank, key=rank.get):
            size = int((g == name).sum())
            bands_l.append((str(name), start, start + size))
            start += size
        bands = tuple(bands_l)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    return ItemAxis(order.astype(np.int64), pos, bands)


def _row_items(m, user: int) -> np.ndarray:
    if m is None:
        return np.zeros(0, dtype=np.int64)
    r = m[int(user)]
    return np.asarray(r.indices[np.asarray(r.data) != 0], dtype=np.int64)


@dataclass(frozen=True)
class UserProfile:
    user: int
    train: np.ndarray        # item ids of the training history
    noise: np.ndarray        # the subset of train injected as noise (ground truth; empty where unknown)
    valid: np.ndarray
    test: np.ndarray
    chrono: np.ndarray       # train items oldest -> newest (where the split records the order)
    has_truth: bool          # does the data set know which interactions are noise?

    @property
    def genuine(self) -> np.ndarray:
        return np.setdiff1d(self.train, self.noise)

    def heldout(self, which: str = "valid+test") -> np.ndarray:
        parts = {"valid": [self.valid], "test": [self.test], "valid+test": [self.valid, self.test]}[which]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def user_profile(split, user: int) -> UserProfile:
    u = int(user)
    if not 0 <= u < split.n_users:
        raise IndexError(f"user {u} is outside 0..{split.n_users - 1}")
    train = np.sort(_row_items(split.train, u))
    noise = np.sort(_row_items(split.train_noise, u)) if split.train_noise is not None else np.zeros(0, np.int64)
    noise = np.intersect1d(noise, train)
    if split.train_order is not None:
        r = split.train_order[u]
        chrono = np.asarray(r.indices, dtype=np.int64)[np.argsort(np.asarray(r.data), kind="stable")]
        chrono = chrono[np.isin(chrono, train)]
    else:
        chrono = train
    return UserProfile(u, train, noise, np.sort(_row_items(split.valid, u)), np.sort(_row_items(split.test, u)),
                       chrono, split.train_noise is not None)


def user_summary(p: UserProfile) -> str:
    """One line for the sidebar: '17 training items (2 injected noise) · 2 validation · 2 test'."""
    noise = f" ({len(p.noise)} injected noise)" if p.has_truth else ""
    return (f"{len(p.train)} training item{'s' if len(p.train) != 1 else ''}{noise} · "
            f"{len(p.valid)} validation · {len(p.test)} test")


def world_summary(split) -> dict:
    """Users, items, interactions, density, the injected noise and history lengths of a split."""
    stats = split.stats()
    lengths = np.diff(split.train.indptr)
    out = dict(stats)
    out["interactions"] = int(stats["train"] + stats["valid"] + stats["test"])
    out["median_history"] = float(np.median(lengths)) if len(lengths) else 0.0
    out["min_history"] = int(lengths.min()) if len(lengths) else 0
    out["max_history"] = int(lengths.max()) if len(lengths) else 0
    if split.train_noise is not None:
        n_noise = int((split.train_noise.data != 0).sum())
        out["noise"] = n_noise
        out["noise_share"] = n_noise / max(1, stats["train"])
        out["users_with_noise"] = int((np.diff(split.train_noise.indptr) > 0).sum())
    else:
        out["noise"] = None
    out["users_without_heldout"] = int(((np.diff(split.valid.indptr) + np.diff(split.test.indptr)) == 0).sum())
    out["n_genres"] = len(set(split.item_genres)) if split.item_genres else 0
    return out


def item_popularity(split) -> np.ndarray:
    """Training interactions per item."""
    return np.asarray(split.train.sum(axis=0)).ravel()


def demo_user(split, lo: int = 12, hi: int = 25) -> int:
    """A good first user to show a class, chosen from the data (so it survives a regenerated sample world):
    a history of ``lo``..``hi`` items with as many injected-noise interactions as possible (at most 3) and at
    least two held-out items; ties go to the lowest id. Falls back to user 0."""
    n = split.n_users
    if n == 0:
        return 0
    length = np.diff(split.train.indptr)
    held = np.diff(split.valid.indptr) + np.diff(split.test.indptr)
    noise = np.diff(split.train_noise.indptr) if split.train_noise is not None else np.zeros(n, dtype=np.int64)
    ok = (length >= lo) & (length <= hi) & (held >= 2)
    if not ok.any():
        ok = length > 0
    if not ok.any():
        return 0
    score = np.where(ok, np.minimum(noise, 3), -1)
    return int(np.flatnonzero(score == score.max())[0])
