"""Knowledge-graph views for DiffKG (docs/methods.md §2.4), pure: figures, tables and captions from NumPy / pandas.

* :func:`edge_table` - one row per directed KG edge with its relation, the sample world's ground truth and what
  happened to it: in the original-KG view (``triplet_num`` sampling), rebuilt (top-k of the denoised rows + reverse
  edges, restricted to the original KG), and in the final denoised KG (after the random keep step).
* :func:`truth_metrics` - precision / recall of the kept triples against the ground truth, the share of injected
  wrong triples removed, and the same for keeping the same number of triples at random (hypergeometric: exact
  mean and a 90 % band, no sampling).
* :func:`subgraph` / :func:`subgraph_figure` - a readable neighbourhood of an item or a user: concentric rings,
  edges coloured by relation, their fate as the line style, injected wrong triples marked.
* :func:`row_figure` - an entity's KG row x_t (top) and the denoiser's x̂0 (bottom) at one reverse step, with the
  row's true neighbours, the wrong ones and the top-k the rebuild keeps.
* top-K with the original vs the denoised KG, the metrics table, and the DiffKG equation panel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.stats import hypergeom

from .equations import Equation
from .fmt import num, pct, plural
from .theme import COLORS, GENRE_COLORS, GREY, LIGHT_GREY, OKABE_ITO, axis, base_layout

# the fate of an edge, in the order of the rebuild (line styles in the subgraph)
KEPT, COIN, DROPPED = "kept", "dropped by the random keep step", "dropped by the rebuild"
STATUS_DASH = {KEPT: "solid", COIN: "dash", DROPPED: "dot"}
STATUS_WIDTH = {KEPT: 3.5, COIN: 2.2, DROPPED: 1.6}
TYPE_SYMBOL = {"user": "star", "item": "circle", "genre": "square", "era": "diamond", "studio": "hexagon",
               "person": "triangle-up", "entity": "circle-open"}
TYPE_SIZE = {"user": 30, "item": 20, "genre": 20, "era": 20, "studio": 20, "person": 17, "entity": 15}
WRONG = COLORS["noise"]


def relation_color(r: int) -> str:
    palette = [c for c in GENRE_COLORS if c != OKABE_ITO["black"]]
    return palette[int(r) % len(palette)]


def short(name: str, n: int = 20) -> str:
    name = str(name)
    return name if len(name) <= n else name[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------ the edges
def edge_table(state: Mapping, kg: Optional[pd.DataFrame], relation_names: Optional[Sequence[str]],
               entity_names: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """One row per directed edge the model uses (``DiffKG.kg_state``): head, tail, relation (inverse relations
    named ``'~name'``), ``inverse``, ``wrong`` (sample-world ground truth through the edge's source triple; NaN
    where unknown), ``sampled`` (original-KG view), ``rebuilt``, ``coin`` and ``denoised`` (= rebuilt and coin),
    ``status`` (kept / dropped by the random keep step / dropped by the rebuild)."""
    head = np.asarray(state["head"], dtype=np.int64)
    tail = np.asarray(state["tail"], dtype=np.int64)
    rel = np.asarray(state["relation"], dtype=np.int64)
    names = list(relation_names or [])
    R = max(len(names), 1)
    n_rel = int(rel.max()) + 1 if len(rel) else 0
    if names and n_rel > 2 * R:       # relation ids do not match the names: do not guess
        names = []
    R = len(names) if names else max((n_rel + 1) // 2, 1)
    inverse = rel >= R
    base = np.where(inverse, rel - R, rel)
    rel_name = [(("~" if inv else "") + (names[b] if b < len(names) else f"r{b}")) for b, inv in zip(base, inverse)]
    df = pd.DataFrame({"head": head, "tail": tail, "relation": rel, "base_relation": base, "relation_name": rel_name,
                       "inverse": inverse, "sampled": np.asarray(state["sampled"], bool),
                       "rebuilt": np.asarray(state["rebuilt"], bool), "coin": np.asarray(state["coin"], bool),
                       "denoised": np.asarray(state["denoised"], bool)})
    df["wrong"] = _wrong_flags(df, kg)
    df["status"] = np.where(df["denoised"], KEPT, np.where(df["rebuilt"], COIN, DROPPED))
    if entity_names is not None:
        en = np.asarray([str(x) for x in entity_names], dtype=object)
        df["head_name"] = en[np.clip(head, 0, len(en) - 1)] if len(en) else ""
        df["tail_name"] = en[np.clip(tail, 0, len(en) - 1)] if len(en) else ""
    return df


def _wrong_flags(df: pd.DataFrame, kg: Optional[pd.DataFrame]) -> np.ndarray:
    """is_wrong of the triple an edge comes from (either direction); NaN where the data has no ground truth."""
    if kg is None or "is_wrong" not in kg or not len(df):
        return np.full(len(df), np.nan)
    E = int(max(df["head"].max(), df["tail"].max(), kg["head"].max(), kg["tail"].max())) + 1
    k = kg["head"].to_numpy(np.int64) * E + kg["tail"].to_numpy(np.int64)
    w = pd.Series(kg["is_wrong"].to_numpy(np.int64), index=k)
    w = w.groupby(level=0).max()
    h, t = df["head"].to_numpy(np.int64), df["tail"].to_numpy(np.int64)
    fwd = w.reindex(h * E + t).to_numpy(dtype=np.float64)
    bwd = w.reindex(t * E + h).to_numpy(dtype=np.float64)
    return np.where(np.isnan(fwd), bwd, fwd)


def has_truth(edges: pd.DataFrame) -> bool:
    return bool(len(edges)) and bool(edges["wrong"].notna().all())


# ------------------------------------------------------------------------------------------------ ground truth
@dataclass
class StageTruth:
    name: str
    kept: int
    total: int
    wrong_total: int
    wrong_kept: int
    precision: float            # correct share among kept triples
    recall: float               # kept correct / all correct
    wrong_removed: float        # share of the wrong triples that are gone
    random_precision: float     # the same numbers for keeping `kept` triples uniformly at random (expectation)
    random_recall: float
    random_wrong_removed: float
    random_band: tuple          # 5-95 % band of the wrong share removed by random keeping
    p_value: float              # P(random keeping removes at least this share of wrong triples)


def truth_metrics(edges: pd.DataFrame) -> Dict[str, StageTruth]:
    """Against the sample world's injected wrong triples, per triple (the canonical, non-inverse edges; the
    rebuild is symmetric, the keep step is per edge), for the rebuilt KG and the final denoised KG."""
    if not has_truth(edges):
        return {}
    t = edges[~edges["inverse"]]
    wrong = t["wrong"].to_numpy(bool)
    N, W = len(t), int(wrong.sum())
    out = {}
    for stage, col in (("rebuilt", "rebuilt"), ("denoised", "denoised"), ("original view", "sampled")):
        kept = t[col].to_numpy(bool)
        n = int(kept.sum())
        wk = int((kept & wrong).sum())
        correct = N - W
        rv = hypergeom(N, W, n)
        lo, hi = rv.ppf(0.05), rv.ppf(0.95)
        out[stage] = StageTruth(
            name=stage, kept=n, total=N, wrong_total=W, wrong_kept=wk,
            precision=(n - wk) / n if n else float("nan"),
            recall=(n - wk) / correct if correct else float("nan"),
            wrong_removed=1 - wk / W if W else float("nan"),
            random_precision=correct / N if N else float("nan"),
            random_recall=n / N if N else float("nan"),
            random_wrong_removed=1 - n / N if N else float("nan"),
            random_band=(1 - hi / W, 1 - lo / W) if W else (float("nan"), float("nan")),
            p_value=float(rv.cdf(wk)) if W else float("nan"))
    return out


# The KG stages, named once: the page, the table and the figure use these labels.
STAGE_LABELS = {"original view": "original (the model's sampled view)",
                "rebuilt": "rebuilt (top-k of the denoised rows)",
                "denoised": "denoised (rebuilt, then the random keep step: what the recommender reads)"}
_STAGE_SHORT = {"rebuilt": "rebuilt KG<br>(top-k of the rows)", "denoised": "denoised KG<br>(+ random keep step)"}


def kg_counts(edges: pd.DataFrame) -> dict:
    """Triples and directed edges per stage. A triple (head, relation, tail) is stored as two directed edges (it
    and its inverse); a triple counts as in a stage when its forward edge is (``truth_metrics``' rule), and
    ``denoised_both`` counts those whose inverse survived too (the keep step flips a coin per directed edge)."""
    fwd = edges[~edges["inverse"]]
    out = {"triples": int(len(fwd)), "edges": int(len(edges))}
    for col in ("rebuilt", "denoised"):
        out[f"{col}_triples"] = int(fwd[col].sum())
        out[f"{col}_edges"] = int(edges[col].sum())
    inv = edges[edges["inverse"]]
    back = set(zip(inv.loc[inv["denoised"], "tail"].astype(int), inv.loc[inv["denoised"], "head"].astype(int)))
    kept = fwd[fwd["denoised"]]
    out["denoised_both"] = int(sum((int(h), int(t)) in back for h, t in zip(kept["head"], kept["tail"])))
    return out


def units_sentence(c: Mapping[str, int]) -> str:
    """How triples and directed edges relate, with this KG's numbers: said once, then the page counts triples."""
    rt, re_ = c["rebuilt_triples"], c["rebuilt_edges"]
    rebuild = (f"the rebuild keeps or drops both directions of a triple together: {rt:,} triples = {re_:,} edges"
               if re_ == 2 * rt else f"the rebuild keeps {rt:,} triples ({re_:,} directed edges)")
    return (f"Counting: a triple (head, relation, tail) is one fact; DiffKG stores each as two directed edges, the "
            f"triple and its inverse, so the {c['triples']:,} triples are {c['edges']:,} edges. In the rebuilt KG "
            f"{rebuild}. The random keep step flips a coin per directed edge: {c['denoised_edges']:,} edges survive "
            f"in the denoised KG, and {c['denoised_triples']:,} triples keep their forward edge "
            f"({c['denoised_both']:,} of them both directions). Everything else on this page counts triples, a "
            "triple counting as kept when its forward edge is.")


def truth_table(truth: Mapping[str, StageTruth]) -> pd.DataFrame:
    rows = []
    for s in truth.values():
        rows.append({"KG": STAGE_LABELS.get(s.name, s.name), "triples kept": s.kept, "of": s.total,
                     "precision": s.precision, "precision (random)": s.random_precision,
                     "recall": s.recall, "recall (random)": s.random_recall,
                     "wrong removed": s.wrong_removed, "wrong removed (random)": s.random_wrong_removed})
    return pd.DataFrame(rows)


def truth_figure(truth: Mapping[str, StageTruth]) -> go.Figure:
    """Share of the wrong and of the correct triples each KG removes, next to keeping the same number at random
    (bar: expectation; whisker: 90 % band)."""
    stages = [s for s in ("rebuilt", "denoised") if s in truth]
    data = []
    x = [_STAGE_SHORT[s] for s in stages]
    data.append(dict(type="bar", name="wrong triples removed", x=x,
                     y=[truth[s].wrong_removed for s in stages], marker=dict(color=WRONG),
                     text=[pct(truth[s].wrong_removed, 1) for s in stages], textposition="outside",
                     hovertemplate="%{x}: %{y:.1%} of the injected wrong triples removed<extra></extra>"))
    data.append(dict(type="bar", name="correct triples removed", x=x,
                     y=[1 - truth[s].recall for s in stages], marker=dict(color=COLORS["interacted"]),
                     text=[pct(1 - truth[s].recall, 1) for s in stages], textposition="outside",
                     hovertemplate="%{x}: %{y:.1%} of the correct triples removed<extra></extra>"))
    data.append(dict(type="bar", name="random keeping (either kind)", x=x,
                     y=[truth[s].random_wrong_removed for s in stages],
                     marker=dict(color=LIGHT_GREY, pattern=dict(shape="/", fgcolor=GREY)),
                     error_y=dict(type="data", symmetric=False,
                                  array=[max(truth[s].random_band[1] - truth[s].random_wrong_removed, 0)
                                         for s in stages],
                                  arrayminus=[max(truth[s].random_wrong_removed - truth[s].random_band[0], 0)
                                              for s in stages], color="#555", thickness=2),
                     hovertemplate="%{x}: random keeping removes %{y:.1%} of each kind<extra></extra>"))
    layout = base_layout(None, height=430)
    layout.update(barmode="group", xaxis=axis(""), yaxis=axis("share removed", range=[0, 1.12], tickformat=".0%"),
                  margin=dict(l=70, r=20, t=20, b=110))
    layout["legend"].update(orientation="h", y=-0.16, yanchor="top", x=0)
    return go.Figure(data=data, layout=layout)


def truth_caption(truth: Mapping[str, StageTruth], keep_rate: float) -> str:
    if not truth:
        return "This data set has no ground truth for its triples, so the rebuild cannot be scored."
    r, d = truth["rebuilt"], truth["denoised"]
    better = r.wrong_removed > r.random_wrong_removed
    s = (f"The rebuilt KG (top-k of the denoised rows) keeps {r.kept:,} of {r.total:,} triples "
         f"({pct(r.kept / max(r.total, 1))}) and removes "
         f"{pct(r.wrong_removed)} of the {r.wrong_total} injected wrong triples; keeping {r.kept:,} triples at random "
         f"would remove {pct(r.random_wrong_removed)} of them (90 % of random draws: {pct(r.random_band[0])}–"
         f"{pct(r.random_band[1])}). Precision of the kept triples: {pct(r.precision, 1)} vs "
         f"{pct(r.random_precision, 1)} at random. ")
    s += ("So the denoiser's top-k prefers true edges. " if better and r.p_value < 0.05 else
          "That is no better than chance. " if not better else "The difference is within chance. ")
    s += (f"The random keep step (probability {num(keep_rate)}) then leaves {d.kept:,} triples in the denoised KG "
          f"(the one the recommender reads), with {d.wrong_kept} wrong ones, and recall drops to {pct(d.recall)}: "
          "it cannot tell right from wrong.")
    return s


# ------------------------------------------------------------------------------------------------ subgraph
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


# ------------------------------------------------------------------------------------------------ recommendations
def topk_table(orig: np.ndarray, den: np.ndarray, names: Sequence[str], heldout: Sequence[int]) -> pd.DataFrame:
    """Side-by-side top-K of one user with the original-KG view and the denoised-KG view (✓ = held-out item)."""
    h = set(int(v) for v in heldout)

    def lab(i):
        return ("✓ " if int(i) in h else "") + str(names[int(i)])
    return pd.DataFrame({"rank": np.arange(1, len(orig) + 1), "original KG": [lab(i) for i in orig],
                         "denoised KG": [lab(i) for i in den],
                         "moved": ["" if int(d) in set(map(int, orig)) else "new" for d in den]})


def topk_caption(orig: np.ndarray, den: np.ndarray, heldout: Sequence[int]) -> str:
    K = len(orig)
    h = set(int(v) for v in heldout)
    same = len(set(map(int, orig)) & set(map(int, den)))
    ho, hd = sum(int(i) in h for i in orig), sum(int(i) in h for i in den)
    s = f"{same} of the {K} items appear in both lists; "
    if not h:
        return s + "this user has no held-out items to score them against."
    return s + (f"the original-KG list holds {ho} and the denoised-KG list {hd} of the user's "
                f"{plural(len(h), 'held-out item')}.")


def views_table(view_metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    rows = [{"DiffKG scored with": k, **{m: v.get(m, np.nan) for m in ("recall@20", "ndcg@20")}}
            for k, v in view_metrics.items()]
    return pd.DataFrame(rows)


def metrics_table(results: Mapping, names: Sequence[str], titles: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """Test Recall@20 / NDCG@20 (validation-selected, one seed) of the given methods from ``results.json``."""
    rows = []
    for n in names:
        r = (results.get("methods") or {}).get(n)
        if not r:
            continue
        rows.append({"method": (titles or {}).get(n, n), "test Recall@20": r.get("test", {}).get("recall@20"),
                     "test NDCG@20": r.get("test", {}).get("ndcg@20"),
                     "valid Recall@20": r.get("valid", {}).get("recall@20"), "best epoch": r.get("best_epoch"),
                     "train s": r.get("train_seconds")})
    return pd.DataFrame(rows)


def metrics_caption(df: pd.DataFrame) -> str:
    if not len(df):
        return "No pretrained results for these methods yet: run `python -m diffrec_core pretrain --methods diffkg " \
               "lightgcn kgat`."
    d = df.sort_values("test Recall@20", ascending=False)
    best = d.iloc[0]
    s = f"On the sample world, {best['method']} has the highest test Recall@20 ({best['test Recall@20']:.3f})"
    if len(d) > 1:
        s += "; " + ", ".join(f"{r['method']} {r['test Recall@20']:.3f}" for _, r in d.iloc[1:].iterrows())
    return s + ". One seed, selected on validation: differences of a few thousandths are noise."


# ------------------------------------------------------------------------------------------------ equations
def diffkg_equation(e_loss: float, rebuild_k: int, keep_rate: float, counts: Mapping[str, int]) -> Equation:
    """The denoiser's loss and the rebuild rule, with this KG's triples at each stage (``kg_counts``); the directed
    edges are in the note, once."""
    general = (r"\begin{aligned} \mathcal{L}_{\text{den}} &= (1-\lambda)\,w_t\,\lVert x_0-\hat x_0\rVert^2"
               r" + \lambda\,\big\lVert (\hat X_{:, :I} A^\top) E_U - E_E\big\rVert^2 \\"
               r" \mathcal{G}' &= \{(h,t)\in\mathcal{G}:\ t\in\operatorname{top}_k \hat x_0^{(h)}"
               r"\ \text{or}\ h\in\operatorname{top}_k \hat x_0^{(t)}\},\ \text{each kept w.p. } p \end{aligned}")
    c = counts
    live = (rf"\lambda = {num(e_loss)},\ k = {int(rebuild_k)},\ p = {num(keep_rate)}:\quad "
            rf"{c['triples']:,}\ \to\ {c['rebuilt_triples']:,}\ \to\ {c['denoised_triples']:,}\ "
            r"\text{triples}").replace(",", "{,}")
    terms = [("λ (e_loss)", num(e_loss), "weight of the CKGC loss against the diffusion loss"),
             ("k (rebuild_k)", str(int(rebuild_k)), "columns kept per denoised row"),
             ("p (keepRate)", num(keep_rate), "probability that a rebuilt directed edge survives"),
             ("original triples", f"{c['triples']:,}", "the KG the model starts from"),
             ("rebuilt KG", f"{c['rebuilt_triples']:,}", "triples the rows' top-k picked (before the keep step)"),
             ("denoised KG", f"{c['denoised_triples']:,}", "triples after the random keep step: what the recommender "
                                                           "reads")]
    return Equation("DiffKG: denoiser loss and KG rebuild", general, live, terms,
                    note=(f"Each triple is two directed edges (it and its inverse): {c['edges']:,} → "
                          f"{c['rebuilt_edges']:,} → {c['denoised_edges']:,} edges. The rebuilt KG is always a "
                          "subgraph of the original: diffusion can only remove edges."))
