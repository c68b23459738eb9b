"""Running a comparison's (method, seed) grid: one run (:func:`run_one`: selection on validation, one timed test pass),
the per-method row of a table (:func:`aggregate`), and the executors that run the grid one run after another
(:class:`SerialExecutor`, the default) or as Ray tasks (:class:`RayExecutor`). The harness is ``compare.py``."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import registry
from .data.dataset import Split
from .methods.base import ConfigError
from .pipeline import build_model
from .train import TEST_SELECTION, evaluate, fit, selects_on_test
from .compare_protocols import COSTS, METRICS


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
