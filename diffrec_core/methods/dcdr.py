"""DCDR: discrete conditional diffusion for reranking (Lin et al., Kuaishou, WWW'24 Companion, arXiv 2308.06982).

**This is a reconstruction.** The paper has no public code (docs/methods.md §2.7). From the paper [paper]: reranking in
the generator-evaluator paradigm; a *discrete* forward process that corrupts item lists step by step (permutation
level, DCDR-P: swaps; token level, DCDR-T: replacements); a reverse process *conditioned on the expected user
responses*; inference that starts from the upstream ranker's list, conditions on positive responses, runs a few
reverse steps with beam search and early stopping; a sequence evaluator that picks the output. Everything concrete
below is this project's design [recon], following docs/methods.md §2.7:

* **Forward processes** - ``diffrec_core/diffusion/discrete.py``: DCDR-P applies, at step k, one uniformly random
  transposition with probability beta_k; DCDR-T replaces each position with probability beta_k by a candidate not
  in the list. T = 6, beta = linspace(0.3, 0.9, T). Lists are indices into the request's candidates.
* **Denoiser** - a 2-layer pre-LN Transformer (d 32, 2 heads, GELU, dropout 0.1, bidirectional) over
  ``[user token; position tokens]`` with ``tok_p = e(item) + e(genre) + W_c·cross(u, item) + P[p] + τ(k) + W_y·y_p``,
  where y_p is the desired (click, like) response **of position p** and τ(k) a learned step embedding; cross(u, item)
  are five user-item features (the user's history share of the item's genre, overall and in the last 10
  interactions, their logs, and the item's log-popularity in the interaction log). The user token is a linear map of
  the user's history features (``rerank.user_features``). The condition is dropped (a learned null vector) with
  probability 0.1 in training, so the model also runs unconditioned. The ranker's rank is *not* a denoiser feature
  by default (``use_rank``): the logged lists are the ranker's order with two random swaps, so with it the denoiser
  learns "ranker order = clean" and predicts the no-op on x_init with probability ~0.97.
  *DCDR-P undoes the last corruption step*: a softmax over ``1 + L(L-1)/2`` operations (no-op + pair logits
  ``(W_q h_i)ᵀ(W_k h_j)/√d``), cross-entropy on the recorded o_k; transpositions are self-inverse, so
  x_{k-1} = o_k(x_k) exactly. *DCDR-T predicts x0*: per position, logits ``⟨W h_p, e_c⟩`` over the n candidates
  (cross-entropy to x0), mixed through the D3PM posterior (``TokenNoise.posterior``) at each reverse step.
* **Evaluator** - the same encoder with its own weights, without step and condition, plus three choices that made
  it rank *reorderings* well on held-out sessions (Spearman with the true utility over random permutations 0.35 ->
  0.61): the ranker's rank as a token feature, a PAL-style position factor (Guo et al., RecSys 2019;
  ``P(click_p) = sigmoid(b_p)·sigmoid(f(h_p))``, b_p started at the logged click rate per position) instead of
  position embeddings, and a learned logit offset per number of same-genre items above (a novelty feature).
  BCE on the logged (list, responses); ``Û(x) = Σ_p w_click·p̂_click + w_like·p̂_like``.
* **Inference** - start from the ranker's list (``x_init``), condition on the desired responses ('like': click and
  like at every position; 'click': clicks only; 'none': unconditioned), treat x_init as x_{T_inf} and run the steps
  k = T_inf..1. Beam search of width B: every beam expands its top-B moves, the no-op included (DCDR-P: operations;
  DCDR-T: decodes of the posterior by a position-by-position beam that masks items already placed); the B best
  distinct lists by cumulative log-probability survive. Early stop: when the beams come out as the lists they went
  in ('no-op': the list stopped changing; with B = 1 this is "the most likely move is the no-op"), or when the
  evaluator's best Û did not improve on the previous step ('evaluator'). Output: argmax Û over x_init and every
  beam visited (docs/methods.md: the final beams and x_init; keeping the best seen matters when the evaluator stop
  fires). Since the forward process's no-op prior is 1 - β_k, the no-op path usually keeps the highest
  log-probability and the other beams are the model's proposals: the evaluator chooses among them.

**Trajectory mapping** (``DCDR.trajectory``): ``steps`` = the reverse step k of each shown step (T_inf..1 for the
steps run) followed by 0 for the evaluator's selection; ``states[s]`` (S, B, L) = the best beam's list the
network received at that step as float item ids; ``x0_hat[s]`` = the best beam's list after the step (the last
entry: the evaluator's pick), ``topk`` the same as int item ids, so ``final_topk == topk[-1]`` is the output;
``meta`` carries the beams with their log-probabilities and Û at every step, the condition, the stop reason and
what changed. ``betas`` is the forward schedule; ``alphas_cumprod`` = P(an entry is untouched after k steps)
(DCDR-P: Π(1 - β_k·2/L); DCDR-T: Π(1 - β_k)).

The list encoder, the evaluator and the reranker base class are shared with the baselines
(``methods/rerank_common.py``).

Pretrain the sample-world checkpoints (about 1 min on one CPU core): ``python -m diffrec_core pretrain --methods dcdr``;
train and evaluate one model on logged sessions: ``python -m diffrec_core train --method dcdr --data sample --json``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion.discrete import apply_swaps, describe_step, make_noise, pair_of_op
from ..registry import MethodSpec, register
from ..rerank import RerankData, Request
from ..trajectory import Trajectory
from .dcdr_run import STOP_TEXT, Beam, DCDRRun, distinct_beam_decode, run_to_trajectory  # noqa: F401
from .base import make_adamw
from .rerank_common import Evaluator, KeepBest, ListEncoder, ListModel, ListNetConfig, batches, list_utility, \
    train_evaluator

CONDITIONS = {"like": "a click and a like at every position", "click": "a click at every position, no like",
              "none": "no condition (unconditioned denoiser)"}


@dataclass
class DCDRConfig(ListNetConfig):
    """The list networks (``ListNetConfig``: denoiser and evaluator have the same shape, separate weights) plus
    what is diffused, inference and optimisation."""

    # --- what is diffused (docs/methods.md §2.7) ---
    variant: str = "P"               # 'P': permutation noise (swaps) | 'T': token noise (replacements)
    steps: int = 6                   # T forward steps
    beta_start: float = 0.3          # rate of step 1
    beta_end: float = 0.9            # rate of step T
    # --- networks ---
    use_rank: bool = False           # denoiser tokens carry the upstream ranker's rank (ranks >= L share one). Off:
                                     # with it the denoiser learns that ranker order is clean (no-op ~0.97 on x_init)
    cond_drop: float = 0.1           # P(condition replaced by the null vector) in training [recon, not in paper]
    # --- inference (the paper's techniques; values recon) ---
    infer_steps: int = 3             # T_inf reverse steps from x_init
    beam: int = 3                    # B
    condition: str = "like"          # 'like' | 'click' | 'none'
    # --- optimisation ---
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    epochs: int = 10                 # denoiser epochs
    k_per_list: int = 4              # sampled steps k per logged list per epoch
    eval_epochs: int = 8             # evaluator epochs (the epoch of lowest validation BCE is kept)
    eval_lr: float = 3e-3            # evaluator learning rate
    eval_batch: int = 64             # evaluator batch size
    eval_every: int = 1              # (kept for the shared tooling; selection is on validation loss each epoch)


DCDR_PRESETS = {
    "sample": {},
    "P": {"variant": "P"},
    "T": {"variant": "T"},
    "tiny": {"d": 16, "layers": 1, "epochs": 1, "eval_epochs": 1, "k_per_list": 1},   # tests / smoke runs
}


# ------------------------------------------------------------------------------------------------ denoisers
class GeneratorP(nn.Module):
    """DCDR-P denoiser: logits over {no-op} ∪ {transpositions (i, j), i < j} of the noisy list."""

    def __init__(self, cfg: DCDRConfig, n_items: int, n_feats: int):
        super().__init__()
        self.encoder = ListEncoder(cfg, n_items, n_feats, steps=cfg.steps, cond=True)
        self.wq = nn.Linear(cfg.d, cfg.d, bias=False)
        self.wk = nn.Linear(cfg.d, cfg.d, bias=False)
        self.noop = nn.Linear(cfg.d, 1)

    def forward(self, user_vec, cand_tok, lst, k, cond=None, drop=None) -> torch.Tensor:
        h = self.encoder(user_vec, cand_tok, lst, k, cond, drop)
        hu, hi = h[:, 0], h[:, 1:]
        L = lst.shape[1]
        s = self.wq(hi) @ self.wk(hi).transpose(1, 2) / math.sqrt(hi.shape[-1])
        iu, ju = torch.triu_indices(L, L, offset=1, device=lst.device)
        pair = s[:, iu, ju]
        noop = self.noop(hu + hi.mean(1))
        return torch.cat([noop, pair], 1)


class GeneratorT(nn.Module):
    """DCDR-T denoiser: per position, logits of x0 over the request's candidates, ⟨W h_p, e_c⟩ / √d."""

    def __init__(self, cfg: DCDRConfig, n_items: int, n_feats: int):
        super().__init__()
        self.encoder = ListEncoder(cfg, n_items, n_feats, steps=cfg.steps, cond=True)
        self.out = nn.Linear(cfg.d, cfg.d)

    def forward(self, user_vec, cand_tok, lst, k, cond=None, drop=None) -> torch.Tensor:
        h = self.encoder(user_vec, cand_tok, lst, k, cond, drop)[:, 1:]
        ct = cand_tok if cand_tok.shape[0] == lst.shape[0] else cand_tok.expand(lst.shape[0], -1, -1)
        return self.out(h) @ ct.transpose(1, 2) / math.sqrt(h.shape[-1])


# ------------------------------------------------------------------------------------------------ DCDR


class DCDR(ListModel):
    """DCDR-P / DCDR-T (``config.variant``) with its own evaluator; see the module docstring."""

    name = "dcdr"

    def __init__(self, config: DCDRConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        v = str(config.variant).upper()
        if v not in ("P", "T"):
            raise ValueError(f"DCDR variant must be 'P' or 'T', got {config.variant!r}")
        self.variant = v
        self.noise = make_noise(v, config.steps, config.beta_start, config.beta_end)
        self.evaluator = Evaluator(config, n_items, self.n_feats)
        self.generator = (GeneratorP if v == "P" else GeneratorT)(config, n_items, self.n_feats)

    def n_diffusion_steps(self) -> int:
        return int(self.config.steps)

    # -- conditions --------------------------------------------------------------------------------------------
    @staticmethod
    def condition_tensor(condition: str, B: int, L: int) -> Optional[torch.Tensor]:
        if condition == "none":
            return None
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; one of {', '.join(CONDITIONS)}")
        c = torch.tensor([1.0, 1.0 if condition == "like" else 0.0])
        return c.expand(B, L, 2).contiguous()

    # -- training ------------------------------------------------------------------------------------------------
    def fit_lists(self, data: RerankData, seed: int = 1, log=None, evaluator_state: Optional[dict] = None,
                  epochs: Optional[int] = None) -> dict:
        """Train the evaluator (or load ``evaluator_state``, to share one evaluator between P and T) and the
        denoiser on the training sessions; each keeps its epoch of lowest validation loss."""
        t0 = time.perf_counter()
        self.attach_lists(data)
        out = {}
        if evaluator_state is not None:
            self.evaluator.load_state_dict(evaluator_state)
            out["evaluator"] = {"shared": True}
        else:
            c = self.config
            out["evaluator"] = train_evaluator(self.evaluator, self, data, seed, log, epochs=c.eval_epochs,
                                               lr=c.eval_lr, batch_size=c.eval_batch,
                                               weight_decay=c.weight_decay)
        t1 = time.perf_counter()
        out["generator"] = self._train_generator(data, seed, log, epochs)
        out["best_epoch"] = out["generator"]["best_epoch"]      # the denoiser's; the evaluator's is beside it
        self.fitted.fill_(1)
        self.eval()
        out["seconds"] = {"evaluator": round(t1 - t0, 2), "generator": round(time.perf_counter() - t1, 2)}
        return out

    def _gen_loss(self, data: RerankData, rows: np.ndarray, y: torch.Tensor, g: torch.Generator,
                  train: bool) -> torch.Tensor:
        c = self.config
        reps = int(c.k_per_list) if train else 1
        rows = np.repeat(rows, reps)
        B = len(rows)
        x0 = torch.as_tensor(data.logged[rows])
        k = torch.randint(1, c.steps + 1, (B,), generator=g)
        if self.variant == "P":
            xk, target = self.noise.training_pairs(x0, k, g)
        else:
            xk, target = self.noise.training_pairs(x0, data.n, k, g)
        drop = torch.rand(B, generator=g) < (c.cond_drop if train else 0.0)
        uf, cands, gen = self.tensors(data.users[rows], data.cands[rows])
        ct = self.generator.encoder.cand_tokens(cands, gen)
        logits = self.generator(uf, ct, xk, k, y[rows], drop)
        if self.variant == "P":
            return F.cross_entropy(logits, target)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))

    def _train_generator(self, data: RerankData, seed: int, log, epochs: Optional[int] = None) -> dict:
        c = self.config
        tr, va = data.splits["train"], data.splits["valid"]
        rng = np.random.default_rng(seed + 1)
        g = torch.Generator().manual_seed(seed + 1)
        torch.manual_seed(seed + 1)
        y = torch.as_tensor(data.responses())
        opt = make_adamw(self.generator.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        per_batch = max(1, int(c.batch_size) // max(1, int(c.k_per_list)))
        hist, keep = [], KeepBest(self.generator, len(va) > 0)
        for ep in range(int(epochs if epochs is not None else c.epochs)):
            self.generator.train()
            tot, n = 0.0, 0
            for b in batches(len(tr), per_batch, rng):
                loss = self._gen_loss(data, tr[b], y, g, True)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot, n = tot + float(loss.detach()) * len(b), n + len(b)
            self.generator.eval()
            with torch.no_grad():
                vg = torch.Generator().manual_seed(12345)          # the same noise every epoch: comparable
                vl = float(self._gen_loss(data, va, y, vg, False)) if len(va) else float("nan")
            hist.append({"epoch": ep + 1, "train_ce": tot / max(n, 1), "valid_ce": vl})
            if log:
                log(f"  DCDR-{self.variant} epoch {ep + 1:2d}  train CE {tot / max(n, 1):.4f}  valid CE {vl:.4f}")
            keep.update(vl, ep + 1)
        keep.restore()
        self.generator.eval()
        return {"history": hist, "best_valid_ce": keep.best, "best_epoch": keep.epoch}

    # -- inference -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _context(self, req: Request):
        uf, cands, gen = self.tensors([req.user], req.candidates[None])
        return (uf, self.generator.encoder.cand_tokens(cands, gen),
                (self.evaluator.encoder.cand_tokens(cands, gen), gen[0]))

    def evaluator_scores(self, req: Request, lists: np.ndarray) -> np.ndarray:
        """(M, L, 2) the evaluator's P(click), P(like) per position for M lists of one request."""
        return self.evaluator_probs(self.evaluator, req, lists)

    def utility_hat(self, probs: np.ndarray) -> np.ndarray:
        return list_utility(probs, self.config.w_click, self.config.w_like)

    @torch.no_grad()
    def _u(self, uf, ce, lists: List[np.ndarray]) -> np.ndarray:
        lst = torch.as_tensor(np.stack(lists), dtype=torch.long, device=self.device)
        p = self.evaluator.probs(uf, ce[0], lst, ce[1])
        return list_utility(p, self.config.w_click, self.config.w_like).cpu().numpy()

    @torch.no_grad()
    def _expand_P(self, uf, cg, X: torch.Tensor, k: int, cond, width: int):
        """Per beam: the top-``width`` operations (the no-op included) by log-probability ->
        [(beam, new list, logp, text)]."""
        B, L = X.shape
        logits = self.generator(uf, cg, X, torch.full((B,), k, dtype=torch.long, device=X.device),
                                None if cond is None else cond[:B, :L])
        lp = torch.log_softmax(logits, -1)
        w = min(width, lp.shape[1])
        top_lp, top_op = torch.topk(lp, w, dim=1)
        new = apply_swaps(X.repeat_interleave(w, 0), top_op.reshape(-1)).cpu().numpy()
        out = []
        for b in range(B):
            for j in range(w):
                op = int(top_op[b, j])
                pr = pair_of_op(op, L)
                out.append((b, new[b * w + j], float(top_lp[b, j]),
                            "no-op" if pr is None else f"swap {pr[0] + 1} ↔ {pr[1] + 1}"))
        return out, None

    @torch.no_grad()
    def _expand_T(self, uf, cg, X: torch.Tensor, k: int, cond, width: int, n: int):
        """Per beam: the top-``width`` distinct decodes of the posterior q(x_{k-1} | x_k, x̂0) (a position-by-
        position beam that masks items already placed)."""
        B, L = X.shape
        logits = self.generator(uf, cg, X, torch.full((B,), k, dtype=torch.long, device=X.device),
                                None if cond is None else cond[:B, :L])
        p0 = torch.softmax(logits, -1)
        post = self.noise.posterior(X, p0, k)
        logpost = torch.log(post.clamp_min(1e-30)).cpu().numpy()         # (B, L, n)
        x0_pred = distinct_beam_decode(torch.log(p0.clamp_min(1e-30)).cpu().numpy()[0], 1)[0][0]
        Xn = X.cpu().numpy()
        out = []
        for b in range(B):
            for lst, lp in distinct_beam_decode(logpost[b], width):
                out.append((b, lst, float(lp), describe_step(Xn[b].tolist(), lst.tolist())))
        return out, x0_pred

    @torch.no_grad()
    def run(self, req: Request, steps: Optional[int] = None, beam: Optional[int] = None,
            condition: Optional[str] = None) -> DCDRRun:
        """Rerank one request with beam search; see the module docstring for the rules."""
        c = self.config
        steps = int(c.infer_steps if steps is None else steps)
        width = int(c.beam if beam is None else beam)
        condition = c.condition if condition is None else condition
        if not 1 <= steps <= c.steps:
            raise ValueError(f"reverse steps must be 1..{c.steps} (the forward process has T = {c.steps})")
        if width < 1:
            raise ValueError("beam width must be >= 1")
        L = req.L
        if not 2 <= L <= c.list_len:
            raise ValueError(f"DCDR takes lists of 2..{c.list_len} items, got {L}")
        t0 = time.perf_counter()
        was = self.training
        if was:
            self.eval()
        uf, cg, ce = self._context(req)
        cond = self.condition_tensor(condition, width, L)
        init = req.init.copy()
        u0 = float(self._u(uf, ce, [init])[0])
        ucache = {tuple(int(v) for v in init): u0}
        beams = [[Beam(init, 0.0, u0, "start")]]
        best_path, x0_preds = [init], []
        best = (u0, "x_init", init)
        best_at = (0, 0)
        stop, prev_best = "steps", u0
        ks = []
        for k in range(steps, 0, -1):
            cur = beams[-1]
            X = torch.as_tensor(np.stack([b.lst for b in cur]), dtype=torch.long, device=self.device)
            if self.variant == "P":
                cand, x0p = self._expand_P(uf, cg, X, k, cond, width)
            else:
                cand, x0p = self._expand_T(uf, cg, X, k, cond, width, req.n)
            ks.append(k)
            if x0p is not None:
                x0_preds.append(req.candidates[x0p])
            pool: Dict[tuple, Beam] = {}
            for bi, lst, lp, text in cand:
                key = tuple(int(v) for v in lst)
                score = cur[bi].logp + lp
                if key not in pool or score > pool[key].logp:
                    pool[key] = Beam(np.asarray(lst, dtype=np.int64), score, float("nan"), text, bi)
            nxt = sorted(pool.values(), key=lambda b: -b.logp)[:width]
            keys = [tuple(int(v) for v in b.lst) for b in nxt]
            todo = [b.lst for b, key in zip(nxt, keys) if key not in ucache]
            if todo:
                for lst, u in zip(todo, self._u(uf, ce, todo)):
                    ucache[tuple(int(v) for v in lst)] = float(u)
            for b, key in zip(nxt, keys):
                b.u = ucache[key]
            beams.append(nxt)
            best_path.append(nxt[0].lst)
            if set(keys) == {tuple(int(v) for v in b.lst) for b in cur}:
                stop = "no-op"            # the beams are the lists they were: the lists stopped changing
                for b in nxt:
                    b.move = "no change" if b.move in ("no-op", "no change") else b.move
                break
            step_best = max(range(len(nxt)), key=lambda i: nxt[i].u)
            if nxt[step_best].u > best[0]:
                best = (nxt[step_best].u, f"step {len(beams) - 1}, beam {step_best + 1}", nxt[step_best].lst)
                best_at = (len(beams) - 1, step_best)
            if nxt[step_best].u <= prev_best:
                stop = "evaluator"
                break
            prev_best = nxt[step_best].u
        if was:
            self.train(was)
        return DCDRRun(request=req, variant=self.variant, condition=condition, beam=width, ks=ks, beams=beams,
                       best_path=best_path, x0_preds=x0_preds, output=np.asarray(best[2], dtype=np.int64),
                       output_from=best[1], u_init=u0, u_output=float(best[0]), stop=stop,
                       stop_text=STOP_TEXT[stop], seconds=time.perf_counter() - t0, output_at=best_at)

    @torch.no_grad()
    def greedy(self, req: Request, steps: Optional[int] = None, condition: Optional[str] = None) -> DCDRRun:
        """Plain greedy decoding (argmax move at every step, same stopping rules), written separately from the
        beam search so that a test can check that beam search with B = 1 equals it."""
        c = self.config
        steps = int(c.infer_steps if steps is None else steps)
        condition = c.condition if condition is None else condition
        if self.training:
            self.eval()
        uf, cg, ce = self._context(req)
        L = req.L
        cond = self.condition_tensor(condition, 1, L)
        x = req.init.copy()
        u0 = float(self._u(uf, ce, [x])[0])
        beams, path, best, prev, stop, ks = [[Beam(x, 0.0, u0, "start")]], [x], (u0, "x_init", x), u0, "steps", []
        logp, best_at = 0.0, (0, 0)
        for k in range(steps, 0, -1):
            ks.append(k)
            X = torch.as_tensor(x[None], dtype=torch.long)
            kk = torch.tensor([k])
            logits = self.generator(uf, cg, X, kk, cond)
            if self.variant == "P":
                lp = torch.log_softmax(logits, -1)[0]
                op = int(torch.argmax(lp))
                if op == 0:
                    stop = "no-op"
                    beams.append([Beam(x, logp, prev, "no change", 0)])
                    path.append(x)
                    break
                new, step_lp = apply_swaps(X, torch.tensor([op]))[0].numpy(), float(lp[op])
            else:
                post = self.noise.posterior(X, torch.softmax(logits, -1), k)[0]
                lpost = torch.log(post.clamp_min(1e-30)).numpy()
                new = np.empty(L, dtype=np.int64)
                used = np.zeros(req.n, dtype=bool)
                step_lp = 0.0
                for p in range(L):
                    row = np.where(used, -np.inf, lpost[p])
                    new[p] = int(np.argmax(row))
                    used[new[p]] = True
                    step_lp += float(row[new[p]])
                if np.array_equal(new, x):
                    stop = "no-op"
                    beams.append([Beam(x, logp, prev, "no change", 0)])
                    path.append(x)
                    break
            logp += step_lp
            x = new
            u = float(self._u(uf, ce, [x])[0])
            beams.append([Beam(x, logp, u, describe_step(path[-1].tolist(), x.tolist()), 0)])
            path.append(x)
            if u > best[0]:
                best, best_at = (u, f"step {len(beams) - 1}, beam 1", x), (len(beams) - 1, 0)
            if u <= prev:
                stop = "evaluator"
                break
            prev = u
        return DCDRRun(req, self.variant, condition, 1, ks, beams, path, [], np.asarray(best[2]), best[1], u0,
                       float(best[0]), stop, STOP_TEXT[stop], output_at=best_at)

    def rerank(self, req: Request, **opts) -> np.ndarray:
        return self.run(req, **opts).output

    # -- the shared record -------------------------------------------------------------------------------------
    def list_schedule(self, L: int) -> Tuple[np.ndarray, np.ndarray]:
        """(betas, the cumulative keep probability) of a list of length ``L``: what a Trajectory records as its
        schedule. Not ``diffusion.schedule_arrays`` (the Gaussian coefficients): DCDR corrupts by swaps, and
        DCDR-P's per-step keep probability depends on the list length."""
        b = np.asarray(self.noise.betas, dtype=np.float64)
        keep = 1.0 - b * (2.0 / max(L, 2)) if self.variant == "P" else 1.0 - b
        return b, np.cumprod(keep)

    def trajectory(self, req, users=None, k: int = 10, **opts) -> Trajectory:
        """A :class:`Trajectory` of one reranking run (or pass a finished :class:`DCDRRun`); see the module
        docstring for the mapping. ``opts``: steps, beam, condition."""
        run = req if isinstance(req, DCDRRun) else self.run(req, **opts)
        return run_to_trajectory(run, self.list_schedule(run.request.L), self.name)


_PRETRAINED = ("pretrain", "load_pretrained_rerank", "CHECKPOINTS", "PRETRAIN_HINT")


def __getattr__(name):
    # pretraining lives in dcdr_pretrained.py, which imports this module: its names are looked up there on use
    if name in _PRETRAINED:
        from . import dcdr_pretrained
        return getattr(dcdr_pretrained, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register(MethodSpec(
    name="dcdr", title="DCDR",
    paper="Lin et al., WWW 2024 Companion (arXiv 2308.06982); reconstruction, no public code",
    diffused="a ranked list (discrete: swaps / replacements)", model_cls=DCDR, config_cls=DCDRConfig,
    kind="diffusion", needs=("lists",),
    idea="Corrupt logged lists by swaps (P) or replacements (T); a response-conditioned Transformer undoes it, "
         "starting from the ranker's list, with beam search and an evaluator picking the output.",
    page="reranking", order=7, presets=DCDR_PRESETS))
