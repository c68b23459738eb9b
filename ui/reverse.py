"""Reverse denoising views, read from a ``Trajectory`` only (design.md: views never reach into a model).

At the current reverse step: the state x_t and the model's x̂0 over the items; the top-K at every step as a bump
chart; per-step Recall@K / NDCG@K against the user's held-out items; and which injected-noise interactions x̂0
demotes (sample-world ground truth). L-DiffRec (latent states) gets its item clusters and latent trajectory,
T-DiffRec the time weights of the user's history.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from diffrec_core.metrics import ranking_metrics

from .data import ItemAxis
from .fmt import plural
from .forward import (HELDOUT, INTERACTED, NOISE, OTHER, _kind_traces, genre_shapes, genre_ticks, padded_range)
from .theme import CATEGORICAL, COLORS, SYMBOLS, axis, base_layout, vline

SCOPES = ("per step", "whole trajectory")


# ------------------------------------------------------------------------------------------------ the record
def is_latent(traj) -> bool:
    """L-DiffRec-style runs: states / x̂0 are latent vectors; item scores come decoded in ``scores``."""
    if traj.meta.get("space") == "latent":
        return True
    return traj.scores is not None and traj.states.shape[-1] != traj.scores.shape[-1]


def n_items(traj) -> int:
    return int(traj.scores.shape[-1] if traj.scores is not None else traj.states.shape[-1])


def step_t(traj, i: int) -> int:
    """The t of the state x_t that shown step i (0-based) reads: the network's code index k plus 1 (the paper
    counts t = 1 … T, the code k = 0 … T−1). Shown only as the subscript of x_t in the step's equation."""
    return int(traj.steps[int(i)]) + 1


def step_label(traj, i: int) -> str:
    """The page's one name of shown step i (0-based): 'reverse step n of S', counted as the chain runs (the
    stepper's slider, the bump chart's and the metrics' axes, the link's ``rv_step`` and the CSV use n too)."""
    return f"reverse step {int(i) + 1} of {traj.n_steps}"


def numbering_caption(traj) -> str:
    """The numbering explained once, with this run's numbers: reverse step n reads x_t and writes x_{t−1}."""
    S = traj.n_steps
    ts = [step_t(traj, i) for i in range(S)]
    rule = (f"t = {S + 1} − n" if ts == list(range(S, 0, -1))
            else f"t runs {ts[0]} → {ts[-1]}" if S else "no steps")
    first = (" The chain starts from the clean history, read as if it were x_T (T′ = 0)."
             if int(traj.meta.get("T_prime", 0)) == 0 and S == traj.T else "")
    return (f"Steps are counted as the chain runs: reverse step n (1 … {S}) reads the state xₜ and writes xₜ₋₁, "
            f"with {rule}; so reverse step 1 reads x{_sub(ts[0])} and reverse step {S} reads x{_sub(ts[-1])} and "
            f"gives the recommendation.{first}") if S else "This run has no reverse steps."


def _sub(n: int) -> str:
    """n in subscript digits (x₁₀)."""
    return str(int(n)).translate(str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋"))


def item_x0hat(traj, row: int = 0) -> np.ndarray:
    """(S, I) the model's prediction over items at each step: x̂0 itself (DiffRec, T-DiffRec) or the decoded
    scores (latent methods; the user's training items are masked there and come back as NaN)."""
    if not is_latent(traj):
        return np.asarray(traj.x0_hat[:, row], dtype=np.float64)
    if getattr(traj, "raw_scores", None) is not None:  # decoded scores before masking
        return np.asarray(traj.raw_scores[:, row], dtype=np.float64)
    s = np.asarray(traj.scores[:, row], dtype=np.float64)
    return np.where(np.isfinite(s), s, np.nan)


def value_range(arr: np.ndarray, step: int, scope: str = "per step", pad: float = 0.06) -> list:
    """The axis / colour range of a (S, D) array at ``step``: from that step's values ('per step') or from the
    whole trajectory ('whole trajectory', so steps are comparable). Non-finite values are ignored."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    a = np.asarray(arr, dtype=np.float64)
    return padded_range(a[int(step)] if scope == "per step" else a, pad=pad)


def changed_in_topk(traj, i: int, row: int = 0) -> int:
    """How many items of step i's top-K were not in step i-1's top-K (0 at the first step)."""
    if traj.topk is None or int(i) == 0:
        return 0
    now, prev = traj.topk[int(i), row], traj.topk[int(i) - 1, row]
    return int(len(np.setdiff1d(now, prev)))


# ------------------------------------------------------------------------------------------------ metrics
def step_metrics(traj, heldout: Iterable[int], ks: Sequence[int] = (10,), row: int = 0) -> dict:
    """Recall@K and NDCG@K (diffrec_core.metrics) of every step's top-K against the held-out items; arrays of
    length S. With no held-out items the arrays are NaN (the metrics are undefined, not 0)."""
    S = traj.n_steps
    h = np.asarray(list(heldout), dtype=np.int64)
    out = {}
    if traj.topk is None:
        return out
    top = torch.as_tensor(np.asarray(traj.topk[:, row], dtype=np.int64))
    if len(h) == 0:
        for k in ks:
            k = min(int(k), top.shape[1])
            out[f"recall@{k}"] = np.full(S, np.nan)
            out[f"ndcg@{k}"] = np.full(S, np.nan)
        return out
    gt = torch.zeros(S, n_items(traj), dtype=torch.bool)
    gt[:, torch.as_tensor(h)] = True
    m = ranking_metrics(top, gt, ks)
    for k in ks:
        k = min(int(k), top.shape[1])
        out[f"recall@{k}"] = m[f"recall@{k}"].double().numpy()
        out[f"ndcg@{k}"] = m[f"ndcg@{k}"].double().numpy()
    return out


def metrics_figure(traj, metrics: dict, current: int) -> go.Figure:
    """Per-step Recall@K and NDCG@K lines, the current step marked."""
    S = traj.n_steps
    x = np.arange(1, S + 1)
    data = []
    undefined = not metrics or all(np.isnan(v).all() for v in metrics.values())
    for name, vals in metrics.items():
        rec = name.startswith("recall")
        data.append(dict(type="scatter", x=x, y=[None if np.isnan(v) else float(v) for v in vals],
                         mode="lines+markers", name=name.replace("recall", "Recall").replace("ndcg", "NDCG"),
                         line=dict(color=COLORS["recall" if rec else "ndcg"], width=3, dash="solid" if rec else "dash"),
                         marker=dict(size=9, symbol="circle" if rec else "square"),
                         hovertemplate="reverse step %{x}: %{y:.3f}<extra>" + name + "</extra>"))
    top = 1.0
    if not undefined:
        vmax = max(float(np.nanmax(v)) for v in metrics.values())
        top = min(1.05, max(vmax * 1.2, 0.05))
    layout = base_layout("Accuracy of each step's top-K", height=max(340, 30 * 10 + 160))
    layout.update(xaxis=axis("reverse step", range=[0.5, S + 0.5], tickvals=x.tolist() if S <= 20 else None),
                  yaxis=axis("", range=[0, top]),
                  shapes=[vline(int(current) + 1, color=COLORS["current"])])
    if undefined:
        layout["annotations"] = [dict(text="no held-out items for this user: Recall and NDCG are undefined",
                                      x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16))]
    return go.Figure(data=data, layout=layout)

def metrics_caption(metrics: dict, current: Optional[int], n_heldout: int) -> str:
    """The run's Recall / NDCG trend; with ``current`` also this step's values (None: the stepper figure prints
    each step's values itself)."""
    if not metrics:
        return "This method records no ranking per step."
    if n_heldout == 0:
        return "This user has no held-out items, so Recall and NDCG are undefined at every step."
    name = next(k for k in metrics if k.startswith("recall"))
    nd = name.replace("recall", "ndcg")
    r, n = metrics[name], metrics[nd]
    K = name.split("@")[1]
    now = (f"at this step Recall@{K} = {r[int(current)]:.3f}, NDCG@{K} = {n[int(current)]:.3f}, against "
           f"{plural(n_heldout, 'held-out item')}." if current is not None
           else f"against {plural(n_heldout, 'held-out item')}.")
    if np.isclose(r[0], r[-1]) and np.isclose(n[0], n[-1]):
        return f"Recall@{K} stayed at {r[0]:.3f} and NDCG@{K} at {n[0]:.3f} over all steps; " + now
    trend = "did not change" if np.isclose(r[0], r[-1]) else ("rose" if r[-1] > r[0] else "fell")
    return (f"Recall@{K} {trend} from {r[0]:.3f} at the first step to {r[-1]:.3f} at the last "
            f"(NDCG@{K} {n[0]:.3f} → {n[-1]:.3f}); " + now)


def one_shot_lesson(traj, metrics: dict, row: int = 0) -> str:
    """What a flat accuracy line means, said only when the data shows it: Recall@K identical at every reverse
    step, above 0 (with held-out items to count). If the first step's top-K already is the final one, the first x̂0 holds
    the recommendation and the remaining steps only refine scores: for ranking, the model acts as a one-shot
    denoising autoencoder. Empty where Recall moves, or is undefined."""
    name = next((k for k in metrics if k.startswith("recall")), None)
    if name is None or traj.topk is None:
        return ""
    r = np.asarray(metrics[name], dtype=np.float64)
    if len(r) < 2 or np.isnan(r).any() or not np.allclose(r, r[0]) or r[0] == 0:
        return ""                       # moving, undefined, or nothing found at any step: no lesson to draw
    K = name.split("@")[1]
    first, last = set(np.asarray(traj.topk[0, row]).tolist()), set(np.asarray(traj.topk[-1, row]).tolist())
    if first == last:
        return (f"Recall@{K} is {r[0]:.3f} at every one of the {len(r)} steps and the first step's top-{K} is "
                f"already the final list: the first x̂0 holds the recommendation, and for ranking this model "
                f"behaves as a one-shot denoising autoencoder; the later steps only refine the scores.")
    changed = len(last - first)
    return (f"Recall@{K} is {r[0]:.3f} at every one of the {len(r)} steps: the reverse chain swaps "
            f"{plural(changed, 'item')} of the first top-{K} but finds no further held-out item, so for "
            f"accuracy the first x̂0 is as good as the last.")


# ------------------------------------------------------------------------------------------------ vectors
def vectors_figure(traj, step: int, ax: ItemAxis, kinds: np.ndarray, titles: Optional[Sequence[str]] = None,
                   scope: str = "per step", row: int = 0, cluster_of_latent: Optional[np.ndarray] = None
                   ) -> go.Figure:
    """Two linked panels at the current step: the state x_t the network reads (top; for latent methods the
    latent vector) and its prediction x̂0 over the items (bottom) with the current top-K ringed. Axis ranges
    follow ``scope``: this step's values, or the whole trajectory's."""
    i = int(step)
    latent = is_latent(traj)
    xhat = item_x0hat(traj, row)
    shapes, _ = genre_shapes(ax, yref="y domain", xref="x", label_y=1.0)
    # bottom panel (items) on x / y; top panel on x2 / y2
    bottom = _kind_traces(ax, kinds, xhat[i], titles, order=(OTHER, HELDOUT, INTERACTED, NOISE), legend=True,
                          value_name="x̂0")
    if traj.topk is not None:
        top_items = np.asarray(traj.topk[i, row], dtype=np.int64)
        bottom.append(dict(type="scatter", mode="markers", name=f"in the top-{len(top_items)}",
                           x=ax.pos[top_items].astype(np.int32), y=xhat[i][top_items].astype(np.float32),
                           text=None if titles is None else [str(titles[j]) for j in top_items],
                           customdata=top_items.astype(np.int32),
                           marker=dict(symbol=SYMBOLS["topk"], size=20, color=COLORS["topk"], line=dict(width=3)),
                           hovertemplate="rank %{pointNumber}: %{text}<extra>top-K</extra>",
                           xaxis="x", yaxis="y"))
    if not latent:
        state = np.asarray(traj.states[:, row], dtype=np.float64)
        top_traces = _kind_traces(ax, kinds, state[i], titles, order=(OTHER, HELDOUT, INTERACTED, NOISE),
                                  xaxis="x2", yaxis="y2", legend=False, value_name="x_t")
        x2 = axis("", range=[-1, ax.n], showgrid=False, matches="x", showticklabels=False, anchor="y2")
        top_title = "x<sub>t</sub>: what the network reads"
        shapes2, _ = genre_shapes(ax, yref="y2 domain", xref="x2")
        shapes += shapes2
    else:
        state = np.asarray(traj.states[:, row], dtype=np.float64)
        L = state.shape[1]
        cl = np.zeros(L, dtype=int) if cluster_of_latent is None else np.asarray(cluster_of_latent, dtype=int)
        top_traces = [dict(type="bar", x=np.arange(L, dtype=np.int32), y=state[i].astype(np.float32),
                           marker=dict(color=[CATEGORICAL[c % len(CATEGORICAL)] for c in cl]), name="latent z_t",
                           showlegend=False, xaxis="x2", yaxis="y2",
                           hovertemplate="latent dim %{x}: %{y:.4f}<extra></extra>")]
        x2 = axis("latent dimension (colour = item cluster it encodes)", range=[-1, L], showgrid=False,
                  anchor="y2")
        top_title = f"z<sub>t</sub>: the {L}-d latent the network reads"
    layout = base_layout(None, height=640)
    ylo = value_range(xhat, i, scope)
    yhi = value_range(state, i, scope)
    bottom_title = "x̂<sub>0</sub>: the model's prediction" + (" (decoded scores)" if latent else "")
    layout.update(
        xaxis=axis("", range=[-1, ax.n], showgrid=False, anchor="y", domain=[0, 1], **genre_ticks(ax)),
        yaxis=axis(bottom_title, domain=[0, 0.40], range=ylo, title_font=dict(size=15)),
        xaxis2=dict(x2, domain=[0, 1]),
        yaxis2=axis(top_title, domain=[0.55, 1.0], range=yhi, title_font=dict(size=15)),
        shapes=shapes, margin=dict(l=90, r=30, t=60, b=60))
    layout["legend"]["y"] = 1.02
    return go.Figure(data=top_traces + bottom, layout=layout)


def reverse_caption(traj, i: int, heldout: Iterable[int], row: int = 0) -> str:
    """'At reverse step 4 of 10, 3 of the top-10 items changed; 2 of the user's 4 held-out items are in the
    top-10.'"""
    i = int(i)
    h = set(int(x) for x in heldout)
    if traj.topk is None:
        return f"At {step_label(traj, i)} the method records no ranking."
    K = traj.topk.shape[-1]
    top = set(int(x) for x in traj.topk[i, row])
    changed = changed_in_topk(traj, i, row)
    first = (f"At {step_label(traj, i)}, " + ("this is the first top-" + str(K) + " list" if i == 0
                                               else f"{changed} of the top-{K} items changed since the last step"))
    if not h:
        return first + "; this user has no held-out items to check it against."
    hits = len(top & h)
    verb = "is" if hits == 1 else "are"
    return first + f"; {hits} of the user's {plural(len(h), 'held-out item')} {verb} in the top-{K}."


# ------------------------------------------------------------------------------------------------ bump chart
def bump_figure(traj, current: int, titles: Optional[Sequence[str]] = None, heldout: Iterable[int] = (),
                row: int = 0, max_label: int = 20) -> go.Figure:
    """Rank (1 = top) of every item that is ever in the top-K, over the reverse steps; held-out items (hits)
    in green diamonds; the final list labelled on the right."""
    if traj.topk is None:
        return go.Figure(layout=base_layout("Top-K over the steps (no ranking recorded)", height=300))
    top = np.asarray(traj.topk[:, row], dtype=np.int64)
    S, K = top.shape
    h = set(int(x) for x in heldout)
    items = list(dict.fromkeys(top[::-1].ravel().tolist()))   # final list first, then earlier entrants
    x = np.arange(1, S + 1)
    # rank of each item at each step (None where it is not in the top-K), vectorised
    rank = np.full((len(items), S), np.nan)
    index = {it: j for j, it in enumerate(items)}
    rows = np.array([index[int(i)] for i in top.ravel()])
    rank[rows, np.repeat(np.arange(S), K)] = np.tile(np.arange(1, K + 1), S)
    data, shown = [], set()
    other = "#7F93A8"
    for j, it in enumerate(items):
        hit = it in h
        group = "hit" if hit else "other"
        title = str(titles[it]) if titles is not None else f"item {it}"
        data.append(dict(type="scatter", x=x, y=[None if np.isnan(v) else int(v) for v in rank[j]],
                         mode="lines+markers", name="held-out item (a hit)" if hit else "other item",
                         legendgroup=group, showlegend=group not in shown, connectgaps=False,
                         line=dict(color=COLORS["heldout"] if hit else other, width=4 if hit else 2),
                         marker=dict(size=12 if hit else 7, symbol="diamond" if hit else "circle",
                                     color=COLORS["heldout"] if hit else other),
                         hovertemplate=f"{title}<br>reverse step %{{x}}: rank %{{y}}<extra></extra>"))
        shown.add(group)
    final = top[-1]
    labels = [(str(titles[i]) if titles is not None else f"item {i}") for i in final]
    labels = [lab if len(lab) <= max_label else lab[:max_label - 1] + "…" for lab in labels]
    data.append(dict(type="scatter", x=[S + 0.25] * K, y=list(range(1, K + 1)), mode="text", text=labels,
                     textposition="middle right", showlegend=False, hoverinfo="skip", cliponaxis=False,
                     textfont=dict(size=14, color=[COLORS["heldout"] if int(i) in h else "#333" for i in final])))
    layout = base_layout(f"Top-{K} at each step", height=max(380, 30 * K + 160))
    layout["margin"]["r"] = 7 * max_label + 20
    layout.update(
        xaxis=axis("reverse step", range=[0.6, S + 0.4], tickvals=x.tolist() if S <= 20 else None,
                   showgrid=False),
        yaxis=axis("rank", range=[K + 0.6, 0.4], tickvals=list(range(1, K + 1)) if K <= 20 else None),
        shapes=[vline(int(current) + 1, color=COLORS["current"])])
    return go.Figure(data=data, layout=layout)

def bump_caption(traj, heldout: Iterable[int] = (), row: int = 0) -> str:
    if traj.topk is None:
        return ""
    top = np.asarray(traj.topk[:, row])
    S, K = top.shape
    distinct = len(np.unique(top))
    same = len(np.intersect1d(top[0], top[-1]))
    h = set(int(x) for x in heldout)
    hits = [int(i) for i in top[-1] if int(i) in h]
    tail = (f" {plural(len(hits), 'held-out item')} (green) end{'s' if len(hits) == 1 else ''} in the final list."
            if h else "")
    return (f"Over the {plural(S, 'step')}, {distinct} different items pass through the top-{K}; the final list "
            f"shares {same} of its {K} items with the first step's list.{tail}")



def start_caption(traj) -> str:
    """What the run started from (docs/methods.md §1.6)."""
    m = traj.meta
    tp = int(m.get("T_prime", 0))
    rev = m.get("reverse", "all_T")
    noise = bool(m.get("sampling_noise", False))
    T = traj.T
    if tp == 0:
        s = (f"Started from the clean history (T′ = 0, as the authors do) and ran all {T} reverse steps, "
             "treating the history as if it were x_T.")
    else:
        ran = (f"all {T} reverse steps (the authors' behaviour)" if rev == "all_T"
               else f"{tp} reverse steps (clean option)")
        s = f"Noised the history for T′ = {tp} steps, then ran {ran}."
    s += " Sampling noise " + ("on: each step adds posterior noise σ̃·ε." if noise
                               else "off: every step is deterministic.")
    return s
