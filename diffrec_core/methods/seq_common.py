"""What DiffuRec, DreamRec and SASRec share: per-user sequences from a :class:`Split`, padded windows, the
pre-LN Transformer block of DiffuRec's code (reused, with other masks, by the SASRec baseline), and a
``SeqRecommender`` base with the leave-one-out scoring conventions of docs/methods.md §3.4.

Sequences. A leave-one-out split (``split_leave_one_out``) keeps each user's chronological training history
in ``split.train_order`` (the 0-based position of every training interaction). The validation target is the
second-to-last item, the test target the last one, and the test *history* is the training history plus the
validation item (DiffuRec's protocol, docs/methods.md §3.1). Histories are stored CSR-style (``indptr``, ``items``)
and every batch is cut out of them with one vectorised gather; the authors build Python lists per sample.

Training samples. "Every prefix of every training sequence is one sample" (DiffuRec ``src/utils.py``; DreamRec's
``train_data.df``): Σ(len−1) samples, each a (history start, target position) pair into the flat item array.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data.dataset import Split
from .base import Recommender, build_trajectory


# ---------------------------------------------------------------------------------------------- sequences
@dataclass
class Sequences:
    """User u's items are ``items[indptr[u]:indptr[u+1]]``, oldest first (0-based item ids)."""

    indptr: np.ndarray
    items: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)


def train_sequences(split: Split) -> Sequences:
    """Chronological training sequences from ``split.train_order`` (one lexsort, no loop over users)."""
    order = split.train_order
    if order is None:
        raise ValueError("sequence methods need the chronological order of the training history "
                         "(split.train_order); build the split with split_leave_one_out")
    order = order.tocsr()
    if order.nnz != split.train.nnz:
        raise ValueError("split.train_order does not cover every training interaction (explicit zeros dropped?)")
    rows = np.repeat(np.arange(order.shape[0]), np.diff(order.indptr))
    perm = np.lexsort((order.data, rows))
    return Sequences(order.indptr.astype(np.int64).copy(), order.indices[perm].astype(np.int64))


def append_rows(seq: Sequences, mat) -> Sequences:
    """Each user's sequence followed by the items of their row of ``mat`` (the test history = train + valid)."""
    m = mat.tocsr()
    n, add = seq.lengths, np.diff(m.indptr)
    indptr = np.r_[0, np.cumsum(n + add)].astype(np.int64)
    items = np.empty(int(indptr[-1]), dtype=np.int64)
    items[np.arange(len(seq.items)) - np.repeat(seq.indptr[:-1] - indptr[:-1], n)] = seq.items
    items[np.arange(m.nnz) - np.repeat(m.indptr[:-1] - indptr[:-1] - n, add)] = m.indices
    return Sequences(indptr, items)


def window(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, L: int, pad: int,
           left_pad: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """The last ``L`` items of ``items[starts[b]:ends[b]]`` for every b, as a (B, L) array, and their counts.

    ``left_pad``: the most recent item sits in the last column (DiffuRec, SASRec); otherwise the window is
    right-padded and the most recent item sits at column ``count-1`` (DreamRec's ``pad_history``).
    """
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    take = np.minimum(ends - starts, L)
    j = np.arange(L)
    if left_pad:
        src = ends[:, None] - L + j[None, :]
        ok = src >= starts[:, None]
    else:
        src = ends[:, None] - take[:, None] + j[None, :]
        ok = j[None, :] < take[:, None]
    if not len(items):
        return np.full((len(starts), L), pad, dtype=np.int64), take
    out = np.where(ok, items[np.clip(src, 0, len(items) - 1)], pad)
    return out.astype(np.int64), take


class SeqData:
    """Everything a sequence method derives from a split (cached per split; never stored in a checkpoint)."""

    def __init__(self, split: Split):
        self.key = _split_key(split)
        self.n_items = split.n_items
        self.train = train_sequences(split)
        self.test = append_rows(self.train, split.valid)
        lengths = self.train.lengths
        rows = np.repeat(np.arange(len(lengths)), lengths)
        pos = np.arange(len(self.train.items))
        keep = pos > self.train.indptr[rows]                 # every position but a user's first is a target
        self.sample_start = self.train.indptr[rows][keep]    # history = items[start:end], target = items[end]
        self.sample_end = pos[keep]

    @property
    def n_samples(self) -> int:
        return len(self.sample_end)

    def history(self, users, which: str, L: int, pad: int, left_pad: bool = True):
        """(B, L) history windows for evaluation: 'valid' reads the training history, 'test' adds the valid item."""
        seq = self.test if which == "test" else self.train
        users = np.asarray(users, np.int64)
        return window(seq.items, seq.indptr[users], seq.indptr[users + 1], L, pad, left_pad)

    def prefix_batch(self, idx, L: int, pad: int, left_pad: bool = True):
        """Training samples ``idx``: (history windows, history lengths, targets)."""
        s, e = self.sample_start[idx], self.sample_end[idx]
        hist, n = window(self.train.items, s, e, L, pad, left_pad)
        return hist, n, self.train.items[e]

    def chunk_windows(self, L: int):
        """SASRec's causal training windows: inputs/targets of L positions each, targets = inputs shifted by one.

        A sequence of n items gives ceil((n-1)/L) windows ending at end, end-L, end-2L, ..., so every training
        target is predicted exactly once per epoch (the standard "last maxlen items" would drop the older ones).
        """
        ind, n = self.train.indptr, self.train.lengths
        c = np.where(n >= 2, -(-(n - 1) // L), 0)
        rows = np.repeat(np.arange(len(n)), c)
        k = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        ends = ind[rows + 1] - k * L
        inp, _ = window(self.train.items, ind[rows], ends - 1, L, -1)
        tgt, _ = window(self.train.items, ind[rows] + 1, ends, L, -1)
        return inp, tgt


def _split_key(split: Split):
    return (id(split), split.n_users, split.n_items, split.train.nnz, split.valid.nnz, split.test.nnz)


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator, mode: str = "shuffle"):
    """'shuffle': a permutation cut into batches. 'sample' (DreamRec quirk 8): ⌊n/bs⌋ batches, each a fresh
    ``sample(n=bs)`` without replacement inside the batch but with replacement across batches."""
    if mode == "sample":
        for _ in range(max(1, n // batch_size)):
            yield distributed.shard(rng.choice(n, size=min(batch_size, n), replace=False))
    elif mode == "shuffle":
        perm = rng.permutation(n)
        for i in range(0, n, batch_size):
            yield distributed.shard(perm[i:i + batch_size])     # under torchrun: this rank's rows of it
    else:
        raise ValueError("epoch_mode must be 'shuffle' or 'sample'")


# ---------------------------------------------------------------------------------------------- Transformer
class MultiHeadedAttention(nn.Module):
    """DiffuRec's attention (``src/diffurec.py``): Linear q/k/v (PyTorch init), Xavier-normal output layer,
    scale 1/sqrt(d_head); disallowed pairs get −1e9 before the softmax (a fully disallowed row is uniform).

    Speed, with the same arithmetic: q, k, v come from one matrix product (the three weights concatenated), and
    without dropout (evaluation, sampling) the softmax(QKᵀ/√d)V runs in ``F.scaled_dot_product_attention``
    (fused, no (B, h, n, n) float mask); with dropout it is the plain form, as SDPA's CPU fallback is slower. The
    −1e9 fill is reproduced exactly (see :func:`sdpa_mask`): a row with some allowed key gets the boolean mask
    (exp(−1e9 − max) is 0 in float32 either way), and a fully disallowed row - uniform over all n keys in the
    authors' code, since every entry equals −1e9 - gets a zero query and no mask, whose scores are all 0 and
    whose softmax is the same 1/n. ``query_last``: only the last position's query is computed (keys and values
    still read every position) - what a caller that reads only position −1 needs.
    """

    def __init__(self, heads: int, hidden: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.h, self.dh = heads, hidden // heads
        self.linear_layers = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(3)])
        self.w_layer = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_normal_(self.w_layer.weight)

    def forward(self, x: torch.Tensor, allowed, query_last: bool = False) -> torch.Tensor:
        B, n, d = x.shape
        mask, keep = allowed if isinstance(allowed, tuple) else sdpa_mask(allowed)
        (lq, lk, lv), split = self.linear_layers, (lambda z: z.view(B, -1, self.h, self.dh).transpose(1, 2))
        if query_last:
            q = split(lq(x[:, -1:]))
            kv = F.linear(x, torch.cat([lk.weight, lv.weight]), torch.cat([lk.bias, lv.bias]))
            k, v = split(kv[..., :d]), split(kv[..., d:])
            mask = None if mask is None else mask[:, :, -1:]
            keep = None if keep is None else keep[:, :, -1:]
        else:
            qkv = F.linear(x, torch.cat([lq.weight, lk.weight, lv.weight]),
                           torch.cat([lq.bias, lk.bias, lv.bias]))
            q, k, v = (split(t) for t in qkv.split(d, dim=-1))
        if self.training and self.dropout.p > 0:
            # with dropout, SDPA on the CPU falls back to its math path, whose "safe softmax" adds isneginf /
            # all / where passes over (B, h, n, n); the plain form is cheaper and is the authors' own
            q = q * (keep / math.sqrt(self.dh) if keep is not None else 1 / math.sqrt(self.dh))
            corr = q @ k.transpose(-2, -1)
            if mask is not None:
                corr = corr.masked_fill(~mask, -1e9)
            out = self.dropout(F.softmax(corr, dim=-1)) @ v
        else:
            out = F.scaled_dot_product_attention(q if keep is None else q * keep, k, v, attn_mask=mask)
        return self.w_layer(out.transpose(1, 2).reshape(B, -1, self.h * self.dh))


def sdpa_mask(allowed: Optional[torch.Tensor]):
    """(boolean mask or None, query keep-mask or None) for ``F.scaled_dot_product_attention`` that reproduce
    ``masked_fill(~allowed, -1e9)`` + softmax exactly (see :class:`MultiHeadedAttention`). Computed once per
    forward by :class:`Transformer` and shared by its blocks."""
    if allowed is None:
        return None, None
    any_ = allowed.any(-1, keepdim=True)                     # rows with at least one allowed key
    keep = None if bool(any_.all()) else any_.to(torch.float32)
    full = allowed | ~any_
    mask = None if bool(full.all()) else full                # DiffuRec's query-axis mask needs no mask at all
    return mask, keep


class FeedForward(nn.Module):
    """Linear(d,4d) → tanh-approximated GELU → Dropout → Linear(4d,d), Xavier-normal weights (DiffuRec)."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_normal_(self.w_1.weight)
        nn.init.xavier_normal_(self.w_2.weight)

    def forward(self, x):
        return self.w_2(self.dropout(F.gelu(self.w_1(x), approximate="tanh")))


class Sublayer(nn.Module):
    """x + Dropout(f(LN(x))), LN with ε = 1e-12 inside the square root (TF style = torch's LayerNorm)."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, f):
        return x + self.dropout(f(self.norm(x)))


class TransformerBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadedAttention(heads, hidden, dropout)
        self.feed_forward = FeedForward(hidden, dropout)
        self.input_sublayer = Sublayer(hidden, dropout)
        self.output_sublayer = Sublayer(hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, allowed, last_only: bool = False):
        """``last_only``: the block's output at the last position only, (B, 1, d) - exact, because LayerNorm,
        the feed-forward and the dropouts act per position and attention reads the keys of every position."""
        if last_only:
            a = self.attention(self.input_sublayer.norm(x), allowed, query_last=True)
            x = x[:, -1:] + self.input_sublayer.dropout(a)
        else:
            x = self.input_sublayer(x, lambda y: self.attention(y, allowed))
        x = self.output_sublayer(x, self.feed_forward)
        return self.dropout(x)


class Transformer(nn.Module):
    """DiffuRec's ``Transformer_rep``: a stack of pre-LN blocks (parameter names follow the authors')."""

    def __init__(self, hidden: int, heads: int, blocks: int, dropout: float):
        super().__init__()
        self.transformer_blocks = nn.ModuleList([TransformerBlock(hidden, heads, dropout) for _ in range(blocks)])

    def forward(self, x, allowed, last_only: bool = False):
        """(B, n, d) -> (B, n, d); with ``last_only`` -> (B, 1, d), the last position only (the last block then
        computes one query instead of n: for a caller that reads only position −1, e.g. DiffuRec's x̂0)."""
        plan = sdpa_mask(allowed) if not isinstance(allowed, tuple) else allowed
        last = len(self.transformer_blocks) - 1
        for i, blk in enumerate(self.transformer_blocks):
            x = blk(x, plan, last_only and i == last)
        return x


ATTN_MASKS = ("query", "key", "causal")


def attention_allowed(real: torch.Tensor, kind: str) -> torch.Tensor:
    """Boolean (B, 1, n, n) of allowed (query i, key j) pairs for a (B, n) mask of real (non-padding) tokens.

    'query' (DiffuRec, faithful quirk 2): the authors build ``mask[b,h,i,j] = real[b,i]``, so a real query
    attends to every key, padding included, and nothing is causal; padded query rows become uniform.
    'key': padded keys are hidden from every query (bidirectional). 'causal': keys must be real and j <= i
    (SASRec).
    """
    n = real.shape[1]
    if kind == "query":
        allowed = real[:, :, None].expand(-1, n, n)
    elif kind == "key":
        allowed = real[:, None, :].expand(-1, n, n)
    elif kind == "causal":
        tril = torch.ones(n, n, dtype=torch.bool, device=real.device).tril()
        allowed = real[:, None, :] & tril[None]
    else:
        raise ValueError(f"attn_mask must be one of {', '.join(ATTN_MASKS)}")
    return allowed[:, None]


# ---------------------------------------------------------------------------------------------- base class
class SeqRecommender(Recommender):
    """Leave-one-out next-item recommender over real items 0..I-1.

    ``score(split, users, which)`` reads the user's history for ``which`` ('valid': training sequence; 'test':
    training sequence + the validation item) and returns (B, I) scores; with ``with_padding=True`` a last column
    holds the padding item's score, which :func:`diffrec_core.train.evaluate` ranks when the config's
    ``score_padding`` is on (the authors' faithful behaviour, docs/methods.md §3.3).
    """

    def __init__(self, config, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        self._seq: Optional[SeqData] = None
        self._epoch = 0

    def seq_data(self, split: Split) -> SeqData:
        if self._seq is None or self._seq.key != _split_key(split):
            self._seq = SeqData(split)
        return self._seq

    def prepare(self, split: Split) -> None:
        self.seq_data(split)

    attach = prepare

    @property
    def test_uses_valid(self) -> bool:
        return True  # the test history contains the validation item, so valid and test need separate passes

    @property
    def scores_padding(self) -> bool:
        return bool(getattr(self.config, "score_padding", False))

    def seen_mask(self, split: Split, users, which: str = "valid") -> Optional[torch.Tensor]:
        """The items a trajectory hides: the user's history when ``mask_seen`` is on, else nothing."""
        if not self.config.mask_seen:
            return None
        seen = split.rows(users, "train") > 0
        if which == "test":
            seen |= split.rows(users, "valid") > 0
        return torch.from_numpy(seen)

    def set_epoch_lr(self, opt) -> None:
        """StepLR as a pure function of the epoch counter (DiffuRec: ×γ every ``lr_step`` epochs; 0 = off)."""
        step, gamma = int(getattr(self.config, "lr_step", 0)), float(getattr(self.config, "lr_gamma", 1.0))
        lr = self.config.lr * (gamma ** (self._epoch // step) if step > 0 else 1.0)
        for g in opt.param_groups:
            g["lr"] = lr

    def tokens(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)

    def embedding_trajectory(self, split: Split, users, which: str, run, k: int, meta: dict):
        """A sampler run in item-embedding space as a Trajectory: scores x̂0·Eᵀ per step, and the last step shows
        the returned sample, so it equals the recommendation exactly (DiffuRec and DreamRec share this)."""
        x0s = run.x0_hats.clone()
        x0s[-1] = run.final
        scores = self.logits(x0s.flatten(0, 1), False).view(len(x0s), len(users), -1)
        d = self.diffusion
        return build_trajectory(self.name, run.steps, run.states, x0s, run.final, users,
                                d.betas.double().cpu().numpy(), d.alphas_cumprod.double().cpu().numpy(),
                                self.seen_mask(split, users, which), k, scores=scores,
                                meta={**run.meta, "start": "N(0, I)", "which": which, "space": "item embedding",
                                      "config": asdict(self.config), **meta})


@contextmanager
def seeded_dropout(seed: int, device: torch.device, on: bool):
    """Run with the global torch RNG forked and seeded, so that active dropout at inference (DreamRec's faithful
    ``eval_dropout``) is still reproducible; a no-op when ``on`` is False."""
    if not on:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))
