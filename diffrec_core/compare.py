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

    python -m diffrec_core compare --data sample --seeds 1 2 3 --budget-minutes 0.5 --out runs/compare
    python -m diffrec_core compare --data sample --seeds 1 2 3 --executor ray --workers 2
"""
from __future__ import annotations

import csv
import io
import json
import math
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import registry
from .data import load_dataset, make_split
from .data.dataset import InteractionLog, Split
from .methods.base import ConfigError
from .pipeline import build_model, pick_device
from .train import TEST_SELECTION, evaluate, fit, selects_on_test

SCHEMA = "diffrec-compare"
VERSION = 1
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "hr@10", "hr@20")
COSTS = ("train_seconds", "infer_ms_per_user")
SIMPLE = ("pop", "itemknn", "ease", "multvae")   # closed-form or one-network baselines: "simple" in the verdict

# what became of a row (status()): a not-run row is never listed as not applicable
RAN, NOT_APPLICABLE, NOT_RUN, FAILED = "ran", "not applicable", "not run (budget)", "failed"
NOT_RUN_REASON = "not run (the time budget ran out, or a stop was asked, before its turn)"


@dataclass(frozen=True)
class Protocol:
    key: str
    label: str        # one line for tables and headings
    short: str        # the protocol's name inside the verdict's sentence
    primary: str      # the metric the verdict ranks by: the one each group selects on (docs/methods.md §3.4)
    detail: str


PROTOCOLS: Dict[str, Protocol] = {
    "chrono": Protocol("chrono", "per-user chronological 80/10/10", "chronological split", "recall@20",
                       "each user's oldest 80 % of interactions train, the next 10 % validate, the newest 10 % test; "
                       "full ranking over all items with seen items masked; selection on validation Recall@20"),
    "shipped": Protocol("shipped", "the data set's own split", "its own released split", "recall@20",
                        "the split the release ships (e.g. DiffRec's ML-1M files); full ranking with seen items "
                        "masked; selection on validation Recall@20"),
    "leave_one_out": Protocol("leave_one_out", "leave-one-out (last item test, second-to-last valid)",
                              "leave-one-out", "ndcg@10",
                              "each user's last item tests and the one before it validates; full ranking over real "
                              "items; selection on validation NDCG@10; one target, so Recall@K equals HR@K"),
}


def protocol_of(key: str) -> Protocol:
    return PROTOCOLS.get(key) or Protocol(key, key, key, "recall@20", key)


# ------------------------------------------------------------------------------------------------ applicability
@dataclass(frozen=True)
class DataInfo:
    """What applicability depends on: a knowledge graph, and a real time order (timestamps or sequence
    positions, not merely the order of lines in a file)."""
    name: str
    has_kg: bool
    time_order: bool
    time_note: str = ""


def data_info(log: InteractionLog) -> DataInfo:
    note = str(log.meta.get("timestamp", ""))
    ts = log.events["timestamp"].to_numpy() if "timestamp" in log.events else None
    if note.startswith("file order"):
        real = False
    elif ts is None or not len(ts):
        real, note = False, "no timestamps"
    elif np.array_equal(np.sort(ts), np.arange(len(ts))):   # a CSV without a time column: ts = line number
        real, note = False, "no timestamps (file order)"
    else:
        real, note = True, note or "timestamps"
    return DataInfo(log.name, log.kg is not None and len(log.kg) > 0, real, note)


def applicability(method: str, info: DataInfo) -> tuple:
    """(applies, reason). The reason of a non-applicable method says what the data lacks."""
    needs = registry.get(method).needs
    if "lists" in needs:
        return False, ("reranks logged recommendation lists (a different task): compared on the Reranking page, "
                       "not in this table")
    if "kg" in needs and not info.has_kg:
        return False, f"needs a knowledge graph; {info.name} has none"
    if "sequences" in needs and not info.time_order:
        return False, (f"needs interaction sequences in time order; {info.name} has {info.time_note or 'none'}, so "
                       f"a next-item protocol would be meaningless")
    return True, ""


def protocol_for(method: str, base_how: str) -> str:
    """Leave-one-out for sequence methods, else the data set's main split ('chrono' or 'shipped')."""
    return "leave_one_out" if "sequences" in registry.get(method).needs else base_how


def pick_preset(method: str, data_name: str) -> str:
    """The preset named after the data set where a method has one (e.g. 'ml-1m' for diffrec_ml-1m_clean,
    'beauty' for the DiffuRec Beauty release), else the small 'sample' configuration."""
    low = data_name.lower()
    named = [p for p in registry.get(method).presets if p != "sample" and p.lower() in low]
    return max(named, key=len) if named else "sample"


def closed_form(method: str) -> bool:
    """A method whose fit is ``prepare()`` alone (its config's default ``epochs`` is 0: TopPop, ItemKNN, EASE)."""
    f = getattr(registry.get(method).config_cls, "__dataclass_fields__", {}).get("epochs")
    return f is not None and f.default == 0


def run_order(methods: Sequence[str]) -> List[str]:
    """The order the runs are made in: closed-form baselines first, then the other simple baselines (one small
    network), then every other method in the order given. Under one shared deadline (``should_stop``) a slow method
    placed first would use the time of the near-instant ones after it; placed last, it only loses its own turn."""
    def rank(m: str) -> int:
        return 0 if closed_form(m) else 1 if m in SIMPLE else 2
    return sorted(methods, key=rank)      # stable: the given order within each rank


def default_methods() -> List[str]:
    """Every registered method, diffusion first (registry order), then baselines."""
    specs = registry.specs()
    return [s.name for s in specs if s.kind == "diffusion"] + [s.name for s in specs if s.kind != "diffusion"]


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


# ------------------------------------------------------------------------------------------------ running
def _state_size(model) -> int:
    """Stored numbers, learned and fitted (EASE's item-item matrix is a buffer, not a parameter)."""
    return int(sum(t.numel() for t in model.state_dict().values() if torch.is_tensor(t)))


def run_one(method: str, split: Split, seed: int = 1, preset: str = "sample", budget_seconds: Optional[float] = None,
            device="cpu", denominator: Optional[str] = "gt", overrides: Optional[dict] = None,
            progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """Train one method with one seed (selection on validation), then time one full test pass. Returns the
    per-seed record. ``denominator`` overrides every config's metric denominator so that all rows of a table
    average over the same users."""
    over = dict(overrides or {})
    cfg_fields = set(getattr(registry.get(method).config_cls, "__dataclass_fields__", {}))
    if denominator and "metric_denominator" in cfg_fields:
        over.setdefault("metric_denominator", denominator)
    model = build_model(method, split, preset=preset, overrides=over, device=device, seed=seed)
    if selects_on_test(model.config):    # a reproduction of an authors' protocol; its test figures chose its epoch
        raise ValueError(f"{method} with preset {preset!r} keeps the best test epoch (select_on = "
                         f"{TEST_SELECTION!r}, a reproduction switch): the comparison selects every row on "
                         f"validation; use a preset or override with select_on='valid'")
    c0 = time.process_time()      # CPU seconds beside wall seconds: a contended machine shows as cpu << wall
    t0 = time.perf_counter()
    res = fit(model, split, seed=seed, progress=progress, should_stop=should_stop, evaluate_test=False,
              budget_seconds=budget_seconds)
    fit_wall = time.perf_counter() - t0
    fit_cpu = time.process_time() - c0
    model.eval()
    t0 = time.perf_counter()
    test = evaluate(model, split, ("test",), denominator=denominator)["test"]
    test_wall = time.perf_counter() - t0
    if not res.valid:      # no validation pass happened (stopped before the first): score it now, for the record
        res.valid = evaluate(model, split, ("valid",), denominator=denominator)["valid"]
    return {
        "seed": int(seed), "preset": preset,
        "valid": {k: float(v) for k, v in res.valid.items()}, "test": {k: float(v) for k, v in test.items()},
        "best_epoch": int(res.best_epoch), "epochs_run": len(res.history), "stopped": res.stopped,
        "budget_hit": res.stopped.startswith("time budget"),
        "train_seconds": float(fit_wall), "train_cpu_seconds": float(fit_cpu),
        "infer_ms_per_user": float(test_wall / max(1, split.n_users) * 1e3),
        "parameters": int(model.n_parameters()), "state_size": _state_size(model),
        "diffusion_steps": int(model.n_diffusion_steps()),
    }


def _spread(values: Sequence[float]) -> dict:
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else None, "n": len(v)}


def aggregate(method: str, protocol: str, runs: Sequence[dict]) -> dict:
    """One table row from the per-seed records: mean and sample std over seeds of every metric and cost."""
    spec = registry.get(method)
    row = {"method": method, "title": spec.title, "kind": spec.kind, "diffused": spec.diffused,
           "page": spec.page, "protocol": protocol, "applicable": True, "reason": "",
           "n_seeds": len(runs), "seeds": [r["seed"] for r in runs],
           "preset": runs[0]["preset"] if runs else "",
           "test": {m: _spread([r["test"].get(m) for r in runs]) for m in METRICS},
           "valid": {m: _spread([r["valid"].get(m) for r in runs]) for m in METRICS}}
    for c in COSTS:
        row[c] = _spread([r[c] for r in runs])
    for c in ("parameters", "state_size", "diffusion_steps"):
        row[c] = runs[0][c] if runs else None
    row["best_epoch"] = [r["best_epoch"] for r in runs]
    row["epochs_run"] = [r["epochs_run"] for r in runs]
    row["stopped"] = [r["stopped"] for r in runs]
    row["budget_hits"] = int(sum(r["budget_hit"] for r in runs))
    row["runs"] = list(runs)
    return row


def not_applicable_row(method: str, reason: str) -> dict:
    spec = registry.get(method)
    return {"method": method, "title": spec.title, "kind": spec.kind, "diffused": spec.diffused, "page": spec.page,
            "protocol": None, "applicable": False, "reason": reason, "n_seeds": 0}


# ------------------------------------------------------------------------------------------------ executors
class ExecutorError(ConfigError):
    """An executor that cannot start (Ray not installed, no cluster at the address): a clear one-line message."""


@dataclass(frozen=True)
class Job:
    """One (method, seed) run of the grid. ``index`` is its place in the serial order (methods in plan order, each
    method's seeds in the order given): records are put together in that order, whatever order runs finish in."""
    index: int
    method: str
    protocol: str
    preset: str
    seed: int


@dataclass(frozen=True)
class RunSettings:
    """What every run of one comparison shares. Small and picklable: it travels to Ray workers with each job."""
    budget_seconds: Optional[float]
    device: str
    denominator: Optional[str]
    overrides: Mapping[str, dict]


def execute(job: Job, split: Split, settings: RunSettings, progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """One job, as any executor runs it: :func:`run_one`, with a method's own failure turned into an error record
    (one failing method never sinks the table)."""
    try:
        return run_one(job.method, split, job.seed, job.preset, settings.budget_seconds, settings.device,
                       settings.denominator, overrides=settings.overrides.get(job.method), progress=progress,
                       should_stop=should_stop)
    except (ValueError, KeyError, RuntimeError) as e:
        return {"seed": int(job.seed), "error": f"{type(e).__name__}: {e}"}


# What an executor's run() yields: ("start", job, None) when a run is handed out, ("done", job, record) when it has
# finished (a record, or an error record), ("skipped", job, None) for a run not made because should_stop() said so.
Event = Tuple[str, Job, Optional[dict]]


class Executor:
    """Runs a comparison's (method, seed) grid: ``run`` yields :data:`Event` tuples; ``close`` frees what the
    executor started (a context manager does it on exit)."""

    name = "executor"

    def info(self) -> dict:
        return {"name": self.name}

    def run(self, jobs: Sequence[Job], splits: Mapping[str, Split], settings: RunSettings,
            progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> Iterator[Event]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every run in this process, one after another, in the grid's order: the default. The only executor that
    forwards each epoch's ``progress`` and checks ``should_stop`` between epochs (other executors check it between
    runs); a UI that shows a live bar uses this one."""

    name = "serial"

    def info(self) -> dict:
        return {"name": self.name, "workers": 1}

    def run(self, jobs: Sequence[Job], splits: Mapping[str, Split], settings: RunSettings,
            progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> Iterator[Event]:
        done = 0
        for job in jobs:
            if should_stop and should_stop():
                yield "skipped", job, None
                continue
            yield "start", job, None
            def on_epoch(rec, job=job, i=done):
                progress({"method": job.method, "seed": job.seed, "index": i, "total": len(jobs), **rec})
            rec = execute(job, splits[job.protocol], settings, on_epoch if progress else None, should_stop)
            done += 1
            yield "done", job, rec


class RayExecutor(Executor):
    """Each (method, seed) run as one Ray task: on a local Ray started here (``address=None``: ``workers`` runs at
    once, default the CPU count) or on an existing cluster (``address``, e.g. ``"auto"`` or
    ``"ray://head:10001"``). Each split is put in Ray's object store once and shared by every task of its protocol.

    Each task asks for ``cpus_per_run`` CPUs (Ray then limits the task's BLAS threads to that many, so runs do not
    oversubscribe the cores) and one GPU when the device is CUDA. On a cluster, the package travels to the
    workers with the job (``py_modules``); the dependencies (torch, numpy, ...) must be installed there. Per-epoch
    progress stays inside the workers; ``should_stop`` is checked between finished runs and cancels the runs not
    finished (listed as skipped). Same seed, same record: every run seeds its own process-global generators, and a
    worker process runs one task at a time."""

    name = "ray"

    def __init__(self, address: Optional[str] = None, workers: Optional[int] = None, cpus_per_run: float = 1.0,
                 poll_seconds: float = 0.5):
        try:
            import ray
        except ImportError as e:
            raise ExecutorError("--executor ray needs the ray package (pip install ray); the default serial executor "
                                "needs nothing more") from e
        if workers is not None and int(workers) < 1:
            raise ExecutorError(f"workers must be at least 1, got {workers}")
        self._ray, self.address, self.cpus_per_run, self.poll = ray, address, float(cpus_per_run), float(poll_seconds)
        self._owns = not ray.is_initialized()
        if self._owns:
            kw = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            try:
                if address:
                    ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]},
                             **kw)
                else:
                    ray.init(num_cpus=int(workers) if workers else None, **kw)
            except Exception as e:   # noqa: BLE001 - ray raises several types for a cluster it cannot reach or join
                raise ExecutorError(f"could not start or reach Ray{' at ' + address if address else ''}: "
                                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
        self._remote = ray.remote(max_retries=0)(execute)

    def info(self) -> dict:
        cpus = self._ray.cluster_resources().get("CPU", 0) if self._ray.is_initialized() else 0
        return {"name": self.name, "workers": int(cpus // max(self.cpus_per_run, 1e-9)),
                "address": self.address or "local", "ray": self._ray.__version__}

    def run(self, jobs, splits, settings, progress=None, should_stop=None) -> Iterator[Event]:
        ray = self._ray
        gpus = 1 if settings.device.startswith("cuda") else 0
        task = self._remote.options(num_cpus=self.cpus_per_run, num_gpus=gpus)
        refs = {how: ray.put(s) for how, s in splits.items()}
        pending: Dict[object, Job] = {}
        for job in jobs:
            if should_stop and should_stop():
                yield "skipped", job, None
                continue
            pending[task.remote(job, refs[job.protocol], settings)] = job
            yield "start", job, None
        cancelled = False
        while pending:                       # ends: every task finishes, fails or is cancelled
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll)
            if not cancelled and should_stop and should_stop():
                for ref in pending:
                    ray.cancel(ref)
                cancelled = True
            for ref in ready:
                job = pending.pop(ref)
                try:
                    rec = ray.get(ref)
                except ray.exceptions.TaskCancelledError:
                    yield "skipped", job, None
                    continue
                except ray.exceptions.RayError as e:     # the worker died (out of memory, killed): an error row
                    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                    rec = {"seed": int(job.seed), "error": f"{type(e).__name__}: {first}"}
                yield "done", job, rec

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


EXECUTORS = ("serial", "ray")


def make_executor(name: str = "serial", address: Optional[str] = None, workers: Optional[int] = None):
    """An executor by name (the CLI's ``--executor``); an unknown name or a Ray that cannot start is an
    :class:`ExecutorError`."""
    if name == "serial":
        if address:
            raise ExecutorError("--ray-address applies to --executor ray only")
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address=address, workers=workers)
    raise ExecutorError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")


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
