"""Reading a comparison's results table: the figures of a row, its status, the rankings within one protocol group,
the plain-language verdict computed from the table, and the CSV / Markdown / JSON writers and the reader.
The harness is ``compare.py``."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence


from .compare_protocols import (COSTS, FAILED, METRICS, NOT_APPLICABLE, NOT_RUN, PROTOCOLS, RAN, SCHEMA, SIMPLE,
                                protocol_of)


# ------------------------------------------------------------------------------------------------ reading a table
def mean(row: Mapping, metric: str, which: str = "test") -> float:
    """The mean of a metric or cost in a row; NaN where absent (a not-applicable row)."""
    cell = row.get(which, {}).get(metric) if metric in METRICS else row.get(metric)
    v = cell.get("mean") if isinstance(cell, Mapping) else cell
    return float("nan") if v is None else float(v)


def std(row: Mapping, metric: str, which: str = "test") -> float:
    cell = row.get(which, {}).get(metric) if metric in METRICS else row.get(metric)
    v = cell.get("std") if isinstance(cell, Mapping) else None
    return float("nan") if v is None else float(v)


def ran(row: Mapping) -> bool:
    return bool(row.get("applicable")) and not row.get("not_run") and row.get("n_seeds", 0) > 0


def status(row: Mapping) -> str:
    """What became of a row: RAN, NOT_APPLICABLE (the data lacks what the method needs), NOT_RUN (applicable, but
    the time budget or a stop request came before its turn) or FAILED. Derived from the other fields where a
    results file predates the ``status`` field."""
    if ran(row):
        return RAN
    if not row.get("applicable"):
        return NOT_APPLICABLE
    return row.get("status") or (FAILED if str(row.get("reason", "")).startswith("failed") else NOT_RUN)


def sort_rows(rows: Sequence[dict]) -> List[dict]:
    """Per protocol group (in protocol order), best primary metric first; rows that did not run last."""
    order = {k: i for i, k in enumerate(PROTOCOLS)}

    def key(r):
        if not ran(r):
            return (1, 0, 0.0, r["method"])
        p = r["protocol"]
        v = mean(r, protocol_of(p).primary)
        return (0, order.get(p, 99), -(v if not math.isnan(v) else -1), r["method"])
    return sorted(rows, key=key)



def ranking(results: Mapping, methods: Optional[Sequence[str]] = None, metric: Optional[str] = None,
            protocol: Optional[str] = None, which: str = "test") -> List[dict]:
    """The one ranking of a results table that every page states: the rows of one protocol group that ran
    (``methods``: only these), best mean ``metric`` first (the protocol's primary metric by default), ties by
    method name, rows without the metric last. Each entry: method, title, kind, mean, std (NaN with one seed),
    n_seeds. ``protocol`` defaults to the group of the first listed method that ran (else the first group), so a
    ranking never mixes protocols."""
    have = groups(results)
    wanted = None if methods is None else list(methods)
    if protocol is None:
        proto_of = {r["method"]: how for how, rows in have.items() for r in rows}
        protocol = next((proto_of[m] for m in (wanted or []) if m in proto_of), next(iter(have), None))
    if protocol is None:
        return []
    m = metric or protocol_of(protocol).primary
    rows = [r for r in have.get(protocol, []) if wanted is None or r["method"] in wanted]
    out = [{"method": r["method"], "title": r.get("title", r["method"]), "kind": r.get("kind", ""),
            "protocol": protocol, "metric": m, "mean": mean(r, m, which), "std": std(r, m, which),
            "n_seeds": int(r.get("n_seeds", 0))} for r in rows]
    return sorted(out, key=lambda e: (math.isnan(e["mean"]), -e["mean"] if not math.isnan(e["mean"]) else 0.0,
                                      e["method"]))

def groups(results: Mapping) -> Dict[str, List[dict]]:
    """Rows that ran, by protocol: the only sets that may be ranked against each other."""
    out: Dict[str, List[dict]] = {}
    for r in results.get("rows", []):
        if ran(r):
            out.setdefault(r["protocol"], []).append(r)
    return out


def _fmt(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.4f}"


def _pm(row, metric, which="test", digits=4) -> str:
    m, s = mean(row, metric, which), std(row, metric, which)
    if math.isnan(m):
        return "–"
    return f"{m:.{digits}f}" + ("" if math.isnan(s) else f" ± {s:.{digits}f}")


def verdict(results: Mapping, metric: Optional[str] = None) -> Dict[str, str]:
    """The plain-language verdict, computed from the table, one paragraph per protocol group (plus
    'not applicable'). ``metric`` overrides each group's primary metric. Changing a number in the table changes
    the text: nothing here is written by hand about any particular method."""
    out: Dict[str, str] = {}
    n_seeds = len(results.get("seeds", [])) or 1
    for how, rows in groups(results).items():
        p = protocol_of(how)
        m = metric or p.primary
        name = m.replace("recall", "Recall").replace("ndcg", "NDCG").replace("hr", "HR")
        scored = [r for r in rows if not math.isnan(mean(r, m))]
        diff = sorted([r for r in scored if r["kind"] == "diffusion"], key=lambda r: -mean(r, m))
        base = sorted([r for r in scored if r["kind"] != "diffusion"], key=lambda r: -mean(r, m))
        seeds = f"mean of {n_seeds} seeds" if n_seeds > 1 else "one seed"
        s = f"On {results.get('data', 'this data')}, {p.short}, ranked by test {name} ({seeds}): "
        if diff and base:
            d, b = diff[0], base[0]
            dv, bv = mean(d, m), mean(b, m)
            bb = "best simple baseline" if b["method"] in SIMPLE else "best baseline"
            if dv > bv:
                pct = (dv - bv) / dv * 100 if dv else 0.0
                s += (f"the best diffusion method is {d['title']} ({dv:.4f}); the {bb}, "
                      f"{b['title']} ({bv:.4f}), is within {pct:.1f} % of it.")
            elif dv == bv:
                s += f"the best diffusion method, {d['title']}, and the {bb}, {b['title']}, tie ({dv:.4f})."
            else:
                pct = (bv - dv) / dv * 100 if dv else float("inf")
                s += (f"the {bb}, {b['title']} ({bv:.4f}), beats the best diffusion method, "
                      f"{d['title']} ({dv:.4f}), by {pct:.1f} %.")
            sd, sb = std(d, m), std(b, m)
            if n_seeds > 1 and not (math.isnan(sd) or math.isnan(sb)):
                if abs(dv - bv) <= sd + sb:
                    s += " The gap is within the spread over seeds: these seeds cannot tell the two apart."
                else:
                    s += " The gap is larger than the spread over seeds."
            else:
                s += " One seed: no spread was measured, so a gap of a few per cent may be noise."
        elif diff:
            s += (f"the best diffusion method is {diff[0]['title']} ({mean(diff[0], m):.4f}); no baseline ran, so "
                  f"this table cannot say whether diffusion helps.")
        elif base:
            s += f"no diffusion method ran; the best baseline is {base[0]['title']} ({mean(base[0], m):.4f})."
        else:
            s += f"no method has a {name} figure."
        capped = [r["title"] for r in rows if r.get("budget_hits")]
        if capped:
            s += (f" {', '.join(capped)} stopped at the time budget ({_budget(results)}): "
                  f"{'its figures are' if len(capped) == 1 else 'their figures are'} lower bounds.")
        out[how] = s
    na: Dict[str, List[str]] = {}
    for r in results.get("rows", []):
        if status(r) == NOT_APPLICABLE:
            na.setdefault(r.get("reason", ""), []).append(r["title"])
    if na:   # one clause per reason: "DCDR, PRM (attention) and MMR (diversity) (reranks logged lists ...)"
        out["not applicable"] = "Not applicable to this data: " + "; ".join(
            f"{_and(names)} ({why})" for why, names in na.items()) + "."
    notrun = [r for r in results.get("rows", []) if status(r) in (NOT_RUN, FAILED)]
    if notrun:
        out["not run"] = "Not run: " + "; ".join(f"{r['title']} ({r['reason']})" for r in notrun) + "."
    return out


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _budget(results) -> str:
    b = results.get("budget_seconds")
    return "none" if b is None else f"{b:g} s per run"


# ------------------------------------------------------------------------------------------------ writers
CSV_COLUMNS = (["protocol", "method", "title", "kind", "applicable", "reason", "n_seeds"]
               + [f"test_{m}_{s}" for m in METRICS for s in ("mean", "std")]
               + [f"valid_{m}_mean" for m in ("recall@20", "ndcg@10")]
               + [f"{c}_{s}" for c in COSTS for s in ("mean", "std")]
               + ["parameters", "state_size", "diffusion_steps", "best_epoch", "epochs_run", "budget_hits",
                  "stopped", "preset"])


def to_csv(results: Mapping) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results.get("rows", []):
        out = {c: r.get(c, "") for c in ("protocol", "method", "title", "kind", "applicable", "reason", "n_seeds",
                                          "parameters", "state_size", "diffusion_steps", "budget_hits", "preset")}
        out["protocol"] = r.get("protocol") or ""
        if ran(r):
            for m in METRICS:
                for s, f in (("mean", mean), ("std", std)):
                    v = f(r, m)
                    out[f"test_{m}_{s}"] = "" if math.isnan(v) else f"{v:.6f}"
            for m in ("recall@20", "ndcg@10"):
                v = mean(r, m, "valid")
                out[f"valid_{m}_mean"] = "" if math.isnan(v) else f"{v:.6f}"
            for c in COSTS:
                for s, f in (("mean", mean), ("std", std)):
                    v = f(r, c)
                    out[f"{c}_{s}"] = "" if math.isnan(v) else f"{v:.4f}"
            out["best_epoch"] = " ".join(map(str, r.get("best_epoch", [])))
            out["epochs_run"] = " ".join(map(str, r.get("epochs_run", [])))
            out["stopped"] = " | ".join(r.get("stopped", []))
        w.writerow(out)
    return buf.getvalue()


def to_markdown(results: Mapping) -> str:
    """A human-readable report: data statistics, one table per protocol, not-applicable methods, the verdict."""
    lines = [f"# Comparison on {results.get('data')}", ""]
    seeds = results.get("seeds", [])
    lines.append(f"Seeds {', '.join(map(str, seeds))} (mean ± sample std where more than one); time budget "
                 f"{_budget(results)}; device {results.get('device')}; metric denominator "
                 f"{results.get('denominator')}; created {results.get('created')}.")
    lines.append("")
    by = groups(results)
    for how, st in results.get("stats", {}).items():
        p = protocol_of(how)
        lines += [f"## {p.label}", "", p.detail + ".", "",
                  f"Data: {st['users']:,} users, {st['items']:,} items, {st['train']:,} / {st['valid']:,} / "
                  f"{st['test']:,} train / valid / test interactions, density {st['density']:.4f}"
                  + (f", {st['kg_triples']:,} KG triples" if st.get("kg_triples") else "") + ".", ""]
        rows = by.get(how, [])
        if not rows:
            lines += ["No method ran under this protocol.", ""]
            continue
        head = ["method", "kind"] + [m.replace("recall", "Recall").replace("ndcg", "NDCG").replace("hr", "HR")
                                     for m in METRICS] + ["train s", "infer ms/user", "params", "T", "best epoch",
                                                           "preset", "note"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            note = (f"time budget hit ({r['budget_hits']}/{r['n_seeds']})" if r.get("budget_hits") else "")
            cells = [r["title"], r["kind"]] + [_pm(r, m) for m in METRICS] + [
                _pm(r, "train_seconds", digits=1), _pm(r, "infer_ms_per_user", digits=3),
                _params(r), str(r.get("diffusion_steps") or "–"),
                " ".join(map(str, r.get("best_epoch", []))), r.get("preset", ""), note]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for title, which in (("Not applicable", (NOT_APPLICABLE,)), ("Not run", (NOT_RUN, FAILED))):
        na = [r for r in results.get("rows", []) if status(r) in which]
        if na:
            lines += [f"## {title}", "", "| method | reason |", "|---|---|"]
            lines += [f"| {r['title']} | {r['reason']} |" for r in na]
            lines.append("")
    lines += ["## Verdict (computed from the table)", ""]
    lines += [f"* {v}" for v in verdict(results).values()]
    return "\n".join(lines) + "\n"


def _params(r) -> str:
    """Trained parameters, plus fitted values where a method stores more (EASE's item-item matrix)."""
    p, s = int(r.get("parameters") or 0), int(r.get("state_size") or 0)
    return f"{p:,}" + (f" (+{s - p:,} fitted)" if s - p >= max(1000, 0.01 * p) else "")


def _clean(o):
    """JSON without NaN (strict parsers reject it)."""
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else o
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def to_json(results: Mapping) -> str:
    return json.dumps(_clean(dict(results)), indent=1, sort_keys=True) + "\n"


def write(results: Mapping, out_dir) -> Dict[str, Path]:
    """Write results.json, results.csv and results.md into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "md": out / "results.md"}
    paths["json"].write_text(to_json(results))
    paths["csv"].write_text(to_csv(results))
    paths["md"].write_text(to_markdown(results))
    return paths


def load(path) -> dict:
    """Read a results.json written by :func:`write`; a wrong schema is a clear error."""
    d = json.loads(Path(path).read_text())
    if d.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a comparison results file (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    return d
