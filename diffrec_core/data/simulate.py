"""Simulated interaction data at the size of the papers' largest data set, in the DiffRec authors' folder format.

Amazon-Book as DiffRec uses it (Wang et al., SIGIR 2023, Table 1) has 108,822 users, 94,949 items and 3,146,256
interactions (density 0.030 %). The release itself is not shipped here; what the scale benchmark
(``benchmarks/scale.py``) needs is only its *shape*: how many users and items, how many interactions, and a
long-tailed item popularity, so that memory and time per epoch can be measured at that size. This module draws
such a matrix, deterministically from a seed, and writes it as ``train_list.npy`` / ``valid_list.npy`` /
``test_list.npy`` (``[N, 2]`` int64 (user, item) pairs, 0-based, grouped by user, each user's pairs in their
simulated time order) - the folder that ``load_dataset`` reads as a DiffRec release.

How it is drawn (a configuration model, so that both margins are exact):

1. **User activity**: every user gets at least ``min_per_user`` interactions (10, as in the 10-core DiffRec
   releases: the shipped ML-1M folder's smallest user has 10), the rest shared out in proportion to log-normal
   weights (sigma ``user_sigma``), rounded by largest remainders so the total is exact, at most ``n_items`` each.
2. **Item popularity**: every item appears at least once (so the folder's item count is exactly ``n_items``), the
   rest in proportion to a Zipf-like weight ``(rank + 10) ** -item_alpha`` over a random ranking of the items, at
   most ``n_users`` each. With ``item_alpha = 0.8`` the most popular 20 % of items hold about two thirds of the
   interactions (the shipped ML-1M release: 66 %).
3. **Pairing**: the users' and the items' "stubs" are matched by a random permutation; a pair drawn twice (a user
   meeting the same item again) swaps its item with a random other pair, for a bounded number of rounds; any
   repeat left after that is dropped, and the count of dropped pairs is reported (zero at Amazon-Book's size).
4. **Split**: each user's pairs in a random (simulated time) order; the first 70 % train, the next 20 % validate,
   the last 10 % test (the proportions of the shipped ML-1M release: 70.6 / 19.4 / 10.0 %), at least one of each
   when the user has three or more.

Nothing here is a claim about real Amazon-Book users: the figures it supports are sizes and times, never accuracy.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..methods.base import ConfigError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Shape:
    """The size of a simulated data set and how its interactions are spread."""
    name: str
    n_users: int
    n_items: int
    n_interactions: int
    min_per_user: int = 10
    user_sigma: float = 1.0
    item_alpha: float = 0.8
    fractions: Tuple[float, float, float] = (0.7, 0.2, 0.1)

    @property
    def density(self) -> float:
        return self.n_interactions / (self.n_users * self.n_items)

    def scaled(self, scale: float) -> "Shape":
        """Users, items and interactions each times ``scale`` (the mean activity per user stays, the density
        grows as 1 / scale); the name says so."""
        if not (0 < scale <= 1):
            raise ConfigError(f"scale must be in (0, 1], got {scale}")
        if scale == 1:
            return self
        u, i = max(1, round(self.n_users * scale)), max(1, round(self.n_items * scale))
        return Shape(f"{self.name}_x{scale:g}", u, i, min(u * i, max(1, round(self.n_interactions * scale))),
                     self.min_per_user, self.user_sigma, self.item_alpha, self.fractions)


AMAZON_BOOK = Shape("amazon-book", 108_822, 94_949, 3_146_256)
SHAPES: Dict[str, Shape] = {"amazon-book": AMAZON_BOOK}
MAX_INTERACTIONS = 50_000_000       # 800 MB of pairs; the largest shape here has 3.1 M


def _check(shape: Shape) -> None:
    u, i, n = shape.n_users, shape.n_items, shape.n_interactions
    if min(u, i, n) < 1:
        raise ConfigError(f"users, items and interactions must be >= 1, got {u}, {i}, {n}")
    if n > MAX_INTERACTIONS:
        raise ConfigError(f"{n:,} interactions asked for; at most {MAX_INTERACTIONS:,}")
    if n > u * i:
        raise ConfigError(f"{n:,} interactions cannot fit in {u:,} users x {i:,} items")
    if n < max(i, u * min(shape.min_per_user, i)):
        raise ConfigError(f"{n:,} interactions are fewer than one per item ({i:,}) or {shape.min_per_user} per user "
                          f"({u * shape.min_per_user:,})")
    f = shape.fractions
    if len(f) != 3 or min(f) < 0 or not np.isclose(sum(f), 1.0):
        raise ConfigError(f"fractions must be three non-negative numbers summing to 1, got {f}")


def apportion(weights: np.ndarray, total: int, cap: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total`` (largest remainders), each at most
    ``cap``: the share above a cap goes to the others, in proportion to their weights (a bounded loop: each
    round fixes at least one bin at its cap). The caller guarantees ``total <= cap.sum()``."""
    w = np.asarray(weights, dtype=np.float64)
    cap = np.broadcast_to(np.asarray(cap, dtype=np.int64), w.shape)
    out = np.zeros(len(w), dtype=np.int64)
    free = np.ones(len(w), dtype=bool)
    left = int(total)
    for _ in range(len(w) + 1):
        if left == 0 or not free.any():
            break
        share = w * free * (left / w[free].sum())
        k = np.floor(share).astype(np.int64)
        rest = left - int(k.sum())
        if rest:   # the largest remainders among the free bins get one more (stable: ties by position)
            frac = np.where(free, share - k, -1.0)
            k[np.argsort(-frac, kind="stable")[:rest]] += 1
        over = free & (out + k > cap)
        if not over.any():
            out += k
            break
        left -= int((cap[over] - out[over]).sum())
        out[over] = cap[over]
        free &= ~over
    return out


def simulate(shape: Shape = AMAZON_BOOK, seed: int = 0, max_rounds: int = 30) -> Tuple[Dict[str, np.ndarray], dict]:
    """Draw the three splits of ``shape`` from ``seed``: ``({"train": pairs, "valid": ..., "test": ...}, stats)``.
    The same shape and seed give identical arrays on every machine (numpy's PCG64 and integer arithmetic)."""
    _check(shape)
    rng = np.random.default_rng(seed)
    U, I, N = shape.n_users, shape.n_items, shape.n_interactions
    base = min(shape.min_per_user, I)
    deg = base + apportion(rng.lognormal(0.0, shape.user_sigma, U), N - U * base, np.full(U, I - base))
    rank = rng.permutation(I)                                    # item -> its popularity rank
    pop = 1 + apportion((rank + 10.0) ** -shape.item_alpha, N - I, np.full(I, U - 1))
    users = np.repeat(np.arange(U, dtype=np.int64), deg)
    items = rng.permutation(np.repeat(np.arange(I, dtype=np.int64), pop))
    rounds = 0
    for _ in range(max_rounds):                                  # bounded: repeats left over are dropped below
        dup = _repeats(users, items, I)
        if not len(dup):
            break
        rounds += 1
        other = rng.integers(0, N, len(dup))
        items[dup], items[other] = items[other], items[dup].copy()
    dup = _repeats(users, items, I)
    keep = np.ones(N, dtype=bool)
    keep[dup] = False
    users, items = users[keep], items[keep]
    # a simulated time order within each user, then the per-user chronological split
    order = np.lexsort((rng.random(len(users)), users))
    users, items = users[order], items[order]
    counts = np.bincount(users, minlength=U)
    pos = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts, counts)
    f = shape.fractions
    n_tr = np.floor(counts * f[0] + 0.5).astype(np.int64)                  # rounded half up
    n_va = np.floor(counts * (f[0] + f[1]) + 0.5).astype(np.int64) - n_tr
    short = counts >= 3                                          # at least one of each where there are three
    n_tr = np.where(short, np.clip(n_tr, 1, counts - 2), counts)
    n_va = np.where(short, np.clip(n_va, 1, counts - n_tr - 1), 0)
    cut_tr, cut_va = np.repeat(n_tr, counts), np.repeat(n_tr + n_va, counts)
    which = np.where(pos < cut_tr, 0, np.where(pos < cut_va, 1, 2))
    pairs = np.stack([users, items], 1)
    out = {s: np.ascontiguousarray(pairs[which == k]) for k, s in enumerate(SPLITS)}
    n = int(len(users))
    stats = {"shape": asdict(shape), "seed": int(seed), "users": U, "items": I, "interactions": n,
             "dropped_repeats": int(N - n), "swap_rounds": int(rounds), "density": n / (U * I),
             **{s: int(len(a)) for s, a in out.items()},
             "user_degree": {"min": int(counts.min()), "median": float(np.median(counts)), "max": int(counts.max())},
             "item_count": {"min": int(pop.min()), "median": float(np.median(pop)), "max": int(pop.max())},
             "top20pct_items_share": _top_share(np.bincount(items, minlength=I), 0.2)}
    return out, stats


def _repeats(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Positions of pairs that repeat an earlier (user, item) pair."""
    key = users * n_items + items
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order][1:] == key[order][:-1]) + 1
    return np.sort(order[same])


def _top_share(counts: np.ndarray, frac: float) -> float:
    c = np.sort(counts)[::-1]
    return float(c[:max(1, int(len(c) * frac))].sum() / max(1, c.sum()))


def write(out, shape: Shape = AMAZON_BOOK, seed: int = 0, overwrite: bool = False) -> dict:
    """Write the folder (``{train,valid,test}_list.npy`` and ``simulated.json`` with the shape, the seed and the
    statistics) and return the statistics. An existing folder is refused unless ``overwrite``."""
    out = Path(out)
    if (out / "train_list.npy").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a data set (train_list.npy); --overwrite replaces it")
    splits, stats = simulate(shape, seed)
    out.mkdir(parents=True, exist_ok=True)
    for s, a in splits.items():
        np.save(out / f"{s}_list.npy", a, allow_pickle=False)
    (out / "simulated.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def shape_of(name: str, scale: float = 1.0, users: Optional[int] = None, items: Optional[int] = None,
             interactions: Optional[int] = None) -> Shape:
    """A named shape, scaled, with any of its three sizes replaced."""
    if name not in SHAPES:
        raise ConfigError(f"unknown shape {name!r}; shapes: {', '.join(SHAPES)}")
    s = SHAPES[name].scaled(scale)
    if users or items or interactions:
        s = Shape(s.name + "_custom", users or s.n_users, items or s.n_items, interactions or s.n_interactions,
                  s.min_per_user, s.user_sigma, s.item_alpha, s.fractions)
    return s
