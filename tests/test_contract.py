"""One contract for every registered method (design.md): shapes, determinism under a seed, the last trajectory
step equals the final recommendation, and save -> load gives identical outputs."""
import numpy as np
import pytest
import torch

from diffrec_core import checkpoint, registry
from diffrec_core.pipeline import instantiate, make_config
from diffrec_core.train import fit

from toy import toy_split

SPLIT = toy_split()
FAST = {"epochs": 2, "eval_every": 1}  # a contract, not a quality test


def _fresh(name):
    spec = registry.get(name)
    cfg = make_config(name, "sample", {k: v for k, v in FAST.items() if hasattr(spec.config_cls(), k)})
    return instantiate(name, cfg, SPLIT.n_users, SPLIT.n_items, seed=3)


INTERACTION_METHODS = [s.name for s in registry.specs() if "interactions" in s.needs]


def test_registry_has_the_diffrec_family_and_baselines():
    names = set(registry.names())
    assert {"diffrec", "tdiffrec"} <= names
    assert len(registry.names("baseline")) >= 2
    for s in registry.specs():
        assert s.title and s.paper and s.idea and "sample" in s.presets, s.name


@pytest.mark.parametrize("name", INTERACTION_METHODS)
def test_method_contract(name, tmp_path):
    users = np.array([0, 3, 7])
    a = _fresh(name)
    fit(a, SPLIT, seed=3)
    s = a.score(SPLIT, users, "valid")
    assert s.shape == (3, SPLIT.n_items) and torch.isfinite(s).all()

    # determinism: the same seed gives the same model
    b = _fresh(name)
    fit(b, SPLIT, seed=3)
    assert torch.allclose(s, b.score(SPLIT, users, "valid"), atol=1e-6)

    # the trajectory's last step is the final recommendation
    tr = a.trajectory(SPLIT, users, k=5)
    S = tr.n_steps
    assert S >= 1 and tr.states.shape[:2] == (S, 3) and tr.x0_hat.shape[:2] == (S, 3)
    assert tr.topk.shape == (S, 3, 5) and tr.scores.shape == (S, 3, SPLIT.n_items)
    np.testing.assert_array_equal(tr.final_topk, tr.topk[-1])
    seen = SPLIT.rows(users, "train") > 0
    for row in range(3):  # training items are never recommended
        assert not np.isin(tr.final_topk[row], np.flatnonzero(seen[row])).any()
    s_masked = s.numpy().copy()
    s_masked[seen] = -np.inf
    np.testing.assert_allclose(tr.final_scores, s_masked, rtol=1e-5, atol=1e-5)

    # save -> load gives identical outputs
    checkpoint.save(a, tmp_path / name, "toy")
    c, meta = checkpoint.load(tmp_path / name, SPLIT.n_users, SPLIT.n_items)
    c.attach(SPLIT)
    assert meta["method"] == name
    assert torch.equal(s, c.score(SPLIT, users, "valid"))
