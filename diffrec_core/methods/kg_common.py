"""Shared pieces of the graph recommenders: LightGCN, the KGAT-style KG baseline and DiffKG (docs/methods.md §2.4).

Everything is sparse: the KG is an edge list (head, tail, relation) plus a scipy CSR adjacency that is densified
a batch of rows at a time; the user-item graph is a sparse normalised adjacency. Relation-aware attention uses
``scatter_reduce`` / ``index_add_`` (the authors use ``torch_scatter``). No dense entity x entity matrix exists
anywhere (the authors' DiffKG builds one in float64: 19.6-90.5 GB on their data sets).

* :func:`build_kg_edges` - DiffKG's ``DataHandler.readTriplets`` + ``buildGraphs``: deduplicated triples, inverse
  triples ``(t, r + R, h)`` (R = max relation + 1, so 2R relation ids), one relation per (h, t) pair, first seen
  wins.
* :class:`RelationAttention` - DiffKG's ``RGAT``: ``a = LeakyReLU_0.2(sum_d ((W [e_h || e_t]) * e_r)_d)``, a softmax
  over the edges of each head, ``e_h' = sum_t a e_t + e_h``, message dropout, L2 normalisation, residual
  ``res <- res_lambda res + e'``.
* :func:`bipartite_adj` / :func:`spmm` - the user-item graph ``D^-1/2 (A_bip [+ I]) D^-1/2`` and its product.
* :class:`KGRecommender` - DiffKG's "KG-aware LightGCN" (``Model.forward``): the KG encoder's item rows feed a
  LightGCN-style propagation; the final embedding is the sum over layers; BPR with one uniform negative per
  training pair, ``reg`` times the squared norm of every table. The KGAT-style baseline is this class as it is;
  DiffKG adds the diffusion on KG rows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data.dataset import Split
from .base import Recommender, make_adamw


# ------------------------------------------------------------------------------------------------ the KG
@dataclass
class KGEdges:
    """Directed KG edges as the model uses them: canonical triples, then their inverses, one relation per (h, t).

    ``source[j]`` is the row of the input triple table edge j comes from (ground truth such as the sample world's
    ``is_wrong`` can be read through it); ``inverse[j]`` marks inverse edges."""

    head: np.ndarray
    tail: np.ndarray
    rel: np.ndarray
    source: np.ndarray
    inverse: np.ndarray
    n_entities: int
    n_relations: int

    def __len__(self) -> int:
        return int(len(self.head))

    def keys(self) -> np.ndarray:
        return self.head * np.int64(self.n_entities) + self.tail

    def csr(self) -> sp.csr_matrix:
        """The binary entity x entity adjacency (sparse; DiffKG's ``kgMatrix``)."""
        E = self.n_entities
        m = sp.csr_matrix((np.ones(len(self), np.float32), (self.head, self.tail)), shape=(E, E))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def kg_table(split: Split) -> tuple:
    """``(triples DataFrame, n_entities, source)`` for a split: its KG where it has one; otherwise a fallback
    built from the item genres (relation ``has_genre``, genre entities after the items; ``source='genres'``), so
    that interaction-only data (the contract test's toy split) still runs; otherwise no triples at all."""
    if split.kg is not None:
        n = int(split.kg_info.get("n_entities") or 0)
        kg = split.kg
        if len(kg):
            n = max(n, int(kg[["head", "tail"]].to_numpy().max()) + 1)
        return kg, max(n, split.n_items), "data"
    if split.item_genres:
        g = pd.Series([str(x) for x in split.item_genres[:split.n_items]])
        names = sorted({x for x in g if x})
        code = {name: split.n_items + k for k, name in enumerate(names)}
        rows = g[g != ""]
        kg = pd.DataFrame({"head": rows.index.to_numpy(np.int64), "relation": np.zeros(len(rows), np.int64),
                           "tail": rows.map(code).to_numpy(np.int64)})
        return kg, split.n_items + len(names), "genres"
    return pd.DataFrame({"head": [], "relation": [], "tail": []}, dtype=np.int64), split.n_items, "none"


def build_kg_edges(kg: pd.DataFrame, n_entities: int) -> KGEdges:
    """DiffKG's triples -> directed edges (vectorised ``readTriplets`` + ``buildGraphs``).

    ``np.unique(triples, axis=0)`` (sorted, as the authors do), inverse triples appended after the canonical ones
    with relation ``r + R``, then one relation per (h, t): the first in that order wins. Triples whose head or
    tail lies outside ``0..n_entities-1`` are an error."""
    h = kg["head"].to_numpy(np.int64)
    r = kg["relation"].to_numpy(np.int64)
    t = kg["tail"].to_numpy(np.int64)
    E = int(n_entities)
    if len(h) and (min(h.min(), t.min()) < 0 or max(h.max(), t.max()) >= E):
        raise ValueError(f"KG entity ids must lie in 0..{E - 1}")
    if len(r) and r.min() < 0:
        raise ValueError("KG relation ids must be >= 0")
    R = int(r.max()) + 1 if len(r) else 1
    trip = np.stack([h, r, t], 1) if len(h) else np.zeros((0, 3), np.int64)
    uniq, first = np.unique(trip, axis=0, return_index=True)
    head = np.r_[uniq[:, 0], uniq[:, 2]]
    tail = np.r_[uniq[:, 2], uniq[:, 0]]
    rel = np.r_[uniq[:, 1], uniq[:, 1] + R]
    source = np.r_[first, first].astype(np.int64)
    inverse = np.r_[np.zeros(len(uniq), bool), np.ones(len(uniq), bool)]
    _, keep = np.unique(head * np.int64(E) + tail, return_index=True)   # first occurrence of each (h, t)
    keep = np.sort(keep)
    return KGEdges(head[keep], tail[keep], rel[keep], source[keep], inverse[keep], E, 2 * R)


def sample_per_head(head: torch.Tensor, n_entities: int, k: int, generator: Optional[torch.Generator] = None
                    ) -> torch.Tensor:
    """A bool mask keeping at most ``k`` uniformly chosen edges per head (``k < 0``: all) - the authors'
    ``sampleEdgeFromDict(triplet_num)``, vectorised."""
    n = int(head.numel())
    if k < 0 or n == 0:
        return torch.ones(n, dtype=torch.bool)
    key = torch.rand(n, generator=generator, dtype=torch.float64)
    order = np.lexsort((key.numpy(), head.cpu().numpy()))
    hs = head.cpu().numpy()[order]
    starts = np.r_[0, np.flatnonzero(np.diff(hs)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    mask = np.zeros(n, bool)
    mask[order] = rank < k
    return torch.from_numpy(mask)


class RelationAttention(nn.Module):
    """DiffKG's ``RGAT`` (Model.py): relation-aware attention over KG edges, ``n_hops`` hops with a residual.

    ``W [2d, d]`` acts on ``[e_h || e_t]``; it is applied per entity as ``e_h W_top + e_t W_bottom`` (the same
    numbers as concatenating per edge, without an ``[edges, 2d]`` matrix)."""

    def __init__(self, dim: int):
        super().__init__()
        self.W = nn.Parameter(nn.init.xavier_uniform_(torch.empty(2 * dim, dim), gain=nn.init.calculate_gain("relu")))

    def aggregate(self, x: torch.Tensor, rel_emb: torch.Tensor, head: torch.Tensor, tail: torch.Tensor,
                  etype: torch.Tensor) -> torch.Tensor:
        d = x.shape[1]
        if head.numel() == 0:
            return x
        p, q = x @ self.W[:d], x @ self.W[d:]
        e = F.leaky_relu(((p[head] + q[tail]) * rel_emb[etype]).sum(-1), 0.2)
        n = x.shape[0]
        # softmax over the edges sharing a head (scatter_softmax); the max is only a shift, so it is detached
        m = torch.full((n,), -torch.inf, dtype=e.dtype, device=e.device)
        m = m.scatter_reduce(0, head, e.detach(), reduce="amax", include_self=True)
        w = torch.exp(e - m[head])
        s = torch.zeros(n, dtype=e.dtype, device=e.device).index_add(0, head, w)
        a = w / s[head]
        return torch.zeros_like(x).index_add(0, head, x[tail] * a[:, None]) + x

    def forward(self, ent: torch.Tensor, rel_emb: torch.Tensor, head, tail, etype, hops: int, res_lambda: float,
                dropout: float = 0.0) -> torch.Tensor:
        res, x = ent, ent
        for _ in range(int(hops)):
            x = self.aggregate(x, rel_emb, head, tail, etype)
            if dropout > 0:
                x = F.dropout(x, dropout, training=True)
            x = F.normalize(x)
            res = res_lambda * res + x
        return res


# ------------------------------------------------------------------------------------------------ user-item graph
def torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    """A SciPy CSR matrix as a float32 torch sparse CSR tensor (sorted indices), for ``spmm``."""
    m = m.tocsr().astype(np.float32)
    m.sort_indices()
    with warnings.catch_warnings():   # "sparse CSR support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                       torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(m.data), size=m.shape, check_invariants=False)


def bipartite_adj(train: sp.csr_matrix, self_loops: bool) -> sp.csr_matrix:
    """``D^-1/2 (A_bip [+ I]) D^-1/2`` over users then items (DiffKG: with self-loops; LightGCN: without)."""
    U, I = train.shape
    a = (train != 0).astype(np.float32)
    m = sp.bmat([[None, a], [a.T, None]], format="csr", dtype=np.float32)
    if self_loops:
        m = m + sp.eye(U + I, dtype=np.float32, format="csr")
    deg = np.asarray(m.sum(1)).ravel()
    with np.errstate(divide="ignore"):
        dinv = np.where(deg > 0, deg ** -0.5, 0.0).astype(np.float32)
    d = sp.diags(dinv)
    return (d @ m @ d).tocsr()


class _SpMM(torch.autograd.Function):
    """``A @ X`` for a fixed sparse A with a gradient for X only (``A^T @ G``, given precomputed)."""

    @staticmethod
    def forward(ctx, a, at, x):
        ctx.at = at
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, g):
        return None, None, torch.sparse.mm(ctx.at, g.contiguous())


def spmm(a: torch.Tensor, x: torch.Tensor, at: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Sparse (CSR) times dense, differentiable in the dense argument; ``at`` = A^T (default: A is symmetric)."""
    return _SpMM.apply(a, a if at is None else at, x)


# ------------------------------------------------------------------------------------------------ training helpers
def sample_negatives(train: sp.csr_matrix, users: np.ndarray, rng: np.random.Generator,
                     max_rounds: int = 100) -> np.ndarray:
    """One uniform negative per training pair, not in the user's training row (DiffKG's ``negSampling``, by
    vectorised rejection). A user who has seen every item keeps whatever the last round drew."""
    I = train.shape[1]
    tr = train.tocsr()
    tr.sort_indices()
    keys = np.repeat(np.arange(tr.shape[0], dtype=np.int64), np.diff(tr.indptr)) * I + tr.indices
    negs = rng.integers(0, I, len(users))
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        k = users[todo].astype(np.int64) * I + negs[todo]
        pos = np.searchsorted(keys, k).clip(max=max(len(keys) - 1, 0))
        bad = keys[pos] == k if len(keys) else np.zeros(len(k), bool)
        todo = todo[bad]
        if not len(todo):
            break
        negs[todo] = rng.integers(0, I, len(todo))
    return negs


def info_nce(a: torch.Tensor, b: torch.Tensor, nodes: torch.Tensor, temp: float) -> torch.Tensor:
    """DiffKG's ``contrastLoss``: L2-normalised views; the same node in the other view is the positive, every
    node of that type the negatives (full softmax) at temperature ``temp``; mean over ``nodes`` (repeats kept)."""
    a, b = F.normalize(a), F.normalize(b)
    pa = a[nodes]
    pos = (pa * b[nodes]).sum(-1) / temp
    return (torch.logsumexp(pa @ b.t() / temp, dim=1) - pos).mean()


def bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, denom: float) -> torch.Tensor:
    """``-sum log sigmoid(s+ - s-) / denom`` (DiffKG divides by the configured batch size, not the actual one)."""
    return -F.logsigmoid((u * pos).sum(-1) - (u * neg).sum(-1)).sum() / denom


def train_pairs(train: sp.csr_matrix):
    tr = train.tocsr()
    users = np.repeat(np.arange(tr.shape[0], dtype=np.int64), np.diff(tr.indptr))
    return users, tr.indices.astype(np.int64)


# ------------------------------------------------------------------------------------------------ the recommender
class KGRecommender(Recommender):
    """DiffKG's "KG-aware LightGCN" (``Model``), without the diffusion part.

    Parameters ``u_emb [U, d]``, ``e_emb [E, d]``, ``r_emb [2R, d]``, ``rgat.W [2d, d]`` (Xavier-uniform, W with
    gain sqrt 2). Persistent buffers hold everything scoring needs besides the weights: ``kg_edges [3, n]``
    (head, tail, relation of every directed edge) and ``kg_sampled [n]`` (the original-KG view: at most
    ``triplet_num`` tails per head, drawn once in :meth:`prepare`). The entity / relation / edge counts live in
    the config (filled by :meth:`prepare` from the data), so a checkpoint rebuilds the shapes without data.
    """

    trainable = True

    def __init__(self, config, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        self._build(max(int(config.n_entities), n_items), max(int(config.n_relations), 2), int(config.n_kg_edges))
        self._graph = None

    # -- shapes ------------------------------------------------------------------------------------------------
    def _build(self, E: int, R: int, n_edges: int) -> None:
        d = int(self.config.latdim)
        self.u_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, d)))
        self.e_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(E, d)))
        self.r_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(R, d)))
        self.rgat = RelationAttention(d)
        self.register_buffer("kg_edges", torch.zeros(3, n_edges, dtype=torch.long))
        self.register_buffer("kg_sampled", torch.ones(n_edges, dtype=torch.bool))
        self.n_entities = E

    def rec_parameters(self):
        return [self.u_emb, self.e_emb, self.r_emb, self.rgat.W]

    def prepare(self, split: Split) -> None:
        """Read the split's KG into edges; (re)build every table when the shapes change (a fresh model), draw the
        original-KG view (``triplet_num`` tails per head), and build the user-item graph."""
        kg, n_ent, source = kg_table(split)
        edges = build_kg_edges(kg, n_ent)
        stored = self.kg_edges.cpu().numpy()
        same = (stored.shape[1] == len(edges) and self.n_entities == edges.n_entities
                and np.array_equal(stored, np.stack([edges.head, edges.tail, edges.rel])))
        if not same:
            c = self.config
            c.n_entities, c.n_relations, c.n_kg_edges = edges.n_entities, edges.n_relations, len(edges)
            device = self.device
            self._build(edges.n_entities, edges.n_relations, len(edges))
            self._opt = None
            self.kg_edges.copy_(torch.from_numpy(np.stack([edges.head, edges.tail, edges.rel])))
            self.kg_sampled.copy_(sample_per_head(self.kg_edges[0], edges.n_entities, int(c.triplet_num)))
            self._after_build(edges)
            self.to(device)
        self.kg_source = source
        self.attach(split)

    def _after_build(self, edges: KGEdges) -> None:
        """Subclasses initialise their extra buffers here."""

    def attach(self, split: Split) -> None:
        """Re-derive the caches that are not weights: the normalised user-item graph."""
        self._graph = self._make_graph(split)

    def _make_graph(self, split: Split) -> dict:
        adj = torch_csr(bipartite_adj(split.train, self_loops=True)).to(self.device)
        return {"train": split.train, "adj": adj}

    def _g(self, split: Split) -> dict:
        if self._graph is None or self._graph["train"] is not split.train:
            self.attach(split)
        return self._graph

    # -- forward -----------------------------------------------------------------------------------------------
    def kg_view(self, mask: torch.Tensor):
        e = self.kg_edges[:, mask]
        return e[0], e[1], e[2]

    def encode(self, split: Split, mask: torch.Tensor, dropout: bool):
        """Final user and item embeddings (``Model.forward``): the KG encoder on the edges in ``mask``, its item
        rows next to the user table, ``gnn_layer`` LightGCN steps, summed over layers."""
        c = self.config
        h, t, r = self.kg_view(mask)
        ent = self.rgat(self.e_emb, self.r_emb, h, t, r, c.layer_num_kg, c.res_lambda,
                        c.mess_dropout if dropout else 0.0)
        x = torch.cat([self.u_emb, ent[: self.n_items]], 0)
        adj = self._g(split)["adj"]
        total = x
        for _ in range(int(c.gnn_layer)):
            x = spmm(adj, x)
            total = total + x
        return total[: self.n_users], total[self.n_users:]

    def scoring_mask(self) -> torch.Tensor:
        return self.kg_sampled

    @torch.no_grad()
    def score(self, split, users, which="valid", mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        was = self.training
        self.eval()
        u, i = self.encode(split, self.scoring_mask() if mask is None else mask, dropout=False)
        self.train(was)
        return u[torch.as_tensor(np.asarray(users), device=u.device)] @ i.t()

    def reg_loss(self) -> torch.Tensor:
        return sum(p.square().sum() for p in self.rec_parameters())

    def rec_optimizer(self):
        if self._opt is None:
            self._opt = make_adamw(self.rec_parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        return self._opt

    def bpr_epoch(self, split: Split, rng: np.random.Generator, negs: np.ndarray, loss_fn) -> dict:
        """One pass over the shuffled training pairs; ``loss_fn(u, p, n) -> (loss, parts)``."""
        users, items = train_pairs(split.train)
        order = rng.permutation(len(users))
        opt = self.rec_optimizer()
        bs = int(self.config.batch_size)
        tot: dict = {}
        nb = 0
        dev = self.device
        for s in range(0, len(order), bs):
            o = distributed.shard(order[s:s + bs])     # under torchrun: this rank's pairs of the batch
            u, p, n = (torch.from_numpy(a[o]).to(dev) for a in (users, items, negs))
            loss, parts = loss_fn(u, p, n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                tot[k] = tot.get(k, 0.0) + float(v)
            nb += 1
        return {k: v / max(nb, 1) for k, v in tot.items()}

    def fit_epoch(self, split, generator, rng) -> dict:
        """The KG baseline: BPR + reg on the original-KG view with message dropout (no diffusion, no CL)."""
        self.train()
        users, _ = train_pairs(split.train)
        negs = sample_negatives(split.train, users, rng)
        c = self.config

        def loss_fn(u, p, n):
            ue, ie = self.encode(split, self.kg_sampled, dropout=True)
            bpr = bpr_loss(ue[u], ie[p], ie[n], distributed.shard_denominator(float(c.batch_size)))
            reg = c.reg * self.reg_loss()
            loss = bpr + reg
            return loss, {"loss": float(loss.detach()), "bpr": float(bpr.detach())}

        return self.bpr_epoch(split, rng, negs, loss_fn)
