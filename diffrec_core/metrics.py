"""Vectorised ranking metrics (docs/methods.md §3.2-3.3), computed on tensors for a batch of users at once.

No Python loops over users: the authors' ``computeTopNAccuracy`` loops over users and items in Python.
Recall@K divides by |GT| (not min(|GT|, K)) as DiffRec and DiffKG do; NDCG uses binary gains and IDCG over
min(|GT|, K) positions.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import torch

NEG_INF = float("-inf")


def mask_scores(scores: torch.Tensor, seen: Optional[torch.Tensor]) -> torch.Tensor:
    """Seen items (bool or 0/1 of the same shape, on any device) get -inf so they are never recommended."""
    if seen is None:
        return scores
    return scores.masked_fill(seen.to(scores.device, torch.bool), NEG_INF)


def topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    k = min(int(k), scores.shape[-1])
    return torch.topk(scores, k, dim=-1, sorted=True).indices


def ranking_metrics(top: torch.Tensor, gt: torch.Tensor, ks: Iterable[int] = (10, 20)) -> Dict[str, torch.Tensor]:
    """Per-user metrics for top-K lists ``top`` (U, Kmax) against ground truth ``gt`` (U, I) of 0/1.

    Returns ``{'recall@10': (U,), 'ndcg@10': ..., 'precision@10', 'hr@10', 'mrr@10', ...}``; rows with no ground
    truth get 0 (the caller decides the denominator, see :func:`average`).
    """
    gt = gt.bool()
    hits = gt.gather(1, top).float()                              # (U, Kmax)
    n_gt = gt.sum(dim=1).float()
    kmax = top.shape[1]
    disc = 1.0 / torch.log2(torch.arange(2, kmax + 2, device=top.device, dtype=torch.float32))
    cum_disc = torch.cumsum(disc, 0)
    ranks = torch.arange(1, kmax + 1, device=top.device, dtype=torch.float32)
    out = {}
    for k in ks:
        k = min(int(k), kmax)
        h = hits[:, :k]
        nh = h.sum(dim=1)
        safe = n_gt.clamp(min=1)
        out[f"recall@{k}"] = nh / safe
        out[f"precision@{k}"] = nh / k
        out[f"hr@{k}"] = (nh > 0).float()
        dcg = (h * disc[:k]).sum(dim=1)
        idcg = cum_disc[(torch.minimum(n_gt, torch.tensor(float(k))) - 1).clamp(min=0).long()]
        out[f"ndcg@{k}"] = torch.where(n_gt > 0, dcg / idcg, torch.zeros_like(dcg))
        first = torch.where(h > 0, ranks[:k], torch.full_like(h, float("inf"))).min(dim=1).values
        out[f"mrr@{k}"] = torch.where(torch.isfinite(first), 1.0 / first, torch.zeros_like(first))
    return out


def average(per_user: Dict[str, torch.Tensor], n_gt: torch.Tensor, denominator: str = "gt") -> Dict[str, float]:
    """Mean over users with ground truth (``'gt'``, our default) or over all users (``'all'``, DiffRec's
    faithful denominator, which counts users without ground truth as 0 - docs/methods.md §2.1 quirk 7)."""
    if denominator not in ("gt", "all"):
        raise ValueError("denominator must be 'gt' or 'all'")
    keep = n_gt > 0 if denominator == "gt" else torch.ones_like(n_gt, dtype=torch.bool)
    n = int(keep.sum())
    return {k: (float(v[keep].sum()) / n if n else 0.0) for k, v in per_user.items()}
