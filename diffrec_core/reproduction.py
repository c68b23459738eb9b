"""Side-by-side reproductions: our method and the authors' own code on the same data files, several seeds each,
kept as a small versioned results file (``benchmarks/results/side_by_side.json``, written by
``benchmarks/side_by_side.py --save``) and read by the Compare page.

The seeds of the two sides are different random streams (different code), so only the two distributions are
compared, never single runs: per metric the difference of the means, ours - theirs, against the combined spread
2 SE with SE = sqrt(sd_ours^2/n_ours + sd_theirs^2/n_theirs) (sample sd, ddof 1). "Within the spread" means
|difference| <= 2 SE; with a single seed on either side the spread is not measured and no verdict is given.

Every figure of the summary is recomputed here from the per-seed runs (:func:`summarize`); a file's own summary
is for people reading the JSON, the page never trusts it over the runs.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from .errors import DiffRecError
from .paths import BENCHMARK_RESULTS

SCHEMA = "diffrec-side-by-side"
VERSION = 1
MAX_BYTES = 1024 ** 2          # a row is about 3 kB; a megabyte is hundreds of reproductions
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
HEADLINE = "recall@20"
# methods a reproduction names that the registry lists as a preset of another method (LT-DiffRec: L-DiffRec with
# T-DiffRec's time weights, the ``lt-*`` presets), with the title a reader knows them by
VARIANT_TITLES = {"ltdiffrec": "LT-DiffRec"}
DEFAULT_PATH = BENCHMARK_RESULTS / "side_by_side.json"


class ReproductionError(DiffRecError, ValueError):
    """A side-by-side results file that is missing, too large, not JSON, or not of this schema."""


# ------------------------------------------------------------------------------------------------ statistics
def spread(values: Sequence) -> tuple:
    """(mean, sample sd) of the values that are not None; (None, None) when there are none, sd 0 for one."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return None, None
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def contrast(ours: Sequence, theirs: Sequence) -> dict:
    """One metric's comparison of two samples: means ± sd, diff = ours - theirs, two_se, within (None when either
    side has fewer than two values: the spread is then not measured), and whether the samples are separated
    (every one of ours above, or below, every one of theirs)."""
    o = [float(x) for x in ours if x is not None]
    a = [float(x) for x in theirs if x is not None]
    mo, so = spread(o)
    ma, sa = spread(a)
    row = {"ours": [mo, so], "authors": [ma, sa], "n": [len(o), len(a)]}
    if mo is None or ma is None:
        return row
    diff = mo - ma
    two_se = 2 * math.sqrt(so ** 2 / len(o) + sa ** 2 / len(a))
    measured = len(o) > 1 and len(a) > 1
    sep = "above" if min(o) > max(a) else "below" if max(o) < min(a) else "overlap"
    row.update(diff=diff, two_se=two_se, within=(abs(diff) <= two_se) if measured else None, separation=sep)
    return row


def runs_of(row: Mapping, side: str) -> List[Mapping]:
    return list((row.get("runs") or {}).get(side) or [])


def _values(runs: Sequence[Mapping], key: str) -> list:
    return [(r.get("test") or {}).get(key) if key in METRICS else r.get(key) for r in runs]


def summarize(ours: Sequence[Mapping], theirs: Sequence[Mapping]) -> Dict[str, dict]:
    """Per metric (and the selected epoch) the :func:`contrast` of the two sides' runs."""
    return {k: contrast(_values(ours, k), _values(theirs, k)) for k in (*METRICS, "best_epoch")}


# ------------------------------------------------------------------------------------------------ the file
def run_record(r: Mapping) -> dict:
    """The part of one run kept in the file: seed, test metrics at the selected epoch, selected epoch, epochs run,
    median seconds per training epoch (on a shared machine, not a speed figure)."""
    return {"seed": int(r["seed"]), "test": {m: (r.get("test") or {}).get(m) for m in METRICS},
            "best_epoch": r.get("best_epoch"), "epochs_run": r.get("epochs_run"), "epoch_s": r.get("epoch_s")}


def row_key(row: Mapping) -> tuple:
    """Rows with the same method, data and epoch budget replace each other."""
    return row.get("method"), row.get("data"), row.get("budget_epochs")


def upsert(doc: Optional[Mapping], row: Mapping, not_run: Sequence[Mapping] = ()) -> dict:
    """``doc`` with ``row`` appended (or replacing the row of the same :func:`row_key`) and the list of methods
    that could not be run set to ``not_run``, less any method that has a row."""
    rows = [r for r in (doc or {}).get("rows", []) if row_key(r) != row_key(row)] + [dict(row)]
    rows.sort(key=lambda r: tuple(str(x) for x in row_key(r)))
    done = {r.get("method") for r in rows}
    return {"schema": SCHEMA, "version": VERSION, "rows": rows,
            "not_run": [dict(n) for n in not_run if n.get("method") not in done]}


def dumps(doc: Mapping) -> str:
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _check(doc, where: str) -> dict:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ReproductionError(f"{where}: not a side-by-side results file (schema {got!r}, expected {SCHEMA!r})")
    if doc.get("version") != VERSION:
        raise ReproductionError(f"{where}: version {doc.get('version')!r}, this code reads version {VERSION}")
    rows, not_run = doc.get("rows"), doc.get("not_run", [])
    if not isinstance(rows, list) or not isinstance(not_run, list):
        raise ReproductionError(f"{where}: 'rows' and 'not_run' must be lists")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("method"), str):
            raise ReproductionError(f"{where}: row {i} has no method name")
        for side in ("ours", "authors"):
            runs = runs_of(r, side)
            if not all(isinstance(x, dict) and isinstance(x.get("test"), dict) for x in runs):
                raise ReproductionError(f"{where}: row {i} ({r['method']}): every '{side}' run needs a 'test' dict")
            for x in runs:
                for m, v in x["test"].items():
                    if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)
                                          or not math.isfinite(v)):
                        raise ReproductionError(f"{where}: row {i} ({r['method']}), {side} seed "
                                                f"{x.get('seed')}: {m} = {v!r} is not a finite number")
    for i, n in enumerate(not_run):
        if not isinstance(n, dict) or not isinstance(n.get("method"), str) or not isinstance(n.get("reason"), str):
            raise ReproductionError(f"{where}: not_run entry {i} needs a method and a reason")
    return doc


def parse(text: str, where: str = "side-by-side results") -> dict:
    """Validate a results file's text (JSON only); each row's summary is recomputed from its runs."""
    if len(text.encode()) > MAX_BYTES:
        raise ReproductionError(f"{where}: larger than {MAX_BYTES // 1024} kB")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReproductionError(f"{where}: not valid JSON ({e})") from None
    doc = _check(doc, where)
    for r in doc["rows"]:
        r["summary"] = summarize(runs_of(r, "ours"), runs_of(r, "authors"))
    return doc


def load(path=DEFAULT_PATH) -> dict:
    """Read a results file: its size is checked before it is read; missing, too large or malformed files raise
    :class:`ReproductionError` with the reason."""
    p = Path(path)
    if not p.is_file():
        raise ReproductionError(f"{p.name}: no side-by-side results file at {p} (written by "
                                "benchmarks/side_by_side.py --save)")
    if p.stat().st_size > MAX_BYTES:
        raise ReproductionError(f"{p.name}: {p.stat().st_size:,} bytes, larger than {MAX_BYTES // 1024} kB")
    return parse(p.read_text(encoding="utf-8", errors="replace"), p.name)
