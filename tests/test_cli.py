"""The command line a researcher uses: train (JSON last line), evaluate a checkpoint, clear errors - for every
method, the reranking ones on logged sessions included - and the item-map / sample-world / methods subcommands."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO
from diffrec_core import item_map as IM
from diffrec_core import registry
from diffrec_core.__main__ import main
from diffrec_core.methods.base import ConfigError
from diffrec_core.pipeline import pick_device

SAMPLE = REPO / "sample_data"


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "diffrec_core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _main(capsys, *args):
    """main() in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


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


# ------------------------------------------------------------------------------------------- reranking methods
def test_train_dcdr_on_sample_sessions_then_evaluate_its_checkpoint(tmp_path, capsys):
    """DCDR through `train` (tiny preset: one evaluator and one denoiser epoch), 50 validation and 50 test
    sessions; `evaluate` on the checkpoint repeats the very same computation, so the figures are identical."""
    ck = tmp_path / "dcdr"
    rc, out, err = _main(capsys, "train", "--method", "dcdr", "--data", "sample", "--preset", "tiny",
                         "--sessions", "50", "--json", "--quiet", "--out", str(ck))
    assert rc == 0, err
    res = _last_json(out)
    assert res["method"] == "dcdr" and res["simulator"] is True and res["diffusion_steps"] == 6
    assert res["best_epoch"] == 1 and res["selected_epochs"] == {"evaluator": 1, "generator": 1}
    assert res["sessions"] == {"train": 3000, "valid": 500, "test": 500}
    for w in ("valid", "test"):
        fig, ref = res[w], res["reference"][w]
        assert fig["sessions"] == 50
        assert {"utility", "ndcg@5", "auc", "logged_ndcg@5", "logged_auc"} <= set(fig)
        # a reranked list of the candidates can never beat the exact best list of them
        assert 0 < ref["ranker_utility"] < ref["best_utility"] and fig["utility"] <= ref["best_utility"] + 1e-9
        assert abs(fig["gain_vs_ranker"] - (fig["utility"] - ref["ranker_utility"])) < 1e-9
        assert 0 < fig["ndcg@5"] <= 1 and 0 < fig["auc"] < 1 and 0 < fig["logged_auc"] < 1
    assert (ck / "model.safetensors").exists()
    assert json.loads((ck / "config.json").read_text())["method"] == "dcdr"
    rc, out, err = _main(capsys, "evaluate", "--checkpoint", str(ck), "--data", "sample", "--sessions", "50",
                         "--json")
    assert rc == 0, err
    ev = _last_json(out)
    assert ev["method"] == "dcdr" and ev["parameters"] == res["parameters"]
    for w in ("valid", "test"):
        assert ev[w] == pytest.approx(res[w], rel=0, abs=1e-12)


def test_ranker_baseline_scores_as_the_reference(capsys):
    """rerank_ranker returns the ranker's list: its utility is the reference ranker utility, its gain 0."""
    rc, out, err = _main(capsys, "train", "--method", "rerank_ranker", "--sessions", "40", "--json", "--quiet")
    assert rc == 0, err
    res = _last_json(out)
    assert res["best_epoch"] is None and res["stopped"] == "nothing to train"
    assert res["test"]["utility"] == pytest.approx(res["reference"]["test"]["ranker_utility"], rel=1e-12)
    assert res["test"]["gain_vs_ranker"] == pytest.approx(0.0, abs=1e-12)


def _own_logs(path, sessions=80):
    """The first sessions of the sample world written as one's own logs: string ids, sparse session ids, a genre
    column, no `shown` column, rows shuffled."""
    df = pd.read_csv(SAMPLE / "rerank_sessions.csv")
    genre = pd.read_csv(SAMPLE / "items.csv").set_index("item")["genre"]
    df = df[df["session"] < sessions].copy()
    df["genre"] = df["item"].map(genre)
    df["session"] = df["session"] * 7 + 1000
    df["user"] = "u" + df["user"].astype(str)
    df["item"] = "film-" + df["item"].astype(str)
    df = df.drop(columns=["shown"]).sample(frac=1.0, random_state=0)
    df.to_csv(path, index=False)
    return df


def test_own_logs_csv_train_and_evaluate(tmp_path, capsys):
    f = tmp_path / "my_logs.csv"
    _own_logs(f)
    ck = tmp_path / "prm"
    rc, out, err = _main(capsys, "train", "--method", "rerank_prm", "--data", str(f), "--epochs", "2", "--json",
                         "--quiet", "--out", str(ck))
    assert rc == 0, err
    res = _last_json(out)
    assert res["data"] == "my_logs" and res["simulator"] is False and "reference" not in res
    assert res["sessions"] == {"train": 60, "valid": 10, "test": 10}
    assert res["best_epoch"] in (1, 2)
    assert "utility" not in res["test"]                       # no simulator: the true utility is unknown
    assert 0 < res["test"]["logged_ndcg@5"] <= 1 and 0 < res["test"]["logged_auc"] < 1
    rc, out, err = _main(capsys, "evaluate", "--checkpoint", str(ck), "--data", str(f), "--json")
    assert rc == 0, err
    assert _last_json(out)["test"] == pytest.approx(res["test"], rel=0, abs=1e-12)


def test_own_logs_are_read_like_the_sample(tmp_path):
    """The same sessions as own logs give the same lists and responses (ids renumbered in sorted order)."""
    from diffrec_core.rerank import load_rerank_data

    f = tmp_path / "logs.csv"
    _own_logs(f, sessions=16)
    own, ref = load_rerank_data(f), load_rerank_data()
    assert (own.S, own.n, own.L) == (16, ref.n, ref.L)
    # integer ids and 0/1 responses read from two files, no arithmetic: equal exactly on any CPU
    assert np.array_equal(own.logged, ref.logged[:16]) and np.array_equal(own.clicks, ref.clicks[:16])
    assert np.array_equal(own.likes, ref.likes[:16])
    items = [int(t.split("-")[1]) for t in own.titles]          # original ids, by new index
    assert np.array_equal(np.asarray(items)[own.cands], ref.cands[:16])
    assert own.genres == sorted(set(ref.genres[g] for g in ref.item_genre[ref.cands[:16].ravel()]))


def _bad_files(tmp_path):
    good = _own_logs(tmp_path / "good.csv", sessions=16)
    cases = {}
    d = good.copy()
    d.iloc[3, d.columns.get_loc("click")] = 2
    cases["click2"] = (d, "click must be 0 or 1")
    d = good.drop(columns=["cand_rank"])
    cases["no_rank"] = (d, "missing cand_rank")
    d = good.iloc[1:]
    cases["short_session"] = (d, "every session needs the same number")
    d = good.copy()
    unshown = np.flatnonzero(d["position"].to_numpy() == -1)[0]
    d.iloc[unshown, d.columns.get_loc("click")] = 1
    cases["unshown_click"] = (d, "not shown")
    d = good.astype({"position": object})
    d.iloc[5, d.columns.get_loc("position")] = "top"
    cases["text_position"] = (d, "expected an integer position")
    paths = {}
    for name, (df, msg) in cases.items():
        paths[name] = (tmp_path / f"{name}.csv", msg)
        df.to_csv(paths[name][0], index=False)
    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\x02\xff not a csv")
    paths["binary"] = (tmp_path / "binary.csv", "expected a header")
    return paths


def test_bad_sessions_csv_exit_2_with_one_line(tmp_path, capsys):
    for name, (path, msg) in _bad_files(tmp_path).items():
        rc, out, err = _main(capsys, "train", "--method", "dcdr", "--data", str(path), "--preset", "tiny")
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (name, err)
        assert msg in lines[0] and path.name in lines[0], (name, lines[0])


def test_bad_sessions_csv_from_the_shell(tmp_path):
    path, msg = _bad_files(tmp_path)["click2"]
    r = _run("train", "--method", "rerank_prm", "--data", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "line 5: click must be 0 or 1" in r.stderr


def test_reranker_misuse_is_a_clear_error(capsys):
    rc, _, err = _main(capsys, "train", "--method", "dcdr", "--device", "cuda")
    assert rc == 2 and "CPU only" in err
    rc, _, err = _main(capsys, "train", "--method", "dcdr", "--set", "list_len=5")
    assert rc == 2 and "list_len 5 is shorter than the logged lists (10)" in err
    rc, _, err = _main(capsys, "train", "--method", "diffrec", "--sessions", "5")
    assert rc == 2 and "reranking methods only" in err


# ----------------------------------------------------------------------------------------- other subcommands
def test_methods_lists_what_each_method_needs(capsys):
    rc, out, _ = _main(capsys, "methods")
    assert rc == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    label = {"interactions": "interactions", "sequences": "sequences", "kg": "KG", "lists": "sessions"}
    for s in registry.specs():
        assert s.name in rows, s.name
        needs = rows[s.name].split("  ")
        assert " + ".join(label[n] for n in s.needs) in [c.strip() for c in needs if c.strip()], rows[s.name]
    assert " sessions " in rows["dcdr"] and " interactions + KG " in rows["diffkg"]
    assert " sequences " in rows["diffurec"]


def test_sample_world_subcommand_reproduces_the_shipped_files(tmp_path, capsys):
    out_dir = tmp_path / "world"
    rc, out, err = _main(capsys, "sample-world", "--out", str(out_dir), "--seed", "2024")
    assert rc == 0, err
    assert json.loads(out)["sessions"] == 4000
    shipped = sorted(p.name for p in SAMPLE.iterdir())
    assert sorted(p.name for p in out_dir.iterdir()) == shipped
    for name in shipped:
        assert (out_dir / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_item_map_subcommand_pca_only_into_a_folder(tmp_path, capsys):
    shutil.copytree(REPO / "pretrained" / "diffurec", tmp_path / "diffurec",
                    ignore=shutil.ignore_patterns(IM.FILE_NAME))
    rc, _, err = _main(capsys, "item-map", "--methods", "diffurec", "--no-umap", "--root", str(tmp_path))
    assert rc == 0, err
    m = IM.load(tmp_path / "diffurec" / IM.FILE_NAME)
    assert m.kinds() == ["pca"]
    np.testing.assert_allclose(m.pca, IM.load(IM.map_path("diffurec")).pca, atol=1e-4)   # PCA is deterministic
    rc, _, err = _main(capsys, "item-map", "--methods", "nosuch", "--no-umap", "--root", str(tmp_path))
    assert rc == 2 and err.startswith("error: ") and "unknown method" in err


def test_one_command_line_no_module_mains():
    """The subcommands replace the module mains; the library raises its own exceptions, never SystemExit."""
    from diffrec_core.data import sample_world
    from diffrec_core.methods import dcdr

    for mod in (IM, sample_world, dcdr):
        assert not hasattr(mod, "main"), mod.__name__
    for path in (REPO / "diffrec_core").rglob("*.py"):
        if path.name != "__main__.py":
            text = path.read_text()
            assert "SystemExit" not in text and "sys.exit(" not in text, path


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_missing_gpu_is_a_config_error(capsys):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        pick_device("cuda")
    rc, _, err = _main(capsys, "train", "--method", "pop", "--device", "cuda")
    assert rc == 2 and err.count("\n") == 1 and "no CUDA GPU" in err


def test_set_without_equals_is_exit_2(capsys):
    rc, _, err = _main(capsys, "train", "--method", "pop", "--set", "oops")
    assert rc == 2 and "--set expects key=value" in err


def test_every_set_flag_adds_its_overrides(capsys):
    """``--set a=1 --set b=2`` applies both: here the first one (an impossible schedule) must still be seen."""
    rc = main(["train", "--method", "diffrec", "--data", "sample", "--set", "steps=0", "--set", "epochs=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and ("steps" in err[0] or "T must" in err[0])
