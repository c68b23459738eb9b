"""Discrete list noise for DCDR (docs/methods.md §2.7): the two forward processes over ranked lists, their recorded
trajectories, and DCDR-T's closed-form posterior. **Reconstruction**: DCDR has no public code; the paper states only
that noise is added "through step-wise discrete operations, e.g. swapping", in a permutation-level (DCDR-P) and a
token-level (DCDR-T) variant. Everything concrete here follows the reconstruction in docs/methods.md §2.7.

Lists are index tensors. In DCDR a list of length L holds **indices into the request's candidate array** (n
candidates, 0..n-1), never raw item ids, so that "replace by another candidate" and "distinct" are simple. Both
processes keep every list a sequence of L distinct candidates (a valid partial permutation of the candidate set).

Index convention: steps are 1-based here, ``k = 1..T`` (x_k is the list after k corruption steps, x_0 the clean
list); ``betas[k-1]`` is the rate of step k.

* :class:`PermutationNoise` (DCDR-P) - at step k, with probability beta_k apply one uniformly random transposition
  of two positions, else do nothing. The operation o_k is recorded as an index: 0 = no-op, 1..L(L-1)/2 = the pair
  (i, j), i < j, in row-major order (:func:`pair_table`). Transpositions are self-inverse, so x_{k-1} = o_k(x_k):
  predicting o_k is an exact, tractable reverse target.
* :class:`TokenNoise` (DCDR-T) - at step k, each position is independently marked with probability beta_k and every
  marked position gets a candidate **not currently in the list** (uniform, without replacement), so the list stays
  distinct. The reverse model predicts x_0 per position; :meth:`TokenNoise.posterior` mixes it through the
  D3PM uniform-kernel posterior (Austin et al. 2021) over the n candidates. That kernel lets a marked position keep
  its item with probability 1/n and ignores the distinctness constraint, so the posterior is an approximation of
  this forward process [recon]; distinctness is enforced at decode time by masking items already placed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np
import torch


# ------------------------------------------------------------------------------------------------ pair operations
def n_pairs(length: int) -> int:
    """Number of transpositions of a list of ``length``: L(L-1)/2."""
    return int(length) * (int(length) - 1) // 2


@lru_cache(maxsize=64)
def _pairs_np(length: int) -> Tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(int(length), k=1)          # row-major: (0,1), (0,2), ..., (1,2), ...
    return i.astype(np.int64), j.astype(np.int64)


def pair_table(length: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(i, j) of operations 1..L(L-1)/2; operation 0 is the no-op. Row-major over i < j."""
    i, j = _pairs_np(length)
    return torch.from_numpy(i.copy()), torch.from_numpy(j.copy())


def op_of_pair(i: int, j: int, length: int) -> int:
    """The operation index of the transposition of positions i and j (0-based, any order)."""
    i, j = sorted((int(i), int(j)))
    if i == j or not 0 <= i < j < length:
        raise ValueError(f"positions ({i}, {j}) are not two distinct positions of a list of {length}")
    return 1 + i * (2 * length - i - 1) // 2 + (j - i - 1)


def pair_of_op(op: int, length: int) -> Optional[Tuple[int, int]]:
    """(i, j) of an operation index, or None for the no-op."""
    op = int(op)
    if op == 0:
        return None
    i, j = _pairs_np(length)
    if not 1 <= op <= len(i):
        raise ValueError(f"operation {op} does not exist for a list of {length} (0..{len(i)})")
    return int(i[op - 1]), int(j[op - 1])


def apply_swaps(x: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
    """Apply one operation per row: x (B, L) long, ops (B,) long in 0..L(L-1)/2. Returns a new tensor."""
    B, L = x.shape
    if L < 2:
        return x.clone()
    pi, pj = pair_table(L)
    pi, pj = pi.to(x.device), pj.to(x.device)
    ops = ops.to(x.device).long()
    live = ops > 0
    idx = (ops - 1).clamp(min=0)
    i, j = pi[idx], pj[idx]
    perm = torch.arange(L, device=x.device).expand(B, L).clone()
    rows = torch.arange(B, device=x.device)
    perm[rows[live], i[live]] = j[live]
    perm[rows[live], j[live]] = i[live]
    return torch.gather(x, 1, perm)


def is_valid_list(x, n_candidates: int) -> bool:
    """True when every row of ``x`` holds distinct indices in 0..n_candidates-1."""
    a = np.atleast_2d(np.asarray(x))
    if a.size == 0:
        return True
    if a.min() < 0 or a.max() >= n_candidates:
        return False
    s = np.sort(a, axis=1)
    return bool((np.diff(s, axis=1) != 0).all())


# ------------------------------------------------------------------------------------------------ records
@dataclass
class ForwardRecord:
    """A recorded forward run for B lists: ``states[k]`` is x_k (k = 0..T), ``ops[k-1]`` what step k did:
    DCDR-P an operation index per row (0 = no-op), DCDR-T a (B, L) bool mask of replaced positions."""

    states: torch.Tensor                 # (T+1, B, L) long
    ops: torch.Tensor                    # P: (T, B) long; T: (T, B, L) bool
    betas: np.ndarray
    kind: str
    meta: dict = field(default_factory=dict)

    def changed(self, k: int) -> np.ndarray:
        """(B, L) bool: the positions whose entry step k changed."""
        return (self.states[k] != self.states[k - 1]).cpu().numpy()


def _betas(T: int, beta_start: float, beta_end: float) -> np.ndarray:
    if T < 1:
        raise ValueError(f"a discrete forward process needs T >= 1 steps, got {T}")
    b = np.linspace(beta_start, beta_end, T)
    if not ((b >= 0) & (b <= 1)).all():
        raise ValueError(f"step rates must lie in [0, 1]; got {beta_start}..{beta_end}")
    return b


# ------------------------------------------------------------------------------------------------ DCDR-P
class PermutationNoise:
    """DCDR-P's forward process: at step k, one uniformly random transposition with probability beta_k."""

    kind = "P"

    def __init__(self, T: int = 6, beta_start: float = 0.3, beta_end: float = 0.9):
        self.T = int(T)
        self.betas = _betas(self.T, beta_start, beta_end)

    def sample_ops(self, batch: int, length: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """(B, T) operations of a whole forward run: 0 with probability 1 - beta_k, else uniform over the pairs."""
        P = n_pairs(length)
        u = torch.rand(batch, self.T, generator=generator)
        pair = torch.randint(1, max(P, 1) + 1, (batch, self.T), generator=generator)
        act = u < torch.as_tensor(self.betas, dtype=torch.float32)[None]
        if P == 0:
            act[:] = False
        return torch.where(act, pair, torch.zeros_like(pair))

    def run(self, x0: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """(T+1, B, L): x_0 and the lists after each step of the given operations."""
        states = [x0]
        for k in range(self.T):
            states.append(apply_swaps(states[-1], ops[:, k]))
        return torch.stack(states)

    def record(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> ForwardRecord:
        """A full recorded forward run x_0 -> x_T."""
        ops = self.sample_ops(x0.shape[0], x0.shape[1], generator)
        return ForwardRecord(self.run(x0, ops), ops.T.contiguous(), self.betas, self.kind)

    def training_pairs(self, x0: torch.Tensor, k: torch.Tensor, generator: Optional[torch.Generator] = None):
        """For each row, run the forward process to its step k (1..T) and return (x_k, o_k): the reverse model's
        input and its cross-entropy target."""
        B, L = x0.shape
        ops = self.sample_ops(B, L, generator)
        x = x0
        for step in range(1, self.T + 1):
            active = k >= step
            x = torch.where(active[:, None], apply_swaps(x, ops[:, step - 1]), x)
        target = ops.gather(1, (k - 1).clamp(min=0)[:, None])[:, 0]
        return x, target


# ------------------------------------------------------------------------------------------------ DCDR-T
class TokenNoise:
    """DCDR-T's forward process: each position is replaced with probability beta_k by a candidate that is not in
    the list (so the list stays distinct); the reverse model predicts x_0 and :meth:`posterior` mixes it."""

    kind = "T"

    def __init__(self, T: int = 6, beta_start: float = 0.3, beta_end: float = 0.9):
        self.T = int(T)
        self.betas = _betas(self.T, beta_start, beta_end)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(self.alphas)

    def step(self, x: torch.Tensor, n_candidates: int, k: int, generator: Optional[torch.Generator] = None,
             active: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """One corruption step k (1-based) on rows x (B, L) of candidate indices. Returns (x_k, replaced mask).
        Marked positions are refilled, in position order, from a uniformly shuffled pool of the candidates not in
        the list; when the pool is smaller than the number of marked positions the rest keep their item."""
        B, L = x.shape
        n = int(n_candidates)
        mark = torch.rand(B, L, generator=generator) < float(self.betas[k - 1])
        if active is not None:
            mark &= active[:, None]
        in_list = torch.zeros(B, n, dtype=torch.bool)
        in_list.scatter_(1, x, True)
        keys = torch.rand(B, n, generator=generator).masked_fill(in_list, 2.0)   # outside pool first, shuffled
        pool = torch.argsort(keys, dim=1)                                            # (B, n)
        pool_size = (~in_list).sum(1, keepdim=True)                                  # (B, 1)
        rank = torch.cumsum(mark.long(), dim=1) - 1                                  # r-th marked position
        mark &= rank < pool_size
        new = torch.gather(pool, 1, rank.clamp(min=0, max=n - 1))
        return torch.where(mark, new, x), mark

    def record(self, x0: torch.Tensor, n_candidates: int,
               generator: Optional[torch.Generator] = None) -> ForwardRecord:
        states, masks = [x0], []
        for k in range(1, self.T + 1):
            x, m = self.step(states[-1], n_candidates, k, generator)
            states.append(x)
            masks.append(m)
        return ForwardRecord(torch.stack(states), torch.stack(masks), self.betas, self.kind)

    def training_pairs(self, x0: torch.Tensor, n_candidates: int, k: torch.Tensor,
                       generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(x_k, x_0) per row, each row run to its own step k (1..T)."""
        x = x0
        for step in range(1, self.T + 1):
            x, _ = self.step(x, n_candidates, step, generator, active=k >= step)
        return x, x0

    def posterior(self, x_k: torch.Tensor, p0: torch.Tensor, k: int) -> torch.Tensor:
        """q(x_{k-1} = c | x_k = a, x̂_0) per position, mixing the model's x_0 distribution ``p0`` (B, L, n)
        through the D3PM uniform-kernel posterior over the n candidates (docs/methods.md §2.7):

            q(x_{k-1}=c | a, p0) ∝ [α_k·δ(a=c) + β_k/n] · [ᾱ_{k-1}·p0(c) + (1-ᾱ_{k-1})/n],   ᾱ_0 = 1.

        Returns probabilities (B, L, n) that sum to 1 over c."""
        n = p0.shape[-1]
        a_k, b_k = float(self.alphas[k - 1]), float(self.betas[k - 1])
        ab_prev = float(self.alphas_cumprod[k - 2]) if k >= 2 else 1.0
        onehot = torch.zeros_like(p0).scatter_(-1, x_k.unsqueeze(-1), 1.0)
        lik = a_k * onehot + b_k / n
        prior = ab_prev * p0 + (1.0 - ab_prev) / n
        post = lik * prior
        return post / post.sum(-1, keepdim=True)


def make_noise(kind: str, T: int = 6, beta_start: float = 0.3, beta_end: float = 0.9):
    """'P' -> :class:`PermutationNoise`, 'T' -> :class:`TokenNoise`."""
    kind = str(kind).upper()
    if kind == "P":
        return PermutationNoise(T, beta_start, beta_end)
    if kind == "T":
        return TokenNoise(T, beta_start, beta_end)
    raise ValueError(f"unknown DCDR variant {kind!r}: 'P' (swaps) or 'T' (replacements)")


def describe_step(prev: List[int], now: List[int]) -> str:
    """A short text of what changed between two lists (positions 1-based): 'swap 2 <-> 5', 'replace at 3', ..."""
    prev, now = list(prev), list(now)
    diff = [p for p in range(min(len(prev), len(now))) if prev[p] != now[p]]
    if not diff:
        return "no change"
    if len(diff) == 2 and prev[diff[0]] == now[diff[1]] and prev[diff[1]] == now[diff[0]]:
        return f"swap {diff[0] + 1} ↔ {diff[1] + 1}"
    if set(now[p] for p in diff) <= set(prev):
        return "reorder at " + ", ".join(str(p + 1) for p in diff)
    return "replace at " + ", ".join(str(p + 1) for p in diff)
