"""Forward noising of one user's interaction vector: q(x_t | x0) for t = 0..T as a client-side Plotly animation,
the histogram of x_t values for interacted vs other items, and captions that say how separable they still are.

One noise draw ε (from a seed) is reused for every step and every schedule setting, so changing a setting changes
only the coefficients √ᾱ_t and √(1-ᾱ_t): x_t = √ᾱ_t·x0 + √(1-ᾱ_t)·ε (docs/methods.md §1.3).
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .data import ItemAxis, UserProfile
from .fmt import num, plural
from .theme import BAND, COLORS, SYMBOLS, axis, base_layout

OTHER, INTERACTED, NOISE, HELDOUT = 0, 1, 2, 3
KIND_NAMES = {OTHER: "not interacted", INTERACTED: "interacted", NOISE: "injected noise",
              HELDOUT: "held-out"}
_KIND_COLOR = {OTHER: COLORS["other"], INTERACTED: COLORS["interacted"], NOISE: COLORS["noise"],
               HELDOUT: COLORS["heldout"]}
_KIND_SYMBOL = {OTHER: SYMBOLS["other"], INTERACTED: SYMBOLS["interacted"], NOISE: SYMBOLS["noise"],
                HELDOUT: SYMBOLS["heldout"]}
_KIND_SIZE = {OTHER: 5, INTERACTED: 11, NOISE: 12, HELDOUT: 12}


def item_kinds(profile: UserProfile, n_items: int, heldout: Optional[Iterable[int]] = None) -> np.ndarray:
    """Per item: 0 not interacted, 1 interacted, 2 injected-noise interaction, 3 held-out (if asked for)."""
    k = np.zeros(int(n_items), dtype=np.int8)
    if heldout is not None:
        h = np.asarray(list(heldout), dtype=np.int64)
        k[h] = HELDOUT
    k[profile.train] = INTERACTED
    k[profile.noise] = NOISE
    return k


def frame_steps(T: int, max_frames: int = 41, include: Sequence[int] = ()) -> np.ndarray:
    """At most ``max_frames`` steps from 0..T, evenly spaced, always with 0, T and the steps in ``include``."""
    T = int(T)
    n = max(2, min(int(max_frames), T + 1))
    s = set(np.round(np.linspace(0, T, n)).astype(int).tolist()) | {0, T}
    s |= {int(i) for i in include if 0 <= int(i) <= T}
    return np.array(sorted(s), dtype=np.int64)


def noise_draw(n_items: int, seed: int) -> np.ndarray:
    """ε ~ N(0, I), one draw per seed (a CPU torch generator, like the core's samplers)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn((int(n_items),), generator=g, dtype=torch.float64).numpy()


def forward_states(diffusion, x0: np.ndarray, steps: Sequence[int], noise: np.ndarray) -> np.ndarray:
    """x_t for each paper step t in ``steps`` (t = 0 is x0), using the core's ``q_sample`` with one shared ε."""
    steps = np.asarray(steps, dtype=np.int64)
    x0t = torch.as_tensor(np.asarray(x0, dtype=np.float64))[None].expand(len(steps), -1)
    eps = torch.as_tensor(np.asarray(noise, dtype=np.float64))[None].expand(len(steps), -1)
    k = torch.as_tensor(np.maximum(steps - 1, 0))
    xt = diffusion.q_sample(x0t, k, noise=eps)
    xt = torch.where(torch.as_tensor(steps == 0)[:, None], x0t, xt)
    return xt.numpy().astype(np.float32)


def genre_shapes(ax: ItemAxis, yref: str = "paper", xref: str = "x", label_y: float = 1.0) -> tuple:
    """Alternating light bands behind every other genre, and the genre names on top."""
    shapes, annotations = [], []
    for i, (name, a, b) in enumerate(ax.bands):
        if i % 2 == 0:
            shapes.append(dict(type="rect", xref=xref, yref=yref, x0=a - 0.5, x1=b - 0.5, y0=0, y1=1,
                               fillcolor=BAND, line=dict(width=0), layer="below"))
        if b - a >= max(8, ax.n // 60):
            annotations.append(dict(x=(a + b - 1) / 2, y=label_y, xref=xref, yref=yref, text=name, showarrow=False,
                                    yanchor="bottom", font=dict(size=14, color="#444")))
    return shapes, annotations


def genre_ticks(ax: ItemAxis) -> dict:
    """x-axis ticks at the centre of each genre band, labelled with the genre (Plotly rotates them when the
    plot is too narrow, so they never overlap)."""
    return dict(tickmode="array", tickvals=[(a + b - 1) / 2 for _, a, b in ax.bands],
                ticktext=[name for name, _, _ in ax.bands], ticks="", showticklabels=True,
                tickfont=dict(size=14, color="#444"))


def padded_range(values: np.ndarray, pad: float = 0.06, min_span: float = 1e-6) -> list:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return [0.0, 1.0]
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, min_span)
    return [lo - pad * span, hi + pad * span]


def _kind_traces(ax: ItemAxis, kinds: np.ndarray, values: np.ndarray, titles: Optional[Sequence[str]],
                 order: Sequence[int] = (OTHER, INTERACTED, NOISE), xaxis: str = "x", yaxis: str = "y",
                 legend: bool = True, value_name: str = "x_t") -> list:
    traces = []
    for kind in order:
        items = np.flatnonzero(kinds == kind)
        items = items[np.argsort(ax.pos[items])]
        text = None if titles is None else [str(titles[i]) for i in items]
        traces.append(dict(
            type="scatter", mode="markers", name=KIND_NAMES[kind], x=ax.pos[items].astype(np.int32),
            y=np.asarray(values)[items].astype(np.float32), text=text, customdata=items.astype(np.int32),
            marker=dict(color=_KIND_COLOR[kind], symbol=_KIND_SYMBOL[kind], size=_KIND_SIZE[kind],
                        line=dict(width=2.5 if kind == NOISE else 0, color=_KIND_COLOR[kind])),
            hovertemplate=(f"item %{{customdata}}: %{{text}}<br>{value_name} = %{{y:.4f}}"
                           f"<extra>{KIND_NAMES[kind]}</extra>"),
            xaxis=xaxis, yaxis=yaxis, showlegend=legend and len(items) > 0))
    return traces


def forward_figure(states: np.ndarray, steps: Sequence[int], ax: ItemAxis, kinds: np.ndarray,
                   titles: Optional[Sequence[str]] = None, current_t: int = 0, T: Optional[int] = None
                   ) -> go.Figure:
    """The hero animation: the user's x_t over the genre-ordered items, one frame per step in ``steps`` (play /
    slider run in the browser). The figure shows ``current_t`` (which must be one of ``steps``); the y range
    is fixed over all frames, so only the noise moves."""
    steps = np.asarray(steps, dtype=np.int64)
    T = int(steps.max()) if T is None else int(T)
    if int(current_t) not in set(steps.tolist()):
        raise ValueError(f"current step {current_t} is not one of the animation's steps")
    ci = int(np.flatnonzero(steps == int(current_t))[0])
    order = (OTHER, INTERACTED, NOISE)
    data = _kind_traces(ax, kinds, states[ci], titles, order)
    idx = [np.flatnonzero(kinds == kind) for kind in order]
    idx = [i[np.argsort(ax.pos[i])] for i in idx]
    frames = [dict(name=f"t={int(t)}", data=[dict(type="scatter", y=states[f][i].astype(np.float32)) for i in idx],
                   traces=list(range(len(order))))
              for f, t in enumerate(steps)]
    duration = int(max(100, min(400, 6000 / max(len(steps), 1))))
    play = dict(type="buttons", showactive=False, direction="left", x=1, y=1.25, xanchor="right", yanchor="bottom",
                pad=dict(r=0, t=0), font=dict(size=16),
                buttons=[dict(label="▶ play", method="animate",
                              args=[None, dict(frame=dict(duration=duration, redraw=False), fromcurrent=False,
                                               transition=dict(duration=int(duration * 0.6)), mode="immediate")]),
                         dict(label="❚❚ pause", method="animate",
                              args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                                 transition=dict(duration=0))])])
    slider = dict(active=ci, x=0, y=-0.02, len=1.0, xanchor="left", yanchor="top", pad=dict(t=30),
                  currentvalue=dict(prefix="animation: t = ", font=dict(size=16), xanchor="left"), font=dict(size=13),
                  steps=[dict(label=str(int(t)), method="animate",
                              args=[[f"t={int(t)}"], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                                          transition=dict(duration=0))]) for t in steps])
    shapes, _ = genre_shapes(ax)
    yr = padded_range(states)
    title = f"The user's interaction vector x<sub>t</sub> over {ax.n} items, grouped by genre"
    layout = base_layout(title, height=500)
    layout.update(
        xaxis=axis("", range=[-1, ax.n], showgrid=False, side="top", **genre_ticks(ax)),
        yaxis=axis("value of x<sub>t</sub>", range=yr),
        shapes=shapes, updatemenus=[play], sliders=[slider],
        margin=dict(l=70, r=30, t=150, b=110))
    layout["legend"]["y"] = 1.25
    fig = go.Figure(data=data, frames=frames, layout=layout)
    return fig


def separability(x: np.ndarray, positive: np.ndarray, threshold: Optional[float] = None) -> dict:
    """How well x_t still separates interacted items (``positive``) from the others: AUC (probability that a
    random interacted item has the larger value, ties count half), accuracy of the threshold (default: half
    the largest interacted value's expectation, √ᾱ/2 passed by the caller), and the extremes."""
    x = np.asarray(x, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    out = dict(n_pos=n_pos, n_neg=n_neg, auc=float("nan"), accuracy=float("nan"),
               min_pos=float(x[pos].min()) if n_pos else float("nan"),
               max_neg=float(x[~pos].max()) if n_neg else float("nan"))
    if n_pos and n_neg:
        order = np.argsort(x, kind="stable")
        ranks = np.empty(len(x))
        # average ranks for ties
        xs = x[order]
        uniq, inv, counts = np.unique(xs, return_inverse=True, return_counts=True)
        starts = np.cumsum(counts) - counts
        avg = starts + (counts + 1) / 2.0
        ranks[order] = avg[inv]
        out["auc"] = float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    if threshold is not None and len(x):
        out["accuracy"] = float(((x > threshold) == pos).mean())
    return out


def histogram_figure(x: np.ndarray, kinds: np.ndarray, t: int, nbins: int = 40) -> go.Figure:
    """Histogram (share of each group, %) of x_t for the user's interacted items vs all other items; the bins
    span the data's range, so tiny noise shows up as two narrow spikes."""
    x = np.asarray(x, dtype=np.float64)
    pos = np.asarray(kinds) > 0
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    span = max(hi - lo, 1e-9)
    size = span / nbins
    bins = dict(start=lo - size / 2, end=hi + size / 2, size=size)
    data = []
    for name, mask, color in (("not interacted", ~pos, COLORS["other"]), ("interacted", pos, COLORS["interacted"])):
        data.append(dict(type="histogram", x=x[mask].astype(np.float32), name=f"{name} ({int(mask.sum())})",
                         xbins=bins, autobinx=False, histnorm="percent", opacity=0.85,
                         marker=dict(color=color, line=dict(width=0)),
                         hovertemplate="x_t ≈ %{x}<br>%{y:.1f} % of the group<extra></extra>"))
    layout = base_layout(f"x<sub>t</sub> values at t = {int(t)}", height=360,
                         barmode="overlay")
    layout.update(xaxis=axis("x_t", range=[lo - size, hi + size]), yaxis=axis("% of the group"))
    return go.Figure(data=data, layout=layout)


def forward_caption(profile: UserProfile, t: int, T: int, sep: dict, noise_std: float, seed: int) -> str:
    """Two sentences on what the hero and histogram show at step t."""
    n = len(profile.train)
    if n == 0:
        return (f"User {profile.user} has no training interactions: x0 is all zeros, so x_t is pure scaled "
                f"noise (std {num(noise_std)} at t = {int(t)}).")
    noise = (f", {len(profile.noise)} of them injected noise (✕)" if profile.has_truth and len(profile.noise) else "")
    head = f"User {profile.user} interacted with {plural(n, 'item')}{noise}. "
    if int(t) == 0:
        return head + "At t = 0 the vector is the clean history: 1 for interacted items, 0 elsewhere."
    auc = sep.get("auc", float("nan"))
    if np.isfinite(sep.get("min_pos", np.nan)) and np.isfinite(sep.get("max_neg", np.nan)) and \
            sep["min_pos"] > sep["max_neg"]:
        body = (f"At t = {int(t)} of {T} (noise std {num(noise_std)}) the two groups still do not overlap: every "
                f"interacted item is above {num(sep['min_pos'])}, every other item below {num(sep['max_neg'])} "
                f"(AUC {auc:.3f}).")
    else:
        body = (f"At t = {int(t)} of {T} (noise std {num(noise_std)}) the groups overlap: a random interacted item "
                f"has the larger value with probability {auc:.3f} (AUC; 0.5 = no information left).")
    return head + body + f" Noise ε drawn once with seed {int(seed)} and reused for every step and setting."
