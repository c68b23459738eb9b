"""Data-parallel training (diffrec_core/distributed.py, distributed_train.py) and resumable training states
(train_state.py): seeds, batch sharding, the gradient all-reduce, sharded evaluation, a 2-process gloo run
against one process, rank-0-only outputs of ``torchrun ... -m diffrec_core train``, and resume.

The 2-process checks run in one ``torch.multiprocessing`` spawn (two CPU processes, gloo), whose workers write
what they computed to files the test compares with the same computation in this process.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from diffrec_core import distributed
from diffrec_core.distributed_train import RankTrainer
from diffrec_core.pipeline import build_model
from diffrec_core.train import evaluate
from tolerances import EPS32
from toy import toy_split

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
# DiffRec trained without randomness: one diffusion step (t is always 0), no noise, no dropout - so one
# process and two ranks see the same loss on the same rows, and any difference is the gradient's rounding
DETERMINISTIC = dict(steps=1, dropout=0.0, noise_scale=0.0, t_sampler="uniform", batch_size=25, dims=[16])
EPOCHS = 3
EVAL_BATCH = 32          # 120 toy users: batches 0-31, 32-63 (rank 0 scores both 0 and 64), 64-95, 96-119
LR = 1e-3                # DiffRecConfig.lr
N_STEPS = EPOCHS * 5     # 120 users in batches of 25
# Two ranks sum two weighted partial gradients where one process sums all rows at once: a relative gradient
# error of a few ULP per step. AdamW turns a relative gradient error d into an update error of about d * lr, so
# after N_STEPS the weights may differ by N_STEPS * lr * d; d = 1000 ULP leaves a wide margin for the depth of
# the network and for BLAS kernels that block differently (measured on AMD EPYC: 3e-8 against this 1.8e-6).
# A sharding or synchronisation fault moves weights by about lr per step, 500 times more. Scale errors of the
# gradient are invisible here (AdamW is scale-free): the gradient test above checks the weights n_r / n.
WEIGHT_TOL = dict(rtol=0.0, atol=N_STEPS * LR * 1000 * EPS32)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, port: int) -> dict:
    return {"WORLD_SIZE": str(WORLD), "RANK": str(rank), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port)}


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(7, 6, generator=g), torch.randn(7, 3, generator=g)   # 7 rows: shards of 4 and 3


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(_env(rank, port))
    torch.set_num_threads(1)
    out = Path(out)
    with distributed.process_group(torch.device("cpu")) as w:
        assert w.world_size == WORLD and w.backend == "gloo"
        # 1. the gradient all-reduce: a mean loss and a sum / d loss over this rank's shard of one batch
        x, y = _batch()
        grads = {}
        for kind in ("mean", "sum"):
            net = _net()
            rows = distributed.shard(np.arange(len(x)))
            diff = (net(x[rows]) - y[rows]) ** 2
            loss = diff.mean() if kind == "mean" else diff.sum() / distributed.shard_denominator(10.0)
            loss.backward()
            torch.optim.SGD(net.parameters(), lr=0.0).step()      # the step pre-hook sums the gradients
            grads.update({f"{kind}.{k}": p.grad for k, p in net.named_parameters()})
        save_file(grads, str(out / f"grads{rank}.safetensors"))
        # 2. sharded evaluation of an untrained model
        split = toy_split()
        model = build_model("diffrec", split, seed=1)
        ev = evaluate(model, split, batch_size=EVAL_BATCH)
        (out / f"eval{rank}.json").write_text(json.dumps(ev))
        # 3. a short deterministic training run
        model = build_model("diffrec", split, overrides=DETERMINISTIC, seed=1)
        res = RankTrainer(model, split, seed=1, epochs=EPOCHS, eval_batch=EVAL_BATCH).start()
        while not res.done:
            res.step()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"weights{rank}.safetensors"))
        (out / f"fit{rank}.json").write_text(json.dumps({"valid": res.result.valid, "test": res.result.test,
                                                         "best_epoch": res.result.best_epoch}))
        # 4. the other data-parallel families, with their own noise per rank: two optimisers (L-DiffRec), the
        # sequence batches (DiffuRec, DreamRec)
        for name, data, over in _families():
            model = build_model(name, data, overrides=over, seed=1)
            t = RankTrainer(model, data, seed=1, epochs=2).start()
            while not t.done:
                t.step()
            save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                      str(out / f"{name}{rank}.safetensors"))


def _families():
    from test_sequential import TINY, seq_split
    seq = seq_split(n_users=60)
    return [("ldiffrec", toy_split(), dict(batch_size=25)),
            ("diffurec", seq, dict(TINY["diffurec"], batch_size=25)),
            ("dreamrec", seq, dict(TINY["dreamrec"], batch_size=25))]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return out


# ------------------------------------------------------------------------------------------------ one process
def test_rank_seed_keeps_rank_zero_and_separates_the_others():
    assert distributed.rank_seed(7, 0) == 7             # one process repeats a plain run
    seeds = [distributed.rank_seed(7, r) for r in range(8)]
    assert len(set(seeds)) == 8 and all(0 <= s < 2 ** 63 for s in seeds)
    assert seeds == [distributed.rank_seed(7, r) for r in range(8)]     # a function of (seed, rank) only
    assert distributed.rank_seed(8, 1) != distributed.rank_seed(7, 1)


def test_shard_is_the_batch_without_a_process_group_and_splits_it_under_one(monkeypatch):
    rows = np.arange(11) * 3
    assert distributed.shard(rows) is rows and distributed.shard_denominator(5.0) == 5.0
    parts = []
    for r in range(4):
        monkeypatch.setattr(distributed, "_WORLD", distributed.World(rank=r, world_size=4, backend="gloo"))
        parts.append(distributed.shard(rows))
        assert distributed.shard_denominator(11.0) == pytest.approx(len(parts[-1]))
    monkeypatch.setattr(distributed, "_WORLD", distributed.World())
    np.testing.assert_array_equal(np.concatenate(parts), rows)        # the global batch, in order, once
    assert [len(p) for p in parts] == [3, 3, 3, 2]
    assert list(distributed.eval_starts(100, 32)) == [0, 32, 64, 96]


@pytest.mark.parametrize("env", [{"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "x"}, {"WORLD_SIZE": "0"}])
def test_an_inconsistent_torchrun_environment_is_a_clear_error(env):
    with pytest.raises(distributed.DistributedError, match="torchrun"):
        distributed.env_world(env)
    assert distributed.env_world({}) == distributed.World()


# ------------------------------------------------------------------------------------------------ two processes
def test_the_all_reduced_gradient_is_the_global_batch_gradient(two_ranks):
    x, y = _batch()
    ref = {}
    for kind in ("mean", "sum"):
        net = _net()
        diff = (net(x) - y) ** 2
        (diff.mean() if kind == "mean" else diff.sum() / 10.0).backward()
        ref.update({f"{kind}.{k}": p.grad for k, p in net.named_parameters()})
    g0, g1 = (load_file(str(two_ranks / f"grads{r}.safetensors")) for r in range(WORLD))
    for k, v in ref.items():
        torch.testing.assert_close(g0[k], g1[k], rtol=0, atol=0)     # every rank holds one gradient
        # two partial sums of at most 4 rows, weighted and added, against one sum of 7: a few ULP of the
        # largest gradient entry
        torch.testing.assert_close(g0[k], v, rtol=8 * EPS32, atol=8 * EPS32 * float(v.abs().max()))


def test_sharded_evaluation_equals_the_unsharded_pass(two_ranks):
    split = toy_split()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # the workers' thread count: the very same batches, computed alike
    try:
        ref = evaluate(build_model("diffrec", split, seed=1), split, batch_size=EVAL_BATCH)
    finally:
        torch.set_num_threads(threads)
    for r in range(WORLD):
        assert json.loads((two_ranks / f"eval{r}.json").read_text()) == ref


def test_two_ranks_train_as_one_process(two_ranks):
    split = toy_split()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model("diffrec", split, overrides=DETERMINISTIC, seed=1)
        trainer = RankTrainer(model, split, seed=1, epochs=EPOCHS, eval_batch=EVAL_BATCH).start()
        while not trainer.done:
            trainer.step()
    finally:
        torch.set_num_threads(threads)
    w0, w1 = (load_file(str(two_ranks / f"weights{r}.safetensors")) for r in range(WORLD))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)     # the ranks hold one model
        torch.testing.assert_close(w0[k], v, **WEIGHT_TOL)
    fit0 = json.loads((two_ranks / "fit0.json").read_text())
    assert fit0["best_epoch"] == trainer.result.best_epoch
    # weights that agree to rounding can still swap two items whose scores tie: at most one user's share
    for which in ("valid", "test"):
        for k, v in getattr(trainer.result, which).items():
            assert fit0[which][k] == pytest.approx(v, abs=1.0 / split.n_users), (which, k)



@pytest.mark.parametrize("name", ["ldiffrec", "diffurec", "dreamrec"])
def test_every_rank_holds_one_model_after_training(two_ranks, name):
    w0, w1 = (load_file(str(two_ranks / f"{name}{r}.safetensors")) for r in range(WORLD))
    assert w0.keys() == w1.keys()
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)
        if w0[k].is_floating_point():
            assert torch.isfinite(w0[k]).all(), k
    data, over = {n: (d, o) for n, d, o in _families()}[name]
    init = build_model(name, data, overrides=over, seed=1).state_dict()
    assert any(not torch.equal(init[k], w0[k]) for k in init if k in w0)     # it trained


# ------------------------------------------------------------------------------------------------ resume
TOY_DIFFREC = dict(batch_size=25, dims=[16], eval_every=1)


def _run(name, split, overrides, epochs, state_dir=None, stop_after=None, resume=None):
    model = build_model(name, split, overrides=overrides, seed=1)
    t = RankTrainer(model, split, seed=1, epochs=epochs, state_dir=state_dir)
    t.resume(resume) if resume else t.start()
    while not t.done and (stop_after is None or t.epoch < stop_after):
        t.step()
    return model, t


def _whole_and_resumed(tmp_path, name, split, overrides, epochs, stop_after):
    """An uninterrupted run, and one stopped after ``stop_after`` epochs and resumed from its saved state, with
    the weights of the two compared bitwise: the very same computation, on one thread (LightGCN's and DiffKG's
    sparse products are not bitwise repeatable with two, even without a resume)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = _run(name, split, overrides, epochs)
        _run(name, split, overrides, epochs, state_dir=tmp_path / "s", stop_after=stop_after)
        resumed = _run(name, split, overrides, epochs, resume=tmp_path / "s")
    finally:
        torch.set_num_threads(threads)
    for k, v in whole[0].state_dict().items():
        assert torch.equal(v, resumed[0].state_dict()[k]), k
    return whole, resumed


def test_resume_gives_the_uninterrupted_end_state(tmp_path):
    """Dropout, noise and the importance sampler draw from the saved random states; the sampler's loss history,
    AdamW's moments and the kept epoch's weights come back: the very same computation, so bitwise equal."""
    (_, t_whole), (_, t_res) = _whole_and_resumed(tmp_path, "diffrec", toy_split(), TOY_DIFFREC, 4, 2)
    assert t_res.done and t_res.result.best_epoch == t_whole.result.best_epoch
    assert t_res.result.valid == t_whole.result.valid and t_res.result.test == t_whole.result.test
    strip = [{k: v for k, v in r.items() if "seconds" not in k} for r in t_whole.result.history]
    assert [{k: v for k, v in r.items() if "seconds" not in k} for r in t_res.result.history] == strip


def test_resume_hands_a_lazily_built_optimiser_its_state(tmp_path):
    """LightGCN builds its AdamW at its first step, after the resume: the saved moments reach it then."""
    _, (resumed, _) = _whole_and_resumed(tmp_path, "lightgcn", toy_split(), dict(eval_every=1), 3, 1)
    assert resumed._opt is not None and int(resumed._opt.state_dict()["state"][0]["step"]) > 0


def test_a_state_of_another_model_is_refused(tmp_path):
    from diffrec_core.train_state import TrainStateError
    split = toy_split()
    _run("diffrec", split, TOY_DIFFREC, 4, state_dir=tmp_path / "s", stop_after=1)
    other = build_model("diffrec", split, overrides=dict(dims=[8]), seed=1)
    with pytest.raises(TrainStateError, match="shape"):
        RankTrainer(other, split, seed=1, epochs=2).resume(tmp_path / "s")
    (tmp_path / "s" / "state.json").write_text("{}")
    with pytest.raises(TrainStateError, match="not a"):
        RankTrainer(other, split, seed=1, epochs=2).resume(tmp_path / "s")


# ------------------------------------------------------------------------------------------------ torchrun
def _toy_csv(path: Path) -> Path:
    s = toy_split()
    m = (s.train + s.valid + s.test).tocoo()
    rows = sorted(zip(m.row.tolist(), m.col.tolist()))
    path.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for t, (u, i) in enumerate(rows)))
    return path


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_torchrun_prints_one_json_line_writes_one_checkpoint_and_resumes(tmp_path):
    data = _toy_csv(tmp_path / "toy.csv")
    base = ["torchrun", "--standalone", "--nproc_per_node", str(WORLD), "-m", "diffrec_core", "train", "--method",
            "diffrec", "--data", str(data), "--set", "dims=[16]", "batch_size=25", "--json", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

    def run(*extra):
        p = subprocess.run(base + list(extra), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-3000:]
        lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
        assert len(lines) == 1, p.stdout                     # rank 0 alone prints
        return json.loads(lines[0]), p.stderr

    first, err = run("--epochs", "2", "--out", str(tmp_path / "a"), "--state-every", "1")
    assert first["ranks"] == WORLD and len(first["epoch_seconds"]) == 2
    assert err.count("checkpoint written to") == 1
    assert sorted(x.name for x in (tmp_path / "a").iterdir()) == ["config.json", "model.safetensors", "train_state"]
    second, _ = run("--epochs", "3", "--resume", str(tmp_path / "a" / "train_state"))
    assert len(second["epoch_seconds"]) == 3                  # epochs 1-2 from the state, epoch 3 trained
    assert second["best_epoch"] in (2, 3)


@pytest.mark.slow
def test_diffkg_resumes_to_the_uninterrupted_end_state(tmp_path):
    """DiffKG builds both its optimisers lazily and rebuilds its KG from the noise generator every epoch; on the
    sample world (it needs a KG)."""
    from diffrec_core.pipeline import load_split, split_how
    split = load_split("sample", how=split_how("diffkg"))
    (_, t_whole), (_, t_res) = _whole_and_resumed(tmp_path, "diffkg", split, dict(eval_every=1), 3, 1)
    assert t_res.result.test == t_whole.result.test and t_res.result.best_epoch == t_whole.result.best_epoch
