"""Embeddings page views (DiffuRec, DreamRec): the item map, a forward-noised item, reverse trajectories drawn on
the map, DreamRec's guidance weight w as small multiples, DiffuRec's λ, both models side by side.

Pure: figures and captions from NumPy arrays, a ``Trajectory`` and a precomputed ``ItemMap``; no st.*, no model.
Live points are placed on the map with :func:`diffrec_core.item_map.project` (exact PCA projection, or
k-nearest-neighbour interpolation on the UMAP layout; never a UMAP fit). Points that resemble no item (cosine
"support" below ``FADE``) are drawn faded, because the kNN placement can only say *which* items a point is most
like, not that it is far from all of them.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from diffrec_core.item_map import ItemMap, cosine_to_items, describe, project  # noqa: F401 - describe: for the page

from .equations import Equation, posterior_coefs
from .fmt import num, pct, plural, tex
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


def _title(i: int, titles) -> str:
    return str(titles[i]) if titles is not None and 0 <= int(i) < len(titles) else f"item {int(i)}"


SIDE_LEGEND = dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", font=dict(size=15),
                   bgcolor="rgba(255,255,255,0.6)")   # a map's legend is long: beside it, not over the title


BOTTOM_LEGEND = dict(orientation="h", x=0, xanchor="left", y=-0.02, yanchor="top", font=dict(size=15))


def _axes(kind: str, imap: ItemMap, suffix: str = "", domain=None) -> dict:
    """Equal-aspect axes; UMAP axes carry no meaning (ticks hidden), PCA axes say what share of variance they hold."""
    ex = imap.pca_explained
    names = (f"PC1 ({pct(ex[0], 1)} of variance)", f"PC2 ({pct(ex[1], 1)})") if kind == "pca" else ("", "")
    hide = dict(showticklabels=kind == "pca", ticks="outside" if kind == "pca" else "")
    xa = axis(names[0], **hide, **({"domain": domain} if domain else {}))
    ya = axis(names[1], **hide, scaleanchor="x" + suffix, scaleratio=1)
    if suffix:
        xa["anchor"], ya["anchor"] = "y" + suffix, "x" + suffix
    return {"xaxis" + suffix: xa, "yaxis" + suffix: ya}


def _item_traces(xy: np.ndarray, genres, titles, order: List[str], xa="x", ya="y", legend=True,
                 opacity: float = 0.55, size: int = 8) -> list:
    g = np.asarray([str(x) for x in genres]) if genres is not None else np.full(len(xy), "all items")
    out = []
    for j, name in enumerate(order if genres is not None else ["all items"]):
        idx = np.flatnonzero(g == name)
        out.append(dict(type="scatter", x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, legendgroup=name,
                        showlegend=legend, xaxis=xa, yaxis=ya,
                        marker=dict(size=size, color=GENRE_COLORS[j % len(GENRE_COLORS)], opacity=opacity,
                                    symbol=GENRE_SYMBOLS[j % len(GENRE_SYMBOLS)], line=dict(width=0)),
                        customdata=np.stack([idx, [_title(i, titles) for i in idx]], axis=1),
                        hovertemplate="%{customdata[1]} (#%{customdata[0]})<br>" + name + "<extra></extra>"))
    return out


def _marks(xy, ids, titles, name, symbol, color, size, xa="x", ya="y", legend=True, line_color="#000",
           fill=True) -> dict:
    ids = np.asarray(ids, dtype=np.int64)
    return dict(type="scatter", x=xy[ids, 0], y=xy[ids, 1], mode="markers", name=name, showlegend=legend,
                legendgroup=name, xaxis=xa, yaxis=ya,
                marker=dict(size=size, symbol=symbol if fill else symbol + "-open", color=color,
                            line=dict(width=2, color=line_color)),
                text=[_title(i, titles) for i in ids],
                hovertemplate="%{text}<extra>" + name + "</extra>")


# ------------------------------------------------------------------------------------------------ the map
def map_figure(imap: ItemMap, kind: str, genres=None, titles=None, history: Sequence[int] = (),
               target: Optional[int] = None, topk: Sequence[int] = (), title: Optional[str] = None,
               height: int = 620) -> go.Figure:
    """Every item as a point coloured (and shaped) by genre; hover: title. History items, the held-out item and
    a top-K list, where given, are drawn on top."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    data = _item_traces(xy, genres, titles, order)
    if len(history):
        data.append(_marks(xy, history, titles, "history", "circle", "#000", 13, fill=False))
    if len(topk):
        data.append(_marks(xy, topk, titles, "top-K", "star", COLORS["topk"], 15))
    if target is not None:
        data.append(_marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 17))
    layout = base_layout(title or f"{METHOD_TITLE.get(imap.method, imap.method)} item embeddings · "
                         f"{KIND_LABEL[kind]}", height=height, **_axes(kind, imap))
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
def forward_figure(imap: ItemMap, kind: str, run, t: int, genres=None, titles=None, height: int = 560) -> go.Figure:
    """The noised embedding x_t of one item for t = 0..T as a path on the map, the current x_t and its nearest
    items marked."""
    xy = np.asarray(imap.coords(kind), dtype=np.float64)
    order = genre_order(genres) if genres is not None else []
    data = _item_traces(xy, genres, titles, order, opacity=0.35)
    pr = project(imap, run.states, kind)
    t = int(t)
    data.append(dict(type="scatter", x=pr.xy[:, 0], y=pr.xy[:, 1], mode="lines+markers", name="x_t, t = 0…T",
                     line=dict(color=STATE_COLOR, width=2), marker=dict(size=6, color=STATE_COLOR,
                                                                        opacity=_opacity(pr.support)),
                     customdata=np.stack([run.t, pr.support], axis=1),
                     hovertemplate="t = %{customdata[0]}<br>best cosine %{customdata[1]:.2f}<extra></extra>"))
    data.append(_marks(xy, run.nearest[t], titles, f"nearest to x_{t}", "circle", COLORS["topk"], 14, fill=False,
                       line_color=COLORS["topk"]))
    data.append(_marks(xy, [run.item], titles, "the item (x_0)", "diamond", TARGET_COLOR, 17))
    c = float(run.cos_to_item[t])
    data.append(dict(type="scatter", x=pr.xy[t:t + 1, 0], y=pr.xy[t:t + 1, 1], mode="markers", name=f"x_{t}",
                     marker=dict(size=similarity_size(c), symbol="x", color=X0_COLOR,
                                 opacity=_opacity(pr.support[t:t + 1])[0], line=dict(width=2, color="#000")),
                     hovertemplate=f"x_{t}: cos to the item {c:.2f}, best cosine to any item "
                                   f"{float(pr.support[t]):.2f}<extra></extra>"))
    layout = base_layout(f"Forward noising of “{_title(run.item, titles)}” · t = {t}", height=height,
                         **_axes(kind, imap))
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
    near = ", ".join(_title(i, titles) for i in run.nearest[t][:3])
    r = int(run.rank_of_item[t])
    where = ("still the item most similar to x_t" if r == 1 else f"ranked {r} among all items by cosine to x_t")
    end = (f" At t = T = {T}, √ᾱ_T = {num(run.sqrt_ab[-1])}: the schedule ends before the item is erased "
           f"(cos {num(run.cos_to_item[-1])}), so x_T is not pure noise." if run.cos_to_item[-1] > 0.2 else
           f" At t = T = {T} almost nothing of the item is left (cos {num(run.cos_to_item[-1])}).")
    return (f"At t = {t}, x_t = {num(run.sqrt_ab[t], 4)}·x_0 + {num(run.noise_std[t])}·ε keeps a cosine of "
            f"{num(run.cos_to_item[t])} with the clean embedding; “{_title(run.item, titles)}” is {where}. "
            f"Nearest items now: {near}." + end)


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


# ------------------------------------------------------------------------------------------------ reverse
def _opacity(support: np.ndarray) -> list:
    return [1.0 if s >= FADE else 0.35 for s in np.asarray(support, dtype=float)]


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
                                                                          opacity=_opacity(st.support)),
                customdata=np.stack([lab, np.round(st.support, 2)], axis=1),
                hovertemplate="x_t at %{customdata[0]}<br>best cosine %{customdata[1]}<extra></extra>")]
    if show_x0_path:
        out.append(dict(type="scatter", x=x0.xy[:, 0], y=x0.xy[:, 1], mode="lines+markers", name="x̂0 (prediction)",
                        legendgroup="x0", showlegend=legend, xaxis=xa, yaxis=ya,
                        line=dict(color=X0_COLOR, width=2.5, dash="dot"),
                        marker=dict(size=7, color=X0_COLOR, opacity=_opacity(x0.support)), customdata=lab,
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
    data = _item_traces(xy, genres, titles, order, opacity=0.35)
    if len(history):
        data.append(_marks(xy, history, titles, "history", "circle", "#000", 12, fill=False))
    data += trajectory_traces(imap, kind, traj, step)
    data.append(_marks(xy, traj.topk[int(step), 0], titles, "top-K at this step", "star", COLORS["topk"], 15))
    if target is not None:
        data.append(_marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 17))
    m = METHOD_TITLE.get(traj.method, traj.method)
    layout = base_layout(title or f"{m}: x_T → x̂0 on the {kind.upper()} map · step {int(step) + 1} of "
                         f"{traj.n_steps}", height=height, **_axes(kind, imap))
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
    data = [dict(type="scatter", x=x, y=r, mode="lines+markers", name=_title(target, titles),
                 line=dict(color=TARGET_COLOR, width=3), marker=dict(size=7, symbol="diamond"),
                 hovertemplate="step %{x}: rank %{y} of " + str(n) + "<extra></extra>")]
    return go.Figure(data=data, layout=layout)


def topk_rows(traj, step: int, titles=None, target: Optional[int] = None, genres=None) -> list:
    """The top-K at one step as rows for a table: rank, item, title, genre, score, whether it is the target."""
    i = int(step)
    rows = []
    for r, it in enumerate(traj.topk[i, 0]):
        rows.append({"rank": r + 1, "item": int(it), "title": _title(it, titles),
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
    tname = _title(target, titles)
    reached = "inside" if r[-1] <= K else "outside"
    s += (f"The held-out next item “{tname}” ends at rank {int(r[-1])} ({reached} the top-{K}); at step {i + 1} it "
          f"is at rank {int(r[i])}")
    best = int(r.min())
    return s + (f" (best along the way: {best} at step {int(r.argmin()) + 1})." if best < r[-1] else ".")


def nearest_at(imap: ItemMap, x: np.ndarray, n: int = 5) -> np.ndarray:
    """The n items most cosine-similar to x (in the full embedding space)."""
    c = cosine_to_items(imap, x[None])[0]
    return np.argsort(-c, kind="stable")[:n]


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
        data += _item_traces(xy, genres, titles, order, xa, ya, legend=False, opacity=0.3, size=5)
        data += trajectory_traces(imap, kind, tr, tr.n_steps - 1, xa, ya, legend=j == 0, show_x0_path=False)
        data.append(_marks(xy, tr.final_topk[0], titles, "final top-K", "star", COLORS["topk"], 11, xa, ya,
                           legend=j == 0))
        if target is not None:
            data.append(_marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 13, xa, ya,
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
        s += (f" Rank of the held-out item “{_title(target, titles)}”: "
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
        data += _item_traces(xy, genres, titles, order, xa, ya, legend=False, opacity=0.3, size=6)
        step = int(round(step_frac * (traj.n_steps - 1)))
        data += trajectory_traces(imap, kind, traj, step, xa, ya, legend=j == 0)
        data.append(_marks(xy, traj.topk[step, 0], titles, "top-K", "star", COLORS["topk"], 13, xa, ya,
                           legend=j == 0))
        if target is not None:
            data.append(_marks(xy, [target], titles, "held-out next item", "diamond", TARGET_COLOR, 15, xa, ya,
                               legend=j == 0))
        a = _axes(kind, imap, sfx, domain=xs[j])
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
        s += (f" The held-out item “{_title(target, titles)}” is ranked {ra} by "
              f"{METHOD_TITLE.get(a.method)} and {rb} by {METHOD_TITLE.get(b.method)}.")
    return s


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
        tt = " | ".join(_title(j, titles).replace(",", " ").replace('"', "'") for j in top)
        lines.append(f"{i + 1},{int(traj.steps[i]) + 1},{st.xy[i, 0]:.5g},{st.xy[i, 1]:.5g},{x0.xy[i, 0]:.5g},"
                     f"{x0.xy[i, 1]:.5g},{np.linalg.norm(traj.states[i, 0]):.5g},"
                     f"{np.linalg.norm(traj.x0_hat[i, 0]):.5g},{'' if r is None else int(r[i])},"
                     f"{' '.join(str(int(j)) for j in top)},{tt}")
    return "\n".join(lines) + "\n"
