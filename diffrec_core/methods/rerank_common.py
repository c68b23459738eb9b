"""What every reranker of the sample world shares (DCDR in ``dcdr.py``, the baselines in ``rerank_baselines.py``).

* :class:`ListNetConfig` - the shape of the list networks (encoder, evaluator) and the evaluator's utility weights;
  ``DCDRConfig`` and ``RerankNetConfig`` extend it, so an evaluator is built from either.
* :class:`ListEncoder` - ``[user token; position tokens]`` -> a pre-LN Transformer (docs/methods.md#dcdr).
* :class:`Evaluator` - the sequence evaluator: per-position P(click), P(like) of a list in context;
  :func:`list_utility` turns them into the utility Û; :func:`train_evaluator` fits it on logged sessions.
* :class:`ListModel` - the base of every reranker: item genres and user history features as buffers (a checkpoint is
  self-contained), request -> tensors, the ``rerank`` entry point.
* :func:`batches` and :class:`KeepBest` - the shuffled mini-batches and the "keep the state with the best
  validation loss" rule every reranker's training loop uses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..rerank import RerankData, Request
from .base import Recommender, make_adamw

N_GENRES = 8
N_CROSS = 5     # per (user, candidate): user's history share of the item's genre (all, last 10), their logs, item
                # log-popularity in the interaction log


@dataclass
class ListNetConfig:
    """The list networks' shape (the denoiser, the evaluator and PRM share it) and the evaluator's settings."""

    list_len: int = 10               # L: the longest list the model takes (the logged lists' length)
    n_genres: int = N_GENRES         # genre vocabulary of the item tokens
    d: int = 32                      # model width
    layers: int = 2
    heads: int = 2
    ff: int = 64                     # feed-forward width
    dropout: float = 0.1
    use_rank: bool = True            # tokens carry the upstream ranker's rank (ranks >= L share one)
    eval_rank: bool = True           # evaluator tokens carry the ranker's rank too
    eval_causal: bool = False        # evaluator: position p attends to the user and positions <= p only
    eval_pal: bool = True            # evaluator: P(click_p) = sigmoid(b_p) * sigmoid(f(h_p)) (position-bias aware)
    eval_novelty: bool = True        # evaluator: a learned logit offset per number of same-genre items above (0..3+)
    w_click: float = 1.0             # evaluator utility weights (the sample world's: click 1, like 2)
    w_like: float = 2.0

    def list_net(self) -> dict:
        """This config's :class:`ListNetConfig` fields (to build another reranker around the same networks)."""
        return {f.name: getattr(self, f.name) for f in fields(ListNetConfig)}


def list_utility(probs, w_click: float, w_like: float):
    """Û = Σ_p w_click·P(click_p) + w_like·P(like_p) of (..., L, 2) probabilities (a NumPy array or a tensor)."""
    return w_click * probs[..., 0].sum(-1) + w_like * probs[..., 1].sum(-1)


# ------------------------------------------------------------------------------------------------ networks
class ListEncoder(nn.Module):
    """``[user token; position tokens]`` -> a pre-LN Transformer -> (B, 1 + L, d)."""

    def __init__(self, cfg: ListNetConfig, n_items: int, n_feats: int, steps: int = 0, cond: bool = False,
                 use_rank: Optional[bool] = None, causal: bool = False, positions: bool = True):
        super().__init__()
        d = cfg.d
        self.d = d
        self.use_rank = bool(cfg.use_rank if use_rank is None else use_rank)
        self.causal, self.positions = bool(causal), bool(positions)
        self.item = nn.Embedding(n_items, d)
        self.genre = nn.Embedding(cfg.n_genres, d)
        self.rank = nn.Embedding(cfg.list_len + 1, d)
        self.pos = nn.Embedding(cfg.list_len, d)
        self.user = nn.Linear(n_feats, d)
        self.cross = nn.Linear(N_CROSS, d)
        self.step = nn.Embedding(steps + 1, d) if steps else None
        self.cond = nn.Linear(2, d) if cond else None
        self.null_cond = nn.Parameter(torch.zeros(d)) if cond else None
        self.max_rank = cfg.list_len
        layer = nn.TransformerEncoderLayer(d, cfg.heads, cfg.ff, cfg.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        for emb in (self.item, self.genre, self.rank, self.pos) + ((self.step,) if steps else ()):
            nn.init.normal_(emb.weight, std=0.1)

    def cand_tokens(self, items: torch.Tensor, side) -> torch.Tensor:
        """(B, n, d) token of each candidate (item + genre + user-item cross features + ranker rank), without
        position / step / condition. ``side`` = (genres (B, n), cross (B, n, N_CROSS)) from ``ListModel.tensors``."""
        genres, cross = side
        t = self.item(items) + self.genre(genres) + self.cross(cross)
        if self.use_rank:
            r = torch.arange(items.shape[1], device=items.device).clamp(max=self.max_rank)
            t = t + self.rank(r)[None]
        return t

    def forward(self, user_vec: torch.Tensor, cand_tok: torch.Tensor, lst: torch.Tensor,
                k: Optional[torch.Tensor] = None, cond: Optional[torch.Tensor] = None,
                drop: Optional[torch.Tensor] = None, extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, L = lst.shape
        if cand_tok.shape[0] != B:
            cand_tok = cand_tok.expand(B, -1, -1)
        tok = torch.gather(cand_tok, 1, lst.unsqueeze(-1).expand(B, L, self.d))
        if self.positions:
            tok = tok + self.pos.weight[:L][None]
        if extra is not None:
            tok = tok + extra
        if self.step is not None:
            tok = tok + self.step(k)[:, None, :]
        if self.cond is not None:
            c = self.cond(cond) if cond is not None else self.null_cond.expand(B, L, self.d)
            if cond is not None and drop is not None:
                c = torch.where(drop[:, None, None], self.null_cond.expand(B, L, self.d), c)
            tok = tok + c
        u = self.user(user_vec)
        if u.shape[0] != B:
            u = u.expand(B, -1)
        mask = None
        if self.causal:     # token 0 (the user) and positions <= p are visible to position p
            mask = torch.triu(torch.full((L + 1, L + 1), float("-inf"), device=tok.device), diagonal=1)
        h = self.enc(torch.cat([u[:, None, :], tok], 1), mask=mask)
        return self.norm(h)


class Evaluator(nn.Module):
    """The sequence evaluator: per-position probabilities of (click, like) for a list in context.

    With ``eval_causal`` position p sees the user and the items at positions <= p (what the user has seen when
    deciding); with ``eval_pal`` the position effect is a separate factor, PAL-style (Guo et al., RecSys 2019):
    ``P(click_p) = sigmoid(b_p)·sigmoid(f_click(h_p))``, ``P(like_p) = P(click_p)·sigmoid(f_like(h_p))``, so that
    a reordered list is scored by the same item-in-context term at its new position."""

    def __init__(self, cfg: ListNetConfig, n_items: int, n_feats: int):
        super().__init__()
        self.pal = bool(cfg.eval_pal)
        self.novelty = nn.Embedding(4, 2) if cfg.eval_novelty else None
        if self.novelty is not None:
            nn.init.zeros_(self.novelty.weight)
        self.encoder = ListEncoder(cfg, n_items, n_feats, use_rank=cfg.eval_rank, causal=cfg.eval_causal,
                                   positions=not self.pal)
        self.head = nn.Linear(cfg.d, 2)
        self.pos_logit = nn.Parameter(torch.zeros(cfg.list_len)) if self.pal else None

    def probs(self, user_vec, cand_tok, lst, cand_genre) -> torch.Tensor:
        """(B, L, 2) P(click), P(like) per position. ``cand_genre`` (B or 1, n): the candidates' genres."""
        extra = None
        if self.novelty is not None:
            B, L = lst.shape
            g = torch.gather(cand_genre.expand(B, -1), 1, lst)
            above = torch.tril(torch.ones(L, L, dtype=torch.bool, device=lst.device), diagonal=-1)
            n_above = ((g[:, :, None] == g[:, None, :]) & above).sum(-1).clamp(max=3)
            extra = self.novelty(n_above)
        f = self.head(self.encoder(user_vec, cand_tok, lst)[:, 1:])
        if extra is not None:       # a learned logit offset per number of same-genre items above
            f = f + extra
        if not self.pal:
            return torch.sigmoid(f)
        click = torch.sigmoid(self.pos_logit[: lst.shape[1]])[None] * torch.sigmoid(f[..., 0])
        return torch.stack([click, click * torch.sigmoid(f[..., 1])], -1)

    forward = probs



# ------------------------------------------------------------------------------------------------ shared context
class ListModel(Recommender):
    """Base of every reranker: persistent buffers with the item genres and the users' history features (so a
    checkpoint is self-contained), request -> tensors, and the ``rerank`` entry point."""

    trainable = True

    def __init__(self, config, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        n_feats = 2 * int(config.n_genres) + 1
        self.n_feats = n_feats
        self.register_buffer("item_genre", torch.zeros(n_items, dtype=torch.long))
        self.register_buffer("item_pop", torch.zeros(n_items))
        self.register_buffer("user_feats", torch.zeros(n_users, n_feats))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.long))

    def attach_lists(self, data: RerankData) -> None:
        """Copy the data's item genres and user features into the buffers (before training)."""
        if data.n_items != self.n_items or data.n_users != self.n_users:
            raise ValueError(f"data has {data.n_users} users x {data.n_items} items; the model "
                             f"{self.n_users} x {self.n_items}")
        self.item_genre.copy_(torch.as_tensor(np.array(data.item_genre), dtype=torch.long))
        self.item_pop.copy_(torch.as_tensor(np.array(data.item_pop), dtype=torch.float32))
        self.user_feats.copy_(torch.as_tensor(np.array(data.user_feats), dtype=torch.float32))

    @property
    def device(self) -> torch.device:       # cheap: the base class walks every parameter (hot path at inference)
        return self.item_genre.device

    def copy_context(self, other: "ListModel") -> None:
        for name in ("item_genre", "item_pop", "user_feats"):
            getattr(self, name).copy_(getattr(other, name))

    def tensors(self, users, cands):
        """(user features (B, F), candidates (B, n), side = (genres (B, n), cross features (B, n, N_CROSS)))."""
        dev = self.device
        users = torch.as_tensor(np.asarray(users), dtype=torch.long, device=dev)
        cands = torch.as_tensor(np.asarray(cands), dtype=torch.long, device=dev)
        uf = self.user_feats[users]
        gen = self.item_genre[cands]
        G = (uf.shape[1] - 1) // 2
        sh_all = torch.gather(uf[:, :G], 1, gen)
        sh_rec = torch.gather(uf[:, G:2 * G], 1, gen)
        cross = torch.stack([sh_all, sh_rec, torch.log(0.02 + sh_all), torch.log(0.02 + sh_rec), self.item_pop[cands]],
                            -1)
        return uf, cands, (gen, cross)

    @torch.no_grad()
    def evaluator_probs(self, ev: Evaluator, req: Request, lists: np.ndarray) -> np.ndarray:
        """(M, L, 2) ``ev``'s P(click), P(like) per position for M lists (candidate indices) of one request."""
        uf, cands, gen = self.tensors([req.user], req.candidates[None])
        lst = torch.as_tensor(np.atleast_2d(lists), dtype=torch.long, device=self.device)
        return ev.probs(uf, ev.encoder.cand_tokens(cands, gen), lst, gen[0]).cpu().numpy()

    def fit_lists(self, data: RerankData, seed: int = 1, log=None, epochs: Optional[int] = None) -> dict:
        """Train on the logged sessions' training split, selecting on validation (subclasses that learn
        something override this); here only the data's item genres and user features are taken."""
        self.attach_lists(data)
        self.fitted.fill_(1)
        return {"best_epoch": None, "seconds": 0.0}

    def fit_epoch(self, split, generator, rng) -> dict:
        raise NotImplementedError(f"{self.name} trains on logged lists (needs 'lists'): use fit_lists(data)")

    def score(self, split, users, which="valid"):
        raise NotImplementedError(f"{self.name} reranks lists; it does not score a user's whole catalogue")

    def rerank(self, req: Request, **opts) -> np.ndarray:
        raise NotImplementedError



# ------------------------------------------------------------------------------------------------ training
def batches(n: int, bs: int, rng: np.random.Generator):
    """Indices 0..n-1 in ``rng``'s random order, in mini-batches of ``bs``."""
    order = rng.permutation(n)
    for i in range(0, n, bs):
        yield order[i:i + bs]


class KeepBest:
    """Keep a copy of ``module``'s state at the epoch of lowest validation loss and put it back at the end.

    Without a validation split (``has_valid`` false) every epoch replaces the copy, so the last one is kept."""

    def __init__(self, module: nn.Module, has_valid: bool):
        self.module, self.has_valid = module, bool(has_valid)
        self.best, self.state, self.epoch = float("inf"), None, 0

    def update(self, valid_loss: float, epoch: int) -> None:
        if not self.has_valid or valid_loss < self.best:
            self.best, self.state, self.epoch = valid_loss, copy.deepcopy(self.module.state_dict()), epoch

    def restore(self) -> None:
        if self.state is not None:
            self.module.load_state_dict(self.state)


def fit_bce(module: nn.Module, loss_on, tr: np.ndarray, va: np.ndarray, opt, rng, *, epochs: int,
            batch_size: int, log=None, label: str = "") -> tuple:
    """The training loop every list network shares: mini-batches of the training sessions ``tr`` (shuffled by
    ``rng``), the validation BCE ``loss_on(va)`` after each epoch, and the state of lowest validation loss put
    back at the end (:class:`KeepBest`). Returns (history, the KeepBest record)."""
    hist, keep = [], KeepBest(module, len(va) > 0)
    for ep in range(int(epochs)):
        module.train()
        tot = 0.0
        for b in batches(len(tr), int(batch_size), rng):
            loss = loss_on(tr[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
        module.eval()
        with torch.no_grad():
            vl = float(loss_on(va)) if len(va) else float("nan")
        hist.append({"epoch": ep + 1, "train_bce": tot / len(tr), "valid_bce": vl})
        if log:
            log(f"  {label} epoch {ep + 1:2d}  train BCE {tot / len(tr):.4f}  valid BCE {vl:.4f}")
        keep.update(vl, ep + 1)
    keep.restore()
    module.eval()
    return hist, keep


def train_evaluator(ev: Evaluator, model: ListModel, data: RerankData, seed: int = 1, log=None, *,
                    epochs: int, lr: float, batch_size: int, weight_decay: float) -> dict:
    """BCE of the per-position (click, like) heads on the logged lists for ``epochs`` epochs; keeps the epoch with
    the lowest validation loss. Returns the loss history and that epoch."""
    tr, va = data.splits["train"], data.splits["valid"]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = make_adamw(ev.parameters(), lr=lr, weight_decay=weight_decay)
    y_all = torch.as_tensor(data.responses())
    lst_all = torch.as_tensor(data.logged)

    def loss_on(rows):
        uf, cands, gen = model.tensors(data.users[rows], data.cands[rows])
        probs = ev.probs(uf, ev.encoder.cand_tokens(cands, gen), lst_all[rows], gen[0])
        return F.binary_cross_entropy(probs.clamp(1e-6, 1 - 1e-6), y_all[rows])

    if ev.pal:   # start the position factor at the logged click rate per position relative to the best one
        ctr = data.clicks[tr].mean(0).astype(np.float64)
        rel = np.clip(ctr / max(ctr.max(), 1e-9), 0.05, 0.95)
        with torch.no_grad():
            ev.pos_logit[: len(rel)] = torch.as_tensor(np.log(rel / (1 - rel)), dtype=torch.float32)
    hist, keep = fit_bce(ev, loss_on, tr, va, opt, rng, epochs=epochs, batch_size=batch_size, log=log,
                         label="evaluator")
    return {"history": hist, "best_valid_bce": keep.best, "best_epoch": keep.epoch}
