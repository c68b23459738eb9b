"""Ranking metrics on hand-checked cases and limits."""
import math

import pytest
import torch

from diffrec_core.metrics import average, mask_scores, ranking_metrics, topk


def test_hand_checked_case():
    # user 0: GT {1, 3}; ranked [3, 0, 1] -> hits at ranks 1 and 3
    top = torch.tensor([[3, 0, 1]])
    gt = torch.tensor([[0, 1, 0, 1, 0]])
    m = ranking_metrics(top, gt, ks=(2, 3))
    assert m["recall@2"].item() == pytest.approx(0.5)
    assert m["recall@3"].item() == pytest.approx(1.0)
    assert m["precision@3"].item() == pytest.approx(2 / 3)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"].item() == pytest.approx(dcg / idcg)
    assert m["mrr@3"].item() == pytest.approx(1.0)
    assert m["hr@2"].item() == 1.0


def test_recall_divides_by_all_ground_truth_not_k():
    top = torch.tensor([[0, 1]])
    gt = torch.tensor([[1, 1, 1, 1, 0]])
    assert ranking_metrics(top, gt, ks=(2,))["recall@2"].item() == pytest.approx(0.5)  # 2/4, not 2/min(4,2)


def test_perfect_ranking_gives_one_and_empty_gt_gives_zero():
    gt = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    m = ranking_metrics(torch.tensor([[0, 1, 2], [0, 1, 2]]), gt, ks=(2,))
    assert m["ndcg@2"][0].item() == pytest.approx(1.0) and m["recall@2"][0].item() == pytest.approx(1.0)
    assert m["ndcg@2"][1].item() == 0 and m["recall@2"][1].item() == 0
    n_gt = gt.sum(1)
    assert average(m, n_gt, "gt")["recall@2"] == pytest.approx(1.0)
    assert average(m, n_gt, "all")["recall@2"] == pytest.approx(0.5)  # DiffRec's faithful denominator
    with pytest.raises(ValueError):
        average(m, n_gt, "some")


def test_single_target_ndcg_is_inverse_log_rank():
    m = ranking_metrics(torch.tensor([[4, 2, 7, 1]]), torch.nn.functional.one_hot(torch.tensor([7]), 8), ks=(4,))
    assert m["ndcg@4"].item() == pytest.approx(1 / math.log2(4))
    assert m["mrr@4"].item() == pytest.approx(1 / 3)


def test_masking_never_recommends_seen_items():
    s = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    masked = mask_scores(s, torch.tensor([[True, False, True, False]]))
    assert topk(masked, 2).tolist() == [[1, 3]]
