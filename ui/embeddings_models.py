"""Embeddings page views, part 3: each model's own knob and both models at once: DreamRec's guidance weight w as
small multiples, DiffuRec's λ sensitivity, the two models side by side on their own maps, and which of the authors'
quirks the pretrained models keep.

Pure: no st.*, no model.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from diffrec_core.item_map import ItemMap

from .embeddings import BOTTOM_LEGEND, METHOD_TITLE, TARGET_COLOR, genre_order, item_traces, map_axes, marks, title_of
from .embeddings_reverse import target_ranks, trajectory_traces
from .fmt import num, pct, plural
from .theme import COLORS, axis, base_layout


# ------------------------------------------------------------------------------------------------ guidance
def _grid(n: int, cols: int, gap: float = 0.04):
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    w = (1 - gap * (cols - 1)) / cols
    h = (1 - 0.08 * (rows - 1)) / rows
    cells = []
    for j in range(n):
        r, c = divmod(j, cols)
        x0 = c * (w + gap)
        y1 = 1 - r * (h + 0.08)
        cells.append(([max(0.0, x0), min(1.0, x0 + w)], [max(0.0, y1 - h), min(1.0, y1)]))
    return cells, rows


def multiples_figure(imap: ItemMap, kind: str, trajs: Sequence, labels: Sequence[str], genres=None, titles=None,
                     target: Optional[int] = None, cols: int = 3, title: str = "") -> go.Figure:
    """One small map per run (same starting noise), each with its trajectory, final top-K and the target."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    cells, rows = _grid(len(trajs), cols)
    data, layout_axes, ann = [], {}, []
    for j, (tr, lab) in enumerate(zip(trajs, labels)):
        sfx = "" if j == 0 else str(j + 1)
        xa, ya = "x" + sfx, "y" + sfx
        data += item_traces(xy, genres, titles, order, xa, ya, legend=False, opacity=0.3, size=5)
        data += trajectory_traces(imap, kind, tr, tr.n_steps - 1, xa, ya, legend=j == 0, show_x0_path=False)
        data.append(marks(xy, tr.final_topk[0], titles, "final top-K", "star", COLORS["topk"], 11, xa, ya,
                           legend=j == 0))
        if target is not None:
            data.append(marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 13, xa, ya,
                               legend=j == 0))
        dx, dy = cells[j]
        xa_d = axis("", showticklabels=False, ticks="", domain=dx, anchor=ya, range=_range(xy[:, 0]))
        ya_d = axis("", showticklabels=False, ticks="", domain=dy, anchor=xa, range=_range(xy[:, 1]))
        layout_axes["xaxis" + sfx], layout_axes["yaxis" + sfx] = xa_d, ya_d
        ann.append(dict(text=f"<b>{lab}</b>", x=(dx[0] + dx[1]) / 2, y=dy[1], xref="paper", yref="paper",
                        yanchor="bottom", showarrow=False, font=dict(size=17)))
    layout = base_layout(title, height=330 * rows + 150, annotations=ann, **layout_axes)
    layout.update(legend=BOTTOM_LEGEND, margin=dict(l=40, r=30, t=90 if title else 50, b=70))
    return go.Figure(data=data, layout=layout)


def _range(v: np.ndarray, pad: float = 0.08) -> list:
    lo, hi = float(np.min(v)), float(np.max(v))
    span = max(hi - lo, 1e-9)
    return [lo - pad * span, hi + pad * span]


def overlap(a: Sequence[int], b: Sequence[int]) -> float:
    return len(set(map(int, a)) & set(map(int, b))) / max(len(a), 1)


def guidance_caption(trajs: Sequence, ws: Sequence[float], target: Optional[int], titles=None) -> str:
    """How the final top-K changes with w, relative to w = 0 (the conditional model alone)."""
    K = trajs[0].final_topk.shape[-1]
    base = trajs[0].final_topk[0]
    parts = [f"w = {w:g}: {pct(overlap(base, t.final_topk[0]))} of the w = {ws[0]:g} list" for w, t in
             zip(ws[1:], trajs[1:])]
    s = (f"All runs start from the same x_T and draw the same step noises; only w differs. Top-{K} kept: "
         + "; ".join(parts) + ".")
    if target is not None:
        rk = [int(target_ranks(t, target)[-1]) for t in trajs]
        s += (f" Rank of the held-out item “{title_of(target, titles)}”: "
              + ", ".join(f"{r} (w = {w:g})" for w, r in zip(ws, rk)) + ".")
    norms = [float(np.linalg.norm(t.final[0])) for t in trajs]
    s += (" ‖x̂0‖ grows from " + num(norms[0]) + " to " + num(norms[-1]) + ": guidance extrapolates away from the "
          "unconditional prediction." if norms[-1] > norms[0] else "")
    return s


# ------------------------------------------------------------------------------------------------ λ
def lambda_figure(sens: Dict, current: Optional[float] = None) -> go.Figure:
    """Top-K agreement across different x_T (left axis) and the spread of x̂0 (right axis) against δ (log)."""
    lam = np.asarray(sens["lambdas"], dtype=float)
    K, B = sens["k"], sens["n_starts"]
    data = [dict(type="scatter", x=lam, y=sens["overlap"], mode="lines+markers", name=f"top-{K} shared between runs",
                 line=dict(color=COLORS["recall"], width=3), marker=dict(size=10),
                 hovertemplate="δ = %{x}: %{y:.0%} of the top-" + str(K) + " shared<extra></extra>"),
            dict(type="scatter", x=lam, y=sens["spread"], mode="lines+markers", yaxis="y2",
                 name="spread of x̂0 / ‖mean x̂0‖", line=dict(color=COLORS["ndcg"], width=3, dash="dash"),
                 marker=dict(size=10, symbol="square"), hovertemplate="δ = %{x}: spread %{y:.3f}<extra></extra>")]
    shapes = [dict(type="line", x0=sens["default"], x1=sens["default"], y0=0, y1=1, yref="paper",
                   line=dict(color="#666", width=2, dash="dot"))]
    ann = [dict(text=f" trained δ = {num(sens['default'])}", x=np.log10(sens["default"]), y=0.5, yref="paper",
                xanchor="left", showarrow=False, font=dict(size=14))]
    if current is not None:
        shapes.append(dict(type="line", x0=current, x1=current, y0=0, y1=1, yref="paper",
                           line=dict(color="#000", width=3)))
    layout = base_layout(f"How much x_T changes DiffuRec's output ({B} different x_T, same history)", height=420,
                         xaxis=axis("δ  (λ ~ N(δ, δ²))", type="log", tickvals=lam.tolist(),
                                    ticktext=[f"{v:g}" for v in lam]),
                         yaxis=axis("share of top-K in common", range=[0, 1.05], tickformat=".0%"),
                         yaxis2=axis("spread", overlaying="y", side="right", showgrid=False, rangemode="tozero"),
                         shapes=shapes, annotations=ann)
    return go.Figure(data=data, layout=layout)


def lambda_caption(sens: Dict, current: float) -> str:
    lam = np.asarray(sens["lambdas"], dtype=float)
    j = int(np.argmin(np.abs(np.log(lam) - np.log(max(current, 1e-12)))))
    i0 = int(np.argmin(np.abs(np.log(lam) - np.log(sens["default"]))))
    K, B = sens["k"], sens["n_starts"]
    o0 = float(sens["overlap"][i0])
    verdict = ("the sampler is nearly deterministic: x_T hardly matters" if o0 >= 0.9 else
               "x_T still changes the list noticeably")
    return (f"With the trained δ = {num(sens['default'])}, the noisy target reaches the Transformer at about "
            f"{num(sens['injected'][i0])}× the scale of the history embeddings, so {B} runs from different x_T "
            f"share {pct(o0)} of their top-{K}: {verdict}. At δ = "
            f"{num(lam[j])} the injection is {num(sens['injected'][j])}× and they share {pct(sens['overlap'][j])} "
            f"(spread of x̂0 {num(sens['spread'][j])} of its length). The model was trained only at "
            f"δ = {num(sens['default'])}; larger δ shows what x_T would do, not a better model.")


# ------------------------------------------------------------------------------------------------ side by side
def side_by_side_figure(items: Sequence, kind: str, step_frac: float = 1.0, genres=None, titles=None,
                        target: Optional[int] = None) -> go.Figure:
    """Two maps (one per model, each in its own embedding space) with their trajectories at the same progress."""
    xs, data, lay, ann = [[0, 0.48], [0.52, 1.0]], [], {}, []
    for j, (imap, traj) in enumerate(items):
        sfx = "" if j == 0 else str(j + 1)
        xa, ya = "x" + sfx, "y" + sfx
        xy = np.asarray(imap.coords(kind), dtype=np.float64)
        order = genre_order(genres) if genres is not None else []
        data += item_traces(xy, genres, titles, order, xa, ya, legend=False, opacity=0.3, size=6)
        step = int(round(step_frac * (traj.n_steps - 1)))
        data += trajectory_traces(imap, kind, traj, step, xa, ya, legend=j == 0)
        data.append(marks(xy, traj.topk[step, 0], titles, "top-K", "star", COLORS["topk"], 13, xa, ya,
                           legend=j == 0))
        if target is not None:
            data.append(marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 15, xa, ya,
                               legend=j == 0))
        a = map_axes(kind, imap, sfx, domain=xs[j])
        a["xaxis" + sfx].update(anchor=ya)
        a["yaxis" + sfx].update(anchor=xa)
        lay.update(a)
        ann.append(dict(text=f"<b>{METHOD_TITLE.get(traj.method, traj.method)}</b><br>d = {imap.dim} · step "
                             f"{step + 1} of {traj.n_steps}", x=sum(xs[j]) / 2, y=1.0, xref="paper", yref="paper",
                        yanchor="bottom", showarrow=False, font=dict(size=17)))
    layout = base_layout("", height=620, annotations=ann, **lay)
    layout.update(legend=BOTTOM_LEGEND, margin=dict(l=40, r=30, t=80, b=70))
    return go.Figure(data=data, layout=layout)


def side_by_side_caption(trajs: Sequence, target: Optional[int], titles=None) -> str:
    a, b = trajs
    K = a.final_topk.shape[-1]
    s = (f"Both start from the same seed's noise. Their final top-{K} lists share "
         f"{plural(len(set(a.final_topk[0]) & set(b.final_topk[0])), 'item')}.")
    if target is not None:
        ra, rb = int(target_ranks(a, target)[-1]), int(target_ranks(b, target)[-1])
        s += (f" The held-out item “{title_of(target, titles)}” is ranked {ra} by "
              f"{METHOD_TITLE.get(a.method)} and {rb} by {METHOD_TITLE.get(b.method)}.")
    return s


# ------------------------------------------------------------------------------------------------ quirks
_QUIRKS = {
    "diffurec": [("use_pos_emb", False, "no positional embeddings", "learned positions"),
                 ("attn_mask", "query", "padding mask on the query axis, no causal mask",
                  "key-padding / causal mask"),
                 ("score_padding", True, "the padding item is a class and is ranked", "padding item not ranked"),
                 ("lambda_uncertainty", 1e-3, "λ ~ N(0.001, 0.001²)", "a different δ")],
    "dreamrec": [("eval_dropout", True, "dropout stays on at generation", "dropout off at generation"),
                 ("score_padding", True, "the padding item is ranked", "padding item not ranked"),
                 ("epoch_mode", "sample", "random batches with replacement", "shuffled epochs"),
                 ("aux_ce_weight", 0.0, "MSE loss only", "an extra cross-entropy term (not faithful)")],
}


def quirk_rows(method: str, config: dict) -> list:
    """Which of the authors' quirks a model uses: (switch, value, 'faithful' | 'clean', meaning)."""
    rows = []
    for key, faithful, f_text, c_text in _QUIRKS.get(method, []):
        v = config.get(key)
        same = (abs(float(v) - float(faithful)) < 1e-12) if isinstance(faithful, float) else v == faithful
        rows.append((key, v, "faithful" if same else "clean", f_text if same else c_text))
    return rows


def quirk_sentence(method: str, config: dict) -> str:
    rows = quirk_rows(method, config)
    f = [r[3] for r in rows if r[2] == "faithful"]
    c = [r[3] for r in rows if r[2] == "clean"]
    m = METHOD_TITLE.get(method, method)
    s = f"{m} (pretrained, sample preset)"
    if f:
        s += " keeps the authors' " + "; ".join(f)
    if c:
        s += (" and switches to " if f else " switches to ") + "; ".join(c)
    return s + "."
