"""Training and evaluation shared by every method: the authors' protocol (evaluate every few epochs, select on
validation Recall@20, stop after ``patience`` epochs without improvement), done once for all methods.

Model selection reads only the validation split. The test split is scored once, with the selected weights.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np
import torch

from .data.dataset import Split
from .metrics import average, mask_scores, ranking_metrics, topk
from .methods.base import Recommender

KS = (10, 20)


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


def _seen(split: Split, users, which: str) -> torch.Tensor:
    seen = split.rows(users, "train") > 0
    if which == "test":
        seen |= split.rows(users, "valid") > 0
    return torch.from_numpy(seen)


@torch.no_grad()
def evaluate(model: Recommender, split: Split, which=("valid", "test"), ks=None, batch_size: int = 2048,
             denominator: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """Full-ranking metrics with seen items masked (train for valid; train+valid for test).

    Where the test pass reads the same input as the validation pass (``model.test_uses_valid`` is False), one
    scoring pass serves both splits, as docs/methods.md §2.1 suggests.

    Per-model settings read from the config where present (sequence methods, docs/methods.md §3.3-3.4): ``ks`` (the
    cut-offs; default 10 and 20), ``mask_seen`` (default True; DiffuRec/DreamRec/SASRec default False, as their
    papers do not mask), and ``model.scores_padding`` - the faithful DiffuRec/DreamRec ranking in which the
    padding item competes for a place in the top K (``score(..., with_padding=True)`` appends its column).
    """
    denominator = denominator or getattr(model.config, "metric_denominator", "gt")
    ks = tuple(ks or getattr(model.config, "ks", None) or KS)
    mask_seen = bool(getattr(model.config, "mask_seen", True))
    with_pad = bool(getattr(model, "scores_padding", False))
    which = tuple(which)
    kmax = max(ks)
    per: Dict[str, Dict[str, list]] = {w: {} for w in which}
    ngt: Dict[str, list] = {w: [] for w in which}
    users_all = np.arange(split.n_users)

    def scores(users, w):
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
    return {w: average({k: torch.cat(v) for k, v in per[w].items()}, torch.cat(ngt[w]), denominator)
            for w in which}


def fit(model: Recommender, split: Split, epochs: Optional[int] = None, seed: int = 1, select: Optional[str] = None,
        eval_every: Optional[int] = None, patience: Optional[int] = None,
        progress: Optional[Callable[[dict], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
        eval_batch: int = 2048, evaluate_test: bool = True, budget_seconds: Optional[float] = None) -> FitResult:
    """Train ``model`` on ``split.train``; select the epoch on validation ``select``; score test once.
    ``select`` defaults to the config's ``select_metric`` (sequence methods: ndcg@10, docs/methods.md §3.4), else
    recall@20 (the DiffRec family).

    ``progress`` receives a dict after every epoch (epoch, loss, and valid metrics when evaluated);
    ``should_stop`` lets a UI stop training between epochs. Seeds torch, the step sampler and the shuffling.
    ``budget_seconds`` (the comparison harness's per-method time budget) stops training between epochs once the
    wall time since the start of ``fit`` exceeds it; the epoch that crosses the budget is evaluated on validation
    first, so the selection still sees the last weights, and the test pass is not counted against the budget.
    """
    cfg = model.config
    select = select or getattr(cfg, "select_metric", "recall@20")
    epochs = int(epochs if epochs is not None else getattr(cfg, "epochs", 1))
    eval_every = int(eval_every or getattr(cfg, "eval_every", 5))
    patience = int(patience or getattr(cfg, "patience", 20))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.prepare(split)
    res = FitResult(best_epoch=0, valid={}, test={})
    best_state, best_val = None, -np.inf
    t_start = time.perf_counter()
    if not model.trainable or epochs <= 0:
        t0 = time.perf_counter()
        res.valid = evaluate(model, split, ("valid",), batch_size=eval_batch)["valid"]
        res.eval_seconds = time.perf_counter() - t0
        res.stopped = "closed form" if not model.trainable else "no epochs"
    else:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            stats = model.fit_epoch(split, gen, rng)
            dt = time.perf_counter() - t0
            res.epoch_seconds.append(dt)
            res.train_seconds += dt
            rec = {"epoch": epoch, **stats, "seconds": dt}
            over = budget_seconds is not None and time.perf_counter() - t_start > budget_seconds
            if epoch % eval_every == 0 or epoch == epochs or over:
                t0 = time.perf_counter()
                val = evaluate(model, split, ("valid",), batch_size=eval_batch)["valid"]
                et = time.perf_counter() - t0
                res.eval_pass_seconds.append(et)
                res.eval_seconds += et
                rec.update({f"valid_{k}": v for k, v in val.items()}, eval_seconds=et)
                if val[select] > best_val:
                    best_val, res.best_epoch, res.valid = val[select], epoch, val
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
            if res.best_epoch and epoch - res.best_epoch >= patience:
                res.stopped = f"early stop: no validation gain for {patience} epochs"
                break
        else:
            res.stopped = "epoch limit"
        if best_state is not None:
            model.load_state_dict(best_state)
    if evaluate_test:
        t0 = time.perf_counter()
        res.test = evaluate(model, split, ("test",), batch_size=eval_batch)["test"]
        res.eval_seconds += time.perf_counter() - t0
    return res
