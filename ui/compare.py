"""The comparison tables and charts: figures and captions built from a comparison results dict
(``diffrec_core.compare``: one row per method, mean ± sample std over seeds, one protocol per row).

Rule of every builder here: a table or chart holds ONE protocol. Leave-one-out HR and chronological Recall are
different quantities on different splits (docs/methods.md §3.3-3.4), so ranking them together would be meaningless.

The older one-seed builders (``results_frame`` & co.) read ``pretrained/results.json`` and stay for that file.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from diffrec_core import compare as core
from diffrec_core import reproduction as repro

from .theme import COLORS, axis, base_layout

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
ALL_METRICS = core.METRICS
LABEL = "sample world, one seed, validation-selected, tested once"
KIND_STYLE = (("diffusion", COLORS["diffusion"], "circle", ""), ("baseline", COLORS["baseline"], "diamond", "/"))


def metric_label(m: str) -> str:
    return m.replace("recall", "Recall").replace("ndcg", "NDCG").replace("hr", "HR")


def results_label(results: Mapping) -> str:
    """'sample, 3 seeds ± sd, budget 60 s/run' - what every chart title says about its numbers."""
    n = len(results.get("seeds", [])) or 1
    seeds = f"{n} seeds ± sd" if n > 1 else "one seed"
    b = results.get("budget_seconds")
    return f"{results.get('data', '?')}, {seeds}, " + ("no time budget" if b is None else f"budget {b:g} s/run")


def protocols(results: Mapping) -> list:
    """The protocols that have rows that ran, in the harness's order."""
    have = core.groups(results)
    return [p for p in core.PROTOCOLS if p in have] + sorted(p for p in have if p not in core.PROTOCOLS)


def table_frame(results: Mapping, protocol: str, metric: str = "recall@20", page_urls: Optional[Mapping] = None
                ) -> pd.DataFrame:
    """One row per method that ran under ``protocol``: the six metrics' means, the spread of ``metric``, costs.
    Sorted by ``metric`` (best first). ``page_urls`` maps a page key to its URL (the row's link)."""
    rows = []
    for r in core.groups(results).get(protocol, []):
        row = {"method": r["title"], "kind": r["kind"]}
        for m in ALL_METRICS:
            row[metric_label(m)] = core.mean(r, m)
        row[f"± {metric_label(metric)}"] = core.std(r, metric)
        row["train s"] = core.mean(r, "train_seconds")
        row["infer ms/user"] = core.mean(r, "infer_ms_per_user")
        row["parameters"] = r.get("parameters")
        row["stored values"] = r.get("state_size")
        row["diffusion steps"] = r.get("diffusion_steps") or 0
        row["seeds"] = r.get("n_seeds", 0)
        row["best epoch"] = " ".join(map(str, r.get("best_epoch", [])))
        row["note"] = (f"time budget hit in {r['budget_hits']}/{r['n_seeds']} runs: a lower bound"
                       if r.get("budget_hits") else "")
        row["page"] = (page_urls or {}).get(r.get("page"))
        row["key"] = r["method"]
        rows.append(row)
    order = {e["method"]: i for i, e in enumerate(core.ranking(results, metric=metric, protocol=protocol))}
    rows.sort(key=lambda row: order.get(row["key"], len(order)))          # the one ranking (core.ranking)
    return pd.DataFrame(rows)


def ranking_frame(ranked: list) -> pd.DataFrame:
    """``core.ranking``'s entries as a table, best first: what a page shows beside its sentence."""
    name = metric_label(ranked[0]["metric"]) if ranked else "metric"
    return pd.DataFrame([{"rank": i + 1, "method": e["title"], f"test {name}": e["mean"],
                          "± sd": None if math.isnan(e["std"]) else e["std"], "seeds": e["n_seeds"]}
                         for i, e in enumerate(ranked)])


def ranking_sentence(ranked: list, results: Mapping) -> str:
    """The ranking in words, with whether the first two can be told apart (the verdict's rule: a gap within the
    sum of their spreads over seeds cannot). Computed from ``core.ranking``; empty list: says so."""
    if not ranked:
        return "None of these methods has a result in the comparison."
    name = metric_label(ranked[0]["metric"])
    n = max(e["n_seeds"] for e in ranked)
    pm = lambda e: f"{e['mean']:.4f}" + ("" if math.isnan(e["std"]) else f" ± {e['std']:.4f}")   # noqa: E731
    s = (f"On {results.get('data', 'this data')} ({'mean of ' + str(n) + ' seeds ± sd' if n > 1 else 'one seed'}, "
         f"test {name}): " + ", ".join(f"{e['title']} {pm(e)}" for e in ranked) + ".")
    if len(ranked) < 2:
        return s
    a, b = ranked[0], ranked[1]
    gap = a["mean"] - b["mean"]
    if n > 1 and not (math.isnan(a["std"]) or math.isnan(b["std"])):
        spread = a["std"] + b["std"]
        s += (f" {a['title']} ranks first, {gap:.4f} ahead of {b['title']}, "
              + (f"within their spread over seeds ({spread:.4f}): these seeds cannot tell the two apart."
                 if gap <= spread else f"more than their spread over seeds ({spread:.4f})."))
    else:
        s += f" {a['title']} ranks first, {gap:.4f} ahead of {b['title']}; one seed, so the gap may be noise."
    return s


def _status_frame(results: Mapping, which: tuple) -> pd.DataFrame:
    rows = [{"method": r["title"], "kind": r["kind"], "status": core.status(r), "why": r.get("reason", "")}
            for r in results.get("rows", []) if core.status(r) in which]
    return pd.DataFrame(rows, columns=["method", "kind", "status", "why"])


def not_applicable_frame(results: Mapping) -> pd.DataFrame:
    """The methods the data cannot serve (no knowledge graph, no time order, a different task), with why."""
    return _status_frame(results, (core.NOT_APPLICABLE,))


def not_run_frame(results: Mapping) -> pd.DataFrame:
    """Applicable methods with no figures: 'not run (budget)' (the budget ran out before their turn) or 'failed'.
    Never listed as not applicable: the data suits them, the run did not reach them."""
    return _status_frame(results, (core.NOT_RUN, core.FAILED))


def bars_figure(df: pd.DataFrame, metric: str, label: str = "") -> go.Figure:
    """Horizontal bars of one metric with the spread over seeds as error bars; diffusion and baselines in
    different colours and patterns (not colour alone)."""
    col = metric_label(metric)
    sd = f"± {col}"
    fig = go.Figure()
    if len(df):
        d = df.sort_values(col, ascending=True)
        for kind, color, _, pattern in KIND_STYLE:
            part = d[d["kind"] == kind]
            err = part[sd].fillna(0).tolist() if sd in part else [0] * len(part)
            fig.add_trace(go.Bar(x=part[col], y=part["method"], orientation="h", name=kind,
                                 marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white", bgcolor=color)),
                                 error_x=dict(type="data", array=err, visible=any(e > 0 for e in err), color="#333",
                                              thickness=1.5),
                                 text=[f"{v:.3f}" for v in part[col]], textposition="outside", cliponaxis=False,
                                 hovertemplate="%{y}: %{x:.4f}<extra>" + kind + "</extra>"))
        vals = df[col] + (df[sd].fillna(0) if sd in df else 0)
        hi = float(np.nanmax(vals)) if vals.notna().any() else 1.0
        fig.update_xaxes(range=[0, hi * 1.25 if hi > 0 else 1])
    fig.update_layout(**base_layout(f"test {col}" + (f" · {label}" if label else ""),
                                    height=130 + 46 * max(len(df), 1), barmode="overlay"))
    fig.update_xaxes(axis(f"test {col}"))
    fig.update_yaxes(axis("", automargin=True, **_rank_order(df, col)))
    return fig


def _rank_order(df: pd.DataFrame, col: str) -> dict:
    """One ranking across both traces (diffusion and baselines), best on top."""
    if not len(df):
        return {}
    return dict(categoryorder="array", categoryarray=df.sort_values(col, ascending=True)["method"].tolist())


def cost_figure(df: pd.DataFrame, metric: str, label: str = "") -> go.Figure:
    """What each figure cost: training seconds per method (log axis; selection passes included), in the same
    row order as :func:`bars_figure`, each bar labelled with its inference time per user and its size."""
    col = metric_label(metric)
    fig = go.Figure()
    if len(df):
        d = df.sort_values(col, ascending=True)
        for kind, color, _, pattern in KIND_STYLE:
            part = d[d["kind"] == kind]
            secs = np.maximum(part["train s"].astype(float).fillna(0), 1e-2)
            text = [f"{t:.1f} s · {i:.2f} ms/user" for t, i in
                    zip(part["train s"].astype(float), part["infer ms/user"].astype(float))]
            size = [_size(p, s) for p, s in zip(part["parameters"].fillna(0), part["stored values"].fillna(0))]
            fig.add_trace(go.Bar(x=secs, y=part["method"], orientation="h", name=kind, text=text,
                                 textposition="outside", cliponaxis=False, customdata=size,
                                 marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white", bgcolor=color)),
                                 hovertemplate="%{y}: %{text}, %{customdata}<extra>" + kind + "</extra>"))
        hi = float(np.nanmax(np.maximum(df["train s"].astype(float).fillna(0), 1e-2)))
        fig.update_xaxes(range=[-2, np.log10(hi) + 3.0])
    fig.update_layout(**base_layout("what it cost: training s · inference ms per user",
                                    height=130 + 46 * max(len(df), 1), barmode="overlay"))
    fig.update_xaxes(axis("training seconds, incl. validation passes (log)", type="log"))
    fig.update_yaxes(axis("", automargin=True, **_rank_order(df, col)))
    return fig


def _size(params, stored) -> str:
    n = max(float(params or 0), float(stored or 0))
    if n == 0:
        return "no stored weights"
    return f"{n / 1e6:.1f} M stored values" if n >= 1e6 else f"{n:,.0f} stored values"


def verdict_lines(results: Mapping, metric: Optional[str] = None) -> Dict[str, str]:
    """The harness's computed verdict (diffrec_core.compare.verdict), keyed by protocol / 'not applicable'."""
    return core.verdict(results, metric)


def stats_caption(results: Mapping, protocol: str) -> str:
    st = results.get("stats", {}).get(protocol)
    if not st:
        return ""
    p = core.protocol_of(protocol)
    kg = f", {st['kg_triples']:,} knowledge-graph triples" if st.get("kg_triples") else ""
    return (f"{p.label.capitalize()}: {st['users']:,} users × {st['items']:,} items, {st['train']:,} train / "
            f"{st['valid']:,} valid / {st['test']:,} test interactions (density {st['density']:.3f}){kg}. "
            f"{p.detail[0].upper() + p.detail[1:]}. Metrics averaged over "
            f"{'users with a held-out item' if results.get('denominator') == 'gt' else 'all users'}.")


def from_pretrained(results: Mapping, titles: Optional[Mapping[str, str]] = None,
                    kinds: Optional[Mapping[str, str]] = None) -> dict:
    """``pretrained/results.json`` (one seed per method) in the harness's schema, so the page can fall back to
    it when no comparison has been precomputed."""
    rows = []
    for name, r in (results.get("methods") or {}).items():
        proto = str(r.get("protocol") or r.get("split") or "chrono")
        row = {"method": name, "title": (titles or {}).get(name, name),
               "kind": (kinds or {}).get(name, "diffusion" if r.get("diffusion_steps") else "baseline"),
               "protocol": proto, "applicable": True, "reason": "", "n_seeds": 1, "seeds": [results.get("seed", 1)],
               "page": "", "test": {m: {"mean": (r.get("test") or {}).get(m), "std": None} for m in ALL_METRICS},
               "valid": {m: {"mean": (r.get("valid") or {}).get(m), "std": None} for m in ALL_METRICS},
               "train_seconds": {"mean": r.get("train_seconds"), "std": None},
               "infer_ms_per_user": {"mean": None, "std": None},
               "parameters": r.get("parameters"), "state_size": r.get("parameters"),
               "diffusion_steps": r.get("diffusion_steps"), "best_epoch": [r.get("best_epoch")],
               "budget_hits": 0}
        rows.append(row)
    return {"schema": core.SCHEMA, "data": (results.get("data") or {}).get("name", "sample"),
            "seeds": [results.get("seed", 1)], "budget_seconds": None, "rows": rows, "stats": {},
            "denominator": "gt", "source": "pretrained/results.json"}


# ------------------------------------------------------------------------------------------------ side by side
def _metric_of(row: Mapping, metric: str) -> str:
    """The page's metric where both sides of the reproduction measured it (it has no HR; the authors' DiffKG code
    reports @20 only), else Recall@20."""
    return metric if "diff" in row.get("summary", {}).get(metric, {}) else repro.HEADLINE


def reproduction_titles(titles: Mapping[str, str]) -> Dict[str, str]:
    """The registry's titles plus those of the variants a reproduction names on their own (LT-DiffRec)."""
    return {**repro.VARIANT_TITLES, **titles}


def reproduction_label(row: Mapping, titles: Mapping[str, str]) -> str:
    """A reproduction's name on the page: method and budget (one method may have rows at several budgets)."""
    budget = row.get("budget_epochs")
    return (f"{titles.get(row.get('method'), row.get('method'))}, "
            f"{'full protocol' if budget is None else f'{budget}-epoch budget'}")


def _n(c: Mapping) -> str:
    no, na = c.get("n", [0, 0])
    return f"n = {no}" if no == na else f"n = {no} ours, {na} theirs"


def reproduction_verdict(c: Mapping) -> str:
    """'yes' / 'no' / 'not measured' for one metric's contrast (diffrec_core.reproduction.contrast)."""
    if "diff" not in c:
        return "no runs"
    return "not measured (one seed)" if c.get("within") is None else ("yes" if c["within"] else "no")


def reproduction_sentence(row: Mapping, metric: str = "recall@20", title: Optional[str] = None) -> str:
    """One reproduction in words, computed from its summary: the gap, whether every run of one side lies above
    every run of the other, the gap against the combined spread 2 SE, the number of seeds, the budget."""
    metric = _metric_of(row, metric)
    c = row["summary"][metric]
    name, lab = title or row.get("method", "?"), metric_label(metric)
    budget = row.get("budget_epochs")
    budget = "full protocol (no epoch cap)" if budget is None else f"budget {budget} epochs"
    head = f"{name} on {row.get('data', '?')}"
    if "diff" not in c:
        return f"{head}: one side has no runs, so there is nothing to compare; {budget}."
    diff, two_se = c["diff"], c["two_se"]
    (mo, so), (ma, sa) = c["ours"], c["authors"]
    rel = "above" if diff > 0 else "below" if diff < 0 else "level with"
    s = (f"{head}: ours is {abs(diff):.4f} {lab} {rel} theirs ({mo:.4f} ± {so:.4f} against {ma:.4f} ± {sa:.4f})"
         if rel != "level with" else f"{head}: ours is level with theirs on {lab} ({mo:.4f} against {ma:.4f})")
    sep = c.get("separation")
    if sep in ("above", "below") and min(c["n"]) > 1:
        s += f"; every one of our runs is {sep} every one of theirs"
    elif sep == "overlap":
        s += "; the runs of the two sides overlap"
    if str(row.get("select_on", "")).startswith("test"):
        s += "; both sides keep the epoch with the best test score, as the authors' code does (a reproduction " \
             "switch, never this project's protocol), so these test figures are optimistic for both"
    if c.get("within") is None:
        s += f"; one seed on a side, so the spread is not measured and there is no verdict ({_n(c)})"
    elif c["within"]:
        s += f"; within the combined spread (2 SE = {two_se:.4f}) at {_n(c)}"
    else:
        ratio = abs(diff) / two_se if two_se > 0 else math.inf
        how = "just beyond" if ratio < 2 else "beyond"
        times = f"{ratio:.1f}×" if math.isfinite(ratio) else "infinitely many times (zero spread)"
        s += f"; {how} the combined spread (2 SE = {two_se:.4f}, the gap is {times} it) at {_n(c)}"
    return s + f"; {budget}."


def reproduction_provenance(row: Mapping) -> str:
    """When, at which commits, on which machine a reproduction ran, and its note."""
    auth, mach = row.get("authors") or {}, row.get("machine") or {}
    s = (f"{row.get('date', '?')}, our commit {row.get('ours_commit', '?')}, theirs {auth.get('repository', '?')} @ "
         f"{auth.get('commit', '?')}, CPU {mach.get('cpu', '?')} ({mach.get('threads', '?')} thread(s) per side), "
         f"torch {mach.get('torch', '?')}.")
    return s + (f" {row['note']}" if row.get("note") else "")


def reproduction_frame(doc: Mapping, metric: str = "recall@20", titles: Optional[Mapping[str, str]] = None
                       ) -> pd.DataFrame:
    """One row per reproduction: method, data, seeds, theirs, ours, gap, 2 SE, within the spread, and when,
    at which commits and on which machine it ran."""
    rows = []
    for r in doc.get("rows", []):
        m = _metric_of(r, metric)
        c = r["summary"][m]
        (mo, so), (ma, sa) = c["ours"], c["authors"]
        auth = r.get("authors") or {}
        rows.append({"method": (titles or {}).get(r["method"], r["method"]), "data": r.get("data"),
                     "seeds": " ".join(str(x) for x in r.get("seeds") or []), "metric": metric_label(m),
                     "theirs": "n/a" if ma is None else f"{ma:.4f} ± {sa:.4f}",
                     "ours": "n/a" if mo is None else f"{mo:.4f} ± {so:.4f}",
                     "gap": c.get("diff"), "2 SE": c.get("two_se"), "within spread?": reproduction_verdict(c),
                     "budget": "full" if r.get("budget_epochs") is None else f"{r['budget_epochs']} epochs",
                     "date": r.get("date"), "our commit": r.get("ours_commit"),
                     "their code": f"{auth.get('repository', '?')} @ {auth.get('commit', '?')}",
                     "machine": (r.get("machine") or {}).get("cpu")})
    return pd.DataFrame(rows, columns=["method", "data", "seeds", "metric", "theirs", "ours", "gap", "2 SE",
                                       "within spread?", "budget", "date", "our commit", "their code", "machine"])


def reproduction_seeds_frame(row: Mapping) -> pd.DataFrame:
    """Every run of one reproduction: side, seed, the test metrics at the selected epoch, the selected epoch."""
    out = []
    for side, label in (("ours", "ours"), ("authors", "theirs")):
        for r in repro.runs_of(row, side):
            out.append({"side": label, "seed": r.get("seed"),
                        **{metric_label(m): (r.get("test") or {}).get(m) for m in repro.METRICS},
                        "selected epoch": r.get("best_epoch"), "epochs run": r.get("epochs_run")})
    return pd.DataFrame(out)


def reproduction_not_run_frame(doc: Mapping, titles: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    rows = [{"method": (titles or {}).get(n["method"], n["method"]), "why not run": n["reason"]}
            for n in doc.get("not_run", [])]
    return pd.DataFrame(rows, columns=["method", "why not run"])


# ------------------------------------------------------------------------------------------------ one-seed (legacy)
def results_frame(results: Mapping, titles: Optional[Mapping[str, str]] = None,
                  kinds: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """One row per method in ``pretrained/results.json``: test metrics, validation Recall@20, best epoch, size,
    time. Rows are sorted by test Recall@20 (best first)."""
    rows = []
    for name, r in (results.get("methods") or {}).items():
        test, valid = r.get("test", {}) or {}, r.get("valid", {}) or {}
        row = {"method": (titles or {}).get(name, name), "key": name,
               "kind": (kinds or {}).get(name, "diffusion" if r.get("diffusion_steps") else "baseline")}
        for m in METRICS:
            row[f"test {metric_label(m)}"] = test.get(m, np.nan)
        row["valid Recall@20"] = valid.get("recall@20", np.nan)
        row["best epoch"] = r.get("best_epoch")
        row["parameters"] = r.get("parameters")
        row["diffusion steps"] = r.get("diffusion_steps")
        row["train s"] = r.get("train_seconds")
        row["protocol"] = str(r.get("protocol") or r.get("split") or results.get("protocol") or "")
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("test Recall@20", ascending=False, na_position="last").reset_index(drop=True)
    return df


def results_figure(df: pd.DataFrame, metric: str = "test Recall@20") -> go.Figure:
    """Horizontal bars of one metric, diffusion methods and baselines in different colours and patterns."""
    fig = go.Figure()
    if len(df):
        d = df.sort_values(metric, ascending=True)
        for kind, color, _, pattern in KIND_STYLE:
            part = d[d["kind"] == kind]
            fig.add_trace(go.Bar(x=part[metric], y=part["method"], orientation="h", name=kind,
                                 marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white", bgcolor=color)),
                                 text=[f"{v:.3f}" for v in part[metric]], textposition="outside", cliponaxis=False,
                                 hovertemplate="%{y}: %{x:.4f}<extra>" + kind + "</extra>"))
        hi = float(np.nanmax(df[metric])) if df[metric].notna().any() else 1.0
        fig.update_xaxes(range=[0, hi * 1.2 if hi > 0 else 1])
    fig.update_layout(**base_layout(f"{metric} ({LABEL})", height=120 + 46 * max(len(df), 1), barmode="overlay"))
    fig.update_xaxes(axis(metric))
    fig.update_yaxes(axis("", automargin=True, categoryorder="trace"))
    return fig


def results_caption(df: pd.DataFrame, metric: str = "test Recall@20") -> str:
    if not len(df):
        return "No pretrained results yet: run `python -m diffrec_core pretrain`."
    d = df.dropna(subset=[metric]).sort_values(metric, ascending=False)
    best = d.iloc[0]
    s = f"On the sample world, {best['method']} leads on {metric} ({best[metric]:.3f})."
    diff = d[d["kind"] == "diffusion"]
    base = d[d["kind"] == "baseline"]
    if len(diff) and len(base):
        bd, bb = diff.iloc[0], base.iloc[0]
        rel = "above" if bd[metric] > bb[metric] else "below"
        s += (f" The best diffusion model ({bd['method']}, {bd[metric]:.3f}) is {rel} the best baseline "
              f"({bb['method']}, {bb[metric]:.3f}).")
    elif not len(base):
        s += " No baseline results yet, so this table cannot tell whether diffusion helps."
    return s + " One seed: differences of a few thousandths are within noise."
