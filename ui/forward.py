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
from .stepper import MAX_FRAMES, build, controls, cursor, frame_index, place, play_duration, text_panel
from .theme import BAND, COLORS, GREY, SYMBOLS, axis, base_layout

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


def frame_steps(T: int, max_frames: int = MAX_FRAMES, include: Sequence[int] = ()) -> np.ndarray:
    """At most ``max_frames`` steps from 0..T, evenly spaced, always with 0, T and the steps in ``include``."""
    return frame_index(int(T) + 1, max_frames, include)


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


def kind_index(ax: ItemAxis, kinds: np.ndarray, order: Sequence[int]) -> list:
    """Per kind in ``order``: its items, left to right on the item axis (the point order of its trace)."""
    out = []
    for kind in order:
        items = np.flatnonzero(np.asarray(kinds) == kind)
        out.append(items[np.argsort(ax.pos[items], kind="stable")])
    return out


def _kind_traces(ax: ItemAxis, kinds: np.ndarray, values: np.ndarray, titles: Optional[Sequence[str]],
                 order: Sequence[int] = (OTHER, INTERACTED, NOISE), xaxis: str = "x", yaxis: str = "y",
                 legend: bool = True, value_name: str = "x_t") -> list:
    traces = []
    for kind, items in zip(order, kind_index(ax, kinds, order)):
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
    idx = kind_index(ax, kinds, order)
    frames = [dict(name=f"t={int(t)}", data=[dict(type="scatter", y=states[f][i].astype(np.float32)) for i in idx],
                   traces=list(range(len(order))))
              for f, t in enumerate(steps)]
    menus, sliders = controls([f"t={int(t)}" for t in steps], [str(int(t)) for t in steps], ci, "t = ",
                              play_duration(len(steps)), transition=int(play_duration(len(steps)) * 0.6), y=1.12)
    shapes, _ = genre_shapes(ax)
    yr = padded_range(states)
    title = f"The user's interaction vector x<sub>t</sub> over {ax.n} items, grouped by genre"
    layout = base_layout(title, height=500)
    layout.update(
        xaxis=axis("", range=[-1, ax.n], showgrid=False, side="top", **genre_ticks(ax)),
        yaxis=axis("value of x<sub>t</sub>", range=yr),
        shapes=shapes, updatemenus=menus, sliders=sliders,
        margin=dict(l=70, r=30, t=190, b=40))
    layout["legend"]["y"] = 1.02
    fig = go.Figure(data=data, frames=frames, layout=layout)
    return fig


def separability(x: np.ndarray, positive: np.ndarray, threshold: Optional[float] = None) -> dict:
    """How well x_t still separates interacted items (``positive``) from the others: AUC (probability that a
    random interacted item has the larger value, ties count half), and for the threshold (the caller passes
    √ᾱ/2, half the interacted items' expected value) its plain accuracy, its balanced accuracy (the mean of the
    hit rates on the interacted and on the other items, 0.5 = chance whatever the class sizes) and ``baseline``,
    the plain accuracy of predicting "no interaction" for every item (the share of the other items: with a
    sparse history it is close to 1, so a plain accuracy alone says little)."""
    x = np.asarray(x, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    out = dict(n_pos=n_pos, n_neg=n_neg, auc=float("nan"), accuracy=float("nan"), balanced_accuracy=float("nan"),
               baseline=n_neg / len(x) if len(x) else float("nan"),
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
        above = x > threshold
        out["accuracy"] = float((above == pos).mean())
        if n_pos and n_neg:
            out["balanced_accuracy"] = float((above[pos].mean() + (~above[~pos]).mean()) / 2)
    return out


def histogram_edges(x: np.ndarray, nbins: int = 40) -> np.ndarray:
    """``nbins`` + 1 equal bin edges spanning the values of ``x`` (any shape), half a bin of margin each side; the
    forward stepper passes all frames' states so that every step shares one set of bins."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    size = max(hi - lo, 1e-9) / nbins
    return lo - size / 2 + size * np.arange(nbins + 2)


def histogram_shares(x: np.ndarray, kinds: np.ndarray, edges: np.ndarray) -> tuple:
    """(% of the not-interacted items, % of the interacted items) per bin of ``edges``: the histogram as numbers,
    so that frames can update it as bar heights."""
    x = np.asarray(x, dtype=np.float64)
    pos = np.asarray(kinds) > 0
    out = []
    for mask in (~pos, pos):
        c, _ = np.histogram(x[mask], bins=edges)
        out.append(100.0 * c / max(int(mask.sum()), 1))
    return tuple(out)


def _histogram_traces(x, kinds, edges, xaxis="x", yaxis="y") -> list:
    pos = np.asarray(kinds) > 0
    centres = (edges[:-1] + edges[1:]) / 2
    shares = histogram_shares(x, kinds, edges)
    data = []
    for (name, mask, color), y in zip((("not interacted", ~pos, COLORS["other"]),
                                        ("interacted", pos, COLORS["interacted"])), shares):
        data.append(dict(type="bar", x=centres.astype(np.float32), y=y.astype(np.float32),
                         width=float(edges[1] - edges[0]),
                         name=f"{name} ({int(mask.sum())})", opacity=0.85, marker=dict(color=color, line=dict(width=0)),
                         hovertemplate="x_t ≈ %{x:.4g}<br>%{y:.1f} % of the group<extra></extra>",
                         xaxis=xaxis, yaxis=yaxis))
    return data


def histogram_figure(x: np.ndarray, kinds: np.ndarray, t: int, nbins: int = 40,
                     edges: Optional[np.ndarray] = None) -> go.Figure:
    """Histogram (share of each group, %) of x_t for the user's interacted items vs all other items, as bars over
    ``edges`` (default: bins spanning this x_t, so tiny noise shows up as two narrow spikes)."""
    edges = histogram_edges(x, nbins) if edges is None else np.asarray(edges, dtype=np.float64)
    data = _histogram_traces(x, kinds, edges)
    layout = base_layout(f"x<sub>t</sub> values at t = {int(t)}", height=360, barmode="overlay", bargap=0)
    layout.update(xaxis=axis("x_t", range=[float(edges[0]), float(edges[-1])]), yaxis=axis("% of the group"))
    return go.Figure(data=data, layout=layout)


def step_numbers(table, t: int, T: int, x: np.ndarray, kinds: np.ndarray, n_items: int) -> str:
    """The per-step numbers of the forward stepper (they follow its scrubber): the equation with this step's
    coefficients, β / ᾱ / SNR, and how separable the history still is (AUC, the √ᾱ/2 threshold)."""
    from .schedule import terms_at

    v = terms_at(table, int(t))
    t = int(t)
    head = f"<b>t = {t} of {T}</b>"
    if t == 0:
        eq = "x<sub>0</sub>: the clean history (no noise yet)<br>β, ᾱ: none applied yet (ᾱ<sub>0</sub> = 1)"
    else:
        eq = (f"x<sub>{t}</sub> = {num(v['sqrt_alpha_bar'], 5)}·x<sub>0</sub> + {num(v['noise_std'])}·ε<br>"
              f"β<sub>t</sub> = {num(v['beta'])} · ᾱ<sub>t</sub> = {num(v['alpha_bar'], 4)} · "
              f"SNR<sub>t</sub> = {num(v['snr'])}")
    pos = np.asarray(kinds) > 0
    sep = separability(x, pos, threshold=v["sqrt_alpha_bar"] / 2)
    if not pos.any():
        tail = "no training history: x<sub>t</sub> is scaled noise only"
    else:
        overlap = (np.isfinite(sep["min_pos"]) and np.isfinite(sep["max_neg"]) and sep["min_pos"] > sep["max_neg"])
        tail = (f"interacted vs other items: AUC {sep['auc']:.3f} ("
                + ("the groups do not overlap" if overlap else "0.5 = nothing left") + ")<br>"
                f"thresholding at √ᾱ<sub>t</sub>/2 = {num(v['sqrt_alpha_bar'] / 2)}: balanced accuracy "
                f"{100 * sep['balanced_accuracy']:.1f} % (50 % = chance)<br>"
                f"its plain accuracy {100 * sep['accuracy']:.1f} % of the {n_items} items vs "
                f"{100 * sep['baseline']:.1f} % for “no interaction” everywhere")
    return f"{head}   {eq}<br>{tail}"


def stepper_figure(states: np.ndarray, steps: Sequence[int], ax: ItemAxis, kinds: np.ndarray, table,
                   titles: Optional[Sequence[str]] = None, current_t: int = 0, T: Optional[int] = None,
                   nbins: int = 40, x0: Optional[np.ndarray] = None, noise: Optional[np.ndarray] = None
                   ) -> go.Figure:
    """The forward page's one figure, scrubbed in the browser: x_t over the items (top), the schedule curves ᾱ_t,
    noise std and SNR_t with the current step marked, and the histogram of x_t (bottom), plus the step's numbers
    (top). One frame per step in ``steps`` (cap them with :func:`frame_steps`); frames change trace data only.
    With the history ``x0`` and the drawn ``noise`` ε, hovering an item shows its own arithmetic in its own
    numbers, x_t,i = √ᾱ_t·x0,i + √(1−ᾱ_t)·ε_i = the value plotted (:func:`item_arithmetic`)."""
    from .schedule import curves_figure

    steps = np.asarray(steps, dtype=np.int64)
    T = int(steps.max()) if T is None else int(T)
    hero = forward_figure(states, steps, ax, kinds, titles, current_t=current_t, T=T)
    ci = int(np.flatnonzero(steps == int(current_t))[0])
    t0 = int(steps[ci])
    curves = curves_figure(table, t0)
    edges = histogram_edges(states, nbins)
    hist = histogram_figure(states[ci], kinds, t0, edges=edges)
    parts = [place(hero, (0, 1, 0.47, 0.80), 0),                  # axes x / y
             place(curves, (0, 0.58, 0.0, 0.30), 1),              # x2..x4 / y2..y4
             place(hist, (0.68, 1.0, 0.0, 0.30), 4)]              # x5 / y5
    data, lay_axes, annotations, shapes = [], {}, [], []
    for p in parts:
        data += p["data"]
        lay_axes.update(p["axes"])
        annotations += p["annotations"]
        shapes += p["shapes"]
    shapes = [s for s in shapes if s.get("type") != "line"]       # the curves' step lines: cursors below instead
    marks = [i for i, tr in enumerate(data) if tr.get("name") == "current step"]
    bars = [i for i, tr in enumerate(data) if tr.get("type") == "bar"]
    for i in bars:
        data[i]["showlegend"] = False                              # the panel's title names the groups
    # the step's cursor on each curve panel (a trace: frames move it without a redraw)
    curs = []
    for j in range(3):
        ya = lay_axes[f"yaxis{j + 2}"]
        rng = ya.get("range")
        if ya.get("type") == "log":
            rng = [10.0 ** rng[0], 10.0 ** rng[1]] if rng else [1.0, 1.0]
        curs.append(cursor(t0, rng or [0, 1], f"x{j + 2}", f"y{j + 2}"))
    n_items = len(kinds)
    text, text_axes = text_panel(step_numbers(table, t0, T, states[ci], kinds, n_items), 6, (0, 1, 0.885, 1.0))
    base = len(data)
    data += curs + [text]
    lay_axes.update(text_axes)
    lay_axes["yaxis5"]["title"] = dict(text="")                  # the panel title says what the bars are
    n_pos = int((np.asarray(kinds) > 0).sum())
    annotations.append(dict(text=f"x<sub>t</sub>, % of {n_pos} interacted (blue) / {len(kinds) - n_pos} other",
                            x=0.68, y=0.325, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                            showarrow=False, font=dict(size=16)))
    hidx = [0, 1, 2]                                              # the hero's three kinds come first
    if x0 is not None and noise is not None:
        item_arithmetic(data, hidx, kind_index(ax, kinds, (OTHER, INTERACTED, NOISE)), x0, noise)
    lay_axes["xaxis"]["side"] = "bottom"                          # genre names under the strip, legend above it
    idx = kind_index(ax, kinds, (OTHER, INTERACTED, NOISE))
    from .schedule import by_step

    s = by_step(table)
    keys = ("alpha_bar", "noise_std", "snr")
    frames = []
    for f, t in enumerate(steps):
        t = int(t)
        fd = [dict(type="scatter", y=states[f][i].astype(np.float32)) for i in idx]
        for key in keys:
            v = float(s[key][t])
            ok = bool(np.isfinite(v) and (key != "snr" or v > 0))
            fd.append(dict(type="scatter", x=[t] if ok else [], y=[v] if ok else []))
        for y in histogram_shares(states[f], kinds, edges):
            fd.append(dict(type="bar", y=y.astype(np.float32)))
        for c in curs:
            fd.append(dict(type="scatter", x=[t, t], y=c["y"]))
        fd.append(dict(type="scatter", text=[step_numbers(table, t, T, states[f], kinds, n_items)]))
        frames.append(dict(name=f"t={t}", data=fd,
                           traces=hidx + marks + bars + list(range(base, base + len(curs) + 1))))
    menus, sliders = controls([f"t={int(t)}" for t in steps], [str(int(t)) for t in steps], ci,
                              "forward step t = ", play_duration(len(steps)), y=1.0)
    menus.append(model_view_menu(data, hidx + bars, y=0.81))
    layout = base_layout(None, height=1000, barmode="overlay", bargap=0)
    layout.update(lay_axes, annotations=annotations, shapes=shapes, updatemenus=menus, sliders=sliders,
                  margin=dict(l=70, r=30, t=100, b=60))
    layout["legend"].update(y=0.81, yanchor="bottom")
    return build(data, frames, layout)


MODEL_VIEW, REVEAL = "model's view", "reveal"


ARITHMETIC = ("<br>x<sub>t</sub> = √ᾱ<sub>t</sub>·%{customdata[1]:.4g} + √(1−ᾱ<sub>t</sub>)·(%{customdata[2]:.3f})"
              " = %{y:.4f}")


def item_arithmetic(data: Sequence[dict], traces: Sequence[int], items: Sequence[np.ndarray], x0: np.ndarray,
                    noise: np.ndarray) -> None:
    """Give each hero trace's points their own numbers (item id, x0_i, ε_i as customdata) and a hover line with the
    forward step in those numbers (docs/methods.md §1.3, x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε). The plotted value %{y}
    follows the scrubber; x0_i and ε_i are the same at every step (one ε per seed), so no frame carries them."""
    x0, noise = np.asarray(x0, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    for i, it in zip(traces, items):
        tr = data[int(i)]
        it = np.asarray(it, dtype=np.int64)
        tr["customdata"] = np.column_stack([it, x0[it], noise[it]]).astype(np.float32)
        head, extra = tr["hovertemplate"].split("<extra>", 1)
        head = head.replace("%{customdata}", "%{customdata[0]}")
        tr["hovertemplate"] = head.split("<br>", 1)[0] + ARITHMETIC + "<extra>" + extra


def model_view_menu(data: Sequence[dict], idx: Sequence[int], y: float = 1.0, x: float = 1.0) -> dict:
    """Two browser-side buttons over the traces ``idx`` of ``data`` (the hero's kinds, the histogram's groups):
    "model's view" draws them all in one grey with one marker and hides their names (legend, hover), because the
    denoiser sees x_t only, never which items were interacted, held out or injected; "reveal" restores each trace's
    own colour, marker, size, legend entry and hover text. A restyle changes style only, so the frames (which set
    y values) keep playing in either view."""
    idx = [int(i) for i in idx]
    orig = {"marker.color": [], "marker.symbol": [], "marker.size": [], "marker.line.width": [],
            "showlegend": [], "hovertemplate": []}
    grey = {k: [] for k in orig}
    for i in idx:
        tr = data[i]
        m = tr.get("marker") or {}
        is_bar = tr.get("type") == "bar"
        orig["marker.color"].append(m.get("color"))
        orig["marker.symbol"].append(None if is_bar else m.get("symbol"))
        orig["marker.size"].append(None if is_bar else m.get("size"))
        orig["marker.line.width"].append((m.get("line") or {}).get("width", 0))
        orig["showlegend"].append(tr.get("showlegend", True))
        orig["hovertemplate"].append(tr.get("hovertemplate"))
        grey["marker.color"].append(GREY)
        grey["marker.symbol"].append(None if is_bar else "circle")
        grey["marker.size"].append(None if is_bar else _KIND_SIZE[OTHER] + 2)
        grey["marker.line.width"].append(0)
        grey["showlegend"].append(False)
        grey["hovertemplate"].append("x_t ≈ %{x:.4g}<br>%{y:.1f} % of the group<extra></extra>" if is_bar
                                     else ("item %{customdata[0]}" if np.ndim(tr.get("customdata")) == 2
                                           else "item %{customdata}") + ": x_t = %{y:.4f}<extra></extra>")
    buttons = [dict(label=MODEL_VIEW, method="restyle", args=[grey, idx]),
               dict(label=REVEAL, method="restyle", args=[orig, idx])]
    return dict(type="buttons", direction="left", showactive=True, active=1, x=x, y=y, xanchor="right",
                yanchor="bottom", pad=dict(t=0, b=4), font=dict(size=15), buttons=buttons)


def history_caption(profile: UserProfile) -> str:
    """One sentence on the history x0 that the forward page noises."""
    n = len(profile.train)
    if n == 0:
        return f"User {profile.user} has no training interactions: x0 is all zeros, so x_t is pure scaled noise."
    noise = (f", {len(profile.noise)} of them injected noise (✕)" if profile.has_truth and len(profile.noise) else "")
    return f"User {profile.user} interacted with {plural(n, 'item')}{noise}."


def forward_caption(profile: UserProfile, t: int, T: int, sep: dict, noise_std: float, seed: int) -> str:
    """Two sentences on what the hero and histogram show at step t."""
    n = len(profile.train)
    if n == 0:
        return (f"User {profile.user} has no training interactions: x0 is all zeros, so x_t is pure scaled "
                f"noise (std {num(noise_std)} at t = {int(t)}).")
    head = history_caption(profile) + " "
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
