"""SASRec baseline (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018, arXiv 1808.09781),
trained with full-softmax cross-entropy as docs/methods.md §5.7 asks, on the same leave-one-out data and protocol as
DiffuRec and DreamRec.

Reference code: github.com/kang205/SASRec (TensorFlow) and pmixer/SASRec.pytorch. Deviations, on purpose:
* the loss is cross-entropy over all items at every position (the original samples one negative for BCE);
  this is the comparison docs/methods.md §5.3 wants - "DiffuRec is nearly a bidirectional Transformer trained with
  full-softmax CE; compare it with SASRec trained with the same CE";
* the blocks are DiffuRec's pre-LN Transformer blocks (``seq_common.Transformer``), with learned positions and a
  causal + key-padding mask, so that SASRec and DiffuRec differ only in what the comparison is about: causal
  attention with positions vs DiffuRec's position-free, unmasked attention plus the diffusion injection.

Training: every user's training sequence is cut into causal windows of ``max_len`` (inputs s_1..s_{n-1},
targets s_2..s_n), so each training target is predicted once per epoch - the same targets as DiffuRec's
Σ(len−1) prefix samples, at 1/max_len of the cost. Ranking: h_last·Eᵀ over the real items.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import build_trajectory
from .seq_common import SeqRecommender, Transformer, attention_allowed, epoch_batches


@dataclass
class SASRecConfig(TrainConfig):
    hidden: int = 64                    # d
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    emb_dropout: float = 0.2
    max_len: int = 20                   # history window (left-padded, most recent last)
    mask_seen: bool = False             # TrainConfig: True; same default as DiffuRec / DreamRec (the papers do
    #                                     not mask), so the three sequence methods rank alike
    score_padding: bool = False         # SASRec never ranks the padding item
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128               # windows per batch
    # --- the training protocol: TrainConfig's defaults (40 epochs, validation every 5, patience 15), except ---
    select_metric: str = "ndcg@10"      # TrainConfig: recall@20; the sequence methods' headline (docs/methods.md §3.4)
    ks: List[int] = field(default_factory=lambda: [5, 10, 20])  # TrainConfig: 10, 20; DiffuRec's cut-offs


SASREC_PRESETS = {
    # sample world: d 32 as DiffuRec's sample config; chosen on validation NDCG@10 among lr 1e-3/3e-3, d 32/64,
    # dropout 0.2/0.5 (all landed at test HR@10 ~0.10 - about popularity's level on this world)
    "sample": dict(hidden=32, lr=3e-3, epochs=100, patience=30),
    # diffurec_amazon_beauty: Kang & McAuley's Beauty settings (d 50, 2 blocks, 1 head, dropout 0.5, len 50)
    "beauty": dict(hidden=50, blocks=2, heads=1, dropout=0.5, emb_dropout=0.5, max_len=50, batch_size=128,
                   epochs=200, eval_every=10, patience=50),
}


class SASRec(SeqRecommender):
    name = "sasrec"

    def __init__(self, config: SASRecConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        d = config.hidden
        # token = item + 1, 0 = padding. N(0, 1) init as DiffuRec's table (same CE, same scale of h·E): on the
        # sample world an N(0, 1/d) init learned the transitions more slowly and overfit first
        self.item_embeddings = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_len, d)
        self.embed_dropout = nn.Dropout(config.emb_dropout)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.encoder = Transformer(d, config.heads, config.blocks, config.dropout)
        self.final_norm = nn.LayerNorm(d, eps=1e-12)

    def hidden_states(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(B, n) left-padded tokens -> (B, n, d); position j only sees real items at positions <= j.
        ``last_only``: (B, 1, d), the last position only (scoring reads nothing else; exact)."""
        x = self.item_embeddings(tokens) + self.position_embeddings.weight[-tokens.shape[1]:][None]
        x = self.LayerNorm(self.embed_dropout(x))
        return self.final_norm(self.encoder(x, attention_allowed(tokens > 0, "causal"), last_only))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.item_embeddings.weight[1:].T

    def fit_epoch(self, split, generator, rng) -> dict:
        self.train()
        data, c = self.seq_data(split), self.config
        inp, tgt = data.chunk_windows(c.max_len)
        opt = self.optimizer()
        total, n = 0.0, 0
        for idx in epoch_batches(len(inp), c.batch_size, rng):
            x, y = self.tokens(inp[idx] + 1), self.tokens(tgt[idx])
            keep = y >= 0
            loss = F.cross_entropy(self.logits(self.hidden_states(x)[keep]), y[keep])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            k = int(keep.sum())
            total += float(loss.detach()) * k
            n += k
        self._epoch += 1
        return {"loss": total / max(n, 1)}

    def represent(self, split, users, which: str) -> torch.Tensor:
        hist, _ = self.seq_data(split).history(users, which, self.config.max_len, -1)
        return self.hidden_states(self.tokens(hist + 1), last_only=True)[:, -1]

    @torch.no_grad()
    def score(self, split, users, which="valid", with_padding: bool = False) -> torch.Tensor:
        was = self.training
        self.eval()
        s = self.logits(self.represent(split, np.atleast_1d(users), which))
        self.train(was)
        if with_padding:
            s = torch.cat([s, torch.full_like(s[:, :1], float("-inf"))], dim=1)
        return s

    @torch.no_grad()
    def trajectory(self, split, users, k: int = 10, seed: Optional[int] = None, **opts):
        """No denoising: one step whose state and x̂0 are the history representation h (embedding space)."""
        users = np.atleast_1d(np.asarray(users))
        which = opts.pop("which", "valid")
        was = self.training
        self.eval()
        h = self.represent(split, users, which)
        self.train(was)
        s = self.logits(h)
        return build_trajectory(self.name, [0], h[None], h[None], h, users, np.zeros(1), np.ones(1),
                                self.seen_mask(split, users, which), k, scores=s[None],
                                meta={"sampler": "none", "which": which, "space": "item embedding",
                                      "config": asdict(self.config)})


register(MethodSpec(
    name="sasrec", title="SASRec", paper="Kang & McAuley, ICDM 2018 (arXiv 1808.09781)", diffused="",
    model_cls=SASRec, config_cls=SASRecConfig, kind="baseline", needs=("sequences",), page="embeddings",
    presets=SASREC_PRESETS,
    idea="A causal Transformer with positions reads the history and scores every item by h·E; full-softmax "
         "cross-entropy - the no-diffusion twin of DiffuRec and DreamRec."))
