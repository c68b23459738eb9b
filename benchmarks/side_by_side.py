"""Our methods against the authors' own training scripts: same data files, same configuration, several seeds.

    python benchmarks/side_by_side.py --authors /path/to/DiffRec --seeds 1 2 3
    python benchmarks/side_by_side.py --authors /path/to/DiffRec --seeds 1 2 3 --max-epochs 40 --json out.json
    python benchmarks/side_by_side.py --authors /path/to/DiffRec --seeds 1 --max-epochs 5 --ours-only
    python benchmarks/side_by_side.py --combine ours.json authors.json --save     # into the versioned results file

Where to get the authors' code (never shipped with this project, never downloaded by it):
``git clone https://github.com/YiyanXu/DiffRec && git -C DiffRec checkout d35a6c6`` - the commit our DiffRec
family was read against (diffrec_core/methods/diffrec.py). ``--authors`` is that checkout's root (the folder
holding ``DiffRec/``) or its ``DiffRec/`` folder itself.

What runs. Ours: ``diffrec`` with the ``ml-1m`` preset through the project's pipeline (``load_split``,
``build_model``, ``fit``), whose protocol switches reproduce the authors' loop (validation every 5 epochs, kept
epoch on validation Recall@20 as printed, stop when ``epoch - best_epoch >= 20`` before an epoch, metrics over
all users). Theirs: ``DiffRec/main.py`` with the tuned ML-1M arguments of their README / inference.py, on CPU,
as a subprocess in a scratch copy under /tmp (``--keep-scratch`` keeps it). Both read the same three ``.npy``
files of ``--data``. ``--max-epochs`` caps both sides at the same epoch budget (their own ``--epochs`` flag).

Shims, all applied in the scratch copy, none touching the authors' arithmetic:

1. seed: ``random_seed = 1`` in main.py becomes ``random_seed = int(os.environ['SIDE_BY_SIDE_SEED'])`` (the line
   is replaced only where it matches exactly once; anything else stops the script);
2. ``scipy.sparse.csr_matrix.A`` (removed in SciPy 1.14): a ``sitecustomize.py`` on their PYTHONPATH adds it back
   as ``toarray()``;
3. ``bottleneck``: imported by evaluate_utils.py but never called; an empty module stands in when it is missing;
4. CPU placement: main.py runs without ``--cuda`` (its own switch; pin_memory then only warns);
5. their DataLoader's ``num_workers=4`` is kept (worker seeds follow ``random_seed`` through their
   ``worker_init_fn``); the model files they ``torch.save`` land in the scratch copy.

Figures printed per seed and as mean ± sd: test Recall/NDCG@10/20 at the validation-selected epoch, the selected
epoch, the epochs run, seconds per training epoch (theirs: the time between two epoch lines without an evaluation;
ours: ``fit``'s epoch timer), and per metric the difference of the means with its standard error
``sqrt(sd_ours^2/n + sd_theirs^2/n)``; "within" means |difference| <= 2 standard errors. The seeds of the two
sides are different random streams (different code), so only the distributions are compared, never single runs.

``--save`` appends the run (per-seed test metrics and selected epochs of both sides, the commits, the date, the
machine) to ``benchmarks/results/side_by_side.json``, or replaces the row of the same method, data and budget; the
statistics there are computed by ``diffrec_core.reproduction``, which the Compare page reads.
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _floor import cpu_model  # noqa: E402
from diffrec_core import reproduction as repro  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "diffrec_ml-1m_clean"
AUTHORS_COMMIT = "d35a6c6"
AUTHORS_REPO = "github.com/YiyanXu/DiffRec"
# the methods with an authors' repository this script cannot run yet, and why (kept in the results file)
NOT_RUN = (
    {"method": "tdiffrec", "reason": "their T-DiffRec scripts also need kmeans_pytorch and LightGCN item embeddings; "
                                     "a --method switch is not written yet"},
    {"method": "ldiffrec", "reason": "their L-/LT-DiffRec scripts also need kmeans_pytorch and LightGCN item "
                                     "embeddings; a --method switch is not written yet"},
    {"method": "diffurec", "reason": "Amazon Beauty: their data loader reads pickles of their own preprocessing, so "
                                     "the same-files condition needs a converter first"},
    {"method": "dreamrec", "reason": "Amazon Beauty: their data loader reads pickles of their own preprocessing, so "
                                     "the same-files condition needs a converter first"},
    {"method": "diffkg", "reason": "its Model.py imports torch_scatter and places every tensor with .cuda(): needs a "
                                   "CPU shim for scatter_sum / scatter_softmax and for the placement"},
)
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
# DiffRec/main.py arguments of the tuned ML-1M (clean) run (README; inference.py's checkpoint name)
ML1M_ARGS = ["--dataset=ml-1m_clean", "--lr=0.001", "--weight_decay=0.0", "--batch_size=400", "--dims=[200,600]",
             "--emb_size=10", "--mean_type=x0", "--steps=40", "--noise_scale=0.005", "--noise_min=0.005",
             "--noise_max=0.01", "--sampling_steps=0", "--reweight=1", "--log_name=side_by_side"]
SEED_LINE = "random_seed = 1\n"
SITECUSTOMIZE = '''"""side_by_side.py shim: SciPy >= 1.14 removed csr_matrix.A, which the authors' data loading
reads."""
import scipy.sparse as _sp
for _cls in (_sp.csr_matrix, _sp.coo_matrix, _sp.csc_matrix):
    if not hasattr(_cls, "A"):
        _cls.A = property(lambda self: self.toarray())
'''


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ theirs
def authors_dir(path: Path) -> Path:
    path = Path(path).expanduser().resolve()
    for cand in (path / "DiffRec", path):
        if (cand / "main.py").is_file() and (cand / "models" / "gaussian_diffusion.py").is_file():
            return cand
    raise SystemExit(f"error: {path} is not a checkout of YiyanXu/DiffRec (no DiffRec/main.py there); get it with "
                     f"git clone https://github.com/YiyanXu/DiffRec && git -C DiffRec checkout {AUTHORS_COMMIT}")


def scratch_copy(src: Path, root: Path) -> tuple[Path, list]:
    """Copy the authors' DiffRec folder to ``root`` and apply the shims; returns (folder, the shims applied)."""
    dst = root / "DiffRec"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("saved_models", "log", "*.pth", "__pycache__"))
    shims = []
    main = dst / "main.py"
    text = main.read_text()
    if text.count(SEED_LINE) != 1:
        raise SystemExit(f"error: {main} does not hold the line {SEED_LINE.strip()!r} exactly once; is it the "
                         f"commit {AUTHORS_COMMIT}?")
    main.write_text(text.replace(SEED_LINE, "random_seed = int(os.environ['SIDE_BY_SIDE_SEED'])\n"))
    shims.append("seed: random_seed read from SIDE_BY_SIDE_SEED")
    shim = root / "shims"
    shim.mkdir()
    import scipy.sparse as sp
    if not hasattr(sp.csr_matrix, "A"):
        (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
        shims.append("csr_matrix.A restored as toarray() (sitecustomize)")
    try:
        import bottleneck  # noqa: F401
    except ImportError:
        (shim / "bottleneck.py").write_text('"""Empty stand-in: imported by evaluate_utils.py, never called."""\n')
        shims.append("empty bottleneck module (imported, unused)")
    shims.append("CPU placement: run without --cuda")
    return dst, shims


_EPOCH = re.compile(r"Runing Epoch (\d+) ")
_BEST = re.compile(r"End\. Best Epoch (\d+)")
_RES = re.compile(r"\[(Valid|Test)\]: Precision: (\S+) Recall: (\S+) NDCG: (\S+) MRR: (\S+)")


def _metrics(m) -> dict:
    rec, ndcg = [float(x) for x in m.group(3).split("-")], [float(x) for x in m.group(4).split("-")]
    return {"recall@10": rec[0], "recall@20": rec[1], "ndcg@10": ndcg[0], "ndcg@20": ndcg[1]}


def run_theirs(folder: Path, shim: Path, data: Path, seed: int, max_epochs: int, threads: int) -> dict:
    """One run of their main.py; every stdout line is time-stamped here as it arrives."""
    env = dict(os.environ, SIDE_BY_SIDE_SEED=str(seed), PYTHONPATH=str(shim), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-u", "main.py", f"--data_path={data}/", f"--epochs={max_epochs}", *ML1M_ARGS]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stamps, lines = [], []
    for line in proc.stdout:
        now = time.perf_counter() - t0
        lines.append(line.rstrip("\n"))
        m = _EPOCH.search(line)
        if m:
            stamps.append((int(m.group(1)), now))
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit("error: their main.py failed:\n" + "\n".join(lines[-30:]))
    text = "\n".join(lines)
    best = _BEST.search(text)
    tail = text[best.end():] if best else ""
    res = {m.group(1): _metrics(m) for m in _RES.finditer(tail)}
    # a training-only epoch: its line follows the previous epoch's line with no evaluation in between
    train_only = [t1 - t0_ for (e0, t0_), (e1, t1) in zip(stamps, stamps[1:]) if e1 % 5 != 0 and e1 == e0 + 1]
    return {"seed": seed, "best_epoch": int(best.group(1)) if best else None, "epochs_run": len(stamps),
            "test": res.get("Test", {}), "valid": res.get("Valid", {}),
            "epoch_s": statistics.median(train_only) if train_only else None, "wall_s": wall}


# ------------------------------------------------------------------------------------------------ ours
def run_ours(data: Path, seed: int, max_epochs: int, preset: str) -> dict:
    from diffrec_core.pipeline import build_model, load_split
    from diffrec_core.train import fit
    split = load_split(str(data))
    model = build_model("diffrec", split, preset=preset, seed=seed)
    t0 = time.perf_counter()
    res = fit(model, split, epochs=max_epochs, seed=seed)
    wall = time.perf_counter() - t0
    eps = res.epoch_seconds[1:] or res.epoch_seconds     # epoch 1 also builds the optimiser state
    return {"seed": seed, "best_epoch": int(res.best_epoch), "epochs_run": len(res.history),
            "test": {m: float(res.test[m]) for m in METRICS}, "valid": {m: float(res.valid[m]) for m in METRICS},
            "epoch_s": statistics.median(eps) if eps else None, "wall_s": wall, "stopped": res.stopped}


# ------------------------------------------------------------------------------------------------ report
def fmt(mean, sd, d=4):
    return "n/a" if mean is None else f"{mean:.{d}f} ± {sd:.{d}f}"


def report(ours: list, theirs: list) -> dict:
    """Print the per-seed runs and, per column, the two sides' contrast (diffrec_core.reproduction.contrast)."""
    cols = [*METRICS, "best_epoch", "epochs_run", "epoch_s"]

    def get(r, c):
        return r["test"].get(c) if c in METRICS else r.get(c)

    print("\nper seed (test at the validation-selected epoch)")
    print(f"{'side':7s} {'seed':>4s} " + " ".join(f"{c:>10s}" for c in cols))
    for side, runs in (("ours", ours), ("authors", theirs)):
        for r in runs:
            vals = [get(r, c) for c in cols]
            print(f"{side:7s} {r['seed']:>4d} " + " ".join(
                f"{'n/a':>10s}" if v is None else (f"{v:>10.4f}" if isinstance(v, float) else f"{v:>10d}")
                for v in vals))
    summary = {}
    print("\nmean ± sd over seeds; diff = ours - authors; within = |diff| <= 2 SE, SE = sqrt(sd_o²/n_o + sd_a²/n_a)")
    print(f"{'':12s} {'ours':>20s} {'authors':>20s} {'diff':>9s} {'2 SE':>8s}  within")
    for c in cols:
        row = repro.contrast([get(r, c) for r in ours], [get(r, c) for r in theirs])
        (mo, so), (ma, sa) = row["ours"], row["authors"]
        d = 4 if c in METRICS else 2
        if "diff" in row:
            within = "n/a (one seed)" if row["within"] is None else ("yes" if row["within"] else "NO")
            print(f"{c:12s} {fmt(mo, so, d):>20s} {fmt(ma, sa, d):>20s} {row['diff']:>9.{d}f} "
                  f"{row['two_se']:>8.{d}f}  {within}")
        else:
            print(f"{c:12s} {fmt(mo, so, d):>20s} {fmt(ma, sa, d):>20s}")
        summary[c] = row
    return summary


def merged_info(infos: list, data_name: str) -> dict:
    """One description of a run from the info of each process that took part (an --ours-only and an
    --authors-only process, say); the settings that make it one experiment must agree."""
    for k in ("max_epochs", "preset", "authors_commit", "seeds"):
        vals = {json.dumps(i.get(k)) for i in infos}
        if len(vals) > 1:
            raise SystemExit(f"error: the runs to combine differ in {k} ({', '.join(sorted(vals))})")
    first = infos[0]

    def one(k):
        vals = list(dict.fromkeys(str(i[k]) for i in infos if i.get(k) is not None))
        return " / ".join(vals) if vals else None

    return {"data": one("data") or data_name, "seeds": first.get("seeds"), "budget_epochs": first.get("max_epochs"),
            "preset": first.get("preset"), "date": one("date"), "ours_commit": one("ours_commit"),
            "authors": {"repository": AUTHORS_REPO, "commit": first.get("authors_commit")},
            "machine": {"cpu": one("cpu"), "threads": one("threads"), "python": one("python"), "torch": one("torch")},
            "shims": next((i["shims"] for i in infos if i.get("shims")), []),
            "commands": [i["command"] for i in infos if i.get("command")]}


def save(path: Path, infos: list, ours: list, theirs: list, data_name: str, note: str = "") -> None:
    """Append this run to the versioned results file (or replace the row of the same method, data and budget)."""
    if not ours or not theirs:
        raise SystemExit("error: --save needs runs of both sides (combine an --ours-only and an --authors-only file)")
    row = {"method": "diffrec", **merged_info(infos, data_name), "note": note,
           "runs": {"ours": [repro.run_record(r) for r in ours], "authors": [repro.run_record(r) for r in theirs]}}
    row["summary"] = repro.summarize(row["runs"]["ours"], row["runs"]["authors"])
    doc = repro.load(path) if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repro.dumps(repro.upsert(doc, row, NOT_RUN)))
    log(f"saved to {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", type=Path, help="checkout of github.com/YiyanXu/DiffRec at d35a6c6")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/valid/test_list.npy")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--max-epochs", type=int, default=1000, help="epoch cap, the same on both sides (theirs: 1000)")
    ap.add_argument("--preset", default="ml-1m", help="our diffrec preset (default ml-1m: the authors' config)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: all cores)")
    ap.add_argument("--ours-only", action="store_true")
    ap.add_argument("--authors-only", action="store_true")
    ap.add_argument("--keep-scratch", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", type=Path, nargs="?", const=repro.DEFAULT_PATH, metavar="RESULTS",
                    help="append the run to the versioned results file (default "
                         "benchmarks/results/side_by_side.json), replacing the row of the same method, data, budget")
    ap.add_argument("--note", default="", help="with --save: a line kept with the row (e.g. uncommitted code)")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                    help="only report: pool the runs of earlier --json files (e.g. one --ours-only and one "
                         "--authors-only process run side by side)")
    a = ap.parse_args(argv)
    if a.combine:
        files = [json.loads(f.read_text()) for f in a.combine]
        for f in files:
            print(json.dumps(f["info"]))
        ours, theirs = [r for f in files for r in f["ours"]], [r for f in files for r in f["authors"]]
        summary = report(ours, theirs)
        if a.save:
            save(a.save, [f["info"] for f in files], ours, theirs, a.data.name, a.note)
        if a.json:
            a.json.write_text(json.dumps({"info": [f["info"] for f in files], "summary": summary}, indent=1))
        return 0
    if not (a.data / "train_list.npy").is_file():
        raise SystemExit(f"error: {a.data} holds no train_list.npy (see ../shared/data/README.md)")
    if len(a.seeds) < 3:
        log("note: fewer than 3 seeds - the spread (and so 'within') is not meaningful")
    import torch
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    info = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "threads": threads, "python":
            platform.python_version(), "torch": torch.__version__, "seeds": a.seeds, "max_epochs": a.max_epochs,
            "command": " ".join(sys.argv), "authors_commit": AUTHORS_COMMIT, "preset": a.preset,
            "data": a.data.name}
    try:
        info["ours_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "diffrec_core"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        if dirty:                        # the figures then come from uncommitted code: say so
            info["ours_commit"] += " + uncommitted changes in diffrec_core"
    except OSError:
        pass
    ours, theirs = [], []
    scratch = None
    try:
        if not a.ours_only:
            if a.authors is None:
                raise SystemExit("error: --authors PATH is needed (or --ours-only)")
            src = authors_dir(a.authors)
            scratch = Path(tempfile.mkdtemp(prefix="side_by_side_", dir="/tmp"))
            folder, shims = scratch_copy(src, scratch)
            info["shims"] = shims
            log("shims: " + "; ".join(shims))
            for s in a.seeds:
                log(f"authors, seed {s} ...")
                theirs.append(run_theirs(folder, scratch / "shims", a.data.resolve(), s, a.max_epochs, threads))
                log(f"  {theirs[-1]}")
        if not a.authors_only:
            for s in a.seeds:
                log(f"ours, seed {s} ...")
                ours.append(run_ours(a.data.resolve(), s, a.max_epochs, a.preset))
                log(f"  {ours[-1]}")
    finally:
        if scratch is not None and not a.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({k: v for k, v in info.items() if k != "shims"}))
    summary = report(ours, theirs)
    if a.save:
        save(a.save, [info], ours, theirs, a.data.name, a.note)
    if a.json:
        a.json.write_text(json.dumps({"info": info, "ours": ours, "authors": theirs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
