"""Training in small chunks for the Lab page, a session-scoped store of what was trained or loaded, and
checkpoint zips (safetensors + JSON) that can be downloaded and uploaded again.

Why chunks: a Streamlit page must never block the server in a training loop (design.md, "Training in the UI runs in
small chunks with a progress bar, and can be stopped"). :class:`LabRun` advances the
:class:`diffrec_core.train.Trainer` that :func:`diffrec_core.train.fit` loops over - evaluate on validation every
``eval_every`` epochs, keep the best validation ``select`` metric (Recall@20 for the DiffRec family, NDCG@10 for
sequence methods), stop after ``patience`` epochs without a gain, score the test split once with the selected
weights - one epoch per call, and adds what the Lab needs around it (the lock, the private random state, time
budgets per chunk, stop requests, the summary a checkpoint records). The page calls
:meth:`LabRun.advance` once per rerun (a fragment that reruns itself), draws the curves, and a stop button ends the
run between two epochs.

Same seed, same result: a run keeps its own copy of torch's global random state between chunks and works inside
``torch.random.fork_rng``, so other sessions drawing random numbers between two chunks change nothing, and a Lab run
ends with exactly the weights and metrics of ``fit(model, split, seed=seed)`` (``tests/test_pages_lab.py`` checks
it). Chunks of all sessions take turns through one lock: the global random state is process-wide, and two trainings
at once on a small server would only slow each other down.

The store (:data:`RUNS`, :data:`DATASETS`) is a module-level dict with a size cap and least-recently-used eviction:
Streamlit session state holds only the entries' ids (random, unguessable tokens), never tensors; a page that asks
for an evicted id gets None and says so. It lives as long as the server process.
"""
from __future__ import annotations

import hashlib
import io
import json
import secrets
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from . import checkpoint, limits, registry, untrusted
from .data import load_dataset, make_split
from .data.dataset import InteractionLog, Split
from .pipeline import build_model, make_config, split_how
from .train import ProtocolError, Trainer, evaluate, resolve_select
from .train_config import train_settings
from .errors import DiffRecError

MAX_CHECKPOINT_BYTES = 100 * 1024 ** 2   # DiffRec on ML-1M is 14 MB; the app's uploads are capped below this
_LOCK = threading.Lock()       # one training chunk at a time in this process (see the module docstring)


class LabError(DiffRecError, ValueError):
    """A Lab action cannot be done (a method that needs data this set lacks, bad settings, a bad checkpoint)."""


# ------------------------------------------------------------------------------------------------ the store
@dataclass
class Entry:
    id: str
    kind: str
    label: str
    obj: Any
    created: float = field(default_factory=time.time)


class Store:
    """A size-capped, least-recently-used dict of live objects keyed by random ids (thread-safe).

    ``on_evict`` is called with an evicted object (a run is told to stop)."""

    def __init__(self, max_entries: int, on_evict: Optional[Callable[[Any], None]] = None):
        self.max_entries = int(max_entries)
        self._d: "OrderedDict[str, Entry]" = OrderedDict()
        self._lock = threading.Lock()
        self._on_evict = on_evict

    def put(self, obj, kind: str, label: str) -> str:
        eid = secrets.token_urlsafe(9)
        evicted = []
        with self._lock:
            self._d[eid] = Entry(eid, kind, label, obj)
            while len(self._d) > self.max_entries:
                evicted.append(self._d.popitem(last=False)[1].obj)
        for o in evicted:
            if self._on_evict:
                self._on_evict(o)
        return eid

    def get(self, eid: Optional[str]) -> Optional[Entry]:
        with self._lock:
            e = self._d.get(str(eid)) if eid else None
            if e is not None:
                self._d.move_to_end(e.id)
            return e

    def drop(self, eid: str) -> None:
        with self._lock:
            e = self._d.pop(eid, None)
        if e is not None and self._on_evict:
            self._on_evict(e.obj)

    def __len__(self) -> int:
        return len(self._d)


# ------------------------------------------------------------------------------------------------ data
@dataclass
class LabData:
    """A data set in the Lab: the sample world, an upload, or RecBole's ML-100K; splits are made once per kind."""

    name: str
    log: InteractionLog
    report: dict = field(default_factory=dict)
    spec: str = "sample"                         # 'sample', 'upload' or a folder path
    _splits: dict = field(default_factory=dict)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    def split(self, how: str = "auto") -> Split:
        """The split a method's protocol needs ('auto' or 'loo'), made once (the same as ``load_split``)."""
        with self._lock:
            if how not in self._splits:
                self._splits[how] = make_split(self.log, how=how)
            return self._splits[how]

    @classmethod
    def sample(cls) -> "LabData":
        from .upload import summarize
        log = load_dataset("sample")
        return cls(name="sample world", log=log, report=summarize(log), spec="sample")

    @classmethod
    def from_folder(cls, folder, name: str) -> "LabData":
        from .upload import summarize
        log = load_dataset(str(folder))
        return cls(name=name, log=log, report=summarize(log), spec=str(folder))


def lab_methods() -> List[str]:
    """Methods the Lab can train: those that read interactions (and a KG) or sequences. DCDR and the rerankers
    train on logged reranking sessions: ``python -m diffrec_core pretrain --methods dcdr``."""
    return [s.name for s in registry.specs() if "lists" not in s.needs]


def why_not(method: str, data: LabData) -> Optional[str]:
    """Why ``method`` cannot train on ``data`` (None when it can)."""
    spec = registry.get(method)
    if "lists" in spec.needs:
        return f"{spec.title} trains on logged reranking sessions, not on interactions (command line: " \
               f"`python -m diffrec_core pretrain --methods dcdr`)"
    if "kg" in spec.needs:
        has_kg = data.log.kg is not None and len(data.log.kg) > 0
        if not has_kg:
            return f"{spec.title} needs a knowledge graph, and {data.name} has none (the sample world and " \
                   f"RecBole's ML-100K have one)"
    return None


# ------------------------------------------------------------------------------------------------ training
def _resolve_select(select: str, val: Dict[str, float]) -> str:
    """:func:`train.resolve_select`, failing with a :class:`LabError`."""
    try:
        return resolve_select(select, val)
    except ProtocolError as e:
        raise LabError(str(e)) from e


class LabRun:
    """One training run, advanced an epoch at a time (the protocol of ``train.fit``; see the module docstring)."""

    def __init__(self, method: str, data: LabData, preset: str = "sample", overrides: Optional[dict] = None,
                 seed: int = 1, epochs: Optional[int] = None, eval_every: Optional[int] = None,
                 patience: Optional[int] = None, select: Optional[str] = None):
        reason = why_not(method, data)
        if reason:
            raise LabError(reason)
        self.method, self.data_name, self.preset, self.seed = method, data.name, preset, int(seed)
        self.overrides = dict(overrides or {})
        self.split = data.split(split_how(method))
        if epochs is not None and not 0 <= int(epochs) <= limits.LAB_MAX_EPOCHS:
            raise LabError(f"epochs = {epochs}: the Lab trains 0 to {limits.LAB_MAX_EPOCHS} epochs")
        try:        # the Lab's budget (diffrec_core.limits.LAB), checked before anything is allocated
            limits.check_model(registry.get(method).model_cls, make_config(method, preset, self.overrides),
                               self.split.n_users, self.split.n_items, limits.LAB)
        except (KeyError, ValueError) as e:              # BudgetError and ConfigError are ValueErrors
            raise LabError(str(e.args[0]) if e.args else str(e)) from e
        with _LOCK, torch.random.fork_rng(devices=[]):
            try:
                self.model = build_model(method, self.split, preset=preset, overrides=self.overrides, seed=self.seed)
            except (KeyError, ValueError) as e:          # ConfigError is a ValueError
                raise LabError(str(e.args[0]) if e.args else str(e)) from e
            try:
                self.trainer = Trainer(self.model, self.split, seed=self.seed, epochs=epochs, eval_every=eval_every,
                                       patience=patience, select=select)
            except ProtocolError as e:
                raise LabError(str(e)) from e
            self.protocol = self.trainer.protocol
            self.epochs, self.eval_every, self.patience = (self.protocol.epochs, self.protocol.eval_every,
                                                           self.protocol.patience)
            self.trainer.start()                          # seeds torch as fit() does, then prepare()
            self.prepare_seconds = self.trainer.prepare_seconds
            self._torch_state = torch.get_rng_state()
        self.status = "running"                          # running | done
        self._pull()

    def _pull(self) -> None:
        """Copy the trainer's state to the attributes pages read (a loaded checkpoint sets them directly)."""
        t, res = self.trainer, self.trainer.result
        self.epoch, self.history, self.select = t.epoch, res.history, t.select
        self.best_epoch, self.best_value = res.best_epoch, t.selection.best_value
        self.valid, self.test, self.stopped = res.valid, res.test, res.stopped
        self.train_seconds = res.train_seconds
        if t.done and self.status != "done":
            self.model.eval()
            self.status = "done"

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        return 0.0 if not self.model.trainable or self.epochs <= 0 else min(1.0, self.epoch / self.epochs)

    def request_stop(self) -> None:
        """Ask the run to stop; it does at the next chunk boundary (between two epochs)."""
        trainer = getattr(self, "trainer", None)          # None: a finished run loaded from a checkpoint
        if trainer is not None:
            trainer.request_stop()

    # -- chunks ---------------------------------------------------------------------------------------------
    def step(self) -> Optional[dict]:
        """Train one epoch (and validate when due); finish when the protocol says so. Returns the epoch record."""
        if self.done:
            return None
        with _LOCK, torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._torch_state)
            try:
                rec = self.trainer.step()
            except ProtocolError as e:
                raise LabError(str(e)) from e
            finally:
                self._torch_state = torch.get_rng_state()
                self._pull()
        return rec

    def advance(self, budget_s: float = 0.4) -> List[dict]:
        """Train epochs until ``budget_s`` seconds have passed (at least one epoch); the page's one chunk."""
        out, t0 = [], time.perf_counter()
        while not self.done:
            rec = self.step()
            if rec is not None:
                out.append(rec)
            if time.perf_counter() - t0 >= budget_s:
                break
        return out

    # -- results --------------------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        return registry.get(self.method).title

    def label(self) -> str:
        sel = self.valid.get(self.select)
        score = f", valid {self.select} {sel:.4f}" if sel is not None else ""
        return f"{self.title} on {self.data_name} (seed {self.seed}, epoch {self.best_epoch}{score})"

    def summary(self) -> dict:
        return {"method": self.method, "data": self.data_name, "preset": self.preset, "overrides": self.overrides,
                "seed": self.seed, "epochs": self.epochs, "eval_every": self.eval_every, "patience": self.patience,
                "select": self.select, "best_epoch": self.best_epoch, "valid": self.valid, "test": self.test,
                "stopped": self.stopped, "train_seconds": round(self.train_seconds, 3),
                "parameters": self.model.n_parameters()}

    @classmethod
    def from_checkpoint(cls, model, meta: dict, data: LabData, split: Split) -> "LabRun":
        """A finished run wrapping an uploaded checkpoint (so the rest of the app treats both alike)."""
        run = cls.__new__(cls)
        lab = meta.get("lab") if isinstance(meta.get("lab"), dict) else {}

        def num(v, default=0):
            return int(v) if isinstance(v, (int, float)) and np.isfinite(v) else default

        run.method, run.data_name, run.preset = model.name, data.name, str(lab.get("preset", "checkpoint"))[:40]
        run.seed, run.overrides, run.split, run.model = num(lab.get("seed")), {}, split, model
        run.select = str(train_settings(model.config).select_metric)
        run.epochs = run.epoch = run.best_epoch = num(lab.get("best_epoch"))
        run.eval_every, run.patience, run.prepare_seconds, run.train_seconds = 1, 1, 0.0, 0.0
        hist = lab.get("history") if isinstance(lab.get("history"), list) else []
        run.history = [{k: float(v) for k, v in h.items()
                        if isinstance(k, str) and isinstance(v, (int, float)) and np.isfinite(v)}
                       for h in hist[:10000] if isinstance(h, dict)]          # numbers only: it is untrusted input
        run.history = [h for h in run.history if "epoch" in h]
        run.best_value, run.trainer = -np.inf, None
        run.valid = evaluate(model, split, ("valid",))["valid"]          # re-scored here, not trusted from the file
        run.test = evaluate(model, split, ("test",))["test"]
        run.select = _resolve_select(run.select, run.valid)
        run.status, run.stopped = "done", "loaded from a checkpoint"
        return run


# ------------------------------------------------------------------------------------------------ checkpoints
_README = """A checkpoint of the diffusion-recommendation classroom (never a pickle).

model.safetensors  the weights (safetensors)
config.json        method, typed config, data shape, SHA-256 of the weights, and the Lab run (history, metrics)

Load it in the app (Lab -> Load files) or in Python:
    from diffrec_core import checkpoint
    model, meta = checkpoint.load(FOLDER_WITH_BOTH_FILES, n_users, n_items)
"""


def checkpoint_zip(run: LabRun) -> bytes:
    """The run's selected model as a zip of ``model.safetensors`` + ``config.json`` (+ a README)."""
    if not run.done:
        raise LabError("the run is still training; stop it or wait for it to finish")
    lab = {**run.summary(), "history": run.history}
    weights, cfg = checkpoint.to_bytes(run.model, run.data_name, extra={"lab": lab})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.safetensors", weights)
        z.writestr("config.json", cfg)
        z.writestr("README.txt", _README)
    return buf.getvalue()


def read_checkpoint_zip(raw: bytes, data: LabData, max_bytes: int = MAX_CHECKPOINT_BYTES) -> LabRun:
    """Validate an uploaded checkpoint zip against a data set and wrap it as a finished run.

    Refused with a :class:`LabError` that says why: too large; a pickle or a PyTorch ``torch.save`` file (a zip
    holding ``data.pkl``: never unpickled); not a zip; a zip bomb; missing files; and everything
    :func:`checkpoint.from_bytes` checks (format, version, method, config keys, data shape, checksum, tensor
    names and shapes)."""
    untrusted.check_size(len(raw), max_bytes, LabError, "the checkpoint")
    untrusted.check_not_pickle(raw, LabError, "this file is a Python pickle. The app never unpickles uploads (a "
                               "pickle can run code): upload the zip of model.safetensors + config.json that the "
                               "Train tab downloads")
    infos = untrusted.zip_entries(
        raw, LabError, max_unpacked=max_bytes, unpacked_what="the checkpoint", max_entries=16,
        not_zip="this is not a zip file: upload the checkpoint zip (model.safetensors + config.json) that the Train "
                "tab downloads",
        entries_note="a checkpoint zip holds 3 (model.safetensors, config.json, README.txt)",
        pickles="this zip holds a pickle (a PyTorch torch.save checkpoint or a .pkl file). The app never unpickles "
                "uploads (a pickle can run code): save the weights with safetensors")
    by_base = untrusted.member_names(infos)
    missing = [n for n in ("model.safetensors", "config.json") if n not in by_base]
    if missing:
        names = [i.filename for i in infos]
        raise LabError(f"the zip lacks {' and '.join(missing)} (it holds {', '.join(names[:6]) or 'nothing'})")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            weights, cfg = z.read(by_base["model.safetensors"]), z.read(by_base["config.json"])
    except untrusted.ZIP_ERRORS as e:
        raise LabError(f"the zip file is damaged: {e}") from e
    try:
        meta = json.loads(cfg.decode("utf-8"))
        method = str(meta.get("method", ""))
        how = split_how(method)
    except (UnicodeDecodeError, ValueError, RecursionError, AttributeError, KeyError):
        method, how = "", "auto"                      # from_bytes below names what is wrong with the config
    if method and method in registry.names() and method not in lab_methods():
        raise LabError(f"this is a checkpoint of {registry.get(method).title}, which trains on logged reranking "
                       f"sessions; the Lab holds interaction and sequence models")
    split = data.split(how)
    try:
        model, meta = checkpoint.from_bytes(weights, cfg, split.n_users, split.n_items, budget=limits.LAB)
    except checkpoint.CheckpointError as e:
        raise LabError(f"the checkpoint cannot be used with {data.name}: {e}") from e
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as e:   # a config that is JSON but odd
        raise LabError(f"the checkpoint's config.json does not describe a model of this app: "
                       f"{type(e).__name__}: {e}") from e
    try:
        with _LOCK, torch.random.fork_rng(devices=[]):     # scoring may sample: seeded, and no one else's RNG moves
            torch.manual_seed(0)
            model.attach(split)
            model.eval()
            return LabRun.from_checkpoint(model, meta, data, split)
    except Exception as e:  # noqa: BLE001 - the weights loaded but do not work on this data: say so, keep running
        raise LabError(f"the checkpoint loaded but cannot score {data.name}: {type(e).__name__}: {e}") from e


def weights_digest(run: LabRun) -> str:
    """SHA-256 of a run's weights (tests compare runs with it)."""
    h = hashlib.sha256()
    for k, v in sorted(run.model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ module stores
RUNS = Store(24, on_evict=lambda run: run.request_stop() if isinstance(run, LabRun) else None)
DATASETS = Store(8)
