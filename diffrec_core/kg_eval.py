"""DiffKG's two knowledge-graph views scored side by side: the same trained model ranking with the KG it sampled
(the original graph) and with the KG its diffusion denoised (docs/methods.md §2.4), under the comparison's rules
(seen items masked, metrics averaged over the users with a held-out item).

The Knowledge-graph page reads these figures; computing them here keeps the masking and the metric denominator
the ones every other table of the project uses (``metrics.py``)."""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch

from .data.dataset import Split
from .metrics import average, mask_scores, ranking_metrics, topk

VIEWS = ("original KG", "denoised KG")


def kg_view_metrics(model, split: Split, k: int = 20) -> Tuple[Dict[str, np.ndarray], Dict[str, dict]]:
    """(tops, metrics) per view of :data:`VIEWS`. ``tops[view]`` is every user's top-``k`` from the validation-phase
    scores with the training items masked (what the page lists); ``metrics[view]`` is Recall/NDCG@``k`` of the same
    scores on the test items, training and validation items masked, averaged over users with a test item."""
    users = np.arange(split.n_users)
    seen_v = torch.from_numpy(split.rows(users, "train") > 0)
    seen_t = seen_v | torch.from_numpy(split.rows(users, "valid") > 0)
    gt_t = torch.from_numpy(split.rows(users, "test") > 0)
    tops, out = {}, {}
    for view, mask in zip(VIEWS, (model.kg_sampled, model.kg_denoised)):
        s = model.score(split, users, "valid", mask=mask)
        tops[view] = topk(mask_scores(s, seen_v), k).numpy()
        m = ranking_metrics(topk(mask_scores(s, seen_t), k), gt_t, (k,))
        out[view] = average(m, gt_t.sum(1), "gt")
    return tops, out
