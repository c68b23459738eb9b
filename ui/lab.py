"""Figures and captions of the Lab: the live training curves (loss per epoch, validation metrics per evaluated
epoch, the selected epoch marked) and the report of a loaded data set. Pure: no Streamlit, no training."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .fmt import num, pct
from .theme import COLORS, CATEGORICAL, OKABE_ITO, axis, base_layout, vline

LOSS_KEYS = ("loss",)                       # the objective every trainable method reports


def _metric_label(key: str) -> str:
    name, _, k = key.partition("@")
    return {"recall": "Recall", "ndcg": "NDCG", "hr": "HR", "precision": "Precision", "mrr": "MRR"}.get(name, name) \
        + (f"@{k}" if k else "")


def loss_figure(history: Sequence[Mapping], max_epochs: Optional[int] = None) -> go.Figure:
    """Training loss per epoch (and the other terms a method reports, e.g. Mult-VAE's KL, on a second axis)."""
    ep = [int(h["epoch"]) for h in history]
    fig = go.Figure()
    loss = [float(h.get("loss", np.nan)) for h in history]
    fig.add_trace(go.Scatter(x=ep, y=loss, mode="lines+markers", name="training loss",
                             line=dict(color=COLORS["diffusion"], width=3), marker=dict(size=7)))
    extras = [k for k in (history[-1] if history else {}) if k not in ("epoch", "loss", "seconds", "eval_seconds")
              and not k.startswith("valid_")]
    for j, k in enumerate(extras[:3]):
        fig.add_trace(go.Scatter(x=ep, y=[float(h.get(k, np.nan)) for h in history], mode="lines", name=k,
                                 yaxis="y2", line=dict(color=CATEGORICAL[(j + 1) % len(CATEGORICAL)], dash="dot")))
    xr = [0.5, max(max_epochs or 1, max(ep, default=1)) + 0.5]
    layout = base_layout("Training loss per epoch", height=360, xaxis=axis("epoch", range=xr),
                         yaxis=axis("loss"))
    if extras:
        layout["yaxis2"] = axis("other terms", overlaying="y", side="right", showgrid=False)
    fig.update_layout(**layout)
    return fig


def metric_keys(history: Sequence[Mapping]) -> list:
    keys = []
    for h in history:
        for k in h:
            if k.startswith("valid_") and k not in keys:
                keys.append(k)
    return keys


def metric_figure(history: Sequence[Mapping], select: str, best_epoch: int = 0,
                  max_epochs: Optional[int] = None) -> go.Figure:
    """Validation metrics at each evaluated epoch; the selection metric thick, the selected epoch marked."""
    fig = go.Figure()
    evald = [h for h in history if any(k.startswith("valid_") for k in h)]
    ep = [int(h["epoch"]) for h in evald]
    keys = metric_keys(evald)
    prio = [f"valid_{m}@{k}" for m in ("recall", "ndcg", "hr") for k in (10, 20)]
    others = sorted((k for k in keys if k != f"valid_{select}"), key=lambda k: prio.index(k) if k in prio else 99)
    order = ([f"valid_{select}"] if f"valid_{select}" in keys else []) + others[:2]
    for j, k in enumerate(order):
        sel = k == f"valid_{select}"
        fig.add_trace(go.Scatter(x=ep, y=[float(h.get(k, np.nan)) for h in evald], mode="lines+markers",
                                 name=_metric_label(k[6:]) + (" (selects the epoch)" if sel else ""),
                                 line=dict(width=4 if sel else 2, color=CATEGORICAL[j % len(CATEGORICAL)],
                                           dash=None if sel else "dot"),
                                 marker=dict(size=9 if sel else 6)))
    shapes = [vline(best_epoch, color=OKABE_ITO["black"])] if best_epoch and ep else []
    xr = [0.5, max(max_epochs or 1, max([int(h["epoch"]) for h in history], default=1)) + 0.5]
    fig.update_layout(**base_layout("Validation metrics · dotted: the kept epoch", height=380,
                                    xaxis=axis("epoch", range=xr), yaxis=axis("validation", rangemode="tozero"),
                                    shapes=shapes))
    return fig


def run_caption(summary: Mapping, running: bool) -> str:
    """One or two sentences on where a run stands."""
    sel = summary.get("select", "recall@20")
    label = _metric_label(sel)
    best, valid = int(summary.get("best_epoch") or 0), summary.get("valid") or {}
    if running:
        head = f"Training {summary.get('method')} on {summary.get('data')}: validation every " \
               f"{summary.get('eval_every')} epochs, stop after {summary.get('patience')} epochs without a gain."
        if best and sel in valid:
            return head + f" Best so far: validation {label} {num(valid[sel], 4)} at epoch {best}."
        return head + " No validation yet."
    test = summary.get("test") or {}
    s = f"Done ({summary.get('stopped')}). The weights of epoch {best} were kept: the best validation {label}" \
        f" ({num(valid.get(sel, np.nan), 4)})." if valid else f"Done ({summary.get('stopped')})."
    if test:
        tk = "ndcg@10" if "ndcg@10" in test and sel.startswith(("ndcg", "hr")) else "recall@20"
        if tk in test:
            s += f" The test split, scored once with those weights: {_metric_label(tk)} {num(test[tk], 4)}."
    return s


# ------------------------------------------------------------------------------------------------ data report
def report_rows(rep: Mapping) -> list:
    """(label, value, help) rows for the metrics of a data report."""
    return [
        ("users", f"{rep['users']:,}", "distinct users (ids are remapped to 0…n−1)"),
        ("items", f"{rep['items']:,}", "distinct items that occur in the interactions"),
        ("interactions", f"{rep['interactions']:,}", "after dropping repeated (user, item) pairs"),
        ("density", pct(rep["density"], 2), "interactions ÷ (users × items)"),
        ("time span", rep.get("time_span_text", "—"), "first … last timestamp (UTC dates where they are epoch "
                                                      "seconds)"),
        ("per user", f"{rep['per_user']['min']} / {num(rep['per_user']['median'])} / {rep['per_user']['max']}",
         "interactions per user: min / median / max"),
    ]


def activity_figure(per_user: np.ndarray, per_item: np.ndarray) -> go.Figure:
    """How many users (items) have n interactions: the long tail every recommender lives with (log-scaled bins)."""
    fig = go.Figure()
    for name, counts, color in (("users", per_user, COLORS["diffusion"]), ("items", per_item, COLORS["baseline"])):
        c = np.asarray(counts)
        c = c[c > 0]
        if not len(c):
            continue
        edges = np.unique(np.round(np.logspace(0, np.log10(c.max() + 1), 25)).astype(int))
        hist, _ = np.histogram(c, bins=np.r_[edges, edges[-1] + 1])
        fig.add_trace(go.Scatter(x=edges, y=hist, mode="lines+markers", name=name, line=dict(color=color, width=3),
                                 line_shape="hv"))
    fig.update_layout(**base_layout("Interactions per user and per item", height=340,
                                    xaxis=axis("interactions (log scale)", type="log"),
                                    yaxis=axis("how many have that many")))
    return fig


def report_caption(rep: Mapping) -> str:
    s = (f"{rep['name']}: {rep['users']:,} users, {rep['items']:,} items and {rep['interactions']:,} interactions "
         f"(density {pct(rep['density'], 2)}); time span {rep.get('time_span_text', '—')}.")
    if rep.get("kg_triples"):
        s += f" It has a knowledge graph of {rep['kg_triples']:,} triples."
    if rep.get("users_under_3"):
        s += (f" {rep['users_under_3']:,} users have fewer than 3 interactions and cannot all be validated and "
              f"tested.")
    return s


# ------------------------------------------------------------------------------------------------ trajectory files
def trajectory_step_figure(traj, row: int, i: int) -> go.Figure:
    """One step of a loaded trajectory: x̂0 over the dimensions for one row, in the app's colour roles - the
    user's own (masked) history blue, the step's top-K orange, every other item grey; one y range over all steps,
    so stepping compares heights."""
    x0 = np.asarray(traj.x0_hat[:, row, :], dtype=float)
    D = x0.shape[1]
    color = np.full(D, COLORS["interacted"], dtype=object)
    if traj.scores is not None and traj.scores.shape[-1] == D:
        color[:] = COLORS["other"]
        color[~np.isfinite(np.asarray(traj.scores[i, row], dtype=float))] = COLORS["interacted"]
        if traj.topk is not None:
            color[np.asarray(traj.topk[i, row], dtype=np.int64)] = COLORS["topk"]
    lo, hi = float(np.nanmin(x0)), float(np.nanmax(x0))
    pad = 0.05 * (hi - lo or 1.0)
    fig = go.Figure(go.Bar(x=np.arange(D), y=x0[i], marker=dict(color=color.tolist(), line_width=0),
                           name="x̂0", hovertemplate="dimension %{x}: %{y:.4g}<extra></extra>"))
    title = (f"{traj.method}: x̂0 at step {i + 1} of {traj.n_steps} (k = {int(traj.steps[i])}), "
             f"user {int(traj.users[row])}")
    fig.update_layout(**base_layout(title, height=380, legend=False, bargap=0,
                                    xaxis=axis("dimension (item)"), yaxis=axis("x̂0", range=[lo - pad, hi + pad])))
    return fig
