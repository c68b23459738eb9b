"""The Knowledge-graph page's neighbourhood drawing: :func:`subgraph` / :func:`subgraph_figure`, a readable
neighbourhood of an item or a user on concentric rings, edges coloured by relation, their fate as the line style,
injected wrong triples marked. Pure: no st.*, no model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .fmt import plural
from .knowledge_graph import (COIN, DROPPED, KEPT, STATUS_DASH, STATUS_WIDTH, TYPE_SIZE, TYPE_SYMBOL, WRONG,
                              relation_color, short)
from .theme import COLORS, LIGHT_GREY, base_layout


@dataclass
class Subgraph:
    nodes: pd.DataFrame      # id (entity id, or -1 - user for the user node), name, type, x, y, ring
    edges: pd.DataFrame      # src, dst (node ids), relation_name, base_relation, status, wrong, kind ('kg'|'ui')
    center: int
    center_kind: str


def _types(entity_types, E: int):
    if entity_types is None:
        return None
    return [str(x) for x in entity_types]


def _ring(ids: Sequence[int], radius: float, start: float = np.pi / 2, angles=None) -> tuple:
    n = len(ids)
    if angles is None:
        angles = start - 2 * np.pi * np.arange(n) / max(n, 1)
    return radius * np.cos(angles), radius * np.sin(angles), np.asarray(angles, dtype=np.float64)


def _spread(pref: np.ndarray) -> np.ndarray:
    """Evenly spaced angles in the order of the preferred angles (keeps neighbours close, never overlaps)."""
    n = len(pref)
    if n == 0:
        return pref
    order = np.argsort(np.mod(pref, 2 * np.pi), kind="stable")
    out = np.empty(n)
    base = float(np.mod(pref[order[0]], 2 * np.pi))
    out[order] = base + 2 * np.pi * np.arange(n) / n
    return out


def subgraph(edges: pd.DataFrame, center: int, kind: str, entity_names: Sequence[str],
             entity_types: Optional[Sequence[str]], n_items: int, user_items: Optional[Sequence[int]] = None,
             max_items: int = 10, max_neighbours: int = 16, second_hop: int = 0) -> Subgraph:
    """The neighbourhood of an entity (``kind='item'``: ring 1 = its KG neighbours; ``second_hop`` > 0 adds up to
    that many other items per neighbour on ring 2) or of a user (``kind='user'``: ring 1 = up to ``max_items`` of
    the user's items, ring 2 = their KG neighbours). Canonical edges only (each triple drawn once)."""
    t = edges[~edges["inverse"]]
    types = _types(entity_types, len(entity_names))

    def etype(e):
        if types is not None and e < len(types):
            return types[e]
        return "item" if e < n_items else "entity"

    def touching(ids):
        ids = np.asarray(list(ids), dtype=np.int64)
        return t[t["head"].isin(ids) | t["tail"].isin(ids)]

    nodes = []
    if kind == "user":
        items = [int(i) for i in (list(user_items) if user_items is not None else [])][:max_items]
        x, y, ang = _ring(items, 1.0)
        nodes.append(dict(id=-1 - int(center), name=f"user {center}", type="user", x=0.0, y=0.0, ring=0))
        nodes += [dict(id=i, name=str(entity_names[i]), type=etype(i), x=a, y=b, ring=1)
                  for i, a, b in zip(items, x, y)]
        e1 = touching(items)
        others = pd.unique(np.r_[e1["head"].to_numpy(), e1["tail"].to_numpy()])
        others = [int(o) for o in others if o not in set(items)][: max_neighbours * 2]
        angle_of = dict(zip(items, ang))
        pref = []
        for o in others:
            nb = e1[(e1["head"] == o) | (e1["tail"] == o)]
            par = [angle_of[int(v)] for v in np.r_[nb["head"].to_numpy(), nb["tail"].to_numpy()] if int(v) in angle_of]
            pref.append(np.angle(np.mean(np.exp(1j * np.asarray(par)))) if par else 0.0)
        x2, y2, _ = _ring(others, 2.0, angles=_spread(np.asarray(pref)))
        nodes += [dict(id=o, name=str(entity_names[o]), type=etype(o), x=a, y=b, ring=2)
                  for o, a, b in zip(others, x2, y2)]
        ids = set(items) | set(others)
        kg_e = t[t["head"].isin(ids) & t["tail"].isin(ids)]
        ui = pd.DataFrame({"src": [-1 - int(center)] * len(items), "dst": items})
    else:
        c = int(center)
        nodes.append(dict(id=c, name=str(entity_names[c]), type=etype(c), x=0.0, y=0.0, ring=0))
        e1 = touching([c])
        nb = [int(v) for v in pd.unique(np.r_[e1["head"].to_numpy(), e1["tail"].to_numpy()]) if int(v) != c]
        # group ring 1 by relation so colours cluster
        rel_of = {int(v): int(r) for v, r in zip(np.r_[e1["head"], e1["tail"]], np.r_[e1["base_relation"],
                                                                                     e1["base_relation"]])}
        nb = sorted(nb, key=lambda v: (rel_of.get(v, 0), v))[:max_neighbours]
        x, y, ang = _ring(nb, 1.0)
        nodes += [dict(id=v, name=str(entity_names[v]), type=etype(v), x=a, y=b, ring=1) for v, a, b in zip(nb, x, y)]
        ids = {c, *nb}
        if second_hop > 0 and nb:
            ring2, pref = [], []
            for v, a in zip(nb, ang):
                e2 = touching([v])
                cand = [int(w) for w in pd.unique(np.r_[e2["head"].to_numpy(), e2["tail"].to_numpy()])
                        if int(w) not in ids and int(w) not in ring2][: int(second_hop)]
                ring2 += cand
                pref += [a] * len(cand)
            x2, y2, _ = _ring(ring2, 2.0, angles=_spread(np.asarray(pref) + 1e-3 * np.arange(len(pref))))
            nodes += [dict(id=w, name=str(entity_names[w]), type=etype(w), x=a, y=b, ring=2)
                      for w, a, b in zip(ring2, x2, y2)]
            ids |= set(ring2)
        kg_e = t[t["head"].isin(ids) & t["tail"].isin(ids)]
        ui = pd.DataFrame({"src": [], "dst": []}, dtype=np.int64)
    ed = pd.DataFrame({"src": kg_e["head"].to_numpy(), "dst": kg_e["tail"].to_numpy(),
                       "relation_name": kg_e["relation_name"].to_numpy(),
                       "base_relation": kg_e["base_relation"].to_numpy(), "status": kg_e["status"].to_numpy(),
                       "wrong": kg_e["wrong"].to_numpy(), "kind": "kg"})
    if len(ui):
        ed = pd.concat([ed, ui.assign(relation_name="interacted", base_relation=-1, status=KEPT, wrong=np.nan,
                                      kind="ui")], ignore_index=True)
    return Subgraph(pd.DataFrame(nodes), ed, int(center), kind)


def subgraph_figure(g: Subgraph, title: str = "") -> go.Figure:
    """Nodes on rings; edges coloured by relation, styled by their fate (solid kept, dash dropped by the random
    keep step, dot dropped by the rebuild); injected wrong triples carry a red ✕ at their midpoint."""
    pos = {int(r.id): (float(r.x), float(r.y)) for r in g.nodes.itertuples()}
    data = []
    ui = g.edges[g.edges["kind"] == "ui"]
    if len(ui):
        xs, ys = _segments(ui, pos)
        data.append(dict(type="scatter", mode="lines", x=xs, y=ys, name="interacted (user–item)",
                         line=dict(color=LIGHT_GREY, width=2), hoverinfo="skip"))
    kg = g.edges[g.edges["kind"] == "kg"]
    for rel, part in kg.groupby("base_relation", sort=True):
        name = str(part["relation_name"].iloc[0]).lstrip("~")
        data.append(dict(type="scatter", mode="lines", x=[None], y=[None], name=name, legendgroup=f"rel{rel}",
                         line=dict(color=relation_color(rel), width=3.5)))       # legend key: the colour only
        for status in (KEPT, COIN, DROPPED):
            sub = part[part["status"] == status]
            if not len(sub):
                continue
            xs, ys = _segments(sub, pos)
            data.append(dict(type="scatter", mode="lines", x=xs, y=ys, name=f"{name} · {status}",
                             legendgroup=f"rel{rel}", showlegend=False,
                             line=dict(color=relation_color(rel), width=STATUS_WIDTH[status],
                                       dash=STATUS_DASH[status]), hoverinfo="skip"))
    # status key (black lines) so the styles are readable without colour
    for status in (KEPT, COIN, DROPPED):
        if (kg["status"] == status).any():
            data.append(dict(type="scatter", mode="lines", x=[None], y=[None], name=status,
                             line=dict(color="#333", width=STATUS_WIDTH[status], dash=STATUS_DASH[status]),
                             legendgroup="status"))
    # midpoints: hover text for every edge, a red x on the wrong ones
    if len(kg):
        mx = [(pos[int(a)][0] + pos[int(b)][0]) / 2 for a, b in zip(kg["src"], kg["dst"])]
        my = [(pos[int(a)][1] + pos[int(b)][1]) / 2 for a, b in zip(kg["src"], kg["dst"])]
        names = dict(zip(g.nodes["id"].astype(int), g.nodes["name"]))
        text = [f"{short(names[int(a)], 30)} —{n}→ {short(names[int(b)], 30)}<br>{s}"
                + ("<br><b>injected wrong triple</b>" if w == 1 else "")
                for a, b, n, s, w in zip(kg["src"], kg["dst"], kg["relation_name"], kg["status"], kg["wrong"])]
        wrong = kg["wrong"].to_numpy(dtype=np.float64) == 1
        data.append(dict(type="scatter", mode="markers", x=np.asarray(mx)[~wrong], y=np.asarray(my)[~wrong],
                         text=[x for x, w in zip(text, wrong) if not w], hovertemplate="%{text}<extra></extra>",
                         marker=dict(size=9, color="rgba(0,0,0,0)"), showlegend=False))
        if wrong.any():
            data.append(dict(type="scatter", mode="markers", x=np.asarray(mx)[wrong], y=np.asarray(my)[wrong],
                             text=[x for x, w in zip(text, wrong) if w], hovertemplate="%{text}<extra></extra>",
                             name="injected wrong triple",
                             marker=dict(symbol="x", size=15, color=WRONG, line=dict(width=1.5, color="white"))))
    for typ, part in g.nodes.groupby("type", sort=False):
        size = [TYPE_SIZE.get(typ, 16) * (1.5 if r == 0 else 1.0) for r in part["ring"]]
        fill = [COLORS["topk"] if r == 0 else "white" for r in part["ring"]]
        data.append(dict(type="scatter", mode="markers+text", x=part["x"], y=part["y"], name=str(typ),
                         text=[short(n, 22 if r == 0 else 18) for n, r in zip(part["name"], part["ring"])],
                         textposition=[_label_side(x, y) for x, y in zip(part["x"], part["y"])],
                         textfont=dict(size=13), customdata=part["id"],
                         hovertext=[f"{n} ({typ}, id {i})" for n, i in zip(part["name"], part["id"])],
                         hovertemplate="%{hovertext}<extra></extra>",
                         marker=dict(symbol=TYPE_SYMBOL.get(typ, "circle"), size=size, color=fill,
                                     line=dict(width=2.5, color="#222"))))
    layout = base_layout(title or None, height=640)
    lim = 2.35 if (g.nodes["ring"] == 2).any() else 1.3
    layout.update(xaxis=dict(visible=False, range=[-lim * 1.45, lim * 1.45]),
                  yaxis=dict(visible=False, range=[-lim, lim], scaleanchor="x"),
                  legend=dict(orientation="v", x=1.0, xanchor="left", y=1, font=dict(size=14)),
                  margin=dict(l=10, r=10, t=50 if title else 10, b=10))
    return go.Figure(data=data, layout=layout)


def _label_side(x: float, y: float) -> str:
    """Labels point away from the centre, so they do not sit on the edges."""
    r = float(np.hypot(x, y))
    if r < 1e-9:
        return "bottom center"
    if abs(x) / r > 0.6:
        return "middle right" if x > 0 else "middle left"
    return "top center" if y > 0 else "bottom center"


def _segments(df: pd.DataFrame, pos) -> tuple:
    xs, ys = [], []
    for a, b in zip(df["src"], df["dst"]):
        (x0, y0), (x1, y1) = pos[int(a)], pos[int(b)]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    return xs, ys


def subgraph_caption(g: Subgraph, edges_total: int) -> str:
    kg = g.edges[g.edges["kind"] == "kg"]
    if not len(kg):
        return "No KG edges around this node: it has no entity link or no triples."
    n = len(kg)
    kept = int((kg["status"] == KEPT).sum())
    coin = int((kg["status"] == COIN).sum())
    drop = int((kg["status"] == DROPPED).sum())
    wrong = kg["wrong"].to_numpy(dtype=np.float64) == 1
    s = (f"{plural(n, 'triple')} drawn: {kept} kept in the denoised KG, {coin} rebuilt but dropped by the random "
         f"keep step, {drop} dropped by the rebuild.")
    if wrong.any():
        wk = int((wrong & (kg["status"] == KEPT).to_numpy()).sum())
        wd = int((wrong & (kg["status"] == DROPPED).to_numpy()).sum())
        s += (f" {plural(int(wrong.sum()), 'of them is', 'of them are')} injected wrong (✕): {wd} dropped by the "
              f"rebuild, {wk} kept.")
    return s
