"""Embeddings page views, part 2: a reverse trajectory of DiffuRec or DreamRec drawn on the item map, the held-out
item's rank along it, the step equation, the CSV export, and :func:`stepper_figure`, which puts all of it into one
Plotly figure whose frames hold every (capped) step, so that the scrubber and ▶ run in the browser (ui/stepper.py).

Pure: no st.*, no model.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from diffrec_core.item_map import ItemMap, cosine_to_items, project

from .embeddings import (BOTTOM_LEGEND, METHOD_TITLE, SIDE_LEGEND, STATE_COLOR, TARGET_COLOR, X0_COLOR, genre_order,
                         item_traces, map_axes, marks, support_opacity, title_of)
from .equations import Equation, posterior_coefs
from .fmt import num, tex
from .stepper import MAX_FRAMES, build, controls, cursor, frame_index, place, play_duration, text_panel
from .theme import COLORS, axis, base_layout


# ------------------------------------------------------------------------------------------------ reverse
def trajectory_traces(imap: ItemMap, kind: str, traj, step: int, xa="x", ya="y", legend=True, row: int = 0,
                      show_x0_path: bool = True) -> list:
    """The state path x_T → x_0 (black), the x̂0 predictions (vermillion, dotted) and the current step."""
    S = traj.n_steps
    st = project(imap, traj.states[:, row], kind)
    x0 = project(imap, traj.x0_hat[:, row], kind)
    lab = [f"step {i + 1} (t = {int(traj.steps[i]) + 1})" for i in range(S)]
    out = [dict(type="scatter", x=st.xy[:, 0], y=st.xy[:, 1], mode="lines+markers", name="x_t (state)",
                legendgroup="state", showlegend=legend, xaxis=xa, yaxis=ya,
                line=dict(color="rgba(0,0,0,0.35)", width=1), marker=dict(size=5, color=STATE_COLOR,
                                                                          opacity=support_opacity(st.support)),
                customdata=np.stack([lab, np.round(st.support, 2)], axis=1),
                hovertemplate="x_t at %{customdata[0]}<br>best cosine %{customdata[1]}<extra></extra>")]
    if show_x0_path:
        out.append(dict(type="scatter", x=x0.xy[:, 0], y=x0.xy[:, 1], mode="lines+markers", name="x̂0 (prediction)",
                        legendgroup="x0", showlegend=legend, xaxis=xa, yaxis=ya,
                        line=dict(color=X0_COLOR, width=2.5, dash="dot"),
                        marker=dict(size=7, color=X0_COLOR, opacity=support_opacity(x0.support)), customdata=lab,
                        hovertemplate="x̂0 at %{customdata}<extra></extra>"))
    i = int(step)
    out.append(dict(type="scatter", x=[st.xy[0, 0]], y=[st.xy[0, 1]], mode="markers", name="x_T (start)",
                    legendgroup="start", showlegend=legend, xaxis=xa, yaxis=ya,
                    marker=dict(size=14, symbol="square-open", color=STATE_COLOR, line=dict(width=3)),
                    hovertemplate="x_T<extra></extra>"))
    out.append(dict(type="scatter", x=[x0.xy[i, 0]], y=[x0.xy[i, 1]], mode="markers", name="current x̂0",
                    legendgroup="cur", showlegend=legend, xaxis=xa, yaxis=ya,
                    marker=dict(size=20, symbol="x", color=X0_COLOR, line=dict(width=2, color="#000")),
                    hovertemplate=f"x̂0 at {lab[i]}<extra></extra>"))
    return out


def reverse_figure(imap: ItemMap, kind: str, traj, step: int, genres=None, titles=None,
                   target: Optional[int] = None, history: Sequence[int] = (), height: int = 620,
                   title: Optional[str] = None) -> go.Figure:
    """A reverse trajectory on the item map; the current step's top-K starred, the held-out item a diamond."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    data = item_traces(xy, genres, titles, order, opacity=0.35)
    if len(history):
        data.append(marks(xy, history, titles, "history", "circle", "#000", 12, fill=False))
    data += trajectory_traces(imap, kind, traj, step)
    data.append(marks(xy, traj.topk[int(step), 0], titles, "top-K at this step", "star", COLORS["topk"], 15))
    if target is not None:
        data.append(marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 17))
    m = METHOD_TITLE.get(traj.method, traj.method)
    layout = base_layout(title or f"{m}: x_T → x̂0 on the {kind.upper()} map · step {int(step) + 1} of "
                         f"{traj.n_steps}", height=height, **map_axes(kind, imap))
    layout.update(legend=SIDE_LEGEND, margin=dict(layout["margin"], t=70))
    return go.Figure(data=data, layout=layout)


def target_ranks(traj, target: Optional[int], row: int = 0) -> Optional[np.ndarray]:
    """1-based rank of the held-out item by each step's scores (masked items excluded), or None."""
    if target is None or traj.scores is None:
        return None
    s = np.asarray(traj.scores[:, row], dtype=np.float64)
    return 1 + (s > s[:, [int(target)]]).sum(axis=1)


def rank_figure(traj, target: Optional[int], step: int, titles=None) -> go.Figure:
    """The held-out item's rank at every reverse step (log axis, 1 at the top); the current step marked."""
    r = target_ranks(traj, target)
    S = traj.n_steps
    x = np.arange(1, S + 1)
    layout = base_layout("Rank of the held-out next item", height=380,
                         xaxis=axis("reverse step", range=[0.5, S + 0.5]),
                         shapes=[dict(type="line", x0=int(step) + 1, x1=int(step) + 1, y0=0, y1=1, yref="paper",
                                      line=dict(color="#000", width=2, dash="dot"))])
    if r is None:
        layout["annotations"] = [dict(text="no held-out item for this history", x=0.5, y=0.5, xref="paper",
                                      yref="paper", showarrow=False, font=dict(size=16))]
        layout["yaxis"] = axis("rank")
        return go.Figure(data=[], layout=layout)
    n = traj.scores.shape[-1]
    spans = r.max() / max(r.min(), 1) >= 10
    layout["yaxis"] = (axis("rank (1 = top)", type="log", autorange="reversed") if spans else
                       axis("rank (1 = top)", range=[r.max() + 1.5, max(r.min() - 1.5, 0.5)],
                            dtick=max(1, int(np.ceil((r.max() - r.min() + 3) / 8)))))
    K = traj.topk.shape[-1]
    layout["shapes"].append(dict(type="line", x0=0, x1=1, xref="paper", y0=K, y1=K,
                                 line=dict(color=COLORS["topk"], width=2, dash="dash")))
    data = [dict(type="scatter", x=x, y=r, mode="lines+markers", name=title_of(target, titles),
                 line=dict(color=TARGET_COLOR, width=3), marker=dict(size=7, symbol="diamond"),
                 hovertemplate="step %{x}: rank %{y} of " + str(n) + "<extra></extra>")]
    return go.Figure(data=data, layout=layout)


def topk_rows(traj, step: int, titles=None, target: Optional[int] = None, genres=None) -> list:
    """The top-K at one step as rows for a table: rank, item, title, genre, score, whether it is the target."""
    i = int(step)
    rows = []
    for r, it in enumerate(traj.topk[i, 0]):
        rows.append({"rank": r + 1, "item": int(it), "title": title_of(it, titles),
                     "genre": str(genres[it]) if genres is not None else "",
                     "score x̂0·e": round(float(traj.scores[i, 0, it]), 3),
                     "held-out?": "✔" if target is not None and int(it) == int(target) else ""})
    return rows


def reverse_caption(traj, step: int, target: Optional[int], titles=None) -> str:
    i = int(step)
    S, K = traj.n_steps, traj.topk.shape[-1]
    m = METHOD_TITLE.get(traj.method, traj.method)
    top = traj.topk[:, 0]
    changes = int(sum(len(np.setdiff1d(top[j], top[j - 1])) > 0 for j in range(1, S)))
    first_final = next((j for j in range(S) if set(top[j]) == set(top[-1])), S - 1)
    s = (f"{m} reached its final top-{K} at step {first_final + 1} of {S}; the list changed at {changes} of the "
         f"{S - 1} later steps. ")
    r = target_ranks(traj, target)
    if r is None:
        return s + "This history has no held-out next item to check against."
    tname = title_of(target, titles)
    reached = "inside" if r[-1] <= K else "outside"
    s += (f"The held-out next item “{tname}” ends at rank {int(r[-1])} ({reached} the top-{K}); at step {i + 1} it "
          f"is at rank {int(r[i])}")
    best = int(r.min())
    return s + (f" (best along the way: {best} at step {int(r.argmin()) + 1})." if best < r[-1] else ".")


def nearest_at(imap: ItemMap, x: np.ndarray, n: int = 5) -> np.ndarray:
    """The n items most cosine-similar to x (in the full embedding space)."""
    c = cosine_to_items(imap, x[None])[0]
    return np.argsort(-c, kind="stable")[:n]


# ------------------------------------------------------------------------------------------------ equations
def _coef(v: float) -> str:
    """num() with values within 1e-9 of 0 or 1 shown as 0 / 1 (not '1.')."""
    v = float(v)
    for r in (0.0, 1.0):
        if abs(v - r) < 1e-9:
            return str(int(r))
    return num(v, 4)


def reverse_equation(traj, step: int) -> Equation:
    """The current reverse step of DiffuRec (docs/methods.md §2.5: x̂0 = f(h + λ⊙(x_t + τ(t)))) or DreamRec (2.6: guided
    x̂0), then x_{t−1} = c₁x̂0 + c₂x_t + σ_t ε (DDPM ancestral step, Ho et al. 2020 eq. 6-7)."""
    i = int(step)
    k = int(traj.steps[i])
    t = k + 1
    co = posterior_coefs(traj.betas, traj.alphas_cumprod)
    c1, c2 = float(co["c1"][k]), float(co["c2"][k])
    diffurec = traj.method == "diffurec"
    ddim = traj.meta.get("sampler") == "ddim"
    if diffurec:
        sig = float(np.sqrt(traj.betas[k])) if k > 0 else 0.0       # fixed-large variance: σ_t² = β_t
        model = (r"\hat x_0 = f_\theta\big(h + \lambda\odot(x_t + \tau(t))\big) \\ "
                 r"\lambda &\sim \mathcal{N}(\delta, \delta^2)")
        extra = [("δ", num(traj.meta.get("lambda_uncertainty", float("nan"))), "the mean and std of λ")]
        var_note = "σ_t² = β_t (DiffuRec's fixed-large variance)"
    else:
        sig = float(co["sigma"][k]) if k > 0 else 0.0                 # fixed-small: the posterior variance
        model = r"\hat x_0 = (1+w)\,f_\theta(x_t, h, t) - w\,f_\theta(x_t, \varnothing, t)"
        extra = [("w", num(traj.meta.get("w", float("nan"))), "classifier-free guidance weight")]
        var_note = "σ_t² = β̃_t (DreamRec's posterior variance)"
    general = (r"\begin{aligned} " + model + r" \\ x_{t-1} &= c_1\,\hat x_0 + c_2\,x_t + \sigma_t\,\varepsilon"
               r" \\ \text{score}(i) &= \hat x_0 \cdot e_i \end{aligned}").replace(r"\hat x_0 =", r"\hat x_0 &=", 1)
    if ddim:
        live = rf"t = {t}:\ \text{{DDIM step (our addition), no noise}}"
    elif k == 0:
        live = r"t = 1:\quad x_0 = c_1\,\hat x_0 \approx \hat x_0"
    else:
        live = rf"x_{{{t - 1}}} = {tex(c1, 4)}\,\hat x_0 + {tex(c2, 4)}\,x_{{{t}}}" + (
            rf" + {tex(sig)}\,\varepsilon" if k > 0 else "")
    x = traj.states[i, 0]
    x0 = traj.x0_hat[i, 0]
    terms = [("c₁", _coef(c1), "weight on the prediction x̂0"), ("c₂", _coef(c2), "weight on the state x_t"),
             ("σ_t", num(sig), var_note), ("‖x_t‖", num(np.linalg.norm(x)), "length of the current state"),
             ("‖x̂0‖", num(np.linalg.norm(x0)), "length of the prediction (inner-product scores grow with it)")]
    terms += extra
    m = METHOD_TITLE.get(traj.method, traj.method)
    return Equation(f"{m} · reverse step t = {t} of {traj.T}", general, live, terms,
                    note=f"code index k = t − 1 = {k}; {traj.n_steps} steps recorded.")


# ------------------------------------------------------------------------------------------------ export
def trajectory_csv(traj, imap: ItemMap, kind: str, titles=None, target: Optional[int] = None) -> str:
    """One row per reverse step: t, map positions of x_t and x̂0, their lengths, the held-out item's rank and the
    top-K (ids and titles). The full vectors are in the NPZ download."""
    st = project(imap, traj.states[:, 0], kind)
    x0 = project(imap, traj.x0_hat[:, 0], kind)
    r = target_ranks(traj, target)
    lines = [f"step,t,state_{kind}_x,state_{kind}_y,x0hat_{kind}_x,x0hat_{kind}_y,norm_x_t,norm_x0hat,"
             "target_rank,topk_ids,topk_titles"]
    for i in range(traj.n_steps):
        top = traj.topk[i, 0]
        tt = " | ".join(title_of(j, titles).replace(",", " ").replace('"', "'") for j in top)
        lines.append(f"{i + 1},{int(traj.steps[i]) + 1},{st.xy[i, 0]:.5g},{st.xy[i, 1]:.5g},{x0.xy[i, 0]:.5g},"
                     f"{x0.xy[i, 1]:.5g},{np.linalg.norm(traj.states[i, 0]):.5g},"
                     f"{np.linalg.norm(traj.x0_hat[i, 0]):.5g},{'' if r is None else int(r[i])},"
                     f"{' '.join(str(int(j)) for j in top)},{tt}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ the stepper
_MOVING = ("current x̂0", "top-K at this step")          # reverse_figure's traces that change with the step


def step_numbers(traj, i: int, target: Optional[int] = None, titles=None, n_titles: int = 5) -> str:
    """The numbers of reverse step i that follow the stepper's scrubber (HTML for a Plotly text trace): the step
    (docs/methods.md §2.5 / §2.6: x_{t−1} = c₁x̂0 + c₂x_t + σ_t ε) with this step's c₁, c₂ and σ_t, the lengths of x_t
    and x̂0, the held-out item's rank and the first items of this step's top-K."""
    i = int(i)
    v = reverse_equation(traj, i).values()
    t = int(traj.steps[i]) + 1
    m = METHOD_TITLE.get(traj.method, traj.method)
    lines = [f"<b>{m} · reverse step {i + 1} of {traj.n_steps}</b>  (t = {t})",
             (f"DDIM step (our addition), no noise: c₁ = {v['c₁']}, c₂ = {v['c₂']}"
              if traj.meta.get("sampler") == "ddim" else
              f"x<sub>{t - 1}</sub> = {v['c₁']}·x̂<sub>0</sub> + {v['c₂']}·x<sub>{t}</sub> + {v['σ_t']}·ε"),
             f"‖x<sub>t</sub>‖ = {v['‖x_t‖']} · ‖x̂<sub>0</sub>‖ = {v['‖x̂0‖']}"]
    r = target_ranks(traj, target)
    K = traj.topk.shape[-1]
    if r is not None:
        lines.append(f"held-out “{title_of(target, titles)[:24]}”:<br>rank {int(r[i])}"
                     + (f" (in the top-{K})" if r[i] <= K else ""))
    top = [title_of(j, titles)[:30] for j in traj.topk[i, 0][:n_titles]]
    lines.append(f"top-{K} now: " + "<br>".join(f"{n + 1}. {s}" for n, s in enumerate(top))
                 + ("<br>…" if K > n_titles else ""))
    return "<br>".join(lines)


def stepper_figure(imap: ItemMap, kind: str, traj, genres=None, titles=None, target: Optional[int] = None,
                   history: Sequence[int] = (), start: Optional[int] = None, height: int = 580,
                   max_frames: int = MAX_FRAMES) -> go.Figure:
    """The Embeddings page's reverse run in one figure, stepped in the browser: the trajectory on the item map
    (left, :func:`reverse_figure`) whose current x̂0 and top-K follow the step, the held-out item's rank with a
    cursor (right, bottom) and the step's numbers (:func:`step_numbers`, right, top). One frame per shown step (at
    most ``max_frames``, evenly spaced, with the first, the last and ``start``); it opens on ``start`` (0-based,
    default the last step). Frames change trace data only (no redraw)."""
    S = traj.n_steps
    i0 = S - 1 if start is None else min(max(int(start), 0), S - 1)
    shown = frame_index(S, max_frames, include=[i0])
    mapfig = reverse_figure(imap, kind, traj, i0, genres, titles, target, history)
    parts = [place(mapfig, (0, 0.6, 0, 1), 0)]                                   # x / y: the map
    r = target_ranks(traj, target)
    if r is not None:
        parts.append(place(rank_figure(traj, target, i0, titles), (0.72, 1, 0, 0.34), 1))   # x2 / y2
    data, axes, annotations, shapes = [], {}, [], []
    for p in parts:
        data += p["data"]
        axes.update(p["axes"])
        annotations += p["annotations"]
        shapes += [s for s in p["shapes"] if not (s.get("type") == "line" and s.get("yref") == "paper")]
    moving = [j for j, tr in enumerate(data) if tr.get("name") in _MOVING]
    extra = []
    if r is not None:
        extra.append(cursor(i0 + 1, [float(r.max()), float(r.min())], "x2", "y2"))
        annotations.append(dict(text="<b>Rank of the held-out next item</b>", x=0.66, y=0.37, xref="paper",
                                yref="paper", xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=15)))
    text, text_axes = text_panel(step_numbers(traj, i0, target, titles), 3, (0.66, 1, 0.46, 1.0), size=15)
    base = len(data)
    data += extra + [text]
    axes.update(text_axes)
    moving += list(range(base, base + len(extra) + 1))

    x0 = project(imap, traj.x0_hat[:, 0], kind).xy
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    frames = []
    for i in (int(v) for v in shown):
        top = np.asarray(traj.topk[i, 0], dtype=np.int64)
        fd = [dict(type="scatter", x=[float(x0[i, 0])], y=[float(x0[i, 1])]),
              dict(type="scatter", x=xy[top, 0], y=xy[top, 1], text=[title_of(j, titles) for j in top])]
        if r is not None:
            fd.append(dict(type="scatter", x=[i + 1] * 2))
        fd.append(dict(type="scatter", text=[step_numbers(traj, i, target, titles)]))
        frames.append(dict(name=f"step {i + 1}", data=fd, traces=moving))
    names = [f"step {int(i) + 1}" for i in shown]
    menus, sliders = controls(names, [str(int(i) + 1) for i in shown], int(np.flatnonzero(shown == i0)[0]),
                              "reverse step ", play_duration(len(shown)), y=1.0)
    sliders[0].update(x=0.2, len=0.8)
    layout = base_layout(None, height=height)
    layout.update(axes, annotations=annotations, shapes=shapes, updatemenus=menus, sliders=sliders,
                  margin=dict(l=50, r=20, t=110, b=40), legend=dict(BOTTOM_LEGEND, y=-0.1))
    return build(data, frames, layout)
