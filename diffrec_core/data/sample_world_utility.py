"""The sample world's true response model, read from a world (``world.json``): the relevance logit of a user for an
item, the click and like probabilities of a shown list (position bias and same-genre fatigue), its expected
utility, and the exact best list (docs/methods.md §2.7). ``sample_world.py`` generates the world; the rerankers'
simulator (``rerank.py``) reads it through these functions."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..paths import SAMPLE_DATA


def sigmoid(x):
    """The logistic function, elementwise (NumPy)."""
    return 1.0 / (1.0 + np.exp(-x))


def item_arrays(world: dict):
    """(genre (I,) int64, quality (I,) float64) of the world's items."""
    items = world["items"]
    return np.asarray(items["genre"], dtype=np.int64), np.asarray(items["quality"], dtype=np.float64)


def relevance(world: dict, user: int, items) -> np.ndarray:
    """The logit ``s`` of the response model for one user and some items (equivalently ``u^T v_i + b``)."""
    ut = world["utility"]
    genre, quality = item_arrays(world)
    items = np.asarray(items, dtype=np.int64)
    taste = np.asarray(world["users"]["taste_now"][int(user)], dtype=np.float64)
    return ut["b_click"] + ut["w_taste"] * np.log(len(taste) * taste[genre[items]]) + ut["w_quality"] * quality[items]


def position_bias(length: int) -> np.ndarray:
    """Examination probability ``theta_p = 1/log2(p+1)`` for 1-based positions p = 1..length."""
    return 1.0 / np.log2(np.arange(1, length + 1) + 1.0)


def list_probs(world: dict, s: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """Batched response probabilities: ``s`` and ``genres`` are [..., L]; returns [..., L, 2] (click, like)."""
    ut = world["utility"]
    length = s.shape[-1]
    same = genres[..., :, None] == genres[..., None, :]
    earlier = np.tril(np.ones((length, length), dtype=bool), k=-1)  # [p, q]: q comes before p
    n_prev = (same & earlier).sum(-1)
    click = position_bias(length) * sigmoid(s) * np.exp(-ut["gamma"] * n_prev)
    like = click * sigmoid(s + ut["b_like"])
    return np.stack([click, like], axis=-1)


def response_probs(world: dict, user: int, item_list) -> np.ndarray:
    """Marginal P(click) and P(like) at each position of a shown list: array [L, 2].

    The diversity effect is why reranking is not just sorting: a third thriller in a list is examined less.
    """
    item_list = np.asarray(item_list, dtype=np.int64)
    genre, _ = item_arrays(world)
    return list_probs(world, relevance(world, user, item_list), genre[item_list])


def list_utility(world: dict, user: int, item_list) -> float:
    """Expected utility ``U(list) = sum_p w_click P(click_p) + w_like P(like_p)`` under the true response model."""
    w = world["utility"]["weights"]
    p = response_probs(world, user, item_list)
    return float(w["click"] * p[:, 0].sum() + w["like"] * p[:, 1].sum())


def best_list(world: dict, user: int, candidates, length: Optional[int] = None) -> np.ndarray:
    """The exact utility-maximising list of ``length`` distinct candidates (default: the world's list length).

    Why this is exact without search: each item contributes ``theta_p * a_i * exp(-gamma * k)`` with
    ``a_i = sigmoid(s_i) * (w_click + w_like * sigmoid(s_i + b_like))`` and k its rank among earlier same-genre
    items. An exchange argument shows that within a genre the larger ``a`` must come first, so the k-th item of a
    genre is worth ``a_(k) * exp(-gamma k)`` wherever it stands; with ``theta`` decreasing, the best list takes the
    ``length`` largest such values and sorts them in decreasing order (rearrangement inequality).
    """
    ut = world["utility"]
    length = int(length or world["params"]["list_length"])
    cand = np.asarray(candidates, dtype=np.int64)
    genre, _ = item_arrays(world)
    s = relevance(world, user, cand)
    a = sigmoid(s) * (ut["weights"]["click"] + ut["weights"]["like"] * sigmoid(s + ut["b_like"]))
    g = genre[cand]
    order = np.lexsort((-a, g))                       # by genre, then value descending
    g_sorted = g[order]
    first = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    k = np.arange(len(cand)) - np.repeat(first, np.diff(np.r_[first, len(cand)]))
    eff = np.empty_like(a)
    eff[order] = a[order] * np.exp(-ut["gamma"] * k)
    pick = np.argsort(-eff, kind="stable")[:length]
    return cand[pick]


def load_world(path=None) -> dict:
    """Read ``world.json`` (default: the shipped ``sample_data/world.json``)."""
    path = Path(path) if path is not None else SAMPLE_DATA / "world.json"
    if path.is_dir():
        path = path / "world.json"
    return json.loads(path.read_text())
