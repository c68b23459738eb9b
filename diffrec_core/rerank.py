"""The reranking harness: logged sessions as arrays, the sample world as a simulator, metrics, list validation
(``rerank_input.py``: a user's list, parsed and checked; its names import from here too).

Used by DCDR (``methods/dcdr.py``), the reranking baselines (``methods/rerank_baselines.py``), the benchmark and
the Reranking page. Pure NumPy / pandas; no torch.

**Requests.** A request is ``(user, candidates, init)``: ``candidates`` the n item ids in the upstream ranker's
order (index = the ranker's rank, 0 = best), ``init`` the list to rerank as **indices into candidates**. The
ranker's own list is ``init = [0, 1, ..., L-1]``. Every reranker returns a list of candidate indices.

**Sessions** (``sample_data/rerank_sessions.csv``): 4,000 sessions of 20 candidates; the logged list is the ranker's
top 10 after 2 random swaps, with click / like responses drawn from the known utility model. Split by session id:
0-2999 train, 3000-3499 validation, 3500-3999 test (the sessions are i.i.d. draws, so a contiguous split is a
random one).

**Simulator** (sample world only): the true response model of ``data/sample_world.py`` gives every list's exact
expected utility ``U(x) = Σ_p w_click·P(click_p) + w_like·P(like_p)`` and the exact best list.

**Metrics** [recon, stated on the page]:

* ``utility`` - U(x) under the true model (the primary figure), and its gain over the ranker's list.
* NDCG@K / AUC **against simulated responses**: for each held-out session one fixed draw of list-independent
  labels per candidate, ``click ~ Bernoulli(sigmoid(s_i))`` (the response at the top position, no redundancy
  penalty), so that every reranker is judged on the same labels. NDCG@K has binary click gains and its ideal DCG
  over all n candidates (a list that leaves a clicked candidate out loses); AUC scores the list's items by
  ``L - rank`` and unlisted candidates 0 (tied), over the (clicked, not clicked) pairs of the n candidates, ties
  ½, averaged over sessions that have both classes (docs/methods.md §3.2).
* ``logged_*`` - the paper-style protocol (docs/methods.md §2.7): rerank the *logged* list and score the new order with
  the *logged* clicks (NDCG@K with binary gains; AUC of ``L - rank`` within the list). Only meaningful for
  rerankers that permute the given items.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .data.dataset import DataFormatError
from .data.loaders import load_rerank_sessions
from .data.sample_world import best_list, item_arrays, list_probs, load_world, relevance, sigmoid
from .paths import SAMPLE_DATA
from .rerank_input import CSV_MAX_BYTES, CSV_MAX_TOKENS, ListCheck, parse_item_csv, validate_list  # noqa: F401

SPLIT_BOUNDS = (3000, 3500)          # train = sessions [0, 3000), valid = [3000, 3500), test = [3500, 4000)


# ------------------------------------------------------------------------------------------------ requests
@dataclass
class Request:
    """One reranking request. ``init`` holds indices into ``candidates`` (the list to rerank)."""

    user: int
    candidates: np.ndarray            # (n,) item ids, in the upstream ranker's order
    init: np.ndarray                  # (L,) candidate indices
    session: Optional[int] = None

    def __post_init__(self):
        self.candidates = np.asarray(self.candidates, dtype=np.int64)
        self.init = np.asarray(self.init, dtype=np.int64)

    @property
    def n(self) -> int:
        return int(len(self.candidates))

    @property
    def L(self) -> int:
        return int(len(self.init))

    def items(self, idx=None) -> np.ndarray:
        """Item ids of a list of candidate indices (default: ``init``)."""
        return self.candidates[np.asarray(self.init if idx is None else idx, dtype=np.int64)]


# ------------------------------------------------------------------------------------------------ sessions
@dataclass
class RerankData:
    """Logged sessions as arrays (S sessions, n candidates, lists of L)."""

    users: np.ndarray                 # (S,)
    cands: np.ndarray                 # (S, n) item ids by ranker rank
    logged: np.ndarray                # (S, L) candidate indices of the logged list, by position
    clicks: np.ndarray                # (S, L) int8, by position of the logged list
    likes: np.ndarray                 # (S, L) int8
    item_genre: np.ndarray            # (n_items,) genre index (public item attribute)
    item_pop: np.ndarray              # (n_items,) log(1 + interactions of the item) / 5 (from the interaction log)
    genres: List[str]
    titles: List[str]
    user_feats: np.ndarray            # (n_users, F) features of each user's interaction history
    n_users: int
    n_items: int
    splits: Dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""                    # what the checkpoints record as their data set

    @property
    def S(self) -> int:
        return int(len(self.users))

    @property
    def L(self) -> int:
        return int(self.logged.shape[1])

    @property
    def n(self) -> int:
        return int(self.cands.shape[1])

    def request(self, s: int, which: str = "ranker") -> Request:
        """Session ``s`` as a request: ``which`` = 'ranker' (the ranker's top-L) or 'logged' (the shown list)."""
        s = int(s)
        init = np.arange(self.L) if which == "ranker" else self.logged[s]
        return Request(int(self.users[s]), self.cands[s], init, session=s)

    def responses(self, rows=None) -> np.ndarray:
        """(S', L, 2) float32 logged (click, like) by position."""
        rows = slice(None) if rows is None else rows
        return np.stack([self.clicks[rows], self.likes[rows]], -1).astype(np.float32)


def user_features(events: pd.DataFrame, n_users: int, item_genre: np.ndarray, n_genres: int,
                  recent: int = 10) -> np.ndarray:
    """Per user: genre shares of the whole interaction history (n_genres), of the last ``recent`` interactions
    (n_genres) and log(1 + history length) / 5. Everything a logged system knows; no ground truth (the injected
    noise interactions are included, as a real system could not tell them apart)."""
    ev = events.sort_values(["user", "timestamp"], kind="stable") if "timestamp" in events else events
    u = ev["user"].to_numpy(np.int64)
    g = item_genre[ev["item"].to_numpy(np.int64)]
    allc = np.zeros((n_users, n_genres))
    np.add.at(allc, (u, g), 1.0)
    # position from the end within each user's history
    counts = np.bincount(u, minlength=n_users)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    from_end = counts[u] - (np.arange(len(u)) - start[u])
    rec = np.zeros((n_users, n_genres))
    m = from_end <= recent
    np.add.at(rec, (u[m], g[m]), 1.0)
    norm = lambda a: a / np.maximum(a.sum(1, keepdims=True), 1.0)  # noqa: E731
    return np.concatenate([norm(allc), norm(rec), np.log1p(counts)[:, None] / 5.0], 1).astype(np.float32)


def split_sessions(S: int) -> Dict[str, np.ndarray]:
    """Train / valid / test = the first 75 %, the next 12.5 % and the last 12.5 % of the sessions in id order
    (for the sample world's 4,000 sessions exactly ``SPLIT_BOUNDS``). Logs numbered in time order are thereby
    split chronologically; the sample world's sessions are i.i.d., so for it the split is a random one."""
    a, b = int(round(0.75 * S)), int(round(0.875 * S))
    return {"train": np.arange(0, a), "valid": np.arange(a, b), "test": np.arange(b, S)}


def _session_arrays(df: pd.DataFrame):
    """(users (S,), cands (S, n), logged (S, L), clicks, likes) from checked long-format sessions."""
    S, n = int(df["session"].max()) + 1, int(df["cand_rank"].max()) + 1
    shown = df[df["position"] > 0]
    L = int(shown["position"].max())
    s, r = df["session"].to_numpy(), df["cand_rank"].to_numpy()
    cands = np.zeros((S, n), np.int64)
    cands[s, r] = df["item"].to_numpy()
    users = np.zeros(S, np.int64)
    users[s] = df["user"].to_numpy()
    ss, pp = shown["session"].to_numpy(), shown["position"].to_numpy() - 1
    logged = np.zeros((S, L), np.int64)
    logged[ss, pp] = shown["cand_rank"].to_numpy()
    clicks = np.zeros((S, L), np.int8)
    likes = np.zeros((S, L), np.int8)
    clicks[ss, pp] = shown["click"].to_numpy()
    likes[ss, pp] = shown["like"].to_numpy()
    return users, cands, logged, clicks, likes


def is_sample_world(root=None) -> bool:
    """A folder with the sample world's files (``world.json`` beside the sessions): its simulator applies."""
    folder = Path(root).expanduser() if root is not None else SAMPLE_DATA
    return folder.is_dir() and (folder / "world.json").exists()


def load_rerank_data(root=None) -> RerankData:
    """Logged reranking sessions as arrays.

    ``root`` = None (the shipped sample world) or a generated sample world's folder: its sessions, item genres /
    titles (``items.csv``) and interaction histories (``interactions.csv``). Any other folder holding
    ``rerank_sessions.csv``, or a CSV file, is one's own logs in the format of
    :func:`diffrec_core.data.loaders.load_rerank_sessions`; ids are renumbered, the item genres come from its
    optional ``genre`` column (else one genre for all) and each user's history - the features the rerankers
    read - is their clicks in the *training* sessions (so nothing is learnt from validation or test), as is
    the item popularity."""
    if root is not None and not is_sample_world(root):
        return _load_own_logs(Path(root).expanduser())
    folder = Path(root) if root is not None else SAMPLE_DATA
    if not (folder / "rerank_sessions.csv").exists():
        raise FileNotFoundError(f"{folder / 'rerank_sessions.csv'}: no reranking sessions here (regenerate the "
                                "sample world with python -m diffrec_core sample-world)")
    df = load_rerank_sessions(folder)
    items = pd.read_csv(folder / "items.csv").sort_values("item")
    events = pd.read_csv(folder / "interactions.csv", usecols=["user", "item", "timestamp"])
    try:
        genres = list(load_world(folder)["genres"])
    except (FileNotFoundError, KeyError):
        genres = sorted(items["genre"].unique())
    gidx = {g: i for i, g in enumerate(genres)}
    item_genre = items["genre"].map(gidx).to_numpy(np.int64)
    n_items = int(items["item"].max()) + 1
    n_users = int(max(df["user"].max(), events["user"].max())) + 1
    users_path = folder / "users.csv"
    if users_path.exists():
        n_users = max(n_users, len(pd.read_csv(users_path, usecols=["user"])))
    if int(df["item"].max()) >= n_items:
        raise DataFormatError(f"{folder / 'rerank_sessions.csv'}: item {int(df['item'].max())} is not in items.csv "
                              f"(items 0..{n_items - 1})")
    users, cands, logged, clicks, likes = _session_arrays(df)
    item_pop = (np.log1p(np.bincount(events["item"].to_numpy(np.int64), minlength=n_items)) / 5.0).astype(np.float32)
    return RerankData(users=users, cands=cands, logged=logged, clicks=clicks, likes=likes, item_genre=item_genre,
                      item_pop=item_pop,
                      genres=genres, titles=items["title"].tolist(),
                      user_feats=user_features(events, n_users, item_genre, len(genres)), n_users=n_users,
                      n_items=n_items, splits=split_sessions(len(users)),
                      name="sample-rerank" if root is None else f"{folder.name}-rerank")


MIN_SESSIONS = 8     # 6 train, 1 validation, 1 test at the least


def _load_own_logs(path: Path) -> RerankData:
    df = load_rerank_sessions(path, remap_ids=True)
    src = Path(df.attrs["source"])
    users, cands, logged, clicks, likes = _session_arrays(df)
    S = len(users)
    if S < MIN_SESSIONS:
        raise DataFormatError(f"{src.name}: {S} session(s); training, validation and test need at least "
                              f"{MIN_SESSIONS} (they take 75 / 12.5 / 12.5 % in session order)")
    n_users, n_items = len(df.attrs["user_ids"]), len(df.attrs["item_ids"])
    item_genre = np.zeros(n_items, np.int64)
    if "genre" in df:
        genres = sorted(set(df["genre"]))
        item_genre[df["item"].to_numpy()] = pd.Categorical(df["genre"], categories=genres).codes
    else:
        genres = ["(none)"]
    splits = split_sessions(S)
    train = df[df["session"].isin(splits["train"]) & (df["click"] == 1)]
    events = pd.DataFrame({"user": train["user"].to_numpy(np.int64), "item": train["item"].to_numpy(np.int64),
                           "timestamp": train["session"].to_numpy(np.int64)})
    item_pop = (np.log1p(np.bincount(events["item"].to_numpy(), minlength=n_items)) / 5.0).astype(np.float32)
    return RerankData(users=users, cands=cands, logged=logged, clicks=clicks, likes=likes, item_genre=item_genre,
                      item_pop=item_pop, genres=genres, titles=[str(i) for i in df.attrs["item_ids"]],
                      user_feats=user_features(events, n_users, item_genre, len(genres)), n_users=n_users,
                      n_items=n_items, splits=splits, name=src.stem)


def simulator_for(root=None) -> Optional["Simulator"]:
    """The sample world's simulator for a sample-world folder (None: the shipped one); None for one's own logs,
    whose true response model is unknown."""
    if root is None:
        return Simulator()
    return Simulator(load_world(root)) if is_sample_world(root) else None


# ------------------------------------------------------------------------------------------------ simulator
class Simulator:
    """The sample world's known response model (sample_world.py, docs/methods.md §2.7): exact expected utility of any
    list, the exact best list, and simulated responses. Ground truth: never given to a model."""

    def __init__(self, world: Optional[dict] = None):
        self.world = world if world is not None else load_world()
        ut = self.world["utility"]
        self.w_click, self.w_like = float(ut["weights"]["click"]), float(ut["weights"]["like"])
        self.b_like = float(ut["b_like"])
        self.genre, self.quality = item_arrays(self.world)

    def relevance(self, user: int, items) -> np.ndarray:
        return relevance(self.world, int(user), items)

    def probs(self, user: int, items) -> np.ndarray:
        """(L, 2) P(click), P(like) at each position of the shown list ``items`` (item ids)."""
        items = np.asarray(items, dtype=np.int64)
        return list_probs(self.world, self.relevance(user, items), self.genre[items])

    def probs_many(self, user: int, lists: np.ndarray) -> np.ndarray:
        """(M, L, 2) for M lists (item ids) of one user, in one vectorised call."""
        lists = np.asarray(lists, dtype=np.int64)
        s = self.relevance(user, lists.ravel()).reshape(lists.shape)
        return list_probs(self.world, s, self.genre[lists])

    def utility(self, user: int, items) -> float:
        p = self.probs(user, items)
        return float(self.w_click * p[:, 0].sum() + self.w_like * p[:, 1].sum())

    def utilities(self, user: int, lists: np.ndarray) -> np.ndarray:
        p = self.probs_many(user, lists)
        return self.w_click * p[..., 0].sum(-1) + self.w_like * p[..., 1].sum(-1)

    def best(self, user: int, candidates, length: int) -> np.ndarray:
        """The exact best list (item ids) of ``length`` distinct candidates."""
        return best_list(self.world, int(user), candidates, int(length))

    def labels(self, rng: np.random.Generator, user: int, candidates) -> np.ndarray:
        """(n, 2) list-independent simulated responses of each candidate: click ~ Bernoulli(sigmoid(s)) (the top
        position, no redundancy penalty), like ~ click · Bernoulli(sigmoid(s + b_like))."""
        s = self.relevance(user, candidates)
        click = rng.random(len(s)) < sigmoid(s)
        like = click & (rng.random(len(s)) < sigmoid(s + self.b_like))
        return np.stack([click, like], -1).astype(np.int8)


# ------------------------------------------------------------------------------------------------ metrics
def ndcg_at_k(order_gains: np.ndarray, all_gains: np.ndarray, k: int) -> float:
    """NDCG@k with binary gains: ``order_gains`` the gains of the list in order, ``all_gains`` every gain the
    ideal list could use. NaN when there is no positive."""
    ideal = np.sort(np.asarray(all_gains, dtype=np.float64))[::-1][:k]
    if ideal.sum() <= 0:
        return float("nan")
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    g = np.asarray(order_gains, dtype=np.float64)[:k]
    return float((g * disc[:len(g)]).sum() / (ideal * disc[:len(ideal)]).sum())


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Pairwise AUC within one list: P(score of a positive > score of a negative), ties ½; NaN with one class."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    d = pos[:, None] - neg[None, :]
    return float(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)


def list_scores(lst: np.ndarray, n: int) -> np.ndarray:
    """Position scores over n candidates: ``L - rank`` for listed ones (L for the first), 0 for the rest."""
    lst = np.asarray(lst, dtype=np.int64)
    sc = np.zeros(n)
    sc[lst] = len(lst) - np.arange(len(lst))
    return sc


def diversity(genres_of_list: np.ndarray, k: Optional[int] = None) -> dict:
    """Genre diversity of a list: distinct genres (in the top k) and the number of items that repeat a genre
    already shown above them (what the response model penalises)."""
    g = np.asarray(genres_of_list)[: k or None]
    seen, repeats = set(), 0
    for x in g:
        repeats += int(x in seen)
        seen.add(int(x))
    return {"distinct_genres": len(seen), "repeats": repeats}


def moved_positions(before: Sequence[int], after: Sequence[int]) -> np.ndarray:
    """Indices (0-based) of positions whose entry differs."""
    a, b = np.asarray(before), np.asarray(after)
    m = min(len(a), len(b))
    return np.flatnonzero(a[:m] != b[:m])


# ------------------------------------------------------------------------------------------------ evaluation
Reranker = Callable[[Request], np.ndarray]


def _nanmean(x) -> float:
    """Mean over the sessions where the figure is defined; NaN (without numpy's warning) where none is."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def evaluate(rerankers: Dict[str, Reranker], data: RerankData, sim: Optional[Simulator], rows: Sequence[int],
             k: int = 5, label_seed: int = 0, logged: bool = True, time_it: bool = False) -> Dict[str, dict]:
    """Every reranker on the sessions ``rows``: per-session arrays and a summary (means) per reranker.

    Each reranker is called on the ranker's list (``data.request(s, 'ranker')``); with ``logged`` also on the
    logged list for the paper-style protocol. The simulated labels are one fixed draw per session (label_seed),
    shared by all rerankers. Without a simulator (``sim`` None: one's own logs, whose true response model is
    unknown) only the logged-list protocol is scored."""
    if sim is None and not logged:
        raise ValueError("without a simulator only the logged-list protocol can be scored: pass logged=True")
    rows = np.asarray(rows, dtype=np.int64)
    if sim is not None:
        rng = np.random.default_rng(label_seed)
        labels = np.stack([sim.labels(rng, data.users[s], data.cands[s]) for s in rows])   # (R, n, 2)
        base_u = np.array([sim.utility(data.users[s], data.cands[s][: data.L]) for s in rows])
        best_u = np.array([sim.utility(data.users[s], sim.best(data.users[s], data.cands[s], data.L))
                           for s in rows])
    out = {}
    for name, obj in rerankers.items():
        fn = obj.rerank if hasattr(obj, "rerank") else obj
        U, nd, au, lnd, lau, secs = [], [], [], [], [], []
        for r, s in enumerate(rows):
            if sim is not None:
                req = data.request(s, "ranker")
                t0 = time.perf_counter()
                lst = np.asarray(fn(req), dtype=np.int64)
                secs.append(time.perf_counter() - t0)
                U.append(sim.utility(req.user, req.items(lst)))
                clk = labels[r, :, 0]
                nd.append(ndcg_at_k(clk[lst], clk, k))
                au.append(auc(list_scores(lst, data.n), clk))
            if logged:
                lreq = data.request(s, "logged")
                t0 = time.perf_counter()
                llst = np.asarray(fn(lreq), dtype=np.int64)
                if sim is None:
                    secs.append(time.perf_counter() - t0)
                # the logged clicks belong to candidates (position p of the logged list)
                cand_click = np.zeros(data.n)
                cand_click[data.logged[s]] = data.clicks[s]
                lnd.append(ndcg_at_k(cand_click[llst], cand_click[data.logged[s]], k))
                lau.append(auc(len(llst) - np.arange(len(llst)), cand_click[llst]))
        res, summ = {"seconds": np.asarray(secs)}, {}
        if sim is not None:
            U = np.asarray(U)
            res.update({"utility": U, "gain": U - base_u, "ndcg": np.asarray(nd), "auc": np.asarray(au)})
            summ.update({
                "utility": float(U.mean()), "gain_vs_ranker": float((U - base_u).mean()),
                "gain_pct": float(100 * (U.sum() / base_u.sum() - 1)),
                "share_improved": float((U > base_u + 1e-9).mean()),
                "share_worse": float((U < base_u - 1e-9).mean()),
                "gap_to_best": float((best_u - U).mean()), "share_of_best_gain": float(
                    (U - base_u).sum() / max((best_u - base_u).sum(), 1e-12)),
                f"ndcg@{k}": _nanmean(res["ndcg"]), "auc": _nanmean(res["auc"]),
            })
        summ["sessions"] = int(len(rows))
        if logged:
            res["logged_ndcg"], res["logged_auc"] = np.asarray(lnd), np.asarray(lau)
            summ[f"logged_ndcg@{k}"] = _nanmean(res["logged_ndcg"])
            summ["logged_auc"] = _nanmean(res["logged_auc"])
        if time_it:
            summ["ms_per_list_median"] = float(1e3 * np.median(res["seconds"]))
        out[name] = {"summary": summ, "per_session": res}
    if sim is not None:
        out["_reference"] = {"summary": {"ranker_utility": float(base_u.mean()),
                                         "best_utility": float(best_u.mean())}}
    return out
