"""DiffuRec and DreamRec against the authors' own training scripts: same data files, same configuration, same epoch
budget, several seeds (the sequential counterpart of side_by_side.py).

    python benchmarks/side_by_side_seq.py --method dreamrec --authors /path/to/DreamRec --seeds 1 2 3 --epochs 10
    python benchmarks/side_by_side_seq.py --method diffurec --authors /path/to/DiffuRec --seeds 1 2 3 --epochs 1 \
        --set hidden=32 blocks=1 max_len=20 --json runs/diffurec.json
    python benchmarks/side_by_side_seq.py --method dreamrec --authors ... --seeds 1 --epochs 1 --authors-only
    python benchmarks/side_by_side_seq.py --method dreamrec --combine ours.json authors.json --save

Where to get the authors' code (never shipped with this project, never downloaded by it):
``git clone https://github.com/WHUIR/DiffuRec && git -C DiffuRec checkout f6f70c9`` (``--authors`` is that
checkout's root or its ``src/``) and ``git clone https://github.com/YangZhengyi98/DreamRec && git -C DreamRec
checkout 454133c`` (the folder holding ``DreamRec.py``) - the commits diffrec_core/methods/diffurec.py and
dreamrec.py were read against.

One split, the same files. Both sides read ``--data`` (default ``../shared/data/diffurec_amazon_beauty``: the
DiffuRec release of Amazon Beauty, leave-one-out - per user the last item is test, the one before valid, the rest
train). Ours reads it through ``load_split(data, how='loo')``. For theirs the harness converts OUR loaded split
(never their preprocessing) into their loader's format in a scratch folder under /tmp:

* DiffuRec (``src/main.py`` reads ``../datasets/data/<name>/dataset.pkl``): a dict ``train`` / ``val`` / ``test``
  of user -> item list, ``smap`` with one entry per item; users are our 0-based user indices (their loaders sort
  the keys, so their user order is ours) and items our 0-based item index + 1 (0 is their padding id);
* DreamRec (``DreamRec.py`` reads ``./data/<name>/*.df``): pandas frames written with pandas, ``seq`` (the last
  10 items, right-padded with the pad id N = n_items), ``len_seq`` (max(history length, 1)), ``next``; items are
  our 0-based indices. ``train_data.df``: every training target with its history, each sequence's first item
  included with an all-padding history (as their released files do); ``val_data.df``: per user the last 10
  training items -> the valid item; ``test_data.df``: the last 10 of train + valid -> the test item, users in
  our order.
These files are pickles written for THEIR code; this project never reads a pickle back.

What runs. DiffuRec: ours is the ``beauty`` preset (their src/main.py defaults and src/trainer.py protocol); theirs
``src/main.py --device cpu`` with their defaults. ``--set hidden=.. blocks=.. max_len=..`` shrinks both sides the
same way through their own flags (``--hidden_size``, ``--num_blocks``, ``--max_len``), because the authors'
size (d 128, 4 blocks, length 50) takes about half an hour per epoch on a 2-core CPU. Their trainer validates
first after 0-based epoch 20; with a budget of at most 20 epochs neither side validates and both score test with
the weights after the last epoch (no selection; the report says "end"). DreamRec: ours is ``beauty-authors``
(padding ranked, empty-history samples, no selection, whole batches of 100 only); theirs ``DreamRec.py`` with the
YooChoose README command (T 500, exp schedule, lr 1e-3, w 2, AdamW, mlp1). They print valid and test every 10
epochs and keep nothing, so the budget must be a multiple of 10 there (else the run stops with a message); test is
read after the last epoch on both sides.

Shims, all applied in the scratch copy, none touching the authors' arithmetic:

1. seeds: both scripts take ``--random_seed`` (DiffuRec: random, torch, numpy; DreamRec: the same, and its
   batches are ``DataFrame.sample`` draws from numpy's global stream); nothing is patched for it;
2. ``np.int`` (removed in NumPy 1.24), read by DiffuRec's step_sample.py: a ``sitecustomize.py`` on their
   PYTHONPATH restores it as ``int`` (only where missing);
3. CPU placement: DiffuRec's own ``--device cpu`` (its pin_memory then only warns); DreamRec picks the CPU itself
   when CUDA is absent;
4. threads: OMP_NUM_THREADS / MKL_NUM_THREADS = ``--threads`` for theirs, ``torch.set_num_threads`` for ours.

Figures printed per seed and as mean ± sd: test HR@10/20 (= Recall@10/20 under leave-one-out, one held-out item;
stored under the results file's recall keys) and NDCG@10/20, the kept epoch, epochs run, seconds per training
epoch (theirs: between two time-stamped log lines of one epoch; ours: ``fit``'s epoch timer), and per metric the
difference of the means with 2 SE, SE = sqrt(sd_o²/n + sd_a²/n); "within" means |diff| <= 2 SE
(diffrec_core.reproduction). The seeds of the two sides are different random streams, so only the distributions
are compared. ``--save`` writes the row into ``benchmarks/results/side_by_side.json`` (reproduction.upsert).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _floor import cpu_model  # noqa: E402
import side_by_side  # noqa: E402
from diffrec_core import reproduction as repro  # noqa: E402
from sequential_beauty import parse_sets  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "diffurec_amazon_beauty"
DATA_NAME = "beauty_side_by_side"           # the data set name their scripts are given
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")     # recall@k = HR@k (leave-one-out)
PICKLE_PROTOCOL = 4
DREAMREC_SEQ = 10                           # their files' seq_size (our dreamrec seq_len)
AUTHORS = {
    "diffurec": {"repository": "github.com/WHUIR/DiffuRec", "commit": "f6f70c9", "preset": "beauty"},
    "dreamrec": {"repository": "github.com/YangZhengyi98/DreamRec", "commit": "454133c",
                 "preset": "beauty-authors"},
}
# DreamRec.py arguments: the README's YooChoose command, the configuration of our 'beauty' presets
DREAMREC_ARGS = ["--timesteps=500", "--lr=0.001", "--beta_sche=exp", "--w=2", "--optimizer=adamw",
                 "--diffuser_type=mlp1"]
# our config key -> DiffuRec src/main.py flag, for --set (both sides get the same value)
DIFFUREC_FLAGS = {"hidden": "--hidden_size", "blocks": "--num_blocks", "max_len": "--max_len",
                  "batch_size": "--batch_size", "lr": "--lr", "dropout": "--dropout", "emb_dropout": "--emb_dropout",
                  "lambda_uncertainty": "--lambda_uncertainty", "steps": "--diffusion_steps"}
SITECUSTOMIZE = '''"""side_by_side_seq.py shim: NumPy >= 1.24 removed np.int, which DiffuRec's step_sample.py reads."""
import numpy as _np
if not hasattr(_np, "int"):
    _np.int = int
'''


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ converters
def sequences(split) -> dict:
    """Our leave-one-out split as plain lists: per user (0-based, our order) the chronological training items, the
    valid item and the test item, items as our 0-based indices."""
    from diffrec_core.methods.seq_common import train_sequences
    seq = train_sequences(split)
    valid, test = split.valid.tocsr(), split.test.tocsr()
    if np.diff(valid.indptr).max(initial=0) > 1 or np.diff(test.indptr).max(initial=0) > 1:
        raise SystemExit("error: the split is not leave-one-out (a user has more than one valid or test item)")
    out = {"train": [], "valid": [], "test": []}
    for u in range(split.n_users):
        out["train"].append(seq.items[seq.indptr[u]:seq.indptr[u + 1]].tolist())
        out["valid"].append(valid.indices[valid.indptr[u]:valid.indptr[u + 1]].tolist())
        out["test"].append(test.indices[test.indptr[u]:test.indptr[u + 1]].tolist())
    if any(len(v) != 1 for v in out["valid"]) or any(len(t) != 1 for t in out["test"]):
        raise SystemExit("error: every user needs one valid and one test item (leave-one-out)")
    return out


def diffurec_dataset(seqs: dict, n_items: int) -> dict:
    """DiffuRec's dataset.pkl layout: user -> items, ids shifted by one (0 is their padding id)."""
    users = range(len(seqs["train"]))
    return {"train": {u: [i + 1 for i in seqs["train"][u]] for u in users},
            "val": {u: [seqs["valid"][u][0] + 1] for u in users},
            "test": {u: [seqs["test"][u][0] + 1] for u in users},
            "umap": {u: u for u in users}, "smap": {i + 1: i + 1 for i in range(n_items)}}


def _padded(hist: list, pad: int, length: int = DREAMREC_SEQ) -> tuple:
    """DreamRec's utility.pad_history: the last ``length`` items, right-padded; len_seq = max(count, 1)."""
    h = list(hist[-length:])
    return h + [pad] * (length - len(h)), max(len(h), 1)


def dreamrec_frames(seqs: dict, n_items: int) -> dict:
    """DreamRec's four data frames (data_statis, train_data, val_data, test_data) from our split."""
    import pandas as pd
    pad = n_items

    def frame(rows):
        return pd.DataFrame({"seq": [r[0] for r in rows], "len_seq": np.array([r[1] for r in rows], np.int64),
                             "next": np.array([r[2] for r in rows], np.int64)})

    train = [(*_padded(s[:p], pad), s[p]) for s in seqs["train"] for p in range(len(s))]
    val = [(*_padded(s, pad), v[0]) for s, v in zip(seqs["train"], seqs["valid"])]
    test = [(*_padded(s + v, pad), t[0]) for s, v, t in zip(seqs["train"], seqs["valid"], seqs["test"])]
    statis = pd.DataFrame({"seq_size": [DREAMREC_SEQ], "item_num": [n_items]})
    return {"data_statis": statis, "train_data": frame(train), "val_data": frame(val), "test_data": frame(test)}


def write_pickle(obj, path: Path) -> None:
    """Their loaders read pickles (pickle.load / pd.read_pickle); written here, read only by their code."""
    import pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=PICKLE_PROTOCOL))


def write_authors_data(method: str, split, folder: Path) -> list:
    """Convert ``split`` into the authors' files under their code folder ``folder``; returns the paths."""
    seqs = sequences(split)
    if method == "diffurec":
        path = folder.parent / "datasets" / "data" / DATA_NAME / "dataset.pkl"
        write_pickle(diffurec_dataset(seqs, split.n_items), path)
        return [path]
    paths = []
    for name, df in dreamrec_frames(seqs, split.n_items).items():
        paths.append(folder / "data" / DATA_NAME / f"{name}.df")
        write_pickle(df, paths[-1])
    return paths


# ------------------------------------------------------------------------------------------------ theirs
def authors_dir(method: str, path: Path) -> Path:
    path = Path(path).expanduser().resolve()
    if method == "diffurec":
        for cand in (path / "src", path):
            if (cand / "main.py").is_file() and (cand / "diffurec.py").is_file():
                return cand
    elif (path / "DreamRec.py").is_file() and (path / "Modules_ori.py").is_file():
        return path
    a = AUTHORS[method]
    raise SystemExit(f"error: {path} is not a checkout of {a['repository']}; get it with git clone "
                     f"https://{a['repository']} && git checkout {a['commit']}")


def scratch_copy(method: str, src: Path, root: Path) -> tuple:
    """Copy their code to ``root`` (without their data, logs or weights) and write the shims; (code folder,
    shim folder, shims)."""
    skip = shutil.ignore_patterns("datasets", "data", "log", "fig", "asset", "*.pth", "*.pt", "__pycache__", ".git")
    dst = root / "DiffuRec" / "src" if method == "diffurec" else root / "DreamRec"
    shutil.copytree(src, dst, ignore=skip)
    shim = root / "shims"
    shim.mkdir()
    shims = ["seed: their own --random_seed flag (nothing patched)"]
    if method == "diffurec":
        if not hasattr(np, "int"):
            (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
            shims.append("np.int restored as int (sitecustomize; read by step_sample.py)")
        shims.append("CPU placement: --device cpu")
    else:
        shims.append("CPU placement: DreamRec.py picks the CPU when CUDA is absent")
    return dst, shim, shims


def _diffurec_cmd(seed: int, epochs: int, sets: dict) -> list:
    extra = []
    for k, v in sets.items():
        if k not in DIFFUREC_FLAGS:
            raise SystemExit(f"error: --set {k}: no DiffuRec src/main.py flag is known for it "
                             f"(known: {', '.join(DIFFUREC_FLAGS)})")
        extra.append(f"{DIFFUREC_FLAGS[k]}={v}")
    return ["main.py", f"--dataset={DATA_NAME}", "--device=cpu", f"--random_seed={seed}", f"--epochs={epochs}",
            *extra]


def _dreamrec_cmd(seed: int, epochs: int, sets: dict) -> list:
    if sets:
        raise SystemExit("error: --set is only wired for DiffuRec")
    if epochs % 10:
        raise SystemExit("error: DreamRec.py prints test metrics only after every 10th epoch: use a budget that is "
                         "a multiple of 10")
    return ["DreamRec.py", f"--data={DATA_NAME}", f"--random_seed={seed}", f"--epoch={epochs}", *DREAMREC_ARGS]


_PCT = re.compile(r"'((?:HR|NDCG)@\d+)': (?:np\.float64\()?([-+0-9.eE]+)\)?")


def _pct(line: str) -> dict:
    """Their printed per-cent dict (``{'HR@5': 1.2, ...}``; NumPy >= 2 prints ``np.float64(1.2)``) as fractions."""
    d = {k: float(v) / 100 for k, v in _PCT.findall(line)}
    return {"recall@10": d["HR@10"], "recall@20": d["HR@20"], "ndcg@10": d["NDCG@10"], "ndcg@20": d["NDCG@20"]}


def parse_diffurec(lines: list) -> dict:
    """Test metrics (their per-cent dict after 'Test----') and (epoch, start, end) stamps of each epoch."""
    starts, ends, test = {}, {}, None
    for k, (t, line) in enumerate(lines):
        m = re.match(r"Epoch: (\d+)$", line)
        if m:
            starts[int(m.group(1))] = t
        m = re.match(r"loss in epoch (\d+):", line)
        if m:
            ends[int(m.group(1))] = t
        if line.startswith("Test----") and k + 1 < len(lines):
            test = _pct(lines[k + 1][1])
    return {"test": test, "epochs": [ends[e] - starts[e] for e in sorted(ends) if e in starts]}


def parse_dreamrec(lines: list) -> dict:
    """The last TEST PHRASE's HR/NDCG@10/20 (their columns: HR@10 NDCG@10 HR@20 NDCG@20 HR@50 NDCG@50) and the
    seconds between consecutive epoch lines with no evaluation in between."""
    stamps, test, evals = [], None, set()
    for k, (t, line) in enumerate(lines):
        m = re.match(r"Epoch (\d+);", line)
        if m:
            stamps.append((int(m.group(1)), t))
        if "TEST PHRASE" in line and k + 2 < len(lines):
            v = [float(x) for x in lines[k + 2][1].split()]
            test = {"recall@10": v[0], "ndcg@10": v[1], "recall@20": v[2], "ndcg@20": v[3]}
            evals.add(stamps[-1][0] if stamps else -1)
    eps = [t1 - t0 for (e0, t0), (e1, t1) in zip(stamps, stamps[1:]) if e1 == e0 + 1 and e0 not in evals]
    return {"test": test, "epochs": eps, "n_epochs": len(stamps)}


def run_theirs(method: str, folder: Path, shim: Path, seed: int, epochs: int, threads: int, sets: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(shim), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONWARNINGS="ignore", CUDA_VISIBLE_DEVICES="")
    cmd = (_diffurec_cmd if method == "diffurec" else _dreamrec_cmd)(seed, epochs, sets)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", *cmd], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:                 # time-stamped as it arrives; echoed so a long run can be followed
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))
        log(f"  [{lines[-1][0]:8.1f} s] {lines[-1][1]}")
    rc, wall = proc.wait(), time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"error: their {cmd[0]} failed:\n" + "\n".join(x for _, x in lines[-30:]))
    try:
        got = (parse_diffurec if method == "diffurec" else parse_dreamrec)(lines)
    except (KeyError, ValueError, IndexError) as e:
        got = {"test": None, "epochs": []}
        log(f"error: their output could not be parsed ({e!r})")
    if got["test"] is None:
        raise SystemExit(f"error: no test metrics in the output of their {cmd[0]}:\n"
                         + "\n".join(x for _, x in lines[-30:]))
    run = {"seed": seed, "best_epoch": epochs, "epochs_run": got.get("n_epochs", len(got["epochs"])),
           "test": got["test"], "epoch_s": statistics.median(got["epochs"]) if got["epochs"] else None,
           "wall_s": wall, "kept": "end (no selection)", "command": " ".join(cmd)}
    return run


# ------------------------------------------------------------------------------------------------ ours
def run_ours(method: str, split, seed: int, epochs: int, preset: str, sets: dict) -> dict:
    from diffrec_core.pipeline import build_model
    from diffrec_core.train import fit
    model = build_model(method, split, preset=preset, overrides=dict(sets), seed=seed)
    t0 = time.perf_counter()
    res = fit(model, split, epochs=epochs, seed=seed)
    wall = time.perf_counter() - t0
    test = {f"recall@{k}": float(res.test[f"hr@{k}"]) for k in (10, 20)}
    test.update({f"ndcg@{k}": float(res.test[f"ndcg@{k}"]) for k in (10, 20)})
    selected = bool(res.best_epoch) and res.select_on == "valid"
    return {"seed": seed, "best_epoch": int(res.best_epoch) if selected else len(res.history),
            "epochs_run": len(res.history), "test": test,
            "epoch_s": statistics.median(res.epoch_seconds) if res.epoch_seconds else None, "wall_s": wall,
            "kept": f"validation-selected epoch {res.best_epoch}" if selected else "end (no selection)",
            "stopped": res.stopped}


# ------------------------------------------------------------------------------------------------ report
LABEL = {"recall@10": "HR@10", "recall@20": "HR@20", "ndcg@10": "NDCG@10", "ndcg@20": "NDCG@20",
         "best_epoch": "kept epoch", "epochs_run": "epochs run", "epoch_s": "s / epoch"}


def report(ours: list, theirs: list) -> dict:
    """Per seed and, per column, the two sides' contrast: side_by_side.report with the sequential labels."""
    kept = sorted({r.get("kept", "?") for r in ours + theirs})
    return side_by_side.report(ours, theirs, LABEL, f"per seed (test; kept weights: {', '.join(kept)}; "
                                                   "HR@k = Recall@k, leave-one-out)")


def save(path: Path, method: str, infos: list, ours: list, theirs: list, note: str = "") -> None:
    """Write this run's row into the versioned results file (replacing the row of the same method, data, budget)."""
    if not ours or not theirs:
        raise SystemExit("error: --save needs runs of both sides (combine an --ours-only and an --authors-only file)")
    for k in ("method", "epochs", "preset", "sets", "data"):
        if len({json.dumps(i.get(k)) for i in infos}) > 1:
            raise SystemExit(f"error: the runs to combine differ in {k}")
    for side, runs in (("ours", ours), ("authors", theirs)):
        seeds = [r["seed"] for r in runs]
        if len(seeds) != len(set(seeds)):
            raise SystemExit(f"error: the {side} runs to combine repeat a seed ({sorted(seeds)})")
    first = infos[0]

    def one(k):
        vals = list(dict.fromkeys(str(i[k]) for i in infos if i.get(k) is not None))
        return " / ".join(vals) if vals else None

    a = AUTHORS[method]
    seeds = sorted({r["seed"] for r in ours + theirs})
    row = {"method": method, "data": first["data"], "seeds": seeds, "budget_epochs": first["epochs"],
           "preset": first["preset"] + "".join(f" {k}={v}" for k, v in (first.get("sets") or {}).items()),
           "date": one("date"), "ours_commit": one("ours_commit"),
           "authors": {"repository": a["repository"], "commit": a["commit"]},
           "machine": {"cpu": one("cpu"), "threads": one("threads"), "python": one("python"), "torch": one("torch")},
           "shims": next((i["shims"] for i in infos if i.get("shims")), []),
           "commands": [i["command"] for i in infos if i.get("command")],
           "protocol": first.get("protocol"), "note": note,
           "runs": {"ours": [repro.run_record(r) for r in ours], "authors": [repro.run_record(r) for r in theirs]}}
    row["summary"] = repro.summarize(row["runs"]["ours"], row["runs"]["authors"])
    doc = repro.load(path) if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repro.dumps(repro.upsert(doc, row, not_run_list(doc))))
    log(f"saved to {path}")


# this script's methods without a row yet, and why (kept in the results file until a row replaces them)
NOT_RUN = (
    {"method": "diffurec", "reason": "Amazon Beauty: the harness (benchmarks/side_by_side_seq.py) and its converter "
                                     "exist; 3 seeds per side did not fit the session on the shared CPU (one "
                                     "authors' run of 1 epoch at d 64 took 15 min wall, its test pass 10 min)"},
    {"method": "dreamrec", "reason": "Amazon Beauty: the harness (benchmarks/side_by_side_seq.py) and its converter "
                                     "exist; no row saved yet"},
)


def not_run_list(doc) -> list:
    """The results file's entries for other scripts' methods, then this script's own (:data:`NOT_RUN`);
    ``repro.upsert`` drops any method that has a row."""
    kept = [dict(n) for n in (doc or {}).get("not_run", []) if n.get("method") not in AUTHORS]
    return kept + [dict(n) for n in NOT_RUN]


PROTOCOL = {
    "diffurec": "leave-one-out split of the release (last item test, previous valid); full ranking over all "
                "items, padding id ranked (both sides); budget <= 20 epochs: no validation, test after the last "
                "epoch (their trainer validates first after 0-based epoch 20); means of 512-user batch means",
    "dreamrec": "leave-one-out split of the release; full ranking, padding row ranked (both sides); no selection "
                "(DreamRec keeps nothing): test after the last epoch, whole batches of 100 users only (the last "
                "22363 % 100 users in user order are not counted, on both sides)",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=sorted(AUTHORS), required=True)
    ap.add_argument("--authors", type=Path, help="checkout of the authors' repository (see the module docstring)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the release's interactions.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, required=False, default=10, help="epoch budget, the same on both sides")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="config overrides applied to both sides (DiffuRec: hidden, blocks, max_len, ...)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    ap.add_argument("--ours-only", action="store_true")
    ap.add_argument("--authors-only", action="store_true")
    ap.add_argument("--keep-scratch", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", type=Path, nargs="?", const=repro.DEFAULT_PATH, metavar="RESULTS",
                    help="write the row into the versioned results file (default benchmarks/results/side_by_side.json)")
    ap.add_argument("--note", default="")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="JSON", help="only report: pool earlier --json files")
    a = ap.parse_args(argv)
    if a.combine:
        files = [json.loads(f.read_text()) for f in a.combine]
        ours, theirs = [r for f in files for r in f["ours"]], [r for f in files for r in f["authors"]]
        summary = report(ours, theirs)
        if a.save:
            save(a.save, a.method, [f["info"] for f in files], ours, theirs, a.note)
        if a.json:
            a.json.write_text(json.dumps({"info": [f["info"] for f in files], "summary": summary}, indent=1))
        return 0
    if not (a.data / "interactions.csv").is_file():
        raise SystemExit(f"error: {a.data} holds no interactions.csv (see ../shared/data/README.md)")
    if len(a.seeds) < 3:
        log("note: fewer than 3 seeds - the spread (and so 'within') is not meaningful")
    sets = parse_sets(a.set)
    import torch
    torch.set_num_threads(a.threads)
    from diffrec_core.pipeline import load_split
    split = load_split(str(a.data), how="loo")
    info = {"method": a.method, "date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "threads": a.threads,
            "python": platform.python_version(), "torch": torch.__version__, "seeds": a.seeds, "epochs": a.epochs,
            "preset": AUTHORS[a.method]["preset"], "sets": sets, "command": " ".join(sys.argv), "data": a.data.name,
            "protocol": PROTOCOL[a.method]}
    try:
        info["ours_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                             text=True).stdout.strip()
        if subprocess.run(["git", "status", "--porcelain", "--", "diffrec_core"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip():
            info["ours_commit"] += " + uncommitted changes in diffrec_core"
    except OSError:
        pass
    ours, theirs, scratch = [], [], None
    try:
        if not a.ours_only:
            if a.authors is None:
                raise SystemExit("error: --authors PATH is needed (or --ours-only)")
            src = authors_dir(a.method, a.authors)
            scratch = Path(tempfile.mkdtemp(prefix="side_by_side_seq_", dir="/tmp"))
            folder, shim, info["shims"] = scratch_copy(a.method, src, scratch)
            paths = write_authors_data(a.method, split, folder)
            log("shims: " + "; ".join(info["shims"]) + f"\ntheir data: {', '.join(map(str, paths))}")
            for s in a.seeds:
                log(f"authors, seed {s} ...")
                theirs.append(run_theirs(a.method, folder, shim, s, a.epochs, a.threads, sets))
                log(f"  {theirs[-1]}")
        if not a.authors_only:
            for s in a.seeds:
                log(f"ours, seed {s} ...")
                ours.append(run_ours(a.method, split, s, a.epochs, AUTHORS[a.method]["preset"], sets))
                log(f"  {ours[-1]}")
    finally:
        if scratch is not None and not a.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({k: v for k, v in info.items() if k != "shims"}))
    summary = report(ours, theirs)
    if a.save:
        save(a.save, a.method, [info], ours, theirs, a.note)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"info": info, "ours": ours, "authors": theirs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
