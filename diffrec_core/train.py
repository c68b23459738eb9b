"""Training and evaluation shared by every method: the authors' protocol (evaluate every few epochs, select on
validation Recall@20, stop after ``patience`` epochs without improvement), done once for all methods.

Model selection reads only the validation split. The test split is scored once, with the selected weights.

The details in which the authors' training scripts differ from each other are config switches read by
:class:`Protocol` (with defaults that keep this module's own protocol), so that a preset named after an authors'
data set can run their loop exactly:

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

from . import precision as _precision
from .data.dataset import Split
from .metrics import average, mask_scores, ranking_metrics, topk
from .methods.base import Recommender
from .errors import DiffRecError

KS = (10, 20)
TEST_SELECTION = "test (authors' protocol)"     # DiffKG's Main.py keeps the best test epoch: reproduction only
SELECT_ON = ("valid", "last", TEST_SELECTION)
SELECT_RULES = ("metric", "any")
STOP_CHECKS = ("after_eval", "before_epoch")


class ProtocolError(DiffRecError, ValueError):
    """A training-protocol switch has a value this module does not know."""


def selects_on_test(config) -> bool:
    """Whether a config asks for selection on the test split (a reproduction of DiffKG's protocol)."""
    return str(getattr(config, "select_on", "valid")) == TEST_SELECTION


@dataclass
class Protocol:
    """When to validate, which epoch to keep and when to stop; read once from a model's config (see the module
    docstring for every switch). :func:`fit` and the Lab's chunked run both follow it, so they agree."""

    epochs: int
    eval_every: int = 5
    patience: int = 20
    select: str = "recall@20"
    select_on: str = "valid"
    select_rule: str = "metric"
    stop_check: str = "after_eval"
    eval_offset: int = 0
    final_eval: bool = True
    any_of: tuple = ("hr", "ndcg")      # the metric families the 'any' rule watches (DiffuRec's six: HR, NDCG @ ks)

    @classmethod
    def of(cls, cfg, epochs: Optional[int] = None, eval_every: Optional[int] = None,
           patience: Optional[int] = None, select: Optional[str] = None) -> "Protocol":
        p = cls(epochs=int(epochs if epochs is not None else getattr(cfg, "epochs", 1)),
                eval_every=max(1, int(eval_every or getattr(cfg, "eval_every", 5))),
                patience=max(1, int(patience or getattr(cfg, "patience", 20))),
                select=select or getattr(cfg, "select_metric", "recall@20"),
                select_on=str(getattr(cfg, "select_on", "valid")),
                select_rule=str(getattr(cfg, "select_rule", "metric")),
                stop_check=str(getattr(cfg, "stop_check", "after_eval")),
                eval_offset=max(0, int(getattr(cfg, "eval_offset", 0))),
                final_eval=bool(getattr(cfg, "final_eval", True)),
                any_of=tuple(getattr(cfg, "select_any_of", ("hr", "ndcg"))))
        for name, value, allowed in (("select_on", p.select_on, SELECT_ON), ("select_rule", p.select_rule,
                                      SELECT_RULES), ("stop_check", p.stop_check, STOP_CHECKS)):
            if value not in allowed:
                raise ProtocolError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return p

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

    Per-model settings read from the config where present (sequence methods, docs/methods.md §3.3-3.4): ``ks`` (the
    cut-offs; default 10 and 20), ``mask_seen`` (default True; DiffuRec/DreamRec/SASRec default False, as their
    papers do not mask), and ``model.scores_padding`` - the faithful DiffuRec/DreamRec ranking in which the
    padding item competes for a place in the top K (``score(..., with_padding=True)`` appends its column);
    ``eval_batch_mean`` / ``eval_drop_last`` change the averaging (:func:`reduce_metrics`). ``precision``
    'bf16' runs the scoring passes under autocast (:mod:`diffrec_core.precision`); the scores are cast to float32
    before masking and top-K either way.
    """
    denominator = denominator or getattr(model.config, "metric_denominator", "gt")
    batch_mean = int(getattr(model.config, "eval_batch_mean", 0) or 0)
    drop_last = int(getattr(model.config, "eval_drop_last", 0) or 0)
    ks = tuple(ks or getattr(model.config, "ks", None) or KS)
    mask_seen = bool(getattr(model.config, "mask_seen", True))
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

    for i in range(0, split.n_users, batch_size):
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


def fit(model: Recommender, split: Split, epochs: Optional[int] = None, seed: int = 1, select: Optional[str] = None,
        eval_every: Optional[int] = None, patience: Optional[int] = None,
        progress: Optional[Callable[[dict], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
        eval_batch: int = 2048, evaluate_test: bool = True, budget_seconds: Optional[float] = None,
        precision: str = "fp32") -> FitResult:
    """Train ``model`` on ``split.train``; select the epoch on validation ``select``; score test once.
    ``select`` defaults to the config's ``select_metric`` (sequence methods: ndcg@10, docs/methods.md §3.4), else
    recall@20 (the DiffRec family). The config's protocol switches (:class:`Protocol`) decide when to validate,
    which epoch to keep and when to stop.

    ``progress`` receives a dict after every epoch (epoch, loss, and valid metrics when evaluated);
    ``should_stop`` lets a UI stop training between epochs. Seeds torch, the step sampler and the shuffling.
    ``budget_seconds`` (the comparison harness's per-method time budget) stops training between epochs once the
    wall time since the start of ``fit`` exceeds it; the epoch that crosses the budget is evaluated on validation
    first, so the selection still sees the last weights, and the test pass is not counted against the budget.
    Under the test-selection reproduction switch every evaluation scores both splits, the kept epoch is the best
    on test, and ``FitResult.select_on`` says so. ``precision`` 'bf16' runs every training epoch and every
    evaluation under autocast to bfloat16 (:mod:`diffrec_core.precision` says what stays in float32/float64);
    a method that does not support it raises ConfigError before anything trains.
    """
    precision = _precision.check(precision, model.name)
    amp = _precision.autocast(precision, model.device)
    cfg = model.config
    proto = Protocol.of(cfg, epochs, eval_every, patience, select)
    select, epochs = proto.select, proto.epochs
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.prepare(split)
    res = FitResult(best_epoch=0, valid={}, test={}, select_on=proto.select_on)
    chosen = Selection(proto)
    best_state = None
    t_start = time.perf_counter()
    if not model.trainable or epochs <= 0:
        t0 = time.perf_counter()
        res.valid = evaluate(model, split, ("valid",), batch_size=eval_batch, precision=precision)["valid"]
        res.eval_seconds = time.perf_counter() - t0
        res.stopped = "closed form" if not model.trainable else "no epochs"
    else:
        epoch = 0
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            with amp:
                stats = model.fit_epoch(split, gen, rng)
            dt = time.perf_counter() - t0
            res.epoch_seconds.append(dt)
            res.train_seconds += dt
            rec = {"epoch": epoch, **stats, "seconds": dt}
            over = budget_seconds is not None and time.perf_counter() - t_start > budget_seconds
            if proto.due(epoch) or over:
                t0 = time.perf_counter()
                ev = evaluate(model, split, ("valid", "test") if proto.on_test else ("valid",), batch_size=eval_batch,
                              precision=precision)
                val = ev["valid"]
                et = time.perf_counter() - t0
                res.eval_pass_seconds.append(et)
                res.eval_seconds += et
                rec.update({f"valid_{k}": v for k, v in val.items()}, eval_seconds=et)
                if proto.on_test:
                    rec.update({f"test_{k}": v for k, v in ev["test"].items()})
                if chosen.offer(epoch, ev["test"] if proto.on_test else val):
                    res.best_epoch, res.valid = chosen.best_epoch, val
                    best_state = copy.deepcopy(model.state_dict())
            res.history.append(rec)
            if progress:
                progress(rec)
            if should_stop and should_stop():
                res.stopped = f"stopped by user after epoch {epoch}"
                break
            if over:
                res.stopped = f"time budget of {budget_seconds:g} s reached after epoch {epoch}"
                break
            if proto.stop(epoch, chosen.best_epoch):
                res.stopped = f"early stop: no validation gain for {proto.patience} epochs"
                break
        else:
            res.stopped = "epoch limit"
        if best_state is not None:
            model.load_state_dict(best_state)
        elif proto.select_on == "last":          # no selection: the last epoch's weights, validated once
            res.best_epoch = epoch
            last = res.history[-1] if res.history else {}
            res.valid = ({k[6:]: v for k, v in last.items() if k.startswith("valid_")}
                         or evaluate(model, split, ("valid",), batch_size=eval_batch, precision=precision)["valid"])
    if evaluate_test:
        t0 = time.perf_counter()
        res.test = evaluate(model, split, ("test",), batch_size=eval_batch, precision=precision)["test"]
        res.eval_seconds += time.perf_counter() - t0
    return res
