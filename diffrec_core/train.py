"""Training and evaluation shared by every method: the authors' protocol (evaluate every few epochs, select on
validation Recall@20, stop after ``patience`` epochs without improvement), done once for all methods.

Model selection reads only the validation split. The test split is scored once, with the selected weights.

Every setting below is a field of :class:`diffrec_core.train_config.TrainConfig`, which every trained method's
config inherits (its defaults are declared there, once). The details in which the authors' training scripts differ
from each other are switches read by :class:`Protocol` (with defaults that keep this module's own protocol), so
that a preset named after an authors' data set can run their loop exactly:

* ``stop_check``: 'after_eval' (default: the gap ``epoch - best_epoch >= patience`` is tested after an epoch and
  its evaluation) or 'before_epoch' (DiffRec/main.py tests it before training the next epoch, so the epoch that
  would close the gap is neither trained nor evaluated);
* ``eval_offset``: validate after epoch e when ``e > offset`` and ``(e - offset) % eval_every == 0`` (DiffuRec's
  trainer counts epochs from 0 and skips epoch 0: offset 1); ``final_eval``: also validate after the last epoch;
* ``select_rule``: 'metric' (the ``select`` metric improves) or 'any' (DiffuRec's trainer keeps the model when any
  reported metric beats its own best so far, each compared as the trainer prints it, per cent rounded to 4 places);
* ``select_on``: 'valid' (default), 'last' (no selection: the weights after the last epoch - DreamRec keeps
  nothing), or :data:`TEST_SELECTION`, DiffKG's protocol of keeping the best *test* epoch. That one is a labelled
  reproduction switch, never a default; the comparison harness refuses it (``compare.run_one``);
* ``eval_batch_mean`` / ``eval_drop_last`` (read by :func:`evaluate`): metrics as means of per-batch means over
  batches of that many evaluated users (DiffuRec) / only the first whole batches of that size (DreamRec).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np
import torch

from . import distributed
from . import precision as _precision
from .data.dataset import Split
from .metrics import average, mask_scores, ranking_metrics, topk
from .methods.base import Recommender
from .errors import DiffRecError
from .train_config import DEFAULTS, TEST_SELECTION, train_settings

KS = tuple(DEFAULTS.ks)
SELECT_ON = ("valid", "last", TEST_SELECTION)
SELECT_RULES = ("metric", "any")
STOP_CHECKS = ("after_eval", "before_epoch")


class ProtocolError(DiffRecError, ValueError):
    """A training-protocol switch has a value this module does not know."""


def selects_on_test(config) -> bool:
    """Whether a config asks for selection on the test split (a reproduction of DiffKG's protocol)."""
    return str(train_settings(config).select_on) == TEST_SELECTION


@dataclass
class Protocol:
    """When to validate, which epoch to keep and when to stop; read once from a model's config (see the module
    docstring for every switch). :func:`fit` and the Lab's chunked run both follow it, so they agree."""

    epochs: int
    eval_every: int = DEFAULTS.eval_every
    patience: int = DEFAULTS.patience
    select: str = DEFAULTS.select_metric
    select_on: str = DEFAULTS.select_on
    select_rule: str = DEFAULTS.select_rule
    stop_check: str = DEFAULTS.stop_check
    eval_offset: int = DEFAULTS.eval_offset
    final_eval: bool = DEFAULTS.final_eval
    any_of: tuple = ("hr", "ndcg")      # the metric families the 'any' rule watches (DiffuRec's six: HR, NDCG @ ks)

    def __post_init__(self):
        for name, value, allowed in (("select_on", self.select_on, SELECT_ON),
                                     ("select_rule", self.select_rule, SELECT_RULES),
                                     ("stop_check", self.stop_check, STOP_CHECKS)):
            if value not in allowed:
                raise ProtocolError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        # refused rather than clamped: validating every 0 epochs or stopping after 0 epochs has no meaning, and a
        # silently changed value would train a different protocol than the one asked for
        for name, value, least in (("eval_every", self.eval_every, 1), ("patience", self.patience, 1),
                                   ("eval_offset", self.eval_offset, 0)):
            if int(value) < least:
                raise ProtocolError(f"{name} must be at least {least}, got {value}")

    @classmethod
    def of(cls, cfg, epochs: Optional[int] = None, eval_every: Optional[int] = None,
           patience: Optional[int] = None, select: Optional[str] = None) -> "Protocol":
        """The protocol a config asks for; ``epochs``, ``eval_every``, ``patience`` and ``select`` (when not None)
        replace the config's values (the Lab's form fields, the command line's --epochs)."""
        c = train_settings(cfg)
        return cls(epochs=int(epochs if epochs is not None else c.epochs),
                   eval_every=int(eval_every if eval_every is not None else c.eval_every),
                   patience=int(patience if patience is not None else c.patience),
                   select=str(select or c.select_metric), select_on=str(c.select_on), select_rule=str(c.select_rule),
                   stop_check=str(c.stop_check), eval_offset=int(c.eval_offset), final_eval=bool(c.final_eval))

    @property
    def on_test(self) -> bool:
        return self.select_on == TEST_SELECTION

    def due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) is followed by an evaluation."""
        e = epoch - self.eval_offset
        return (e > 0 and e % self.eval_every == 0) or (self.final_eval and epoch == self.epochs)

    def stop(self, epoch: int, best_epoch: int) -> bool:
        """After epoch ``epoch``: has the patience run out? 'before_epoch' asks DiffRec's question about the next
        epoch (``epoch + 1 - best_epoch >= patience``, also before any gain, as their loop does)."""
        if self.select_on == "last":
            return False
        if self.stop_check == "before_epoch":
            return epoch + 1 - best_epoch >= self.patience
        return bool(best_epoch) and epoch - best_epoch >= self.patience


class Selection:
    """The kept epoch under a :class:`Protocol`: ``offer`` an evaluated epoch's metrics (validation, or test
    under the test-selection switch); True when it becomes the kept one."""

    def __init__(self, protocol: Protocol):
        self.p = protocol
        self.best_epoch = 0
        self.best_value = -np.inf
        self._best_each: Dict[str, float] = {}

    def offer(self, epoch: int, metrics: Dict[str, float], select: Optional[str] = None) -> bool:
        if self.p.select_on == "last":
            return False
        select = select or self.p.select
        if self.p.select_rule == "any":
            improved = False
            for k, v in metrics.items():          # DiffuRec: per cent, rounded to 4 places, from a best of 0
                if k.split("@")[0] not in self.p.any_of:
                    continue
                r = round(float(v) * 100, 4)
                if r > self._best_each.get(k, 0.0):
                    self._best_each[k], improved = r, True
        else:
            improved = metrics[select] > self.best_value
        if improved:
            self.best_value, self.best_epoch = metrics[select], epoch
        return improved


def resolve_select(select: str, val: Dict[str, float]) -> str:
    """The selection metric as the evaluator named it: with fewer items than K, ``recall@20`` is reported as
    ``recall@<n_items>`` (top-K lists cannot be longer than the catalogue)."""
    if select in val:
        return select
    name = select.split("@")[0]
    same = sorted((int(k.split("@")[1]), k) for k in val if k.split("@")[0] == name and "@" in k)
    if not same:
        raise ProtocolError(f"the evaluation reports no {select} (it reports {', '.join(sorted(val))})")
    return same[-1][1]


@dataclass
class FitResult:
    best_epoch: int
    valid: Dict[str, float]
    test: Dict[str, float]
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    epoch_seconds: list = field(default_factory=list)
    eval_pass_seconds: list = field(default_factory=list)
    stopped: str = ""
    select_on: str = "valid"          # TEST_SELECTION marks a run whose test figures chose its epoch


def _seen(split: Split, users, which: str) -> torch.Tensor:
    seen = split.rows(users, "train") > 0
    if which == "test":
        seen |= split.rows(users, "valid") > 0
    return torch.from_numpy(seen)


@torch.no_grad()
def evaluate(model: Recommender, split: Split, which=("valid", "test"), ks=None, batch_size: int = 2048,
             denominator: Optional[str] = None, precision: str = "fp32") -> Dict[str, Dict[str, float]]:
    """Full-ranking metrics with seen items masked (train for valid; train+valid for test).

    Where the test pass reads the same input as the validation pass (``model.test_uses_valid`` is False), one
    scoring pass serves both splits, as docs/methods.md §2.1 suggests.

    Per-model settings read from the config's ``TrainConfig`` fields (sequence methods, docs/methods.md
    §3.3-3.4): ``ks`` (the cut-offs; default 10 and 20), ``mask_seen`` (default True; DiffuRec/DreamRec/SASRec
    set False, as their papers do not mask), and ``model.scores_padding`` - the faithful DiffuRec/DreamRec
    ranking in which the padding item competes for a place in the top K (``score(..., with_padding=True)``
    appends its column); ``eval_batch_mean`` / ``eval_drop_last`` change the averaging (:func:`reduce_metrics`).
    ``precision`` 'bf16' runs the scoring passes under autocast (:mod:`diffrec_core.precision`); the scores are
    cast to float32
    before masking and top-K either way.
    """
    c = train_settings(model.config)
    denominator = denominator or c.metric_denominator
    batch_mean, drop_last = int(c.eval_batch_mean or 0), int(c.eval_drop_last or 0)
    ks = tuple(ks or c.ks or KS)
    mask_seen = bool(c.mask_seen)
    with_pad = bool(getattr(model, "scores_padding", False))
    which = tuple(which)
    kmax = max(ks)
    per: Dict[str, Dict[str, list]] = {w: {} for w in which}
    ngt: Dict[str, list] = {w: [] for w in which}
    users_all = np.arange(split.n_users)

    amp = _precision.autocast(precision, model.device)

    def scores(users, w):
        with amp:
            return model.score(split, users, w, with_padding=True) if with_pad else model.score(split, users, w)

    for i in distributed.eval_starts(split.n_users, batch_size):     # under torchrun: this rank's batches
        users = users_all[i:i + batch_size]
        shared = None if model.test_uses_valid else scores(users, which[0])
        for w in which:
            # masking and top-K stay on the model's device; only the (B, K) indices come back to the CPU
            s = (shared if shared is not None else scores(users, w)).float()
            seen = _seen(split, users, w)
            gt = torch.from_numpy(split.rows(users, w) > 0)
            if s.shape[1] > split.n_items:  # the padding item's column: never seen, never a target
                extra = torch.zeros(len(users), s.shape[1] - split.n_items, dtype=torch.bool)
                seen, gt = torch.cat([seen, extra], 1), torch.cat([gt, extra], 1)
            if mask_seen:
                s = mask_scores(s, seen)
            m = ranking_metrics(topk(s, kmax).cpu(), gt, ks)
            for k, v in m.items():
                per[w].setdefault(k, []).append(v)
            ngt[w].append(gt.sum(1))
    per, ngt = distributed.gather_eval(per, ngt, split.n_users, batch_size)    # every rank: all users, id order
    return {w: reduce_metrics({k: torch.cat(v) for k, v in per[w].items()}, torch.cat(ngt[w]), denominator,
                              batch_mean, drop_last)
            for w in which}


def reduce_metrics(per_user: Dict[str, torch.Tensor], n_gt: torch.Tensor, denominator: str = "gt",
                   batch_mean: int = 0, drop_last: int = 0) -> Dict[str, float]:
    """Per-user metrics (users in id order) -> one number each. Default: :func:`metrics.average`. With
    ``drop_last = b``: only the first ``floor(n / b) * b`` counted users (DreamRec's evaluate walks its file in
    batches of 100 and never reaches the partial last one). With ``batch_mean = b``: the mean over consecutive
    batches of ``b`` counted users of each batch's mean (DiffuRec's trainer averages its loader's batch means,
    so the users of a short last batch weigh more)."""
    if not batch_mean and not drop_last:
        return average(per_user, n_gt, denominator)
    if denominator not in ("gt", "all"):
        raise ValueError("denominator must be 'gt' or 'all'")
    keep = n_gt > 0 if denominator == "gt" else torch.ones_like(n_gt, dtype=torch.bool)
    n = int(keep.sum())
    if drop_last:
        n = n // int(drop_last) * int(drop_last)
    out = {}
    for k, v in per_user.items():
        v = v[keep][:n].double()
        if not n:
            out[k] = 0.0
        elif batch_mean:
            out[k] = float(torch.stack([c.mean() for c in torch.split(v, int(batch_mean))]).mean())
        else:
            out[k] = float(v.mean())
    return out


class Trainer:
    """The training protocol of docs/methods.md §2.1 as a step-wise object: :meth:`start` seeds and prepares,
    each :meth:`step` trains one epoch (then validates when due, updates the kept epoch and decides whether to
    stop), and the step that ends the run calls :meth:`finish`, which loads the kept weights and scores the test
    split once.

    :func:`fit` is a loop over it; the Lab's chunked run (``lab_train.LabRun``) advances the same object one
    epoch per page rerun, so both follow one protocol. Each part a distributed or instrumented run may replace is
    its own method: :meth:`train_epoch` (the epoch's batches), :meth:`evaluate` (one evaluation pass),
    :meth:`keep_state` (the kept weights) and :meth:`report` (the per-epoch record sent to ``progress``).

    ``progress``, ``should_stop``, ``budget_seconds``, ``eval_batch``, ``evaluate_test`` and ``precision`` mean
    what they mean for :func:`fit`; :meth:`request_stop` is ``should_stop`` for a caller that holds the object.
    """

    def __init__(self, model: Recommender, split: Split, seed: int = 1, epochs: Optional[int] = None,
                 eval_every: Optional[int] = None, patience: Optional[int] = None, select: Optional[str] = None,
                 progress: Optional[Callable[[dict], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
                 eval_batch: int = 2048, evaluate_test: bool = True, budget_seconds: Optional[float] = None,
                 precision: str = "fp32"):
        self.precision = _precision.check(precision, model.name)   # before anything trains
        self.protocol = Protocol.of(model.config, epochs, eval_every, patience, select)
        self.model, self.split, self.seed = model, split, int(seed)
        self.select = self.protocol.select        # renamed by resolve_select when the catalogue is shorter than K
        self.progress, self.should_stop = progress, should_stop
        self.eval_batch, self.evaluate_test, self.budget_seconds = int(eval_batch), bool(evaluate_test), budget_seconds
        self.result = FitResult(best_epoch=0, valid={}, test={}, select_on=self.protocol.select_on)
        self.selection = Selection(self.protocol)
        self.epoch = 0
        self.done = False
        self.started = False
        self.prepare_seconds = 0.0
        self._best_state = None
        self._stop_requested = False
        self._t_start = 0.0
        self._gen: Optional[torch.Generator] = None
        self._rng: Optional[np.random.Generator] = None

    # -- the parts a caller may replace ---------------------------------------------------------------------
    def train_epoch(self) -> dict:
        """One training epoch over the model's own batches; returns its statistics (at least ``loss``)."""
        with _precision.autocast(self.precision, self.model.device):
            return self.model.fit_epoch(self.split, self._gen, self._rng)

    def evaluate(self, which) -> Dict[str, Dict[str, float]]:
        """One evaluation pass over the splits ``which`` (module-level :func:`evaluate`, looked up at call time)."""
        return evaluate(self.model, self.split, tuple(which), batch_size=self.eval_batch, precision=self.precision)

    def keep_state(self) -> None:
        """Remember the current weights as the kept epoch's."""
        self._best_state = copy.deepcopy(self.model.state_dict())

    def report(self, rec: dict) -> None:
        """Hand one epoch's record to ``progress`` (printing, a progress bar)."""
        if self.progress:
            self.progress(rec)

    # -- the protocol ---------------------------------------------------------------------------------------
    @property
    def trains(self) -> bool:
        """False for a closed-form model or zero epochs: :meth:`step` then validates once and finishes."""
        return bool(self.model.trainable) and self.protocol.epochs > 0

    def request_stop(self) -> None:
        """Stop between two epochs: before the next one, or after the one under way."""
        self._stop_requested = True

    def start(self) -> "Trainer":
        """Seed torch, the step sampler and the shuffling from ``seed``; run the model's ``prepare``."""
        if self.started:
            return self
        torch.manual_seed(self.seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        t0 = time.perf_counter()
        self.model.prepare(self.split)
        self._t_start = time.perf_counter()
        self.prepare_seconds = self._t_start - t0
        self.started = True
        return self

    def _evaluation_round(self, rec: dict) -> None:
        """Validate (and score test under the test-selection switch); offer the epoch to the selection."""
        p, res = self.protocol, self.result
        t0 = time.perf_counter()
        ev = self.evaluate(("valid", "test") if p.on_test else ("valid",))
        et = time.perf_counter() - t0
        val = ev["valid"]
        res.eval_pass_seconds.append(et)
        res.eval_seconds += et
        rec.update({f"valid_{k}": v for k, v in val.items()}, eval_seconds=et)
        if p.on_test:
            rec.update({f"test_{k}": v for k, v in ev["test"].items()})
        self.select = resolve_select(self.select, val)
        if self.selection.offer(self.epoch, ev["test"] if p.on_test else val, self.select):
            res.best_epoch, res.valid = self.selection.best_epoch, val
            self.keep_state()

    def step(self) -> Optional[dict]:
        """Train one epoch, validate when due, and finish when the protocol, the budget or a stop says so.
        Returns the epoch's record (None when no epoch was trained: closed form, stopped, or already done)."""
        if self.done:
            return None
        self.start()
        res = self.result
        if not self.trains:
            t0 = time.perf_counter()
            res.valid = self.evaluate(("valid",))["valid"]
            res.eval_seconds += time.perf_counter() - t0
            self.finish("closed form" if not self.model.trainable else "no epochs")
            return None
        if self._stop_requested:
            self.finish(f"stopped by user after epoch {self.epoch}")
            return None
        self.epoch += 1
        t0 = time.perf_counter()
        stats = self.train_epoch()
        dt = time.perf_counter() - t0
        res.epoch_seconds.append(dt)
        res.train_seconds += dt
        rec = {"epoch": self.epoch, **{k: float(v) for k, v in stats.items()}, "seconds": dt}
        over = self.budget_seconds is not None and time.perf_counter() - self._t_start > self.budget_seconds
        if self.protocol.due(self.epoch) or over:   # the epoch that crosses the budget is validated first
            self._evaluation_round(rec)
        res.history.append(rec)
        self.report(rec)
        if self._stop_requested or (self.should_stop is not None and self.should_stop()):
            self.finish(f"stopped by user after epoch {self.epoch}")
        elif over:
            self.finish(f"time budget of {self.budget_seconds:g} s reached after epoch {self.epoch}")
        elif self.protocol.stop(self.epoch, self.selection.best_epoch):
            self.finish(f"early stop: no validation gain for {self.protocol.patience} epochs")
        elif self.epoch >= self.protocol.epochs:
            self.finish("epoch limit")
        return rec

    def finish(self, why: str) -> FitResult:
        """Load the kept weights and score the test split once (unless ``evaluate_test`` is off). Without a kept
        epoch (none validated before a stop, no gain under the 'any' rule, or select_on 'last') the last weights
        stand, validated once unless their epoch already was, and their epoch is reported as the kept one."""
        res = self.result
        res.stopped = why
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            self._best_state = None
        elif self.trains and self.epoch > 0:
            last = res.history[-1] if res.history else {}
            res.best_epoch = self.epoch
            res.valid = {k[6:]: v for k, v in last.items() if k.startswith("valid_")}
            if not res.valid:
                t0 = time.perf_counter()
                res.valid = self.evaluate(("valid",))["valid"]
                res.eval_seconds += time.perf_counter() - t0
        if self.evaluate_test:
            t0 = time.perf_counter()
            res.test = self.evaluate(("test",))["test"]
            res.eval_seconds += time.perf_counter() - t0
        self.done = True
        return res


def fit(model: Recommender, split: Split, epochs: Optional[int] = None, seed: int = 1, select: Optional[str] = None,
        eval_every: Optional[int] = None, patience: Optional[int] = None,
        progress: Optional[Callable[[dict], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
        eval_batch: int = 2048, evaluate_test: bool = True, budget_seconds: Optional[float] = None,
        precision: str = "fp32") -> FitResult:
    """Train ``model`` on ``split.train``; select the epoch on validation ``select``; score test once: a
    :class:`Trainer` stepped until it is done.

    ``select`` defaults to the config's ``select_metric`` (sequence methods: ndcg@10, docs/methods.md §3.4), else
    recall@20 (the DiffRec family). The config's protocol switches (:class:`Protocol`) decide when to validate,
    which epoch to keep and when to stop.

    ``progress`` receives a dict after every epoch (epoch, loss, and valid metrics when evaluated);
    ``should_stop`` lets a UI stop training between epochs. Seeds torch, the step sampler and the shuffling.
    ``budget_seconds`` (the comparison harness's per-method time budget) stops training between epochs once the
    wall time since the end of ``prepare`` exceeds it; the epoch that crosses the budget is evaluated on
    validation first, so the selection still sees the last weights, and the test pass is not counted against the
    budget. Under the test-selection reproduction switch every evaluation scores both splits, the kept epoch is
    the best on test, and ``FitResult.select_on`` says so. ``precision`` 'bf16' runs every training epoch and
    every evaluation under autocast to bfloat16 (:mod:`diffrec_core.precision` says what stays in
    float32/float64); a method that does not support it raises ConfigError before anything trains.
    """
    trainer = Trainer(model, split, seed=seed, epochs=epochs, eval_every=eval_every, patience=patience,
                      select=select, progress=progress, should_stop=should_stop, eval_batch=eval_batch,
                      evaluate_test=evaluate_test, budget_seconds=budget_seconds, precision=precision).start()
    while not trainer.done:
        trainer.step()
    return trainer.result
