"""One contract for every registered method (design.md): shapes, determinism under a seed, the last trajectory
step equals the final recommendation, and save -> load gives identical outputs."""
import pytest

from diffrec_core import registry
from diffrec_core.pipeline import instantiate, make_config

from toy import check_contract, toy_split

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
    check_contract(name, lambda: _fresh(name), SPLIT, tmp_path)
