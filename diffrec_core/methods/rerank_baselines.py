"""Reranking baselines for DCDR, through the same ``rerank(request) -> list of candidate indices`` interface.

* ``rerank_ranker`` - the upstream ranker's order (no reranking).
* ``rerank_greedy`` - greedy by predicted score: each item's score is the evaluator's predicted utility of that
  item when it is moved to the top of the list (one batched evaluator pass), sorted in decreasing order. Moving each
  item to the same position takes the position effect out of the comparison.
* ``rerank_mmr`` - MMR-style diversity (Carbonell & Goldstein 1998): pick the next item by
  ``λ·rel_i - (1-λ)·max_{j chosen} sim(i, j)``, rel = the greedy scores rescaled to [0, 1], sim = same genre.
* ``rerank_prm`` - a PRM-like attention reranker (Pei et al., RecSys 2019): a Transformer over the input list
  (user token + item, genre, ranker-rank and input-position embeddings), trained with BCE on the logged clicks;
  the list is sorted by its scores. The paper's online A/B compares DCDR with Kuaishou's production PRM.
* ``rerank_sample`` - a generator-evaluator without diffusion: N random permutations of the input list (plus the
  list itself), the evaluator picks the best (docs/methods.md §2.7's "random permutations + evaluator").

All permute the given items (membership is kept); only DCDR-T swaps in other candidates. Greedy, MMR and the
sampler use DCDR's evaluator (``with_evaluator``), so every evaluator-based method is judged with the same model;
trained on their own (``fit_lists``, what ``python -m diffrec_core train --method rerank_greedy`` does) they train
an evaluator of the same shape with this config's optimiser settings, selected on validation BCE.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MethodSpec, register
from ..rerank import RerankData, Request
from .base import make_adamw
from .rerank_common import (Evaluator, ListEncoder, ListModel, ListNetConfig, fit_bce, list_utility,
                            train_evaluator)


@dataclass
class RerankNetConfig(ListNetConfig):
    """The evaluator / PRM network (``ListNetConfig``, the same shape as DCDR's evaluator) and the baselines'
    settings."""

    # --- method settings ---
    mmr_lambda: float = 0.7          # MMR: weight of relevance against redundancy
    n_samples: int = 16              # sampler: random permutations scored by the evaluator
    seed: int = 0                    # sampler: base seed (plus the user id), so a request always gets the same draw
    # --- optimisation (PRM; the others reuse DCDR's evaluator) ---
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    eval_epochs: int = 15


PRESETS = {"sample": {}}


class RankerOrder(ListModel):
    """The upstream ranker's list as it is."""

    name = "rerank_ranker"
    trainable = False

    def rerank(self, req: Request, **opts) -> np.ndarray:
        return req.init.copy()


class _EvaluatorReranker(ListModel):
    """A reranker that scores lists with a DCDR-style evaluator."""

    def __init__(self, config: RerankNetConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        self.evaluator = Evaluator(config, n_items, self.n_feats)

    @classmethod
    def with_evaluator(cls, dcdr, **settings):
        """Build from a trained DCDR model: the same buffers and evaluator weights (copied)."""
        cfg = RerankNetConfig(**dcdr.config.list_net(), **settings)
        m = cls(cfg, dcdr.n_users, dcdr.n_items)
        m.copy_context(dcdr)
        m.evaluator.load_state_dict(dcdr.evaluator.state_dict())
        m.fitted.fill_(1)
        return m.eval()

    def fit_lists(self, data: RerankData, seed: int = 1, log=None, epochs: Optional[int] = None) -> dict:
        """Train this reranker's own evaluator on the logged sessions (``eval_epochs`` epochs unless ``epochs``),
        keeping the epoch of lowest validation BCE."""
        t0 = time.perf_counter()
        self.attach_lists(data)
        c = self.config
        out = train_evaluator(self.evaluator, self, data, seed, log,
                              epochs=c.eval_epochs if epochs is None else epochs, lr=c.lr, batch_size=c.batch_size,
                              weight_decay=c.weight_decay)
        self.fitted.fill_(1)
        self.eval()
        return {"evaluator": out, "best_epoch": out["best_epoch"], "seconds": round(time.perf_counter() - t0, 2)}

    def _probs(self, req: Request, lists: np.ndarray) -> np.ndarray:
        return self.evaluator_probs(self.evaluator, req, lists)

    def utility_hat(self, req: Request, lists: np.ndarray) -> np.ndarray:
        return list_utility(self._probs(req, lists), self.config.w_click, self.config.w_like)

    def item_scores(self, req: Request) -> np.ndarray:
        """The evaluator's predicted utility of each item of ``req.init`` when it is moved to the top."""
        init = req.init
        lists = np.stack([np.r_[init[i], np.delete(init, i)] for i in range(len(init))])
        return list_utility(self._probs(req, lists)[:, :1], self.config.w_click, self.config.w_like)   # position 1


class GreedyScore(_EvaluatorReranker):
    name = "rerank_greedy"
    trainable = False

    def rerank(self, req: Request, **opts) -> np.ndarray:
        return req.init[np.argsort(-self.item_scores(req), kind="stable")]


class MMR(_EvaluatorReranker):
    name = "rerank_mmr"
    trainable = False

    def rerank(self, req: Request, **opts) -> np.ndarray:
        lam = float(opts.get("mmr_lambda", self.config.mmr_lambda))
        s = self.item_scores(req)
        rel = (s - s.min()) / max(float(s.max() - s.min()), 1e-12)
        genre = self.item_genre.cpu().numpy()[req.candidates[req.init]]
        left, out = list(range(len(req.init))), []
        while left:
            red = np.array([max((float(genre[i] == genre[j]) for j in out), default=0.0) for i in left])
            val = lam * rel[left] - (1 - lam) * red
            pick = left[int(np.argmax(val))]
            out.append(pick)
            left.remove(pick)
        return req.init[np.asarray(out)]


class EvalSampler(_EvaluatorReranker):
    name = "rerank_sample"
    trainable = False

    def rerank(self, req: Request, **opts) -> np.ndarray:
        n = int(opts.get("n_samples", self.config.n_samples))
        rng = np.random.default_rng(int(self.config.seed) + int(req.user) * 7919 + int(req.session or 0))
        lists = [req.init] + [req.init[rng.permutation(req.L)] for _ in range(n)]
        return lists[int(np.argmax(self.utility_hat(req, np.stack(lists))))]


class PRM(ListModel):
    """PRM-like attention reranker: a Transformer over the input list, one click logit per item (BCE)."""

    name = "rerank_prm"

    def __init__(self, config: RerankNetConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        self.encoder = ListEncoder(config, n_items, self.n_feats)
        self.head = nn.Linear(config.d, 1)

    def logits(self, users, cands, lst: torch.Tensor) -> torch.Tensor:
        uf, cands, gen = self.tensors(users, cands)
        return self.head(self.encoder(uf, self.encoder.cand_tokens(cands, gen), lst)[:, 1:])[..., 0]

    def fit_lists(self, data: RerankData, seed: int = 1, log=None, epochs: Optional[int] = None) -> dict:
        """BCE on the logged clicks (``eval_epochs`` epochs unless ``epochs``); keeps the epoch of lowest
        validation BCE."""
        t0 = time.perf_counter()
        self.attach_lists(data)
        cfg = self.config
        tr, va = data.splits["train"], data.splits["valid"]
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        opt = make_adamw(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        y = torch.as_tensor(data.clicks, dtype=torch.float32)
        lst = torch.as_tensor(data.logged)

        def loss_on(rows):
            return F.binary_cross_entropy_with_logits(self.logits(data.users[rows], data.cands[rows], lst[rows]),
                                                      y[rows])

        hist, keep = fit_bce(self, loss_on, tr, va, opt, rng, batch_size=cfg.batch_size, log=log, label="PRM",
                             epochs=cfg.eval_epochs if epochs is None else epochs)
        self.fitted.fill_(1)
        return {"history": hist, "best_valid_bce": keep.best, "best_epoch": keep.epoch,
                "seconds": round(time.perf_counter() - t0, 2)}

    @torch.no_grad()
    def scores(self, req: Request) -> np.ndarray:
        if self.training:
            self.eval()
        lst = torch.as_tensor(req.init[None], dtype=torch.long, device=self.device)
        return torch.sigmoid(self.logits([req.user], req.candidates[None], lst))[0].cpu().numpy()

    def rerank(self, req: Request, **opts) -> np.ndarray:
        return req.init[np.argsort(-self.scores(req), kind="stable")]


BASELINE_TITLES = {"rerank_ranker": "Ranker order", "rerank_greedy": "Greedy (evaluator score)",
                   "rerank_mmr": "MMR (diversity)", "rerank_prm": "PRM (attention)",
                   "rerank_sample": "Random + evaluator"}


def build_rerankers(dcdr, prm: Optional[PRM] = None, mmr_lambda: float = 0.7, n_samples: int = 16) -> dict:
    """{name: reranker} of every baseline, the evaluator-based ones sharing ``dcdr``'s evaluator."""
    out = {"rerank_ranker": RankerOrder(RerankNetConfig(), dcdr.n_users, dcdr.n_items).eval(),
           "rerank_greedy": GreedyScore.with_evaluator(dcdr),
           "rerank_mmr": MMR.with_evaluator(dcdr, mmr_lambda=mmr_lambda),
           "rerank_sample": EvalSampler.with_evaluator(dcdr, n_samples=n_samples)}
    if prm is not None:
        out["rerank_prm"] = prm
    return out


_IDEAS = {
    "rerank_ranker": "Keep the upstream ranker's order: the reference every reranker must beat.",
    "rerank_greedy": "Sort the list by the evaluator's predicted utility of each item placed first.",
    "rerank_mmr": "Trade the evaluator's relevance against genre redundancy, one position at a time.",
    "rerank_prm": "A Transformer over the input list scores every item in context (BCE on clicks); sort by it.",
    "rerank_sample": "Score random permutations with the evaluator and keep the best: generator-evaluator, "
                     "no diffusion.",
}
_PAPERS = {
    "rerank_ranker": "the upstream ranker (no reranking)",
    "rerank_greedy": "greedy sorting by a learned evaluator (docs/methods.md §2.7)",
    "rerank_mmr": "Carbonell & Goldstein, SIGIR 1998",
    "rerank_prm": "Pei et al., RecSys 2019 (PRM), simplified",
    "rerank_sample": "generator-evaluator baseline (docs/methods.md §2.7)",
}
for _cls in (RankerOrder, GreedyScore, MMR, PRM, EvalSampler):
    register(MethodSpec(
        name=_cls.name, title=BASELINE_TITLES[_cls.name], paper=_PAPERS[_cls.name], diffused="",
        model_cls=_cls, config_cls=RerankNetConfig, kind="baseline", needs=("lists",), idea=_IDEAS[_cls.name],
        page="reranking", presets=PRESETS))
