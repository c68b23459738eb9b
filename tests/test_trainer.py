"""The step-wise Trainer: stepped by hand it is ``fit`` (the same computation, so the same bits), its parts can be
replaced one at a time, and the protocol's edge values are refused the same way by fit, the Trainer and the Lab."""
from __future__ import annotations

import pytest
import torch

from diffrec_core import lab_train
from diffrec_core.errors import DiffRecError
from diffrec_core.pipeline import build_model
from diffrec_core.train import Protocol, ProtocolError, Trainer, fit
from tests.toy import toy_split

SMALL = dict(dims=[8], steps=2, batch_size=60)


@pytest.fixture(scope="module")
def split():
    return toy_split()


def _diffrec(split, **over):
    return build_model("diffrec", split, preset="sample", overrides={**SMALL, **over}, seed=2)


def test_stepped_by_hand_equals_fit(split):
    kw = dict(epochs=6, eval_every=2, patience=50)
    a, b = _diffrec(split), _diffrec(split)
    t = Trainer(a, split, seed=4, **kw).start()
    records = []
    while not t.done:
        records.append(t.step())
    res = fit(b, split, seed=4, **kw)
    assert t.result.best_epoch == res.best_epoch and t.result.stopped == res.stopped == "epoch limit"
    assert t.result.valid == res.valid and t.result.test == res.test and "recall@20" in res.test
    assert [r["epoch"] for r in records] == [h["epoch"] for h in res.history] == list(range(1, 7))
    assert [r["loss"] for r in records] == [h["loss"] for h in res.history]       # same computation: same bits
    assert [e for e in range(1, 7) if "valid_recall@20" in records[e - 1]] == [2, 4, 6]
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k
    assert t.step() is None                                                     # done: nothing more happens


def test_the_parts_can_be_replaced(split):
    """What a distributed or instrumented run overrides: the epoch, the evaluation pass, the report."""
    calls = []

    class Counting(Trainer):
        def evaluate(self, which):
            calls.append((self.epoch, tuple(which)))
            return super().evaluate(which)

        def report(self, rec):
            calls.append(("report", rec["epoch"]))

    t = Counting(_diffrec(split), split, seed=1, epochs=4, eval_every=2)
    t.start()
    while not t.done:
        t.step()
    assert calls == [("report", 1), (2, ("valid",)), ("report", 2), ("report", 3), (4, ("valid",)),
                     ("report", 4), (4, ("test",))]


@pytest.mark.parametrize("kw,name", [(dict(eval_every=0), "eval_every"), (dict(eval_every=-3), "eval_every"),
                                     (dict(patience=0), "patience"), (dict(patience=-1), "patience")])
def test_edge_values_are_refused_everywhere_alike(split, kw, name):
    """eval_every and patience below 1 are refused with a ProtocolError (a DiffRecError) naming the field, never
    clamped or replaced by the config's value: by the Trainer, fit, and the Lab (as a LabError)."""
    with pytest.raises(ProtocolError, match=f"{name} must be at least 1"):
        Trainer(_diffrec(split), split, **kw)
    with pytest.raises(DiffRecError, match=f"{name} must be at least 1"):
        fit(_diffrec(split), split, epochs=2, **kw)
    data = lab_train.LabData(name="toy", log=None, _splits={"auto": split})
    with pytest.raises(lab_train.LabError, match=f"{name} must be at least 1"):
        lab_train.LabRun("diffrec", data, overrides=SMALL, epochs=2, **kw)
    m = _diffrec(split)
    setattr(m.config, name, 0)                      # the same value from the config
    with pytest.raises(ProtocolError, match=f"{name} must be at least 1"):
        fit(m, split)
    with pytest.raises(ProtocolError, match="eval_offset must be at least 0"):
        Protocol(epochs=3, eval_offset=-1)


def test_stop_before_any_validation_keeps_the_last_weights_validated(split):
    """No validated epoch at a stop (fit's ``should_stop``, the Lab's request_stop): the last weights stand and
    are validated once, so the result always names the epoch whose weights it holds."""
    res = fit(_diffrec(split), split, seed=1, epochs=50, eval_every=10, should_stop=lambda: True)
    assert res.stopped == "stopped by user after epoch 1" and res.best_epoch == 1 and len(res.history) == 1
    assert "recall@20" in res.valid and "recall@20" in res.test
    t = Trainer(_diffrec(split), split, seed=1, epochs=50, eval_every=10).start()
    t.step()
    t.request_stop()
    assert t.step() is None and t.done and t.epoch == 1                        # no second epoch trained
    assert t.result.best_epoch == 1 and t.result.valid == res.valid


def test_closed_form_and_no_epochs(split):
    t = Trainer(build_model("ease", split), split)
    assert t.step() is None and t.done and t.result.stopped == "closed form" and not t.result.history
    assert "recall@20" in t.result.valid and "recall@20" in t.result.test
    res = fit(_diffrec(split), split, epochs=0)
    assert res.stopped == "no epochs" and res.best_epoch == 0 and "recall@20" in res.valid


def test_evaluate_test_off_skips_the_test_pass(split):
    res = fit(_diffrec(split), split, epochs=2, eval_every=1, evaluate_test=False)
    assert res.test == {} and res.best_epoch in (1, 2) and res.valid


def test_every_trained_method_config_is_a_train_config():
    """The protocol's settings come from one dataclass: every method the Lab and fit train inherits it (flat keys,
    so ``--set epochs=3`` and presets read the same names), and a method's own default is an explicit override."""
    import dataclasses

    from diffrec_core import registry
    from diffrec_core.methods.base import config_from_dict
    from diffrec_core.train_config import DEFAULTS, TrainConfig

    trained = [s for s in registry.specs() if "lists" not in s.needs]
    assert len(trained) >= 10
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for spec in trained:
        assert issubclass(spec.config_cls, TrainConfig), spec.name
        c = config_from_dict(spec.config_cls, {"epochs": "3", "patience": "2", "mask_seen": "false"})
        assert (c.epochs, c.patience, c.mask_seen) == (3, 2, False), spec.name
        assert names <= set(dataclasses.asdict(c)), spec.name
    for spec in registry.specs():              # the rerankers' own loop (fit_lists) takes none of them
        if "lists" in spec.needs:
            assert not issubclass(spec.config_cls, TrainConfig), spec.name
    seq = registry.get("diffurec").config_cls()
    assert seq.mask_seen is False and seq.select_metric == "ndcg@10" and DEFAULTS.mask_seen is True
    assert registry.get("diffrec").config_cls().ks == DEFAULTS.ks == [10, 20]
