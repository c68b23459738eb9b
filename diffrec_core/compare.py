"""The comparison harness: every applicable method and baseline on the same split, with the same
protocol, the same masking, the same metric denominator and the same selection rule; a results table in CSV,
Markdown and JSON; and a plain-language verdict computed from that table.

Why a harness: the five diffusion papers were each evaluated on different data, splits and protocols
(docs/methods.md §3.1-3.3), and a re-examination (Benigni, Ferrari Dacrema & Jannach, arXiv 2505.09364) found tuned
simple baselines beat several of them. A comparison is only worth reading when the only thing that differs between
two rows is the method. So:

* **Applicability is explicit.** A method that needs a knowledge graph on data without one, or sequences on data
  whose order is only the file order, gets a "not applicable" row with the reason; nothing is dropped silently.
* **One protocol per group, never ranked across groups** (docs/methods.md §3.4). Interaction methods (DiffRec family,
  DiffKG, Mult-VAE, EASE, ...) use the per-user chronological 80/10/10 split (or the split a data set ships);
  sequence methods (DiffuRec, DreamRec, SASRec) use leave-one-out on the same log. Leave-one-out HR and
  chronological Recall are different quantities; every table and verdict is per protocol.
* **Selection on validation, test scored once** (``train.fit``), with a per-method time budget that stops training
  between epochs; a budget-capped row says so, and its figures are lower bounds.
* **Seeds**: each figure is the mean over seeds with its sample standard deviation (ddof 1) where more than one seed
  ran.

* **Executors**: the (method, seed) grid runs one run after another in this process (:class:`SerialExecutor`, the
  default) or as Ray tasks (:class:`RayExecutor`: a local Ray, or an existing cluster by address). Records are put
  together in the grid's order whatever order the runs finish in, so every executor writes the same table.

The harness in four modules, every name importable from this one: ``compare_protocols.py`` (protocols,
applicability, presets, run order, row status), ``compare_runs.py`` (one run, a row, the executors),
``compare_report.py`` (reading a table, the verdict, the writers) and this one (the data, the grid as a stream).

    python -m diffrec_core compare --data sample --seeds 1 2 3 --budget-minutes 0.5 --out runs/compare
    python -m diffrec_core compare --data sample --seeds 1 2 3 --executor ray --workers 2
"""
from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import torch

from . import registry
from .data import load_dataset, make_split
from .data.dataset import InteractionLog, Split
from .pipeline import pick_device
from .compare_protocols import (  # noqa: F401 - the harness's names, in one namespace for its callers
    COSTS, FAILED, METRICS, NOT_APPLICABLE, NOT_RUN, NOT_RUN_REASON, PROTOCOLS, RAN, SCHEMA, SIMPLE, VERSION, DataInfo,
    Protocol, applicability, closed_form, data_info, default_methods, pick_preset, protocol_for, protocol_of, run_order)
from .compare_report import (  # noqa: F401
    CSV_COLUMNS, groups, load, mean, ran, ranking, sort_rows, status, std, to_csv, to_json, to_markdown, verdict, write)
from .compare_runs import (  # noqa: F401
    EXECUTORS, Event, Executor, ExecutorError, Job, RayExecutor, RunSettings, SerialExecutor, aggregate, execute,
    make_executor, not_applicable_row, run_one)


# ------------------------------------------------------------------------------------------------ data
class ComparisonData:
    """A data set and its splits, built once and shared by every method of a protocol group."""

    def __init__(self, data, splits: Optional[Mapping[str, Split]] = None):
        self.log: Optional[InteractionLog] = None
        self._splits: Dict[str, Split] = dict(splits or {})
        if isinstance(data, InteractionLog):
            self.log = data
        elif isinstance(data, Split):
            self._splits.setdefault(data.meta.get("how", "chrono"), data)
        elif data is not None:
            self.log = load_dataset(str(data))
        if self.log is not None:
            self.info = data_info(self.log)
            self.base_how = "shipped" if "split" in self.log.events else "chrono"
            self.name = self.log.name
        else:
            if not self._splits:
                raise ValueError("ComparisonData needs a data spec, an InteractionLog or a split")
            any_split = next(iter(self._splits.values()))
            self.name = any_split.name
            self.base_how = next((h for h in self._splits if h != "leave_one_out"), "chrono")
            self.info = DataInfo(self.name, any(getattr(s, "kg", None) is not None for s in self._splits.values()),
                                 "leave_one_out" in self._splits,
                                 "" if "leave_one_out" in self._splits else "no leave-one-out split given")

    def split(self, how: str) -> Split:
        if how not in self._splits:
            if self.log is None:
                raise ValueError(f"{self.name}: no {how} split was given")
            self._splits[how] = make_split(self.log, how="loo" if how == "leave_one_out" else how)
        return self._splits[how]

    def stats(self, how: str) -> dict:
        s = self.split(how).stats()
        s["protocol"] = how
        if getattr(self.split(how), "kg", None) is not None:
            s["kg_triples"] = int(len(self.split(how).kg))
        return s



def iter_compare(data, methods: Optional[Sequence[str]] = None, seeds: Sequence[int] = (1,),
                 budget_seconds: Optional[float] = None, device="cpu", preset: str = "auto",
                 denominator: Optional[str] = "gt", splits: Optional[Mapping[str, Split]] = None,
                 overrides: Optional[Mapping[str, dict]] = None, should_stop: Optional[Callable[[], bool]] = None,
                 progress: Optional[Callable[[dict], None]] = None,
                 executor: Optional[Executor] = None) -> Iterator[dict]:
    """The comparison as a stream of events, so a UI can show progress between runs:
    ``{"event": "start" | "done", "method", "seed", "index", "total"}`` around each (method, seed) run and a last
    ``{"event": "result", "results": ...}``. ``budget_seconds`` applies to each run (method x seed).
    ``should_stop`` (checked between epochs and between runs) ends everything early; the runs not made are
    listed in ``results['skipped']``. ``overrides`` maps a method to config overrides (e.g. fewer epochs).
    ``executor`` runs the (method, seed) grid (default :class:`SerialExecutor`; see :class:`RayExecutor`); with a
    parallel one the ``start`` events come as runs are handed out and the ``done`` events as they finish."""
    cd = data if isinstance(data, ComparisonData) else ComparisonData(data, splits)
    dev = pick_device(device) if isinstance(device, str) else device
    wanted = list(methods) if methods else default_methods()
    for m in wanted:
        registry.get(m)      # an unknown name is an error before anything trains
    plan, rows = [], []
    for m in run_order(wanted):
        ok, why = applicability(m, cd.info)
        if ok:
            plan.append((m, protocol_for(m, cd.base_how)))
        else:
            rows.append(not_applicable_row(m, why))
    t_all = time.perf_counter()
    grid = [(m, how, seed) for m, how in plan for seed in seeds]
    jobs = [Job(i, m, how, pick_preset(m, cd.name) if preset == "auto" else preset, int(seed))
            for i, (m, how, seed) in enumerate(grid)]
    total = len(jobs)
    splits_used = {how: cd.split(how) for _, how in plan}
    settings = RunSettings(budget_seconds, str(dev), denominator, {k: dict(v) for k, v in (overrides or {}).items()})
    ex = executor if executor is not None else SerialExecutor()
    by_index: Dict[int, dict] = {}
    skipped_jobs: List[Job] = []
    index = 0
    for kind, job, rec in ex.run(jobs, splits_used, settings, progress=progress, should_stop=should_stop):
        if kind == "skipped":
            skipped_jobs.append(job)
        elif kind == "start":
            yield {"event": "start", "method": job.method, "seed": job.seed, "index": index, "total": total,
                   "protocol": job.protocol, "budget_seconds": budget_seconds}
        else:
            by_index[job.index] = rec
            index += 1
            yield {"event": "done", "method": job.method, "seed": job.seed, "index": index, "total": total,
                   "record": rec}
    # the grid's order (plan order, then seed order), whatever order the runs finished in
    records: Dict[str, List[dict]] = {}
    for job in jobs:
        if job.index in by_index:
            records.setdefault(job.method, []).append(by_index[job.index])
    skipped = [{"method": j.method, "seed": j.seed} for j in sorted(skipped_jobs, key=lambda j: j.index)]
    for m, how in plan:
        ok = [r for r in records.get(m, []) if "error" not in r]
        errs = [r["error"] for r in records.get(m, []) if "error" in r]
        if ok:
            row = aggregate(m, how, ok)
            if errs:
                row["errors"] = errs
            rows.append(row)
        else:
            row = not_applicable_row(m, "failed: " + errs[0] if errs else NOT_RUN_REASON)
            row.update(protocol=how, applicable=True, not_run=True, status=FAILED if errs else NOT_RUN)
            rows.append(row)
    hows = sorted({how for _, how in plan}) or [cd.base_how]
    results = {
        "schema": SCHEMA, "version": VERSION, "data": cd.name,
        "stats": {h: cd.stats(h) for h in hows},
        "protocols": {h: {"label": protocol_of(h).label, "primary": protocol_of(h).primary,
                          "detail": protocol_of(h).detail} for h in hows},
        "seeds": [int(s) for s in seeds], "budget_seconds": budget_seconds, "device": str(dev),
        "preset": preset, "denominator": denominator or "per model", "overrides": dict(overrides or {}),
        "rows": sort_rows(rows), "skipped": skipped,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_seconds": round(time.perf_counter() - t_all, 2),
        "executor": ex.info(),
        "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "cpu": platform.processor() or platform.machine()},
    }
    yield {"event": "result", "results": results}


def run_compare(data, log: Optional[Callable[[str], None]] = None, **kw) -> dict:
    """Run :func:`iter_compare` to the end and return the results dict (``log`` gets one line per run)."""
    results = None
    for ev in iter_compare(data, **kw):
        if ev["event"] == "done" and log:
            r = ev["record"]
            if "error" in r:
                log(f"[{ev['index']}/{ev['total']}] {ev['method']} seed {ev['seed']}: {r['error']}")
            else:
                log(f"[{ev['index']}/{ev['total']}] {ev['method']:9s} seed {ev['seed']}: test R@20 "
                    f"{r['test'].get('recall@20', float('nan')):.4f} N@10 {r['test'].get('ndcg@10', float('nan')):.4f}"
                    f"  {r['train_seconds']:.1f}s  {r['stopped']}")
        elif ev["event"] == "result":
            results = ev["results"]
    return results
