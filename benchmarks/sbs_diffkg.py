"""DiffKG side by side with the authors' own Main.py (github.com/HKUDS/DiffKG at c924659), for
``benchmarks/side_by_side.py --method diffkg``.

    python benchmarks/side_by_side.py --method diffkg --authors /path/to/DiffKG --seeds 1 2 3 --max-epochs 25

Same data: our loader reads the RecBole folder (``--data``, default ``recbole_test_kg``: interactions, ``.kg``,
``.link``) into a split - per-user chronological 80/10/10, items as entities ``0..I-1`` - and
:func:`two_way` makes the two-way split the authors' code knows (their data sets hold a training and a test matrix
only): training = our train + valid, test = our test. :func:`write_authors_files` writes that split in their
format - ``trnMat.pkl`` / ``tstMat.pkl`` (pickled ``scipy.sparse.coo_matrix`` users x items, what their
DataHandler.py unpickles; written here, read only by their code in the scratch copy) and ``kg.txt`` (``head
relation tail`` per line, our entity and relation ids) - and our side trains on the same two-way split, so both
read the same triples and the same interactions, and at test both mask exactly the training items.

What runs. Theirs: Main.py with its Params.py defaults (latdim 64, denoiser [1000], batch 1024, lr 1e-3, T 5,
noise 0.1 / 1e-4 / 0.02, keepRate 0.5, e_loss 0.5, ssl_reg 0.1, temp 0.1, triplet_num 10, cl_pattern 0), ``--seed``
= the run's seed, ``--epoch`` = the budget; ``--data lastfm`` only names the folder their DataHandler reads
(``Datasets/lastfm/``, which holds our files; none of Last-FM's settings are used). Ours: ``diffkg`` preset
``authors-code`` - Params.py's sizes on the authors' code path (the issue-#10 argument slip on, one batch size for
both loaders, InfoNCE anchored as Main.py orders it) and ``select_on = "test (authors' protocol)"``: Main.py
evaluates on test every epoch and reports the best test epoch, so both sides here **select on test** (an
authors'-protocol reproduction, labelled so in the row; never comparable with validation-selected figures, and
the Compare harness refuses it). Their Main.py computes Recall/NDCG at ``topk`` = 20 only, so the @10 columns
stay empty on both sides. Their epochs count from 0; the row keeps 1-based epochs (theirs + 1).

Shims, all in the scratch copy, none touching the authors' arithmetic (sources: benchmarks/sbs_shims.py):

1. ``torch_scatter`` (Model.py's ``scatter_sum`` / ``scatter_softmax``), when missing: a pure-torch stand-in;
2. ``.cuda()`` on every tensor and module: a ``sitecustomize.py`` makes it return the object unchanged when no
   GPU is present (so everything runs on the CPU; ``torch.cuda.manual_seed`` is a no-op there);
3. ``scipy.sparse.csr_matrix.A`` (removed in SciPy 1.14; DataHandler.py reads ``kg_matrix.A``): restored as
   ``toarray()`` by the same ``sitecustomize.py``;
4. data: the converter above (their folder layout ``Datasets/lastfm/``); their ``Datasets/`` is not copied.

Seconds per epoch: theirs from the time stamps of their own log lines (the previous epoch's test line to this
epoch's training line: training only), ours ``fit``'s epoch timer.
"""
from __future__ import annotations

import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import sbs_shims as shims

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AUTHORS_REPO = "github.com/HKUDS/DiffKG"
AUTHORS_COMMIT = "c924659"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "recbole_test_kg"
PRESET = "authors-code"           # diffkg: Params.py defaults on the authors' code path, test-selected
EPOCHS = 25                       # Params.py --epoch
FOLDER = "lastfm"                 # a folder name their DataHandler.py knows; holds our converted files
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


# ------------------------------------------------------------------------------------------------ data
def two_way(split):
    """The split with its validation interactions moved into training and an empty validation matrix: the
    authors' two-way layout (training, test)."""
    train = (split.train + split.valid).tocsr()
    train.data[:] = 1.0
    train.eliminate_zeros()
    empty = sp.csr_matrix(split.valid.shape, dtype=split.valid.dtype)
    return replace(split, train=train.astype(np.float32), valid=empty, train_order=None, train_noise=None)


def write_authors_files(split, folder: Path) -> dict:
    """trnMat.pkl, tstMat.pkl and kg.txt of a (two-way) split in ``folder``; returns their sizes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, mat in (("trnMat.pkl", split.train), ("tstMat.pkl", split.test)):
        with open(folder / name, "wb") as f:
            pickle.dump(sp.coo_matrix(mat, dtype=np.float32), f)
    kg = split.kg[["head", "relation", "tail"]].to_numpy(np.int64)
    np.savetxt(folder / "kg.txt", kg, fmt="%d")
    return {"users": split.n_users, "items": split.n_items, "train": int(split.train.nnz),
            "test": int(split.test.nnz), "triples": len(kg)}


# ------------------------------------------------------------------------------------------------ theirs
def authors_dir(path: Path) -> Path:
    path = Path(path).expanduser().resolve()
    if all((path / f).is_file() for f in ("Main.py", "Model.py", "DataHandler.py", "Params.py")):
        return path
    raise SystemExit(f"error: {path} is not a checkout of HKUDS/DiffKG (no Main.py / Model.py there); get it with "
                     f"git clone https://github.com/HKUDS/DiffKG && git -C DiffKG checkout {AUTHORS_COMMIT}")


def _missing(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is None


def scratch_copy(src: Path, root: Path, data: Path) -> tuple:
    """Copy their code (not their Datasets/) to ``root/DiffKG``, write the converted data and the shims; returns
    (folder, the shims applied)."""
    from diffrec_core.pipeline import load_split
    dst = root / "DiffKG"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("Datasets", "*.png", "__pycache__", ".git"))
    sizes = write_authors_files(two_way(load_split(str(data))), dst / "Datasets" / FOLDER)
    applied = [f"data: {data.name} converted to trnMat.pkl / tstMat.pkl / kg.txt (train = our train + valid, test = "
               f"our test; {sizes})"]
    shim = root / "shims"
    shim.mkdir()
    if _missing("torch_scatter"):
        pkg = shim / "torch_scatter"
        pkg.mkdir()
        shims.write_module(pkg, "__init__", shims.TORCH_SCATTER)
        applied.append("torch_scatter stand-in: scatter_sum / scatter_softmax in pure torch (benchmarks/sbs_shims.py)")
    parts = [shims.CPU_PLACEMENT]
    applied.append("CPU placement: .cuda() returns the tensor / module unchanged (sitecustomize)")
    if not hasattr(sp.csr_matrix, "A"):
        parts.append(shims.CSR_A)
        applied.append("csr_matrix.A restored as toarray() (sitecustomize)")
    (shim / "sitecustomize.py").write_text(shims.sitecustomize(parts))
    return dst, applied


_TRAIN = re.compile(r"Epoch (\d+)/\d+, Train: ")
_TEST = re.compile(r"Epoch (\d+)/\d+, Test: Recall = (\S+), NDCG = ([0-9.eE+-]+)")
_BEST = re.compile(r"Best epoch :\s+(\d+)\s+, Recall :\s+(\S+)\s+, NDCG :\s+(\S+)")


def parse_log(lines: list) -> dict:
    """Their stdout as ``(seconds since start, line)`` pairs -> selected epoch (1-based), test metrics at it,
    epochs run and the median training-only seconds per epoch."""
    text = "\n".join(line for _, line in lines)
    best = _BEST.search(text)
    train_at = {int(m.group(1)): t for t, line in lines for m in [_TRAIN.search(line)] if m}
    test_at = {int(m.group(1)): t for t, line in lines for m in [_TEST.search(line)] if m}
    spans = [train_at[e] - test_at[e - 1] for e in train_at if e - 1 in test_at]
    test = {m: None for m in METRICS}
    if best:
        test.update({"recall@20": float(best.group(2)), "ndcg@20": float(best.group(3).rstrip(","))})
    return {"best_epoch": int(best.group(1)) + 1 if best else None, "epochs_run": len(train_at), "test": test,
            "epoch_s": statistics.median(spans) if spans else None}


def run_theirs(folder: Path, shim: Path, seed: int, max_epochs: int, threads: int) -> dict:
    """One run of their Main.py; every stdout line is time-stamped here as it arrives."""
    env = dict(os.environ, PYTHONPATH=str(shim), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-u", "Main.py", f"--data={FOLDER}", f"--epoch={max_epochs}", f"--seed={seed}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - t0, line.rstrip("\n")) for line in proc.stdout]
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit("error: their Main.py failed:\n" + "\n".join(line for _, line in lines[-30:]))
    return {"seed": seed, **parse_log(lines), "valid": {}, "wall_s": wall}


# ------------------------------------------------------------------------------------------------ ours
def run_ours(data: Path, seed: int, max_epochs: int, preset: str = PRESET) -> dict:
    from diffrec_core.pipeline import build_model, load_split
    from diffrec_core.train import fit
    split = two_way(load_split(str(data)))
    model = build_model("diffkg", split, preset=preset, overrides={"epochs": max_epochs, "patience": max_epochs},
                        seed=seed)
    t0 = time.perf_counter()
    res = fit(model, split, epochs=max_epochs, seed=seed)
    wall = time.perf_counter() - t0
    eps = res.epoch_seconds[1:] or res.epoch_seconds
    test = {m: (float(res.test[m]) if m.endswith("@20") else None) for m in METRICS}   # theirs: @20 only
    return {"seed": seed, "best_epoch": int(res.best_epoch), "epochs_run": len(res.history), "test": test,
            "valid": {}, "epoch_s": statistics.median(eps) if eps else None, "wall_s": wall,
            "stopped": res.stopped, "select_on": res.select_on}
