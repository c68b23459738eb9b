"""Checkpoints: safetensors + JSON round trip, and every bad checkpoint is a clear error."""
import json
import pickle

import pytest
import torch

from diffrec_core import checkpoint
from diffrec_core.checkpoint import CheckpointError
from diffrec_core.pipeline import instantiate, make_config

from toy import toy_split

SPLIT = toy_split()


@pytest.fixture
def saved(tmp_path):
    m = instantiate("diffrec", make_config("diffrec"), SPLIT.n_users, SPLIT.n_items)
    checkpoint.save(m, tmp_path / "ck", "toy")
    return m, tmp_path / "ck"


def test_round_trip(saved):
    m, d = saved
    m2, meta = checkpoint.load(d, SPLIT.n_users, SPLIT.n_items)
    assert meta["method"] == "diffrec" and meta["config"]["steps"] == m.config.steps
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])


def test_mismatched_data_shape(saved):
    with pytest.raises(CheckpointError, match="trained on 120 users x 60 items"):
        checkpoint.load(saved[1], SPLIT.n_users, SPLIT.n_items + 1)


def test_corrupted_weights(saved):
    w = saved[1] / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupted"):
        checkpoint.load(saved[1])


def test_garbage_weights_without_checksum(saved):
    c = saved[1] / "config.json"
    meta = json.loads(c.read_text())
    meta.pop("weights_sha256")
    c.write_text(json.dumps(meta))
    (saved[1] / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        checkpoint.load(saved[1])


def test_pickle_is_never_unpickled(saved, tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import sys; sys.modules['__main__'].PWNED = True",))
    bad = pickle.dumps({"net.emb_layer.weight": Evil()})
    c = saved[1] / "config.json"
    meta = json.loads(c.read_text())
    meta.pop("weights_sha256")
    c.write_text(json.dumps(meta))
    (saved[1] / "model.safetensors").write_bytes(bad)
    with pytest.raises(CheckpointError):
        checkpoint.load(saved[1])
    import sys
    assert not getattr(sys.modules["__main__"], "PWNED", False)


@pytest.mark.parametrize("edit,msg", [
    (lambda m: m.update(method="nope"), "unknown method"),
    (lambda m: m.update(version=99), "version 99"),
    (lambda m: m["config"].update(dims="x"), "does not fit"),
    (lambda m: m["config"].update(bogus=1), "unknown setting"),
    (lambda m: m["config"].update(dims=[17]), "shapes do not fit"),
])
def test_bad_config(saved, edit, msg):
    c = saved[1] / "config.json"
    meta = json.loads(c.read_text())
    edit(meta)
    c.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=msg):
        checkpoint.load(saved[1])


def test_not_json_and_missing_files(saved, tmp_path):
    (saved[1] / "config.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        checkpoint.load(saved[1])
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        checkpoint.load(tmp_path / "nothing")
