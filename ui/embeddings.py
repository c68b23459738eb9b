"""Embeddings page views (DiffuRec, DreamRec), part 1: the item map, a forward-noised item, each model's accuracy
beside chance, and the drawing helpers the other parts share (``ui.embeddings_reverse``: reverse trajectories and
their stepper; ``ui.embeddings_models``: DreamRec's w, DiffuRec's λ, both models side by side, their quirks).

Pure: figures and captions from NumPy arrays, a ``Trajectory`` and a precomputed ``ItemMap``; no st.*, no model.
Live points are placed on the map with :func:`diffrec_core.item_map.project` (exact PCA projection, or
k-nearest-neighbour interpolation on the UMAP layout; never a UMAP fit). Points that resemble no item (cosine
"support" below ``FADE``) are drawn faded, because the kNN placement can only say *which* items a point is most
like, not that it is far from all of them.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from diffrec_core.item_map import ItemMap, describe, project  # noqa: F401 - describe: for the page

from .fmt import num, pct
from .stepper import MAX_FRAMES, build, controls, cursor, frame_index, place, play_duration, text_panel
from .theme import COLORS, GENRE_COLORS, OKABE_ITO, axis, base_layout

KIND_LABEL = {"umap": "UMAP (precomputed)", "pca": "PCA"}
METHOD_TITLE = {"diffurec": "DiffuRec", "dreamrec": "DreamRec", "sasrec": "SASRec"}
FADE = 0.3                     # cosine support below which a projected point is drawn faded
STATE_COLOR = OKABE_ITO["black"]
X0_COLOR = OKABE_ITO["vermillion"]
TARGET_COLOR = COLORS["heldout"]
GENRE_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "hexagon", "star"]


# ------------------------------------------------------------------------------------------------ helpers
def genre_order(genres: Sequence[str]) -> List[str]:
    """Genres by size (largest first, then name), so colours are stable across maps and reruns."""
    g, c = np.unique(np.asarray([str(x) for x in genres]), return_counts=True)
    return [str(x) for x in g[np.lexsort((g, -c))]]


def title_of(i: int, titles) -> str:
    return str(titles[i]) if titles is not None and 0 <= int(i) < len(titles) else f"item {int(i)}"


SIDE_LEGEND = dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", font=dict(size=15),
                   bgcolor="rgba(255,255,255,0.6)")   # a map's legend is long: beside it, not over the title


BOTTOM_LEGEND = dict(orientation="h", x=0, xanchor="left", y=-0.02, yanchor="top", font=dict(size=15))


def map_axes(kind: str, imap: ItemMap, suffix: str = "", domain=None) -> dict:
    """Equal-aspect axes; UMAP axes carry no meaning (ticks hidden), PCA axes say what share of variance they hold."""
    ex = imap.pca_explained
    names = (f"PC1 ({pct(ex[0], 1)} of variance)", f"PC2 ({pct(ex[1], 1)})") if kind == "pca" else ("", "")
    hide = dict(showticklabels=kind == "pca", ticks="outside" if kind == "pca" else "")
    xa = axis(names[0], **hide, **({"domain": domain} if domain else {}))
    ya = axis(names[1], **hide, scaleanchor="x" + suffix, scaleratio=1)
    if suffix:
        xa["anchor"], ya["anchor"] = "y" + suffix, "x" + suffix
    return {"xaxis" + suffix: xa, "yaxis" + suffix: ya}


def item_traces(xy: np.ndarray, genres, titles, order: List[str], xa="x", ya="y", legend=True,
                 opacity: float = 0.55, size: int = 8) -> list:
    g = np.asarray([str(x) for x in genres]) if genres is not None else np.full(len(xy), "all items")
    out = []
    for j, name in enumerate(order if genres is not None else ["all items"]):
        idx = np.flatnonzero(g == name)
        out.append(dict(type="scatter", x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, legendgroup=name,
                        showlegend=legend, xaxis=xa, yaxis=ya,
                        marker=dict(size=size, color=GENRE_COLORS[j % len(GENRE_COLORS)], opacity=opacity,
                                    symbol=GENRE_SYMBOLS[j % len(GENRE_SYMBOLS)], line=dict(width=0)),
                        customdata=np.stack([idx, [title_of(i, titles) for i in idx]], axis=1),
                        hovertemplate="%{customdata[1]} (#%{customdata[0]})<br>" + name + "<extra></extra>"))
    return out


def marks(xy, ids, titles, name, symbol, color, size, xa="x", ya="y", legend=True, line_color="#000",
           fill=True) -> dict:
    ids = np.asarray(ids, dtype=np.int64)
    return dict(type="scatter", x=xy[ids, 0], y=xy[ids, 1], mode="markers", name=name, showlegend=legend,
                legendgroup=name, xaxis=xa, yaxis=ya,
                marker=dict(size=size, symbol=symbol if fill else symbol + "-open", color=color,
                            line=dict(width=2, color=line_color)),
                text=[title_of(i, titles) for i in ids],
                hovertemplate="%{text}<extra>" + name + "</extra>")


# ------------------------------------------------------------------------------------------------ the map
def map_figure(imap: ItemMap, kind: str, genres=None, titles=None, history: Sequence[int] = (),
               target: Optional[int] = None, topk: Sequence[int] = (), title: Optional[str] = None,
               height: int = 620) -> go.Figure:
    """Every item as a point coloured (and shaped) by genre; hover: title. History items, the held-out item and
    a top-K list, where given, are drawn on top."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    data = item_traces(xy, genres, titles, order)
    if len(history):
        data.append(marks(xy, history, titles, "history", "circle", "#000", 13, fill=False))
    if len(topk):
        data.append(marks(xy, topk, titles, "top-K", "star", COLORS["topk"], 15))
    if target is not None:
        data.append(marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 17))
    layout = base_layout(title or f"{METHOD_TITLE.get(imap.method, imap.method)} item embeddings · "
                         f"{KIND_LABEL[kind]}", height=height, **map_axes(kind, imap))
    layout.update(legend=SIDE_LEGEND, margin=dict(layout["margin"], t=70))
    return go.Figure(data=data, layout=layout)


def neighbour_agreement(X: np.ndarray, genres, k: int = 10, cosine: bool = False) -> float:
    """Share of each item's k nearest neighbours (Euclidean on a map, cosine in embedding space) of its genre."""
    g = np.asarray([str(x) for x in genres])
    X = np.asarray(X, dtype=np.float64)
    if cosine:
        U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        D = -(U @ U.T)
    else:
        sq = (X ** 2).sum(1)
        D = sq[:, None] + sq[None] - 2 * X @ X.T
    np.fill_diagonal(D, np.inf)
    k = min(int(k), len(X) - 1)
    nn = np.argpartition(D, k - 1, axis=1)[:, :k]
    return float((g[nn] == g[:, None]).mean())


def map_stats(imap: ItemMap, genres, k: int = 10) -> dict:
    """How much genre structure the embedding has, and how much of it each 2-D layout keeps."""
    g = np.asarray([str(x) for x in genres])
    _, counts = np.unique(g, return_counts=True)
    out = {"chance": float(((counts / counts.sum()) ** 2).sum()),
           "embedding": neighbour_agreement(imap.embeddings, g, k, cosine=True), "k": int(k)}
    for kind in imap.kinds():
        out[kind] = neighbour_agreement(imap.coords(kind), g, k)
    return out


def map_caption(imap: ItemMap, kind: str, stats: dict) -> str:
    m = METHOD_TITLE.get(imap.method, imap.method)
    e, c, s = stats["embedding"], stats["chance"], stats.get(kind, float("nan"))
    k = stats["k"]
    if e < c * 1.25:
        structure = (f"{m}'s embeddings carry almost no genre signal: an item's {k} most similar items share its "
                     f"genre {pct(e)} of the time, about what chance gives ({pct(c)}).")
    else:
        structure = (f"In {m}'s {imap.dim}-dimensional embeddings an item's {k} most similar items share its genre "
                     f"{pct(e)} of the time (chance: {pct(c)}): the model has learned some genre structure from "
                     "the sequences alone (it never sees genres).")
    return f"{structure} On this {kind.upper()} map, {pct(s)} of an item's {k} nearest points share its genre."


MAP_NOTE = ("What a 2-D map can show: which items the model treats as similar (neighbours), and groups of them. "
            "What it cannot show: true distances (UMAP stretches and shrinks space; PCA keeps only two directions "
            "out of all of them), vector lengths (the models rank by the inner product x̂0·Eᵀ, which also rewards "
            "long vectors), or anything along the hidden directions. Two points close on the map may be far apart "
            "in the model's space; check the listed nearest items, which are computed in the full space.")


# ------------------------------------------------------------------------------------------------ forward
def support_opacity(support: np.ndarray) -> list:
    """Marker opacity of projected points: faded where they resemble no item (best cosine below FADE)."""
    return [1.0 if s >= FADE else 0.35 for s in np.asarray(support, dtype=float)]


def forward_figure(imap: ItemMap, kind: str, run, t: int, genres=None, titles=None, height: int = 560) -> go.Figure:
    """The noised embedding x_t of one item for t = 0..T as a path on the map, the current x_t and its nearest
    items marked."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    data = item_traces(xy, genres, titles, order, opacity=0.35)
    pr = project(imap, run.states, kind)
    t = int(t)
    data.append(dict(type="scatter", x=pr.xy[:, 0], y=pr.xy[:, 1], mode="lines+markers", name="x_t, t = 0…T",
                     line=dict(color=STATE_COLOR, width=2), marker=dict(size=6, color=STATE_COLOR,
                                                                        opacity=support_opacity(pr.support)),
                     customdata=np.stack([run.t, pr.support], axis=1),
                     hovertemplate="t = %{customdata[0]}<br>best cosine %{customdata[1]:.2f}<extra></extra>"))
    data.append(marks(xy, run.nearest[t], titles, f"nearest to x_{t}", "circle", COLORS["topk"], 14, fill=False,
                       line_color=COLORS["topk"]))
    data.append(marks(xy, [run.item], titles, "the item (x_0)", "diamond", TARGET_COLOR, 17))
    c = float(run.cos_to_item[t])
    data.append(dict(type="scatter", x=pr.xy[t:t + 1, 0], y=pr.xy[t:t + 1, 1], mode="markers", name=f"x_{t}",
                     marker=dict(size=similarity_size(c), symbol="x", color=X0_COLOR,
                                 opacity=support_opacity(pr.support[t:t + 1])[0], line=dict(width=2, color="#000")),
                     hovertemplate=f"x_{t}: cos to the item {c:.2f}, best cosine to any item "
                                   f"{float(pr.support[t]):.2f}<extra></extra>"))
    layout = base_layout(f"Forward noising of “{title_of(run.item, titles)}” · t = {t}", height=height,
                         **map_axes(kind, imap))
    layout.update(legend=SIDE_LEGEND, margin=dict(layout["margin"], t=70),
                  annotations=[dict(text=similarity_readout(c, float(pr.support[t]), t), x=0, y=1, xref="paper",
                                    yref="paper", xanchor="left", yanchor="top", showarrow=False, align="left",
                                    bgcolor="rgba(255,255,255,0.85)", font=dict(size=15))])
    return go.Figure(data=data, layout=layout)


def similarity_size(cos: float, lo: float = 8.0, hi: float = 26.0) -> float:
    """Marker size of a noised point from its cosine to the clean item (0 or less: smallest, 1: largest): the map
    position cannot show similarity (see :func:`placement_sentence`), the size does."""
    return float(lo + (hi - lo) * min(max(float(cos), 0.0), 1.0))


def similarity_readout(cos_item: float, support: float, t: int) -> str:
    """The figure's readout: how similar x_t really is to its item and to the closest item of all."""
    return (f"x<sub>{int(t)}</sub>: cos to the item <b>{cos_item:.2f}</b> · best cos to any item {support:.2f}"
            "<br>(marker size = cos to the item)")


def placement_sentence(kind: str, cos_item: float, item_title: str, k: int = 10) -> str:
    """How a live point was put on the ``kind`` map, and what that means for reading its position."""
    head = f"x_t has a cosine of {num(cos_item)} with “{item_title}”"
    if kind == "pca":
        return (head + ". On the PCA map it is placed exactly, by the same linear projection as the items, but only "
                "two directions of the space are shown: a point can look close to the item and still be far from "
                "it along the hidden ones. The marker's size shows the cosine.")
    return (head + f". UMAP cannot place a new point, so x_t is drawn at the similarity-weighted mean of the map "
            f"positions of its {k} most cosine-similar items: it always lands among the items it resembles most, "
            "however little it resembles them, so its distance to the item on this map says nothing. The marker's "
            "size and the readout show the cosine instead.")


def forward_curve(run, t: int) -> go.Figure:
    """cos(x_t, x_0), √ᾱ_t and the noise std over t, with the item's rank (by cosine) as hover."""
    x = run.t
    data = [dict(type="scatter", x=x, y=run.cos_to_item, mode="lines+markers", name="cos(x_t, x_0)",
                 line=dict(color=STATE_COLOR, width=3), customdata=run.rank_of_item,
                 hovertemplate="t = %{x}: cos %{y:.3f}, item ranked %{customdata}<extra></extra>"),
            dict(type="scatter", x=x, y=run.sqrt_ab, mode="lines", name="√ᾱ_t",
                 line=dict(color=COLORS["alpha_bar"], width=2, dash="dash")),
            dict(type="scatter", x=x, y=run.noise_std, mode="lines", name="√(1−ᾱ_t)",
                 line=dict(color=COLORS["noise_std"], width=2, dash="dot"))]
    layout = base_layout("How much of the item survives", height=380,
                         xaxis=axis("forward step t", range=[-0.5, x[-1] + 0.5]), yaxis=axis("", range=[0, 1.05]),
                         shapes=[dict(type="line", x0=t, x1=t, y0=0, y1=1, yref="paper",
                                      line=dict(color="#000", width=2, dash="dot"))])
    return go.Figure(data=data, layout=layout)


def forward_caption(run, t: int, titles=None, T: Optional[int] = None) -> str:
    t = int(t)
    T = int(run.t[-1]) if T is None else T
    near = ", ".join(title_of(i, titles) for i in run.nearest[t][:3])
    r = int(run.rank_of_item[t])
    where = ("still the item most similar to x_t" if r == 1 else f"ranked {r} among all items by cosine to x_t")
    end = (f" At t = T = {T}, √ᾱ_T = {num(run.sqrt_ab[-1])}: the schedule ends before the item is erased "
           f"(cos {num(run.cos_to_item[-1])}), so x_T is not pure noise." if run.cos_to_item[-1] > 0.2 else
           f" At t = T = {T} almost nothing of the item is left (cos {num(run.cos_to_item[-1])}).")
    return (f"At t = {t}, x_t = {num(run.sqrt_ab[t], 4)}·x_0 + {num(run.noise_std[t])}·ε keeps a cosine of "
            f"{num(run.cos_to_item[t])} with the clean embedding; “{title_of(run.item, titles)}” is {where}. "
            f"Nearest items now: {near}." + end)


# ------------------------------------------------------------------------------------------------ forward stepper
def forward_numbers(run, t: int, titles=None) -> str:
    """The numbers of forward step t that follow the stepper's scrubber (HTML for a Plotly text trace): x_t =
    √ᾱ_t·x_0 + √(1−ᾱ_t)·ε with this step's factors (docs/methods.md §2.5), the cosine of x_t with the item and with
    the closest item of all, the item's rank by cosine and the items x_t resembles most."""
    t = int(t)
    T = int(run.t[-1])
    near = "<br>".join(f"   {title_of(i, titles)[:30]}" for i in run.nearest[t][:3])
    return (f"<b>forward step t = {t} of {T}</b><br>"
            f"x<sub>{t}</sub> = {num(run.sqrt_ab[t], 4)}·x<sub>0</sub> + {num(run.noise_std[t])}·ε<br>"
            f"cos(x<sub>t</sub>, x<sub>0</sub>) = <b>{float(run.cos_to_item[t]):.2f}</b> (marker size)<br>"
            f"the item ranks {int(run.rank_of_item[t])} by cosine to x<sub>t</sub><br>nearest now:<br>{near}")


def forward_stepper(imap: ItemMap, kind: str, run, genres=None, titles=None, start: Optional[int] = None,
                    height: int = 580, max_frames: int = MAX_FRAMES) -> go.Figure:
    """The Embeddings page's forward noising in one figure, stepped in the browser: the path of x_t on the map
    (:func:`forward_figure`) whose current point (its size the cosine with the item) and nearest items follow t,
    the survival curves (:func:`forward_curve`) with a cursor, and the step's numbers (:func:`forward_numbers`).
    One frame per shown t (at most ``max_frames``, with 0, T and ``start``); it opens on ``start`` (default T / 2).
    Frames change trace data only."""
    T = int(run.t[-1])
    t0 = T // 2 if start is None else min(max(int(start), 0), T)
    shown = frame_index(T + 1, max_frames, include=[t0])
    mapfig = forward_figure(imap, kind, run, t0, genres, titles)
    mapfig.layout.annotations = []                                  # the readout moves into the numbers panel
    parts = [place(mapfig, (0, 0.58, 0, 1), 0), place(forward_curve(run, t0), (0.66, 1, 0, 0.4), 1)]
    data, axes = [], {}
    for p in parts:
        data += p["data"]
        axes.update(p["axes"])
    near_j = next(j for j, tr in enumerate(data) if str(tr.get("name", "")).startswith("nearest to x_"))
    cur_j = next(j for j, tr in enumerate(data) if tr.get("name") == f"x_{t0}")
    data[near_j]["name"], data[cur_j]["name"] = "nearest items to x_t", "x_t (size: cos to the item)"
    extra = [cursor(t0, [0, 1.05], "x2", "y2")]
    text, text_axes = text_panel(forward_numbers(run, t0, titles), 3, (0.62, 1, 0.5, 1.0), size=15)
    axes.update(text_axes)
    base = len(data)
    data += extra + [text]
    moving = [near_j, cur_j, base, base + 1]
    pr = project(imap, run.states, kind)
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    frames = []
    for t in (int(v) for v in shown):
        c = float(run.cos_to_item[t])
        near = np.asarray(run.nearest[t], dtype=np.int64)
        fd = [dict(type="scatter", x=xy[near, 0], y=xy[near, 1], text=[title_of(i, titles) for i in near]),
              dict(type="scatter", x=[float(pr.xy[t, 0])], y=[float(pr.xy[t, 1])],
                   marker=dict(size=similarity_size(c), symbol="x", color=X0_COLOR,
                               opacity=support_opacity(pr.support[t:t + 1])[0], line=dict(width=2, color="#000"))),
              dict(type="scatter", x=[t, t]),
              dict(type="scatter", text=[forward_numbers(run, t, titles)])]
        frames.append(dict(name=f"t={t}", data=fd, traces=moving))
    names = [f"t={int(t)}" for t in shown]
    menus, sliders = controls(names, [str(int(t)) for t in shown], int(np.flatnonzero(shown == t0)[0]),
                              "forward step t = ", play_duration(len(shown)), y=1.0)
    sliders[0].update(x=0.2, len=0.8)
    layout = base_layout(None, height=height)
    layout.update(axes, updatemenus=menus, sliders=sliders, margin=dict(l=50, r=20, t=110, b=40),
                  legend=dict(BOTTOM_LEGEND, y=-0.06), shapes=[], annotations=[
                      dict(text="<b>How much of the item survives</b>", x=0.66, y=0.41, xref="paper", yref="paper",
                           xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=15))])
    return build(data, frames, layout)


# ------------------------------------------------------------------------------------------------ chance
def chance_recall(k: int, n_items: int) -> float:
    """Recall@k of a random ranking with one held-out item (leave-one-out): k / n_items."""
    return min(float(k) / max(int(n_items), 1), 1.0)


def chance_sentence(method: str, test: dict, n_items: int, k: int = 20, margin: float = 1.5) -> str:
    """The model's test Recall@k next to a random ranking's; "at chance" when it is below ``margin`` times it
    (one held-out item per user: a few hundred users cannot tell smaller differences apart). Empty when the
    metric is not recorded."""
    r = (test or {}).get(f"recall@{int(k)}")
    if r is None:
        return ""
    m = METHOD_TITLE.get(method, method)
    c = chance_recall(k, n_items)
    head = (f"{m} (pretrained): test Recall@{int(k)} {float(r):.3f}; a random ranking gets {int(k)}/{int(n_items)}"
            f" = {c:.3f}")
    if float(r) < margin * c:
        return head + (": this model is at chance (its rankings are no better than random), so read its maps "
                       "and trajectories as how diffusion behaves, not as recommendations.")
    return head + f": {float(r) / c:.1f}× chance."
