"""The Knowledge-graph page's row view: an entity's KG row x_t (top) and the denoiser's x̂0 (bottom) at one reverse
step (:func:`row_figure`), with the row's true neighbours, the wrong ones and the top-k the rebuild keeps; its table
and caption; and :func:`stepper_figure`, which holds every (capped) step as frames of one Plotly figure, so that the
scrubber and ▶ run in the browser (ui/stepper.py). Pure: no st.*, no model.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .fmt import num, plural
from .knowledge_graph import WRONG, short
from .stepper import MAX_FRAMES, build, controls, frame_index, place, play_duration, text_panel
from .theme import COLORS, LIGHT_GREY, axis, base_layout


# ------------------------------------------------------------------------------------------------ a KG row
def entity_order(entity_types: Optional[Sequence[str]], n_entities: int, n_items: int,
                 min_share: float = 0.12) -> tuple:
    """x positions of entities: items first, then the other types in blocks, each block at least ``min_share``
    of the axis wide (8 genres would otherwise be a sliver next to 500 items); returns (pos, bands) with float
    positions and bands ``(type, x0, x1)``."""
    types = np.asarray([str(x) for x in entity_types][:n_entities] if entity_types is not None else
                       ["item" if e < n_items else "entity" for e in range(n_entities)], dtype=object)
    if len(types) < n_entities:
        types = np.r_[types, np.full(n_entities - len(types), "entity", dtype=object)]
    names = list(dict.fromkeys(types.tolist()))
    names = sorted(names, key=lambda t: (t != "item", names.index(t)))
    rank = {t: i for i, t in enumerate(names)}
    code = np.array([rank[t] for t in types], dtype=np.int64)
    pos = np.zeros(n_entities, dtype=np.float64)
    bands, start = [], 0.0
    for t in names:
        members = np.flatnonzero(code == rank[t])
        width = max(float(len(members)), min_share * n_entities)
        pos[members] = start + (np.arange(len(members)) + 0.5) * width / len(members)
        bands.append((t, start, start + width, int(len(members))))
        start += width
    return pos, tuple(bands)


def row_neighbours(edges: pd.DataFrame, entity: int) -> pd.DataFrame:
    """The entity's original KG edges (as head; inverses included, so every neighbour appears once)."""
    return edges[edges["head"] == int(entity)]


def row_figure(traj, step: int, pos: np.ndarray, bands, neighbours: pd.DataFrame, names: Sequence[str],
               rebuild_k: int = 1, scope: str = "per step") -> go.Figure:
    """Two panels over the entities at reverse step ``step``: the state x_t the denoiser reads (top) and its x̂0
    (bottom). True neighbours are blue circles, injected wrong ones red ✕, other entities grey; the top-k that
    the rebuild keeps (from the last step's x̂0) are ringed."""
    i = int(step)
    xt = np.asarray(traj.states[i, 0], dtype=np.float64)
    x0 = np.asarray(traj.x0_hat[i, 0], dtype=np.float64)
    E = len(xt)
    nb = neighbours["tail"].to_numpy(np.int64)
    wrong = neighbours["wrong"].to_numpy(dtype=np.float64) == 1
    other = np.setdiff1d(np.arange(E), nb)
    data = []
    big = E > 4000
    sc = "scattergl" if big else "scatter"
    for vals, yax, lg in ((xt, "y2", False), (x0, "y", True)):
        data.append(dict(type=sc, mode="markers", x=pos[other], y=vals[other].astype(np.float32),
                         name="not a neighbour", marker=dict(size=4, color=LIGHT_GREY), showlegend=lg,
                         legendgroup="o",
                         text=[str(names[e]) for e in other] if not big else None,
                         hovertemplate="%{text}: %{y:.4f}<extra></extra>" if not big else None,
                         xaxis="x2" if yax == "y2" else "x", yaxis=yax))
        for sel, nm, color, sym, size in ((~wrong, "true neighbour", COLORS["interacted"], "circle", 11),
                                          (wrong, "injected wrong neighbour", WRONG, "x", 13)):
            e = nb[sel]
            if not len(e):
                continue
            data.append(dict(type="scatter", mode="markers", x=pos[e], y=vals[e].astype(np.float32), name=nm,
                             marker=dict(size=size, color=color, symbol=sym), showlegend=lg, legendgroup=nm,
                             text=[str(names[v]) for v in e], hovertemplate="%{text}: %{y:.4f}<extra>" + nm
                             + "</extra>", xaxis="x2" if yax == "y2" else "x", yaxis=yax))
    top = np.argsort(-x0, kind="stable")[: max(1, int(rebuild_k))]
    data.append(dict(type="scatter", mode="markers", x=pos[top], y=x0[top].astype(np.float32),
                     name=f"top-{int(rebuild_k)} at this step", text=[str(names[v]) for v in top],
                     marker=dict(symbol="circle-open", size=22, color=COLORS["topk"], line=dict(width=3)),
                     hovertemplate="%{text}: %{y:.4f}<extra>top-k</extra>", xaxis="x", yaxis="y"))
    shapes = []
    tickvals, ticktext = [], []
    for j, (name, a, b, n) in enumerate(bands):
        if j % 2 == 0:
            for yref in ("y domain", "y2 domain"):
                shapes.append(dict(type="rect", xref="x", yref=yref, x0=a, x1=b, y0=0, y1=1,
                                   fillcolor="rgba(0,0,0,0.045)", line=dict(width=0), layer="below"))
        tickvals.append((a + b) / 2)
        ticktext.append(f"{name}s<br>({n})")
    xmax = bands[-1][2] if bands else float(E)
    whole = scope != "per step"
    S = traj.states.shape[0]
    r_top = _range(np.asarray(traj.states[:, 0]) if whole else xt)
    r_bot = _range(np.asarray(traj.x0_hat[:, 0]) if whole else x0)
    layout = base_layout(None, height=600)
    layout.update(xaxis=axis("", range=[0, xmax], showgrid=False, tickvals=tickvals, ticktext=ticktext, anchor="y",
                             tickangle=0),
                  yaxis=axis("x̂<sub>0</sub>: the denoiser's row", domain=[0, 0.42], range=r_bot,
                             title_font=dict(size=15)),
                  xaxis2=axis("", range=[0, xmax], showgrid=False, matches="x", showticklabels=False, anchor="y2"),
                  yaxis2=axis("x<sub>t</sub>: what it reads", domain=[0.56, 1.0], range=r_top,
                              title_font=dict(size=15)),
                  shapes=shapes, margin=dict(l=90, r=30, t=60, b=60))
    layout["meta"] = {"steps": S}
    return go.Figure(data=data, layout=layout)


def _range(a: np.ndarray, pad: float = 0.06) -> list:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    if not len(a):
        return [0.0, 1.0]
    lo, hi = float(a.min()), float(a.max())
    span = max(hi - lo, 1e-6)
    return [lo - pad * span, hi + pad * span]


def row_table(traj, step: int, neighbours: pd.DataFrame, names: Sequence[str], rebuilt_pairs=None) -> pd.DataFrame:
    """The entity's neighbours at one step: x̂0, its rank in the row, and the edge's fate in the stored model."""
    i = int(step)
    x0 = np.asarray(traj.x0_hat[i, 0], dtype=np.float64)
    rank = np.empty(len(x0), dtype=np.int64)
    rank[np.argsort(-x0, kind="stable")] = np.arange(1, len(x0) + 1)
    nb = neighbours
    df = pd.DataFrame({"neighbour": [str(names[t]) for t in nb["tail"]], "relation": nb["relation_name"].to_numpy(),
                       "injected wrong": nb["wrong"].map(lambda w: "" if pd.isna(w) else ("✕ yes" if w == 1 else
                                                                                        "no")).to_numpy(),
                       "x̂0 at this step": x0[nb["tail"].to_numpy()], "rank in the row": rank[nb["tail"].to_numpy()],
                       "fate in the model": nb["status"].to_numpy()})
    return df.sort_values("rank in the row").reset_index(drop=True)


def row_caption(traj, step: int, neighbours: pd.DataFrame, names: Sequence[str], rebuild_k: int) -> str:
    i = int(step)
    S = traj.states.shape[0]
    x0 = np.asarray(traj.x0_hat[i, 0], dtype=np.float64)
    ent = int(traj.users[0])
    nb = neighbours["tail"].to_numpy(np.int64)
    wrong = neighbours["wrong"].to_numpy(dtype=np.float64) == 1
    top = np.argsort(-x0, kind="stable")[: max(1, int(rebuild_k))]
    t = int(traj.steps[i]) + 1
    n_true = int((~wrong).sum())
    s = (f"Step {i + 1} of {S} (t = {t}): {short(names[ent], 40)} has {plural(len(nb), 'neighbour')} in the KG"
         + (f" ({int(wrong.sum())} injected wrong)" if wrong.any() else "") + ". ")
    if len(nb):
        mean_true = float(x0[nb[~wrong]].mean()) if n_true else float("nan")
        mean_other = float(np.delete(x0, nb).mean()) if len(x0) > len(nb) else float("nan")
        s += f"x̂0 averages {num(mean_true)} on true neighbours"
        if wrong.any():
            s += f", {num(float(x0[nb[wrong]].mean()))} on wrong ones"
        s += f" and {num(mean_other)} elsewhere. "
    picks = [("an original edge" if v in set(nb.tolist()) else "not an edge of the original KG, so it is dropped")
             for v in top]
    s += "Its top-" + str(int(rebuild_k)) + ": " + "; ".join(f"{short(names[v], 30)} ({p})" for v, p in zip(top, picks))
    return s + "."


# ------------------------------------------------------------------------------------------------ the stepper
def step_numbers(traj, i: int, neighbours: pd.DataFrame, names: Sequence[str], rebuild_k: int = 1,
                 sampling_noise: bool = False) -> str:
    """The numbers of reverse step i that follow the stepper's scrubber (HTML for a Plotly text trace): the step
    x_{t−1} = c₁x̂0 + c₂x_t (+ σ̃_t ε) with this step's coefficients (docs/methods.md §2.4), the mean x̂0 on true
    neighbours, wrong ones and elsewhere, and the row's top-k with each pick's fate."""
    from .equations import reverse_equation

    i = int(i)
    S = traj.states.shape[0]
    t = int(traj.steps[i]) + 1
    v = reverse_equation(traj.betas, traj.alphas_cumprod, int(traj.steps[i]), sampling_noise=sampling_noise).values()
    x0 = np.asarray(traj.x0_hat[i, 0], dtype=np.float64)
    nb = neighbours["tail"].to_numpy(np.int64)
    wrong = neighbours["wrong"].to_numpy(dtype=np.float64) == 1
    lines = [f"<b>reverse step {i + 1} of {S}</b>  (t = {t})",
             f"x<sub>{t - 1}</sub> = {v['c₁']}·x̂<sub>0</sub> + {v['c₂']}·x<sub>{t}</sub>"
             + (f" + {v['σ̃ₜ']}·ε" if sampling_noise and "σ̃ₜ" in v and i < S - 1 else ""),
             f"ᾱ<sub>t</sub> = {v['ᾱₜ']}, β<sub>t</sub> = {v['βₜ']}"]
    if len(nb):
        means = [("true", x0[nb[~wrong]]), ("wrong", x0[nb[wrong]]), ("elsewhere", np.delete(x0, nb))]
        lines.append("mean x̂<sub>0</sub>:<br>" + "<br>".join(f"   {k}: {num(float(a.mean()))}" for k, a in means
                                                          if len(a)))
    top = np.argsort(-x0, kind="stable")[: max(1, int(rebuild_k))]
    edges = set(nb.tolist())
    picks = [f"   {short(names[e], 24)} ({'an edge' if e in edges else 'no edge'})" for e in top]
    lines.append(f"top-{int(rebuild_k)} of the row:<br>" + "<br>".join(picks))
    return "<br>".join(lines)


def stepper_figure(traj, pos: np.ndarray, bands, neighbours: pd.DataFrame, names: Sequence[str],
                   rebuild_k: int = 1, scope: str = "per step", start: Optional[int] = None,
                   sampling_noise: bool = False, height: int = 580, max_frames: int = MAX_FRAMES) -> go.Figure:
    """The KG page's row, stepped in the browser: :func:`row_figure`'s two panels (x_t and x̂0 over the entities)
    with the step's numbers (:func:`step_numbers`) in one Plotly figure, one frame per shown step (at most
    ``max_frames``, with the first, the last and ``start``), ▶ and a scrubber. It opens on ``start`` (0-based,
    default the last step, the x̂0 the rebuild ranks). 'per step' ranges put the axis ranges into the frames
    (Plotly then redraws each step)."""
    S = traj.states.shape[0]
    i0 = S - 1 if start is None else min(max(int(start), 0), S - 1)
    shown = frame_index(S, max_frames, include=[i0])
    row = place(row_figure(traj, i0, pos, bands, neighbours, names, rebuild_k, scope), (0, 0.66, 0, 1), 0)
    data, axes = row["data"], row["axes"]
    text, text_axes = text_panel(step_numbers(traj, i0, neighbours, names, rebuild_k, sampling_noise), 3,
                                 (0.69, 1, 0.15, 1.0), size=15)
    axes.update(text_axes)
    moving = list(range(len(data) + 1))
    data = data + [text]

    nb = neighbours["tail"].to_numpy(np.int64)
    wrong = neighbours["wrong"].to_numpy(dtype=np.float64) == 1
    other = np.setdiff1d(np.arange(traj.states.shape[-1]), nb)
    groups = [other] + [g for g in (nb[~wrong], nb[wrong]) if len(g)]
    redraw = scope == "per step"
    xt_all, x0_all = np.asarray(traj.states[:, 0]), np.asarray(traj.x0_hat[:, 0])
    frames = []
    for i in (int(v) for v in shown):
        xt, x0 = np.asarray(xt_all[i], np.float64), np.asarray(x0_all[i], np.float64)
        fd = [dict(y=vals[g].astype(np.float32)) for vals in (xt, x0) for g in groups]
        top = np.argsort(-x0, kind="stable")[: max(1, int(rebuild_k))]
        fd.append(dict(x=pos[top], y=x0[top].astype(np.float32), text=[str(names[v]) for v in top]))
        fd.append(dict(text=[step_numbers(traj, i, neighbours, names, rebuild_k, sampling_noise)]))
        fd = [dict(d, type=data[j]["type"]) for d, j in zip(fd, moving)]
        fr = dict(name=f"step {i + 1}", data=fd, traces=moving)
        if redraw:
            fr["layout"] = dict(yaxis=dict(range=_range(x0)), yaxis2=dict(range=_range(xt)))
        frames.append(fr)
    names_ = [f"step {int(i) + 1}" for i in shown]
    menus, sliders = controls(names_, [str(int(i) + 1) for i in shown], int(np.flatnonzero(shown == i0)[0]),
                              "reverse step ", play_duration(len(shown)), redraw=redraw, y=1.0)
    layout = base_layout(None, height=height)
    layout.update(axes, shapes=row["shapes"], annotations=row["annotations"], updatemenus=menus, sliders=sliders,
                  margin=dict(l=90, r=20, t=110, b=70))
    layout["legend"].update(y=-0.12, yanchor="top")
    layout["meta"] = {"steps": S}
    return build(data, frames, layout)
