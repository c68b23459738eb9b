"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation",
SIGIR 2020, arXiv 2002.02126) - the graph baseline of the knowledge-graph comparison (DiffKG's README lists it).

``E^0 = [E_U; E_I]`` (N(0, 0.1) init), ``E^{l+1} = D^-1/2 A D^-1/2 E^l`` on the user-item graph without self-loops,
the final embedding is the mean over layers 0..L (``a_l = 1/(L+1)``), score = inner product. BPR with one uniform
unseen negative per training pair (re-drawn every epoch) and L2 regularisation of the batch's layer-0 embeddings,
``reg * (|e_u|^2 + |e_i|^2 + |e_j|^2) / 2 / batch``, as the authors' code does. Sparse graph, no dense user x item
matrix; same split, masking and validation selection as every other method here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data.dataset import Split
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender
from .kg_common import torch_csr, bipartite_adj, sample_negatives, spmm, train_pairs


@dataclass
class LightGCNConfig(TrainConfig):
    latdim: int = 64                    # embedding size
    n_layers: int = 2                   # propagation steps (paper: 1-4; 3 is its default)
    self_loops: bool = False            # LightGCN: no; DiffKG's KG-aware variant: yes
    layer_combine: str = "mean"         # 'mean' (LightGCN) or 'sum' (DiffKG's variant)
    reg: float = 1e-4                   # L2 on the batch's layer-0 embeddings
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 2048
    # --- the training protocol: TrainConfig's (validation every 5), except ---
    epochs: int = 60                    # TrainConfig: 40; BPR on a few sampled pairs per user converges slower
    patience: int = 20                  # TrainConfig: 15; in step with the longer run


LIGHTGCN_PRESETS = {
    "sample": dict(lr=1e-2, batch_size=512, epochs=30, eval_every=2, patience=10),
    "ml-100k": dict(lr=5e-3, batch_size=1024, epochs=40, eval_every=2, patience=10),
    "authors": dict(n_layers=3, lr=1e-3, batch_size=2048, epochs=1000, eval_every=10, patience=50),
}


class LightGCN(Recommender):
    name = "lightgcn"

    def __init__(self, config: LightGCNConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        if config.layer_combine not in ("mean", "sum"):
            raise ValueError("layer_combine must be 'mean' or 'sum'")
        self.emb = nn.Parameter(torch.randn(n_users + n_items, int(config.latdim)) * 0.1)
        self._graph = None

    def attach(self, split: Split) -> None:
        self._graph = {"train": split.train,
                       "adj": torch_csr(bipartite_adj(split.train, bool(self.config.self_loops))).to(self.device)}

    prepare = attach

    def _adj(self, split: Split):
        if self._graph is None or self._graph["train"] is not split.train:
            self.attach(split)
        return self._graph["adj"]

    def propagate(self, split: Split):
        adj = self._adj(split)
        x = self.emb
        total = x
        L = int(self.config.n_layers)
        for _ in range(L):
            x = spmm(adj, x)
            total = total + x
        if self.config.layer_combine == "mean":
            total = total / (L + 1)
        return total[: self.n_users], total[self.n_users:]

    def fit_epoch(self, split, generator, rng) -> dict:
        self.train()
        c = self.config
        users, items = train_pairs(split.train)
        negs = sample_negatives(split.train, users, rng)
        order = rng.permutation(len(users))
        opt = self.optimizer(lr=c.lr, wd=c.weight_decay)
        bs = int(c.batch_size)
        total, nb = 0.0, 0
        for s in range(0, len(order), bs):
            o = distributed.shard(order[s:s + bs])     # under torchrun: this rank's pairs of the batch
            u, p, n = (torch.from_numpy(a[o]).to(self.device) for a in (users, items, negs))
            ue, ie = self.propagate(split)
            su, sp_, sn = ue[u], ie[p], ie[n]
            bpr = -F.logsigmoid((su * sp_).sum(-1) - (su * sn).sum(-1)).mean()
            e0 = self.emb
            reg = (e0[u].square().sum() + e0[self.n_users + p].square().sum()
                   + e0[self.n_users + n].square().sum()) / 2 / len(o)
            loss = bpr + c.reg * reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            nb += 1
        return {"loss": total / max(nb, 1)}

    @torch.no_grad()
    def score(self, split, users, which="valid") -> torch.Tensor:
        ue, ie = self.propagate(split)
        return ue[torch.as_tensor(np.asarray(users), device=ue.device)] @ ie.t()


register(MethodSpec(
    name="lightgcn", title="LightGCN", paper="He et al., SIGIR 2020 (arXiv 2002.02126)", diffused="",
    model_cls=LightGCN, config_cls=LightGCNConfig, kind="baseline",
    idea="Smooth user and item embeddings over the user-item graph (no weights, no non-linearity) and rank by "
         "inner product.", page="knowledge graph", presets=LIGHTGCN_PRESETS))
