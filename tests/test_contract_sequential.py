"""The contract of ``test_contract.py`` for every registered sequence method (``needs`` holds "sequences"):
shapes, determinism under a seed, the last trajectory step equals the final recommendation, history items are
never recommended when ``mask_seen`` is on, and save -> load gives identical outputs. Data: the leave-one-out
toy of ``test_sequential.py``."""
import pytest

from diffrec_core import registry
from diffrec_core.pipeline import build_model

from test_sequential import seq_split
from toy import check_contract

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
    check_contract(name, lambda: _fresh(name), SPLIT, tmp_path)


def test_sequence_methods_refuse_a_non_leave_one_out_split():
    from toy import toy_split
    with pytest.raises(ValueError, match="leave-one-out"):
        build_model("diffurec", toy_split(), "sample")
