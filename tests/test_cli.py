"""The command line a researcher uses: train (JSON last line), evaluate a checkpoint, clear errors."""
import json
import subprocess
import sys

from conftest import REPO


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "diffrec_core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_train_json_then_evaluate(tmp_path):
    out = tmp_path / "ck"
    r = _run("train", "--method", "diffrec", "--data", "sample", "--epochs", "5", "--json", "--quiet",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["best_epoch"] == 5 and res["parameters"] > 0 and res["diffusion_steps"] == 10
    for w in ("valid", "test"):
        assert {"recall@10", "recall@20", "ndcg@10", "ndcg@20"} <= set(res[w])
    assert res["test"]["recall@20"] > 0.05  # far above random (20/500 x ~0.5 ~ 0.02)
    e = _run("evaluate", "--checkpoint", str(out), "--data", "sample", "--json")
    assert e.returncode == 0, e.stderr
    ev = json.loads(e.stdout.strip().splitlines()[-1])
    assert abs(ev["test"]["recall@20"] - res["test"]["recall@20"]) < 1e-9


def test_clear_errors():
    r = _run("train", "--method", "nope", "--data", "sample")
    assert r.returncode == 2 and "unknown method" in r.stderr
    r = _run("train", "--method", "diffrec", "--data", "sample", "--set", "dims=oops")
    assert r.returncode == 2 and "dims" in r.stderr
    r = _run("train", "--method", "diffrec", "--preset", "nope")
    assert r.returncode == 2 and "no preset" in r.stderr
    r = _run("train", "--method", "diffrec", "--data", "/no/such/place")
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
