"""Home page content: method cards (registered methods plus the ones whose pages are still to come), the sample
world at a glance, and the one-picture summary (the tour itself is ui/tour.py)."""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from diffrec_core.registry import teaching_order

from .data import ItemAxis
from .fmt import num, pct
from .forward import HELDOUT, INTERACTED, NOISE, OTHER, _kind_traces, genre_shapes, genre_ticks, padded_range
from .theme import COLORS, SYMBOLS, axis, base_layout

PAGE_NAMES = {"forward": "Forward noising", "reverse": "Reverse denoising", "embeddings": "Embeddings",
              "knowledge graph": "Knowledge graph", "reranking": "Reranking", "compare": "Compare"}


def method_cards(specs: Iterable, available_pages: Iterable[str]) -> List[dict]:
    """One card per registered diffusion method, in teaching order. ``status`` is 'open' where the method's page is
    served (a page run on its own, as in tests, may have none)."""
    avail = set(available_pages)
    cards = []
    for s in teaching_order(specs):
        if getattr(s, "kind", "diffusion") != "diffusion":
            continue
        page = getattr(s, "page", "") or ""
        cards.append(dict(name=s.name, title=s.title, paper=s.paper, diffused=s.diffused, idea=s.idea, page=page,
                          status="open" if page in avail else "no page"))
    return cards


def baselines(specs: Iterable) -> List[str]:
    return [s.title for s in specs if getattr(s, "kind", "") == "baseline"]


def world_caption(w: dict) -> str:
    s = (f"{w['users']:,} made-up users and {w['items']:,} made-up items in {w.get('n_genres', 0)} genres; "
         f"{w['interactions']:,} interactions (density {pct(w['density'], 1)}), split per user by time into "
         f"train / validation / test. Histories hold {w['min_history']}–{w['max_history']} training items "
         f"(median {num(w['median_history'])}).")
    if w.get("noise") is not None:
        s += (f" We injected {w['noise']:,} noise interactions ({pct(w['noise_share'], 1)} of training) from each "
              f"user's least-liked genres, and we know which ones they are - no real data set can tell you that.")
    return s


def hero_figure(x0: np.ndarray, xT: np.ndarray, xhat: np.ndarray, ax: ItemAxis, kinds: np.ndarray,
                topk: Sequence[int], titles: Optional[Sequence[str]] = None, noise_std: float = 0.0) -> go.Figure:
    """The one picture: a real user's history x0, the same vector after DiffRec's forward noise x_T, and the
    model's denoised x̂0 with its top-K unseen items ringed - three stacked panels over the same item axis."""
    rows = [("x<sub>0</sub>", "① the history x<sub>0</sub>: 1 = interacted", x0, "x0"),
            ("x<sub>T</sub>", f"② after DiffRec's forward noise, x<sub>T</sub> (noise std {num(noise_std)})",
             xT, "x_T"),
            ("x̂<sub>0</sub>", "③ denoised x̂<sub>0</sub>: a score for every item; the top unseen ones are "
             "recommended", xhat, "x̂0")]
    domains = [[0.72, 0.98], [0.38, 0.64], [0.0, 0.30]]
    data, layout = [], base_layout(None, height=600)
    shapes, annotations = [], []
    for r, ((short, label, vec, vname), dom) in enumerate(zip(rows, domains)):
        xa, ya = ("x", "y") if r == 0 else (f"x{r + 1}", f"y{r + 1}")
        data += _kind_traces(ax, kinds, vec, titles, order=(OTHER, HELDOUT, INTERACTED, NOISE), xaxis=xa, yaxis=ya,
                             legend=(r == 0), value_name=vname)
        ticks = genre_ticks(ax) if r == 2 else dict(showticklabels=False, ticks="")
        layout[f"xaxis{'' if r == 0 else r + 1}"] = axis("", range=[-1, ax.n], showgrid=False, anchor=ya, **ticks,
                                                         **({} if r == 0 else {"matches": "x"}))
        layout[f"yaxis{'' if r == 0 else r + 1}"] = axis(short, domain=dom, range=padded_range(vec))
        annotations.append(dict(text=f"<b>{label}</b>", x=0, y=dom[1] + 0.005, xref="paper", yref="paper",
                                xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=16)))
        shapes += genre_shapes(ax, yref=f"{ya} domain", xref=xa)[0]
    top = np.asarray(topk, dtype=np.int64)
    data.append(dict(type="scatter", mode="markers", name=f"recommended (top-{len(top)})", x=ax.pos[top],
                     y=np.asarray(xhat)[top], xaxis="x3", yaxis="y3",
                     text=None if titles is None else [str(titles[i]) for i in top],
                     marker=dict(symbol=SYMBOLS["topk"], size=18, color=COLORS["topk"], line=dict(width=3)),
                     hovertemplate="%{text}<extra>recommended</extra>"))
    layout.update(shapes=shapes, annotations=annotations, margin=dict(l=70, r=20, t=60, b=70))
    layout["legend"]["y"] = 1.04
    return go.Figure(data=data, layout=layout)


def hero_caption(user: int, n_train: int, n_noise: int, noise_std: float, hits: int, n_heldout: int, K: int) -> str:
    return (f"User {user}: {n_train} training items ({n_noise} injected noise, ✕). DiffRec's forward noise "
            f"(std {num(noise_std)} at T) barely changes the vector; its denoiser turns the history into scores for "
            f"all items, and the top-{K} unseen items (orange rings) contain {hits} of the user's {n_heldout} "
            f"held-out items (green diamonds).")
