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

from .data import ItemAxis, UserProfile
from .fmt import num, plural
from .forward import (HELDOUT, INTERACTED, NOISE, OTHER, _kind_traces, genre_shapes, genre_ticks, kind_index,
                      padded_range)
from .stepper import MAX_FRAMES, build, controls, cursor, frame_index, place, play_duration, text_panel
from .theme import CATEGORICAL, COLORS, DIVERGING, SYMBOLS, axis, base_layout, vline

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
    """Paper step t = k + 1 of shown step i (0-based)."""
    return int(traj.steps[int(i)]) + 1


def step_label(traj, i: int) -> str:
    return f"step {int(i) + 1} of {traj.n_steps} (t = {step_t(traj, i)})"


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
                         hovertemplate="step %{x}: %{y:.3f}<extra>" + name + "</extra>"))
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
    """'At step 4 of 10 (t = 7), 3 of the top-10 items changed; 2 of the user's 4 held-out items are in the
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
                         hovertemplate=f"{title}<br>step %{{x}}: rank %{{y}}<extra></extra>"))
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


# ------------------------------------------------------------------------------------------------ the stepper
_STRIP_ORDER = (OTHER, HELDOUT, INTERACTED, NOISE)      # vectors_figure's trace order of the item kinds


def step_numbers(traj, i: int, heldout: Iterable[int], metrics: Optional[dict] = None, sampling_noise: bool = False,
                 demotion_auc: Optional[float] = None, row: int = 0) -> str:
    """The numbers of reverse step i that follow the stepper's scrubber (HTML for a Plotly text trace): the step
    equation with this step's c₁, c₂ (docs/methods.md §1.6), how the top-K changed, and this step's Recall / NDCG and
    noise-vs-genuine demotion AUC."""
    from .equations import reverse_equation

    i = int(i)
    latent = is_latent(traj)
    v = reverse_equation(traj.betas, traj.alphas_cumprod, int(traj.steps[i]), sampling_noise=sampling_noise,
                         latent=latent).values()
    t = step_t(traj, i)
    z = "z" if latent else "x"
    eq = (f"{z}<sub>{t - 1}</sub> = {v['c₁']}·{z}̂<sub>0</sub> + {v['c₂']}·{z}<sub>{t}</sub>"
          + (f" + {v['σ̃ₜ']}·ε" if sampling_noise and "σ̃ₜ" in v and i < traj.n_steps - 1 else "")
          + f"   (ᾱ<sub>t</sub> = {v['ᾱₜ']}, β<sub>t</sub> = {v['βₜ']})")
    lines = [f"<b>{step_label(traj, i)}</b>   {eq}"]
    cap = reverse_caption(traj, i, heldout, row)
    lines += [p[0].upper() + p[1:] for p in cap[len(f"At {step_label(traj, i)}, "):].rstrip(".").split("; ")]
    lines = ["<br>".join(lines[:1]), "   ·   ".join(lines[1:])] if len(" · ".join(lines[1:])) < 90 else lines
    nums = []
    if metrics:
        for name, vals in metrics.items():
            label = name.replace("recall", "Recall").replace("ndcg", "NDCG")
            nums.append(f"{label} = " + ("n/a" if np.isnan(vals[i]) else f"{vals[i]:.3f}"))
    if demotion_auc is not None and np.isfinite(demotion_auc):
        nums.append(f"noise-vs-genuine AUC of x̂<sub>0</sub>/x<sub>0</sub> = {demotion_auc:.2f}")
    if nums:
        lines.append(" · ".join(nums))
    return "<br>".join(lines)


def stepper_figure(traj, ax: ItemAxis, kinds: np.ndarray, titles: Optional[Sequence[str]] = None,
                   heldout: Iterable[int] = (), metrics: Optional[dict] = None, scope: str = "per step",
                   start: Optional[int] = None, cluster_of_latent: Optional[np.ndarray] = None,
                   sampling_noise: bool = False, profile: Optional[UserProfile] = None,
                   x0: Optional[np.ndarray] = None, row: int = 0, max_frames: int = MAX_FRAMES) -> go.Figure:
    """The reverse page's one figure, stepped in the browser: x_t (top) and x̂0 with the top-K ringed (middle) from
    :func:`vectors_figure`, the top-K bump chart and the per-step Recall / NDCG (bottom) with a cursor, and the
    step's numbers (:func:`step_numbers`). One frame per shown step (at most ``max_frames``, evenly spaced, with the
    first, the last and ``start``); it opens on ``start`` (0-based; default the last step, the recommendation).
    'per step' ranges put the axis ranges into the frames (Plotly then redraws each step)."""
    S = traj.n_steps
    heldout = [int(h) for h in heldout]
    i0 = S - 1 if start is None else min(max(int(start), 0), S - 1)
    shown = frame_index(S, max_frames, include=[i0])
    metrics = metrics or {}
    latent = is_latent(traj)
    vec = vectors_figure(traj, i0, ax, kinds, titles, scope=scope, row=row, cluster_of_latent=cluster_of_latent)
    parts = [place(vec, (0, 1, 0.37, 0.79), 0)]                      # x / y: x̂0;  x2 / y2: x_t
    if traj.topk is not None:
        parts.append(place(bump_figure(traj, i0, titles, heldout, row=row), (0, 0.44, 0, 0.25), 2))   # x3 / y3
    parts.append(place(metrics_figure(traj, metrics, i0), (0.64, 1, 0, 0.25), 3))                     # x4 / y4
    data, axes, annotations, shapes = [], {}, [], []
    for p in parts:
        data += p["data"]
        axes.update(p["axes"])
        annotations += p["annotations"]
        shapes += [s for s in p["shapes"] if s.get("type") != "line"]   # step lines: cursor traces instead
    n_top = 1 if latent else len(_STRIP_ORDER)
    rings = n_top + len(_STRIP_ORDER) if traj.topk is not None else None
    moving = list(range(n_top + len(_STRIP_ORDER) + (1 if rings is not None else 0)))
    x = lambda i: i + 1                                             # noqa: E731  (steps are 1-based on the axes)
    extra = []
    if traj.topk is not None:
        K = traj.topk.shape[-1]
        extra.append(cursor(x(i0), [K + 0.6, 0.4], "x3", "y3"))
        annotations.append(dict(text=f"<b>Top-{K} at each step</b>", x=0, y=0.27, xref="paper", yref="paper",
                                xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=16)))
    top_y = (axes.get("yaxis4", {}).get("range") or [0, 1])[1]
    extra.append(cursor(x(i0), [0, top_y], "x4", "y4"))
    mnames = list(metrics)
    dots = lambda i: [None if np.isnan(metrics[k][i]) else float(metrics[k][i]) for k in mnames]   # noqa: E731
    extra.append(dict(type="scatter", mode="markers", x=[x(i0)] * len(mnames), y=dots(i0), xaxis="x4", yaxis="y4",
                      showlegend=False, hoverinfo="skip", name="this step",
                      marker=dict(size=14, color=COLORS["current"], symbol="circle-open", line=dict(width=3))))
    annotations.append(dict(text="<b>Accuracy of each step's top-K</b>", x=0.64, y=0.27, xref="paper",
                            yref="paper", xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=16)))
    aucs = {}
    if profile is not None and len(profile.noise):
        for i in shown:
            aucs[int(i)] = demotion_stats(demotion_table(traj, int(i), profile, x0=x0))["auc"]
    numbers = lambda i: step_numbers(traj, i, heldout, metrics, sampling_noise, aucs.get(int(i)), row)  # noqa: E731
    text, text_axes = text_panel(numbers(i0), 5, (0, 1, 0.92, 1.0), size=15)
    base = len(data)
    data += extra + [text]
    axes.update(text_axes)
    moving += list(range(base, base + len(extra) + 1))

    state = np.asarray(traj.states[:, row], dtype=np.float64)
    xhat = item_x0hat(traj, row)
    idx = kind_index(ax, kinds, _STRIP_ORDER)
    redraw = scope == "per step"
    frames = []
    for i in (int(v) for v in shown):
        fd = ([dict(type="bar", y=state[i].astype(np.float32))] if latent else
              [dict(type="scatter", y=state[i][j].astype(np.float32)) for j in idx])
        fd += [dict(type="scatter", y=xhat[i][j].astype(np.float32)) for j in idx]
        if rings is not None:
            top = np.asarray(traj.topk[i, row], dtype=np.int64)
            fd.append(dict(type="scatter", x=ax.pos[top].astype(np.int32), y=xhat[i][top].astype(np.float32),
                           customdata=top.astype(np.int32),
                           text=None if titles is None else [str(titles[j]) for j in top]))
            fd.append(dict(type="scatter", x=[x(i)] * 2))
        fd.append(dict(type="scatter", x=[x(i)] * 2))
        fd.append(dict(type="scatter", x=[x(i)] * len(mnames), y=dots(i)))
        fd.append(dict(type="scatter", text=[numbers(i)]))
        fr = dict(name=f"step {i + 1}", data=fd, traces=moving)
        if redraw:
            fr["layout"] = dict(yaxis=dict(range=value_range(xhat, i, scope)),
                                yaxis2=dict(range=value_range(state, i, scope)))
        frames.append(fr)
    names = [f"step {int(i) + 1}" for i in shown]
    menus, sliders = controls(names, [str(int(i) + 1) for i in shown], int(np.flatnonzero(shown == i0)[0]),
                              "reverse step ", play_duration(len(shown)), redraw=redraw, y=1.0)
    layout = base_layout(None, height=1150)
    layout.update(axes, annotations=annotations, shapes=shapes, updatemenus=menus, sliders=sliders,
                  margin=dict(l=90, r=30, t=100, b=60))
    layout["legend"].update(y=0.915, yanchor="top")
    return build(data, frames, layout)


# ------------------------------------------------------------------------------------------------ noise demotion
def demotion_table(traj, i: int, profile: UserProfile, x0: Optional[np.ndarray] = None, titles=None, row: int = 0):
    """Per training item at step i: x0 (the diffused input value), x̂0, kept = x̂0 / x0 (the share of the
    interaction the model keeps), noise flag, and rank 1 = the most demoted. ``None`` where the record has no
    item-space x̂0 for training items (latent methods mask them)."""
    import pandas as pd

    items = np.asarray(profile.train, dtype=np.int64)
    xhat = item_x0hat(traj, row)[int(i)]
    if len(items) == 0 or not np.isfinite(xhat[items]).all():
        return None
    base = np.ones(len(items)) if x0 is None else np.asarray(x0, dtype=np.float64)[items]
    base = np.where(base > 0, base, 1.0)
    kept = xhat[items] / base
    noise = np.isin(items, profile.noise)
    df = pd.DataFrame({"item": items, "title": [str(titles[j]) if titles is not None else "" for j in items],
                       "x0": base, "x0_hat": xhat[items], "kept": kept, "injected_noise": noise})
    df = df.sort_values(["kept", "item"]).reset_index(drop=True)
    df["demotion_rank"] = np.arange(1, len(df) + 1)
    return df


def demotion_stats(df) -> dict:
    """AUC = P(kept[noise] < kept[genuine]) (ties half; 0.5 = chance, 1 = every noise item is demoted below
    every genuine one) and how many noise items sit among the n_noise most-demoted items."""
    if df is None:
        return {"n": 0, "n_noise": 0, "auc": float("nan"), "noise_in_bottom": 0}
    noise = df["injected_noise"].to_numpy()
    kept = df["kept"].to_numpy()
    n_noise = int(noise.sum())
    out = {"n": int(len(df)), "n_noise": n_noise, "auc": float("nan"), "noise_in_bottom": 0}
    if n_noise and n_noise < len(df):
        a, b = kept[noise][:, None], kept[~noise][None, :]
        out["auc"] = float(((a < b).sum() + 0.5 * (a == b).sum()) / (n_noise * (len(df) - n_noise)))
    if n_noise:
        out["noise_in_bottom"] = int(noise[:n_noise].sum())     # df is sorted by kept, most demoted first
    return out


def demotion_figure(df, step_text: str = "", max_items: int = 30) -> go.Figure:
    """x̂0 / x0 of each training item at this step, most demoted on top; injected noise in vermillion with
    a hatch pattern (not colour alone)."""
    if df is None or not len(df):
        return go.Figure(layout=base_layout("Which interactions x̂0 demotes (nothing to show)", height=260))
    shown = df
    if len(df) > max_items:
        keep = df["injected_noise"].to_numpy() | (df["demotion_rank"].to_numpy() <= max_items)
        shown = df[keep].head(max(max_items, int(df["injected_noise"].sum())))
    labels = [f"{t[:26]}{'…' if len(t) > 26 else ''} ({int(i)})" for t, i in zip(shown["title"], shown["item"])]
    noise = shown["injected_noise"].to_numpy()
    data = [dict(type="bar", x=shown["kept"].to_numpy(np.float32), y=labels, orientation="h", showlegend=False,
                 marker=dict(color=[COLORS["noise"] if n else COLORS["interacted"] for n in noise],
                             pattern=dict(shape=["/" if n else "" for n in noise], fgcolor="white", size=8)),
                 customdata=np.where(noise, "injected noise", "genuine"),
                 hovertemplate="%{y}<br>x̂0 / x0 = %{x:.3f}<extra>%{customdata}</extra>")]
    for name, color, pattern in (("injected noise (ground truth)", COLORS["noise"], "/"),
                                 ("genuine interaction", COLORS["interacted"], "")):
        data.append(dict(type="bar", x=[None], y=[None], name=name, orientation="h",
                         marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white"))))
    vals = shown["kept"].to_numpy(np.float64)
    lo = min(0.0, float(np.nanmin(vals)) * 1.1)
    hi = max(1.05, float(np.nanmax(vals)) * 1.08)
    title = "Training items by x̂<sub>0</sub> ÷ x<sub>0</sub>, most demoted on top"
    title += f" ({step_text})" if step_text else ""
    layout = base_layout(title, height=max(300, 26 * len(shown) + 150))
    layout.update(xaxis=axis("x̂0 ÷ x0  (1 = kept as it was)", range=[lo, hi]),
                  yaxis=axis("", autorange="reversed", automargin=True, tickfont=dict(size=13)),
                  shapes=[vline(1.0, color="#555", width=1.5)])
    if len(df) > len(shown):
        note = f"showing {len(shown)} of {len(df)} training items (all injected-noise ones)"
        layout["annotations"] = [dict(text=note,
                                      x=1, y=-0.12, xref="paper", yref="paper", xanchor="right", showarrow=False,
                                      font=dict(size=13))]
    return go.Figure(data=data, layout=layout)

def demotion_caption(stats: dict, has_truth: bool = True, latent: bool = False) -> str:
    if latent:
        return ("L-DiffRec's recorded scores mask the user's training items, so its demotion of injected noise "
                "cannot be read from the trajectory.")
    if not has_truth:
        return "This data set has no ground truth about noise interactions."
    if stats["n"] == 0:
        return "This user has no training interactions."
    if stats["n_noise"] == 0:
        return (f"None of this user's {stats['n']} training interactions is injected noise; pick another user to "
                "see demotion.")
    if stats["n_noise"] == stats["n"]:
        return "Every training interaction of this user is injected noise, so there is nothing to compare."
    auc = stats["auc"]
    verdict = ("better than chance" if auc > 0.6 else "no better than chance" if auc >= 0.4 else "worse than chance")
    return (f"{stats['noise_in_bottom']} of the user's {plural(stats['n_noise'], 'injected-noise interaction')} "
            f"rank among the {stats['n_noise']} most demoted of {stats['n']} training items; noise-vs-genuine AUC "
            f"{auc:.2f} ({verdict}; 0.5 = chance).")


# ------------------------------------------------------------------------------------------------ L-DiffRec
def latent_clusters(meta: dict, n_items_: int, latent_size: Optional[int] = None):
    """(item_cluster (I,), latent slices [(a, b), ...], cluster_of_latent (L,)) from an L-DiffRec record's meta,
    tolerant of key names; (None, [], None) if the meta has no clusters."""
    ic = None
    for key in ("item_cluster", "item_clusters", "clusters", "cluster_of_item"):
        if key in meta and meta[key] is not None:
            ic = np.asarray(meta[key], dtype=np.int64)
            break
    if ic is not None and len(ic) != n_items_:
        ic = None
    slices = []
    for key in ("latent_slices", "latent_bounds", "latent_slice"):
        if key in meta and meta[key]:
            slices = [(int(a), int(b)) for a, b in meta[key]]
            break
    L = int(latent_size or meta.get("latent_size") or (slices[-1][1] if slices else 0))
    col = None
    if slices and L:
        col = np.zeros(L, dtype=np.int64)
        for c, (a, b) in enumerate(slices):
            col[a:b] = c
    return ic, slices, col


def cluster_figure(item_cluster: np.ndarray, genres: Optional[Sequence[str]] = None,
                   profile: Optional[UserProfile] = None) -> go.Figure:
    """Items per cluster, split by genre (grouped bars), so one sees what k-means found."""
    ic = np.asarray(item_cluster, dtype=np.int64)
    C = int(ic.max()) + 1 if len(ic) else 0
    g = np.asarray([str(x) for x in genres]) if genres is not None else np.asarray(["all"] * len(ic))
    names, counts = np.unique(g, return_counts=True)
    names = names[np.argsort(-counts, kind="stable")]
    data = []
    for c in range(C):
        y = [int(((ic == c) & (g == n)).sum()) for n in names]
        mine = "" if profile is None else \
            f" · this user: {int(np.isin(profile.train, np.flatnonzero(ic == c)).sum())}"
        data.append(dict(type="bar", x=names.tolist(), y=y, name=f"cluster {c} ({int((ic == c).sum())} items{mine})",
                         marker=dict(color=CATEGORICAL[c % len(CATEGORICAL)],
                                     pattern=dict(shape=["", "/", ".", "x", "-", "|", "+", "\\"][c % 8])),
                         hovertemplate="%{x}: %{y} items<extra>cluster " + str(c) + "</extra>"))
    layout = base_layout("L-DiffRec's item clusters, by genre", height=360, barmode="group")
    layout.update(xaxis=axis(""), yaxis=axis("items"))
    return go.Figure(data=data, layout=layout)

def cluster_caption(item_cluster: np.ndarray, genres: Optional[Sequence[str]], source: str = "") -> str:
    ic = np.asarray(item_cluster, dtype=np.int64)
    C = int(ic.max()) + 1 if len(ic) else 0
    parts = []
    for c in range(C):
        members = np.flatnonzero(ic == c)
        if genres is not None and len(members):
            gs, cnt = np.unique(np.asarray(genres)[members], return_counts=True)
            topg = gs[np.argsort(-cnt)[:2]]
            parts.append(f"cluster {c}: {len(members)} items, mostly {' and '.join(topg)}")
        else:
            parts.append(f"cluster {c}: {len(members)} items")
    how = {"svd": " (k-means on truncated-SVD item factors, a substitute for the authors' LightGCN embeddings)",
           "item_emb": " (k-means on the data set's item embeddings)"}.get(source, "")
    return f"{C} clusters{how}: " + "; ".join(parts) + ". Each cluster has its own encoder and latent slice."


def latent_figure(traj, current: Optional[int] = None, slices=(), row: int = 0) -> go.Figure:
    """Heatmap of the latent state z_t (columns: latent dimensions, rows: reverse steps), cluster slices
    separated, the ``current`` step outlined (None: no outline). Colour range symmetric around 0, from the data."""
    z = np.asarray(traj.states[:, row], dtype=np.float64)
    S, L = z.shape
    m = float(np.nanmax(np.abs(z))) if z.size else 1.0
    m = m if m > 0 else 1.0
    shapes = [vline(a - 0.5, xref="x", color="black", width=2, dash="solid") for a, _ in list(slices)[1:]]
    if current is not None:
        shapes.append(dict(type="rect", x0=-0.5, x1=L - 0.5, y0=int(current) + 0.5, y1=int(current) + 1.5,
                           line=dict(color="black", width=3)))
    heat = dict(type="heatmap", z=z.astype(np.float32), x=np.arange(L), y=np.arange(1, S + 1), colorscale=DIVERGING,
                zmid=0, zmin=-m, zmax=m, colorbar=dict(title=dict(text="z"), thickness=14),
                hovertemplate="step %{y}, dim %{x}: %{z:.4f}<extra></extra>")
    layout = base_layout("The latent vector z<sub>t</sub> over the reverse steps", height=360, legend=False)
    layout.update(xaxis=axis("latent dimension (black lines: cluster slices)", showgrid=False),
                  yaxis=axis("reverse step", autorange="reversed", showgrid=False), shapes=shapes)
    return go.Figure(data=[heat], layout=layout)

def latent_caption(traj, row: int = 0) -> str:
    z = np.asarray(traj.states[:, row], dtype=np.float64)
    if len(z) < 2:
        return "One latent state recorded."
    moved = float(np.linalg.norm(z[-1] - z[0]))
    size = float(np.linalg.norm(z[0]))
    return (f"The latent vector (‖z‖ = {num(size)}) moves by {num(moved)} in total over the "
            f"{plural(len(z), 'step')} - {num(moved / size if size else 0.0)} of its length.")


# ------------------------------------------------------------------------------------------------ T-DiffRec
def time_weights_figure(weights: np.ndarray, profile: UserProfile, titles: Optional[Sequence[str]] = None
                        ) -> go.Figure:
    """T-DiffRec's time weight of each training interaction, oldest left (the row it diffuses)."""
    items = np.asarray(profile.chrono, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[items] if len(items) else np.zeros(0)
    noise = np.isin(items, profile.noise)
    data = [dict(type="bar", x=np.arange(1, len(items) + 1), y=w.astype(np.float32), showlegend=False,
                 marker=dict(color=[COLORS["noise"] if n else COLORS["interacted"] for n in noise],
                             pattern=dict(shape=["/" if n else "" for n in noise], fgcolor="white", size=8)),
                 text=[str(titles[i]) if titles is not None else f"item {i}" for i in items], textposition="none",
                 hovertemplate="#%{x} in the history: %{text}<br>weight %{y:.2f}<extra></extra>")]
    for name, color, pattern in (("injected noise (ground truth)", COLORS["noise"], "/"),
                                 ("genuine interaction", COLORS["interacted"], "")):
        data.append(dict(type="bar", x=[None], y=[None], name=name,
                         marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white"))))
    layout = base_layout("T-DiffRec's time weights: the row it diffuses", height=330)
    layout.update(xaxis=axis("position in the user's history (oldest → newest)"),
                  yaxis=axis("weight", range=[0, max(1.05, float(w.max()) * 1.05 if len(w) else 1.05)]))
    return go.Figure(data=data, layout=layout)

def time_weights_caption(weights: np.ndarray, profile: UserProfile) -> str:
    items = np.asarray(profile.chrono, dtype=np.int64)
    if not len(items):
        return "This user has no training history, so there is nothing to weight."
    w = np.asarray(weights, dtype=np.float64)[items]
    return (f"The oldest of the user's {len(items)} training interactions weighs {num(w[0])}, the newest "
            f"{num(w[-1])}: T-DiffRec noises and denoises this weighted row instead of the 0/1 history.")


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
