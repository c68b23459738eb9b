"""Knowledge-graph views for DiffKG (docs/methods.md §2.4), pure: figures, tables and captions from NumPy / pandas.

* :func:`edge_table` - one row per directed KG edge with its relation, the sample world's ground truth and what
  happened to it: in the original-KG view (``triplet_num`` sampling), rebuilt (top-k of the denoised rows + reverse
  edges, restricted to the original KG), and in the final denoised KG (after the random keep step).
* :func:`truth_metrics` - precision / recall of the kept triples against the ground truth, the share of injected
  wrong triples removed, and the same for keeping the same number of triples at random (hypergeometric: exact
  mean and a 90 % band, no sampling).
* top-K with the original vs the denoised KG, the metrics table, and the DiffKG equation panel.

The neighbourhood drawing is in ``ui.kg_subgraph``; an entity's row, denoised step by step and stepped in the
browser, in ``ui.kg_row``.
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
