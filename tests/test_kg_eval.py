"""DiffKG's original-vs-denoised KG views scored in the core (diffrec_core.kg_eval), under the project's masking
and metric denominator: the figures equal the trainer's own evaluation where the mask is the one it scores with."""
import torch

from diffrec_core.kg_eval import VIEWS, kg_view_metrics
from diffrec_core.train import evaluate, fit
from test_diffkg import fresh, kg_split
from tolerances import F32_NET


def test_both_views_are_scored_with_training_items_masked_and_the_scoring_view_matches_evaluate():
    s = kg_split()
    m = fresh(s, epochs=2)
    fit(m, s, seed=3)
    m.eval()
    tops, metrics = kg_view_metrics(m, s, 20)
    assert set(tops) == set(metrics) == set(VIEWS)
    train = s.rows(range(s.n_users), "train") > 0
    for view in VIEWS:
        assert tops[view].shape == (s.n_users, 20)
        assert not train[torch.arange(s.n_users)[:, None].numpy(), tops[view]].any()     # seen items never listed
        assert set(metrics[view]) >= {"recall@20", "ndcg@20"}
        assert all(0.0 <= v <= 1.0 for v in metrics[view].values())
    # the denoised view is the one the model scores with: the same figures as the trainer's test pass
    assert torch.equal(m.scoring_mask(), m.kg_denoised)
    test = evaluate(m, s, ("test",), denominator="gt")["test"]
    for k in ("recall@20", "ndcg@20"):
        assert abs(metrics["denoised KG"][k] - test[k]) <= F32_NET["atol"] + F32_NET["rtol"] * abs(test[k]), k
