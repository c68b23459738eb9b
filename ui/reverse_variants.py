"""The reverse views particular to one variant: L-DiffRec's item clusters and latent trajectory (its states are
latent vectors, one slice per cluster) and T-DiffRec's time weights (the weighted row it diffuses instead of the
0/1 history). Read from a ``Trajectory`` and the model's diffused row only."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .data import UserProfile
from .fmt import num, plural
from .theme import CATEGORICAL, COLORS, DIVERGING, axis, base_layout, vline


def latent_clusters(meta: dict, n_items_: int, latent_size: Optional[int] = None):
    """(item_cluster (I,), latent slices [(a, b), ...], cluster_of_latent (L,)) from an L-DiffRec record's meta,
    tolerant of key names; (None, [], None) if the meta has no clusters."""
    ic = None
    for key in ("item_cluster", "item_clusters", "clusters", "cluster_of_item"):
        if key in meta and meta[key] is not None:
            ic = np.asarray(meta[key], dtype=np.int64)
            break
    if ic is not None and len(ic) != n_items_:
        ic = None
    slices = []
    for key in ("latent_slices", "latent_bounds", "latent_slice"):
        if key in meta and meta[key]:
            slices = [(int(a), int(b)) for a, b in meta[key]]
            break
    L = int(latent_size or meta.get("latent_size") or (slices[-1][1] if slices else 0))
    col = None
    if slices and L:
        col = np.zeros(L, dtype=np.int64)
        for c, (a, b) in enumerate(slices):
            col[a:b] = c
    return ic, slices, col


def cluster_figure(item_cluster: np.ndarray, genres: Optional[Sequence[str]] = None,
                   profile: Optional[UserProfile] = None) -> go.Figure:
    """Items per cluster, split by genre (grouped bars), so one sees what k-means found."""
    ic = np.asarray(item_cluster, dtype=np.int64)
    C = int(ic.max()) + 1 if len(ic) else 0
    g = np.asarray([str(x) for x in genres]) if genres is not None else np.asarray(["all"] * len(ic))
    names, counts = np.unique(g, return_counts=True)
    names = names[np.argsort(-counts, kind="stable")]
    data = []
    for c in range(C):
        y = [int(((ic == c) & (g == n)).sum()) for n in names]
        mine = "" if profile is None else \
            f" · this user: {int(np.isin(profile.train, np.flatnonzero(ic == c)).sum())}"
        data.append(dict(type="bar", x=names.tolist(), y=y, name=f"cluster {c} ({int((ic == c).sum())} items{mine})",
                         marker=dict(color=CATEGORICAL[c % len(CATEGORICAL)],
                                     pattern=dict(shape=["", "/", ".", "x", "-", "|", "+", "\\"][c % 8])),
                         hovertemplate="%{x}: %{y} items<extra>cluster " + str(c) + "</extra>"))
    layout = base_layout("L-DiffRec's item clusters, by genre", height=360, barmode="group")
    layout.update(xaxis=axis(""), yaxis=axis("items"))
    return go.Figure(data=data, layout=layout)

def cluster_caption(item_cluster: np.ndarray, genres: Optional[Sequence[str]], source: str = "") -> str:
    ic = np.asarray(item_cluster, dtype=np.int64)
    C = int(ic.max()) + 1 if len(ic) else 0
    parts = []
    for c in range(C):
        members = np.flatnonzero(ic == c)
        if genres is not None and len(members):
            gs, cnt = np.unique(np.asarray(genres)[members], return_counts=True)
            topg = gs[np.argsort(-cnt)[:2]]
            parts.append(f"cluster {c}: {len(members)} items, mostly {' and '.join(topg)}")
        else:
            parts.append(f"cluster {c}: {len(members)} items")
    how = {"svd": " (k-means on truncated-SVD item factors, a substitute for the authors' LightGCN embeddings)",
           "item_emb": " (k-means on the data set's item embeddings)"}.get(source, "")
    return f"{C} clusters{how}: " + "; ".join(parts) + ". Each cluster has its own encoder and latent slice."


def latent_figure(traj, current: Optional[int] = None, slices=(), row: int = 0) -> go.Figure:
    """Heatmap of the latent state z_t (columns: latent dimensions, rows: reverse steps), cluster slices
    separated, the ``current`` step outlined (None: no outline). Colour range symmetric around 0, from the data."""
    z = np.asarray(traj.states[:, row], dtype=np.float64)
    S, L = z.shape
    m = float(np.nanmax(np.abs(z))) if z.size else 1.0
    m = m if m > 0 else 1.0
    shapes = [vline(a - 0.5, xref="x", color="black", width=2, dash="solid") for a, _ in list(slices)[1:]]
    if current is not None:
        shapes.append(dict(type="rect", x0=-0.5, x1=L - 0.5, y0=int(current) + 0.5, y1=int(current) + 1.5,
                           line=dict(color="black", width=3)))
    heat = dict(type="heatmap", z=z.astype(np.float32), x=np.arange(L), y=np.arange(1, S + 1), colorscale=DIVERGING,
                zmid=0, zmin=-m, zmax=m, colorbar=dict(title=dict(text="z"), thickness=14),
                hovertemplate="reverse step %{y}, dim %{x}: %{z:.4f}<extra></extra>")
    layout = base_layout("The latent vector z<sub>t</sub> over the reverse steps", height=360, legend=False)
    layout.update(xaxis=axis("latent dimension (black lines: cluster slices)", showgrid=False),
                  yaxis=axis("reverse step", autorange="reversed", showgrid=False), shapes=shapes)
    return go.Figure(data=[heat], layout=layout)

def latent_caption(traj, row: int = 0) -> str:
    z = np.asarray(traj.states[:, row], dtype=np.float64)
    if len(z) < 2:
        return "One latent state recorded."
    moved = float(np.linalg.norm(z[-1] - z[0]))
    size = float(np.linalg.norm(z[0]))
    return (f"The latent vector (‖z‖ = {num(size)}) moves by {num(moved)} in total over the "
            f"{plural(len(z), 'step')} - {num(moved / size if size else 0.0)} of its length.")


# ------------------------------------------------------------------------------------------------ T-DiffRec
def time_weights_figure(weights: np.ndarray, profile: UserProfile, titles: Optional[Sequence[str]] = None
                        ) -> go.Figure:
    """T-DiffRec's time weight of each training interaction, oldest left (the row it diffuses)."""
    items = np.asarray(profile.chrono, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[items] if len(items) else np.zeros(0)
    noise = np.isin(items, profile.noise)
    data = [dict(type="bar", x=np.arange(1, len(items) + 1), y=w.astype(np.float32), showlegend=False,
                 marker=dict(color=[COLORS["noise"] if n else COLORS["interacted"] for n in noise],
                             pattern=dict(shape=["/" if n else "" for n in noise], fgcolor="white", size=8)),
                 text=[str(titles[i]) if titles is not None else f"item {i}" for i in items], textposition="none",
                 hovertemplate="#%{x} in the history: %{text}<br>weight %{y:.2f}<extra></extra>")]
    for name, color, pattern in (("injected noise (ground truth)", COLORS["noise"], "/"),
                                 ("genuine interaction", COLORS["interacted"], "")):
        data.append(dict(type="bar", x=[None], y=[None], name=name,
                         marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white"))))
    layout = base_layout("T-DiffRec's time weights: the row it diffuses", height=330)
    layout.update(xaxis=axis("position in the user's history (oldest → newest)"),
                  yaxis=axis("weight", range=[0, max(1.05, float(w.max()) * 1.05 if len(w) else 1.05)]))
    return go.Figure(data=data, layout=layout)

def time_weights_caption(weights: np.ndarray, profile: UserProfile) -> str:
    items = np.asarray(profile.chrono, dtype=np.int64)
    if not len(items):
        return "This user has no training history, so there is nothing to weight."
    w = np.asarray(weights, dtype=np.float64)[items]
    return (f"The oldest of the user's {len(items)} training interactions weighs {num(w[0])}, the newest "
            f"{num(w[-1])}: T-DiffRec noises and denoises this weighted row instead of the 0/1 history.")

