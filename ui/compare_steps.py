"""'Same user, same noise': several methods' denoising runs for one user, side by side, on one step slider.

Methods differ in T (DiffRec 10, DiffKG 5, DiffuRec 32, DreamRec 100 on the sample world), so the slider is a
common *step fraction* f in [0, 1] (0 = the first reverse step, 1 = the last) and each method shows its step
⌊f·(S−1) + ½⌋ of its S shown steps (``Trajectory.step_fraction``). At each step the view reads the method's x̂0
as item scores and its top-K (``Trajectory.topk``). Everything is built from ``Trajectory`` records only.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .fmt import num
from .schedule import table_from_betas
from .theme import CATEGORICAL, COLORS, SYMBOLS, axis, base_layout, vline


def step_index(traj, fraction: float) -> int:
    """The shown step of ``traj`` nearest to the common step fraction (0 = first reverse step, 1 = last)."""
    S = traj.n_steps
    f = min(max(float(fraction), 0.0), 1.0)
    return int(np.floor(f * (S - 1) + 0.5)) if S > 1 else 0     # half up (Python's round() is half-even)


def _short(title: str, n: int = 22) -> str:
    title = str(title)
    return title if len(title) <= n else title[: n - 1] + "…"


def _kind(item: int, heldout: set, seen: set) -> str:
    return "heldout" if item in heldout else ("interacted" if item in seen else "other")


def grid_figure(trajs: Mapping[str, object], titles: Mapping[str, str], fraction: float,
                item_titles: Optional[Sequence[str]], heldout: Iterable[int], seen: Iterable[int]) -> go.Figure:
    """One column per method: its top-K at the common step fraction, rank 1 on top. Green diamonds are the user's
    held-out items (hits), blue the user's own history (methods that do not mask it can recommend it), grey the
    rest. Column headers give each method's step s of S and its t."""
    heldout, seen = set(int(i) for i in heldout), set(int(i) for i in seen)
    names = list(trajs)
    kinds = {"heldout": ("held-out item (a hit)", COLORS["heldout"], SYMBOLS["heldout"]),
             "interacted": ("already in the history", COLORS["interacted"], SYMBOLS["interacted"]),
             "other": ("other item", "#8C8C8C", "circle")}
    pts = {k: dict(x=[], y=[], text=[], hover=[]) for k in kinds}
    annotations, K = [], 1
    for c, name in enumerate(names):
        tr = trajs[name]
        s = step_index(tr, fraction)
        top = tr.topk[s, 0]
        K = max(K, len(top))
        for r, item in enumerate(top):
            k = _kind(int(item), heldout, seen)
            t = item_titles[int(item)] if item_titles is not None and int(item) < len(item_titles) else f"item {item}"
            pts[k]["x"].append(c)
            pts[k]["y"].append(r + 1)
            pts[k]["text"].append(_short(t))
            pts[k]["hover"].append(f"{titles.get(name, name)} · rank {r + 1}<br>{t} (item {int(item)})")
        annotations.append(dict(x=c, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                                text=f"<b>{titles.get(name, name)}</b><br>step {s + 1}/{tr.n_steps} · t = "
                                     f"{int(tr.steps[s]) + 1}", font=dict(size=14)))
    fig = go.Figure()
    for k, (label, color, symbol) in kinds.items():
        p = pts[k]
        fig.add_trace(go.Scatter(x=p["x"], y=p["y"], mode="markers+text", name=label, text=p["text"],
                                 textposition="middle right", textfont=dict(size=12),
                                 marker=dict(color=color, symbol=symbol, size=12), customdata=p["hover"],
                                 hovertemplate="%{customdata}<extra></extra>"))
    layout = base_layout(f"top-{K} of x̂0 at {fraction:.0%} of each method's reverse run", height=200 + 34 * K)
    layout["annotations"] = annotations
    layout["margin"]["t"] = 130
    layout["margin"]["b"] = 70
    layout["legend"].update(y=-0.02, yanchor="top")       # below: the column headers sit above the plot
    fig.update_layout(**layout)
    fig.update_xaxes(axis("", range=[-0.2, max(len(names), 1) - 0.05], showgrid=False, showticklabels=False,
                          zeroline=False, showline=False, ticks=""))
    fig.update_yaxes(axis("rank", range=[K + 0.6, 0.4], dtick=1, showgrid=False))
    return fig


def hits_by_step(traj, heldout: Iterable[int], row: int = 0) -> np.ndarray:
    """How many held-out items are in the top-K at each shown step."""
    h = np.fromiter((int(i) for i in heldout), dtype=np.int64)
    return np.isin(traj.topk[:, row], h).sum(1)


def hits_figure(trajs: Mapping[str, object], titles: Mapping[str, str], heldout: Iterable[int],
                fraction: float) -> go.Figure:
    """Hits in the top-K against the step fraction, every method on one axis, the current fraction marked."""
    heldout = list(heldout)
    fig = go.Figure()
    K = 0
    for j, (name, tr) in enumerate(trajs.items()):
        h = hits_by_step(tr, heldout)
        K = max(K, tr.topk.shape[-1])
        fig.add_trace(go.Scatter(x=tr.step_fraction(), y=h, mode="lines+markers" if tr.n_steps <= 40 else "lines",
                                 name=f"{titles.get(name, name)} (T={tr.T})",
                                 line=dict(color=CATEGORICAL[j % len(CATEGORICAL)], width=3),
                                 hovertemplate="%{x:.0%}: %{y} hits<extra>" + titles.get(name, name) + "</extra>"))
    layout = base_layout(f"held-out items in the top-{K or '?'} along the reverse run", height=360)
    layout["shapes"] = [vline(float(fraction), color=COLORS["current"])]
    fig.update_layout(**layout)
    fig.update_xaxes(axis("fraction of the reverse run", range=[-0.02, 1.02], tickformat=".0%"))
    fig.update_yaxes(axis("hits in top-K", rangemode="tozero", dtick=1 if K <= 10 else None))
    return fig


def hits_lesson(trajs: Mapping[str, object], titles: Mapping[str, str], heldout: Iterable[int]) -> str:
    """The lesson of the hits chart, computed from it: the methods whose count of held-out items in the top-K is
    the same (and above 0) at every step found everything they find at the first step - their first x̂0 already
    holds the final list, so for ranking they behave as one-shot denoising autoencoders; the others are named
    with how their count moved. Empty without runs or held-out items."""
    heldout = list(heldout)
    if not trajs or not heldout:
        return ""
    flat, moving = [], []
    for name, tr in trajs.items():
        h = hits_by_step(tr, heldout)
        title = titles.get(name, name)
        if len(h) and (h == h[0]).all():
            if h[0] > 0:
                flat.append(f"{title} ({int(h[0])})")
        else:
            moving.append(f"{title} ({int(h[0])} → {int(h[-1])}, at most {int(h.max())})")
    out = []
    if flat:
        out.append(f"{', '.join(flat)}: the same number of held-out items in the top-K at every step - the first x̂0 "
                   f"already holds what the final list finds, so for ranking "
                   + ("these models behave as one-shot denoising autoencoders." if len(flat) > 1
                      else "this model behaves as a one-shot denoising autoencoder."))
    if moving:
        out.append(f"The count moves along the run for {', '.join(moving)}.")
    return " ".join(out)


def grid_caption(trajs: Mapping[str, object], titles: Mapping[str, str], fraction: float, heldout: Iterable[int]
                 ) -> str:
    heldout = list(heldout)
    if not trajs:
        return "No denoising run to show."
    parts = []
    for name, tr in trajs.items():
        s = step_index(tr, fraction)
        parts.append(f"{titles.get(name, name)} {int(hits_by_step(tr, heldout)[s])} (step {s + 1} of {tr.n_steps})")
    changes = [n for n, tr in trajs.items() if len({tuple(t) for t in tr.topk[:, 0]}) > 1]
    still = [titles.get(n, n) for n in trajs if n not in changes]
    s = (f"At {fraction:.0%} of the reverse run, held-out items in the top-{trajs[next(iter(trajs))].topk.shape[-1]}: "
         + "; ".join(parts) + ".")
    if still:
        s += (f" The top-K of {', '.join(still)} never changes along the run: its steps refine scores that were "
              f"already ranked the same way (DiffRec-style methods start from the user's clean history).")
    return s


def schedules_figure(trajs: Mapping[str, object], titles: Mapping[str, str]) -> go.Figure:
    """Every method's noise std √(1−ᾱ_t) against t/T on one log axis: how much each one actually diffuses."""
    fig = go.Figure()
    for j, (name, tr) in enumerate(trajs.items()):
        tab = table_from_betas(tr.betas)
        T = len(tab["beta"])
        if T < 1 or not np.any(tab["noise_std"] > 0):
            continue
        x = np.arange(1, T + 1) / T
        fig.add_trace(go.Scatter(x=x, y=tab["noise_std"], mode="lines+markers" if T <= 40 else "lines",
                                 name=f"{titles.get(name, name)} (T={T}, std at T {num(tab['noise_std'][-1])})",
                                 line=dict(color=CATEGORICAL[j % len(CATEGORICAL)], width=3),
                                 customdata=np.arange(1, T + 1),
                                 hovertemplate="t=%{customdata}: std %{y:.3g}<extra>" + titles.get(name, name)
                                               + "</extra>"))
    fig.update_layout(**base_layout("noise std √(1−ᾱₜ) per step, every method", height=420))
    fig.update_xaxes(axis("t / T (forward step as a fraction of each method's T)", range=[0, 1.02], tickformat=".0%"))
    fig.update_yaxes(axis("noise std (log)", type="log"))
    return fig


def diffuses_frame(specs: Mapping[str, object], trajs: Mapping[str, object], rows: Mapping[str, dict]
                   ) -> pd.DataFrame:
    """Per method: what is diffused, the state's size, T, the noise std at T, the sampler and where it starts,
    and its cost from the comparison table (``rows``: method key -> harness row, may be missing)."""
    out = []
    for name, tr in trajs.items():
        spec = specs.get(name)
        tab = table_from_betas(tr.betas)
        row = rows.get(name) or {}
        out.append({
            "method": getattr(spec, "title", name), "what is diffused": getattr(spec, "diffused", ""),
            "state size": int(tr.states.shape[-1]), "T": int(tr.T),
            "noise std at T": float(tab["noise_std"][-1]) if len(tab["noise_std"]) else float("nan"),
            "sampler": str(tr.meta.get("sampler", "")),
            "starts from": str(tr.meta.get("start", "")),
            "parameters": row.get("parameters"),
            "train s": (row.get("train_seconds") or {}).get("mean"),
            "infer ms/user": (row.get("infer_ms_per_user") or {}).get("mean"),
        })
    return pd.DataFrame(out)
