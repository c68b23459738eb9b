"""The contract of ``test_contract.py`` for every registered sequence method (``needs`` holds "sequences"):
shapes, determinism under a seed, the last trajectory step equals the final recommendation, history items are
never recommended when ``mask_seen`` is on, and save -> load gives identical outputs. Data: the leave-one-out
toy of ``test_sequential.py``."""
import numpy as np
import pytest
import torch

from diffrec_core import checkpoint, registry
from diffrec_core.pipeline import build_model
from diffrec_core.train import fit

from test_sequential import seq_split

SPLIT = seq_split(n_users=60, n_items=30, seed=1)
FAST = {"epochs": 2, "eval_every": 1, "mask_seen": True}  # a contract, not a quality test
SMALL = {"hidden": 16, "blocks": 1, "heads": 2, "max_len": 6, "seq_len": 6, "steps": 24, "batch_size": 64}

SEQUENCE_METHODS = [s.name for s in registry.specs() if "sequences" in s.needs]


def _fresh(name):
    fields = registry.get(name).config_cls()
    over = {k: v for k, v in {**SMALL, **FAST}.items() if hasattr(fields, k)}
    return build_model(name, SPLIT, "sample", over, seed=3)


def test_registry_has_the_sequence_methods():
    assert {"diffurec", "dreamrec", "sasrec"} <= set(SEQUENCE_METHODS)
    for name in SEQUENCE_METHODS:
        s = registry.get(name)
        assert s.title and s.paper and s.idea and {"sample", "beauty"} <= set(s.presets) and s.page, name


@pytest.mark.parametrize("name", SEQUENCE_METHODS)
def test_sequence_method_contract(name, tmp_path):
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
    for row in range(3):  # with mask_seen the history is never recommended
        assert not np.isin(tr.final_topk[row], np.flatnonzero(seen[row])).any()
    s_masked = s.numpy().copy()
    s_masked[seen] = -np.inf
    np.testing.assert_allclose(tr.final_scores, s_masked, rtol=1e-5, atol=1e-5)

    # save -> load gives identical outputs
    checkpoint.save(a, tmp_path / name, "seqtoy")
    c, meta = checkpoint.load(tmp_path / name, SPLIT.n_users, SPLIT.n_items)
    c.attach(SPLIT)
    assert meta["method"] == name
    assert torch.equal(s, c.score(SPLIT, users, "valid"))


def test_sequence_methods_refuse_a_non_leave_one_out_split():
    from toy import toy_split
    with pytest.raises(ValueError, match="leave-one-out"):
        build_model("diffurec", toy_split(), "sample")
