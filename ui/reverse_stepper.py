"""The reverse page's one figure, stepped in the browser (``ui.stepper``): x_t, x̂0 with the top-K ringed, the
top-K bump chart and the per-step Recall / NDCG, every panel following one scrubber, plus the step's numbers.

Steps are counted as the chain runs (``ui.reverse.step_label``): reverse step n = 1 … S reads x_t and writes
x_{t−1}; t appears only as the subscript of the states in the step's equation."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .data import ItemAxis, UserProfile
from .forward import HELDOUT, INTERACTED, NOISE, OTHER, kind_index
from .reverse import (bump_figure, is_latent, item_x0hat, metrics_figure, reverse_caption, step_label, step_t,
                      value_range, vectors_figure)
from .reverse_noise import demotion_stats, demotion_table
from .stepper import MAX_FRAMES, build, controls, cursor, frame_index, place, play_duration, text_panel
from .theme import COLORS, base_layout


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
          + f"   (ᾱ<sub>{t}</sub> = {v['ᾱₜ']}, β<sub>{t}</sub> = {v['βₜ']})")
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

