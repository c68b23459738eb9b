"""Executors of the comparison grid (diffrec_core.compare): a parallel executor's table equals the serial one
whatever order the runs finish in; should_stop skips the runs not made; --executor ray without ray is one clear
line and exit 2; and (slow, where ray is installed) a local Ray of 2 workers writes the serial table."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core import compare  # noqa: E402
from diffrec_core.__main__ import main  # noqa: E402
from tolerances import F32_NET  # noqa: E402
from toy import toy_split  # noqa: E402

METHODS = ["diffrec", "pop", "ease", "sasrec"]           # sasrec: not applicable to a split without time order
OVERRIDES = {"diffrec": {"epochs": 2, "eval_every": 1}}


class ReversedExecutor(compare.Executor):
    """Hands every run out first, then finishes them last to first: the order a parallel executor may report."""

    name = "reversed"

    def run(self, jobs, splits, settings, progress=None, should_stop=None):
        for job in jobs:
            yield "start", job, None
        for job in reversed(jobs):
            if should_stop and should_stop():
                yield "skipped", job, None
            else:
                yield "done", job, compare.execute(job, splits[job.protocol], settings)


def _table(results):
    """What must agree between executors: every row's method, protocol, seeds, epochs and figures."""
    out = {}
    for r in results["rows"]:
        out[r["method"]] = {k: r.get(k) for k in ("protocol", "applicable", "reason", "n_seeds", "seeds",
                                                  "best_epoch", "epochs_run", "parameters", "preset")}
        if compare.ran(r):
            out[r["method"]]["test"] = [run["test"] for run in r["runs"]]
            out[r["method"]]["valid"] = [run["valid"] for run in r["runs"]]
    return out


def assert_same_table(a, b):
    ta, tb = _table(a), _table(b)
    assert [r["method"] for r in a["rows"]] == [r["method"] for r in b["rows"]]
    for m in ta:
        fa, fb = dict(ta[m]), dict(tb[m])
        figs_a, figs_b = [fa.pop(k, None) for k in ("test", "valid")], [fb.pop(k, None) for k in ("test", "valid")]
        assert fa == fb, m
        for xa, xb in zip(figs_a, figs_b):
            if xa is None:
                assert xb is None
                continue
            for run_a, run_b in zip(xa, xb):
                assert set(run_a) == set(run_b)
                for k in run_a:    # the same float32 computation; a different batching may move the last bits
                    assert run_a[k] == pytest.approx(run_b[k], rel=F32_NET["rtol"], abs=F32_NET["atol"]), (m, k)
    assert compare.to_csv(a).splitlines()[0] == compare.to_csv(b).splitlines()[0]


@pytest.fixture(scope="module")
def serial():
    return compare.run_compare(toy_split(), methods=METHODS, seeds=(1, 2), overrides=OVERRIDES)


def test_a_parallel_order_gives_the_serial_table(serial):
    lines = []
    ex = ReversedExecutor()
    res = compare.run_compare(toy_split(), methods=METHODS, seeds=(1, 2), overrides=OVERRIDES, executor=ex,
                              log=lines.append)
    assert_same_table(serial, res)
    assert res["executor"] == {"name": "reversed"} and serial["executor"] == {"name": "serial", "workers": 1}
    # one progress line per finished run, numbered as they finish (the last run of the grid finishes first here;
    # the grid runs the closed-form baselines first: pop, ease, then diffrec)
    assert len(lines) == 6 and lines[0].startswith("[1/6] diffrec") and lines[-1].startswith("[6/6] pop")
    assert all(f"[{i}/6]" in line for i, line in enumerate(lines, 1))
    # the records of a row are in seed order, not in the order they finished
    d = next(r for r in res["rows"] if r["method"] == "diffrec")
    assert [run["seed"] for run in d["runs"]] == [1, 2]


def test_iter_compare_events_with_a_parallel_executor():
    evs = list(compare.iter_compare(toy_split(), methods=["pop", "ease"], seeds=(1, 2), executor=ReversedExecutor()))
    kinds = [e["event"] for e in evs]
    assert kinds == ["start"] * 4 + ["done"] * 4 + ["result"]
    assert [e["index"] for e in evs if e["event"] == "done"] == [1, 2, 3, 4]
    assert [(e["method"], e["seed"]) for e in evs if e["event"] == "done"] == [("ease", 2), ("ease", 1),
                                                                                ("pop", 2), ("pop", 1)]


def test_should_stop_skips_runs_not_made_in_grid_order():
    finished = []

    class Counting(ReversedExecutor):
        def run(self, jobs, splits, settings, progress=None, should_stop=None):
            for ev in super().run(jobs, splits, settings, progress, should_stop):
                finished.append(ev[0])
                yield ev

    res = compare.run_compare(toy_split(), methods=["pop", "ease"], seeds=(1, 2), executor=Counting(),
                              should_stop=lambda: finished.count("done") >= 1)
    assert finished.count("done") == 1
    # the first run to finish was (ease, 2); the three others were never made, listed in the grid's order
    assert res["skipped"] == [{"method": "pop", "seed": 1}, {"method": "pop", "seed": 2},
                              {"method": "ease", "seed": 1}]
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["ease"]["n_seeds"] == 1 and rows["ease"]["seeds"] == [2]
    assert rows["pop"]["not_run"]


def test_make_executor_names_and_errors():
    assert isinstance(compare.make_executor("serial"), compare.SerialExecutor)
    with pytest.raises(compare.ExecutorError, match="unknown executor"):
        compare.make_executor("dask")
    with pytest.raises(compare.ExecutorError, match="--executor ray only"):
        compare.make_executor("serial", address="auto")


def test_ray_executor_without_ray_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)            # `import ray` raises ImportError
    code = main(["compare", "--data", "sample", "--methods", "pop", "--executor", "ray", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and "pip install ray" in err
    assert not (tmp_path / "results.json").exists()


def test_cli_workers_needs_the_ray_executor(tmp_path, capsys):
    code = main(["compare", "--data", "sample", "--methods", "pop", "--workers", "2", "--out", str(tmp_path)])
    assert code == 2 and "--workers applies to --executor ray only" in capsys.readouterr().err


@pytest.mark.slow
def test_local_ray_of_two_workers_gives_the_serial_table(tmp_path):
    pytest.importorskip("ray")
    # Ray gives each one-CPU task one BLAS thread; the serial reference runs with one thread too, so that both
    # are the same float32 computation (a different thread count changes the GEMM's summation order)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = compare.run_compare(toy_split(), methods=METHODS, seeds=(1, 2), overrides=OVERRIDES)
    finally:
        torch.set_num_threads(before)
    lines = []
    with compare.RayExecutor(workers=2) as ex:
        assert ex.info()["workers"] == 2
        res = compare.run_compare(toy_split(), methods=METHODS, seeds=(1, 2), overrides=OVERRIDES, executor=ex,
                                  log=lines.append)
    assert_same_table(ref, res)
    assert res["executor"]["name"] == "ray" and res["executor"]["address"] == "local"
    assert len(lines) == 6 and all(f"[{i}/6]" in line for i, line in enumerate(lines, 1))
