"""Our methods against the authors' own training scripts: same data files, same configuration, several seeds.

    python benchmarks/side_by_side.py --authors /path/to/DiffRec --seeds 1 2 3
    python benchmarks/side_by_side.py --method tdiffrec --authors /path/to/DiffRec --seeds 1 2 3 --max-epochs 10
    python benchmarks/side_by_side.py --method ldiffrec --authors /path/to/DiffRec --seeds 1 --max-epochs 5 --ours-only
    python benchmarks/side_by_side.py --method diffkg --authors /path/to/DiffKG --data ../shared/data/recbole_test_kg
    python benchmarks/side_by_side.py --combine ours.json authors.json --save     # into the versioned results file

``--method``: diffrec | tdiffrec | ldiffrec | ltdiffrec (github.com/YiyanXu/DiffRec, the commit d35a6c6 our
DiffRec family was read against; ``--authors`` is that checkout's root or the method's own folder, e.g.
``T-DiffRec/``) or diffkg (github.com/HKUDS/DiffKG at c924659; benchmarks/sbs_diffkg.py). The authors' code is
never shipped with this project nor downloaded by it: ``git clone https://github.com/YiyanXu/DiffRec && git -C
DiffRec checkout d35a6c6``.

What runs (DiffRec family; DiffKG: benchmarks/sbs_diffkg.py). Ours: the method through the project's pipeline
(``load_split``, ``build_model``, ``fit``) with the preset whose protocol switches reproduce the authors' loop
(validation every 5 epochs, kept epoch on validation Recall@20 as printed, stop when ``epoch - best_epoch >= 20``
before an epoch, metrics over all users). Theirs: the method's ``main.py`` on CPU, as a subprocess in a scratch
copy under /tmp (``--keep-scratch`` keeps it), with these arguments (:data:`FAMILY`):

* diffrec: the tuned ML-1M arguments of their README / DiffRec/inference.py; ours ``diffrec`` preset ``ml-1m``;
* tdiffrec: the same diffusion and optimiser settings with T-DiffRec/main.py's default ramp w 0.1 -> 1.0 (the
  authors released no ML-1M T-DiffRec configuration); ours ``tdiffrec`` preset ``ml-1m`` (the same values). The
  time order: their data_utils.py ramps over each user's rows of train_list.npy in file order, ours over
  ``split.train_order``, which for these files is that same file order - the same-files condition holds;
* ldiffrec: L-DiffRec/inference.py's ML-1M settings and the checkpoint name it loads (lr1 1e-3, lr2 5e-4,
  2 clusters on item_emb.npy, latent [300], MLP [300], lamda 0.03, T 40); ours ``ldiffrec`` preset ``ml-1m`` with
  ``cluster_seed`` = the run's seed (their k-means draws its first centres from numpy's generator, which their
  ``random_seed`` seeds: on both sides the clustering varies with the seed);
* ltdiffrec: LT-DiffRec/main.py with the L-DiffRec ML-1M arguments and the default ramp w 0.1 -> 1.0 (no ML-1M
  LT-DiffRec configuration was released); ours ``ldiffrec`` preset ``ml-1m`` with ``time_weights`` on.

Both sides read the same ``.npy`` files of ``--data`` (L-/LT-DiffRec also its ``item_emb.npy``). ``--max-epochs``
caps both sides at the same epoch budget (their own ``--epochs`` flag).

Shims, all applied in the scratch copy, none touching the authors' arithmetic (sources: benchmarks/sbs_shims.py):

1. seed: ``random_seed = 1`` in main.py becomes ``random_seed = int(os.environ['SIDE_BY_SIDE_SEED'])`` (the line
   is replaced only where it matches exactly once; anything else stops the script);
2. ``scipy.sparse.csr_matrix.A`` (removed in SciPy 1.14): a ``sitecustomize.py`` on their PYTHONPATH adds it back
   as ``toarray()``;
3. ``bottleneck``: imported by evaluate_utils.py but never called; an empty module stands in when it is missing;
4. ``kmeans_pytorch`` (L-/LT-DiffRec's Autoencoder.py), when missing: a stand-in module doing what the library's
   0.1.2 ``kmeans`` does (random distinct data points from numpy's generator as first centres, Lloyd iterations,
   stop when the squared centre shift < tol);
5. CPU placement: main.py runs without ``--cuda`` (its own switch; pin_memory then only warns);
6. their DataLoader's ``num_workers=4`` is kept (worker seeds follow ``random_seed`` through their
   ``worker_init_fn``); the model files they ``torch.save`` land in the scratch copy.

DiffKG's shims (torch_scatter, ``.cuda()``, the data converter) are listed in benchmarks/sbs_diffkg.py.

Figures printed per seed and as mean ± sd: test Recall/NDCG@10/20 at the selected epoch, the selected epoch, the
epochs run, seconds per training epoch (theirs: the time between two epoch lines without an evaluation;
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
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import sbs_shims as shims  # noqa: E402
from _floor import cpu_model  # noqa: E402
from diffrec_core import reproduction as repro  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "diffrec_ml-1m_clean"
AUTHORS_COMMIT = "d35a6c6"
AUTHORS_REPO = "github.com/YiyanXu/DiffRec"
# the methods with an authors' repository this script cannot run yet, and why (kept in the results file; the
# sequential methods' entries belong to benchmarks/side_by_side_seq.py, whose own list wins where it has one)
NOT_RUN = (
    {"method": "diffurec", "reason": "Amazon Beauty: run by benchmarks/side_by_side_seq.py (converter to their "
                                     "pickled loader format); no row saved yet"},
    {"method": "dreamrec", "reason": "Amazon Beauty: run by benchmarks/side_by_side_seq.py (converter to their "
                                     "pickled loader format); no row saved yet"},
)
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
# DiffRec/main.py arguments of the tuned ML-1M (clean) run (README; inference.py's checkpoint name)
ML1M_ARGS = ["--dataset=ml-1m_clean", "--lr=0.001", "--weight_decay=0.0", "--batch_size=400", "--dims=[200,600]",
             "--emb_size=10", "--mean_type=x0", "--steps=40", "--noise_scale=0.005", "--noise_min=0.005",
             "--noise_max=0.01", "--sampling_steps=0", "--reweight=1", "--log_name=side_by_side"]
# T-DiffRec/main.py's default ramp (no ML-1M T-DiffRec configuration was released)
RAMP_ARGS = ["--w_min=0.1", "--w_max=1.0"]
# L-DiffRec/main.py arguments of the ML-1M (clean) run: inference.py's settings and its checkpoint name. The
# item embeddings are read from emb_path + dataset + '/item_emb.npy', so --dataset is the data folder's name.
L_ML1M_ARGS = ["--dataset={data_name}", "--emb_path={data_parent}/", "--lr1=0.001", "--lr2=0.0005", "--wd1=0.0",
               "--wd2=0.0", "--batch_size=400", "--n_cate=2", "--in_dims=[300]", "--out_dims=[]", "--lamda=0.03",
               "--mlp_dims=[300]", "--emb_size=10", "--mean_type=x0", "--steps=40", "--noise_scale=0.005",
               "--noise_min=0.005", "--noise_max=0.02", "--sampling_steps=0", "--reweight=1",
               "--log_name=side_by_side"]
# per method: the authors' folder and arguments, our method, preset and per-run overrides (module docstring)
FAMILY = {
    "diffrec": dict(folder="DiffRec", args=ML1M_ARGS, ours="diffrec", preset="ml-1m", overrides={}),
    # tdiffrec has no ml-1m preset: DiffRec's, with the ramp (the preset name below is the row's label)
    "tdiffrec": dict(folder="T-DiffRec", args=ML1M_ARGS + RAMP_ARGS, ours="tdiffrec", preset="diffrec ml-1m",
                     overrides={"base": ("diffrec", "ml-1m"), "w_min": 0.1, "w_max": 1.0}),
    "ldiffrec": dict(folder="L-DiffRec", args=L_ML1M_ARGS, ours="ldiffrec", preset="ml-1m",
                     overrides={"cluster_seed": "{seed}"}),
    "ltdiffrec": dict(folder="LT-DiffRec", args=L_ML1M_ARGS + RAMP_ARGS, ours="ldiffrec", preset="ml-1m",
                      overrides={"cluster_seed": "{seed}", "time_weights": True, "w_min": 0.1, "w_max": 1.0}),
}
METHODS = (*FAMILY, "diffkg")
SEED_LINE = "random_seed = 1\n"
SITECUSTOMIZE = shims.sitecustomize([shims.CSR_A])


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ theirs
def authors_dir(path: Path, folder: str = "DiffRec") -> Path:
    """The method's folder of a YiyanXu/DiffRec checkout (``folder`` is DiffRec, T-DiffRec, L-DiffRec or
    LT-DiffRec); ``path`` is the checkout's root or that folder itself."""
    path = Path(path).expanduser().resolve()
    for cand in (path / folder, path):
        if (cand / "main.py").is_file() and (cand / "models" / "gaussian_diffusion.py").is_file() \
                and cand.name == folder:
            return cand
    raise SystemExit(f"error: {path} is not a checkout of YiyanXu/DiffRec (no {folder}/main.py there); get it with "
                     f"git clone https://github.com/YiyanXu/DiffRec && git -C DiffRec checkout {AUTHORS_COMMIT}")


def _missing(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is None


def scratch_copy(src: Path, root: Path) -> tuple[Path, list]:
    """Copy the authors' method folder to ``root`` and apply the shims; returns (folder, the shims applied)."""
    dst = root / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("saved_models", "log", "*.pth", "__pycache__"))
    shims_applied = []
    main = dst / "main.py"
    text = main.read_text()
    if text.count(SEED_LINE) != 1:
        raise SystemExit(f"error: {main} does not hold the line {SEED_LINE.strip()!r} exactly once; is it the "
                         f"commit {AUTHORS_COMMIT}?")
    main.write_text(text.replace(SEED_LINE, "random_seed = int(os.environ['SIDE_BY_SIDE_SEED'])\n"))
    shims_applied.append("seed: random_seed read from SIDE_BY_SIDE_SEED")
    shim = root / "shims"
    shim.mkdir()
    import scipy.sparse as sp
    if not hasattr(sp.csr_matrix, "A"):
        (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
        shims_applied.append("csr_matrix.A restored as toarray() (sitecustomize)")
    if _missing("bottleneck"):
        (shim / "bottleneck.py").write_text('"""Empty stand-in: imported by evaluate_utils.py, never called."""\n')
        shims_applied.append("empty bottleneck module (imported, unused)")
    uses_kmeans = "kmeans_pytorch" in "".join(f.read_text() for f in dst.rglob("*.py"))
    if uses_kmeans and _missing("kmeans_pytorch"):
        shim_pkg = shim / "kmeans_pytorch"
        shim_pkg.mkdir()
        shims.write_module(shim_pkg, "__init__", shims.KMEANS_PYTORCH)
        shims_applied.append("kmeans_pytorch stand-in: kmeans 0.1.2's algorithm in torch (benchmarks/sbs_shims.py)")
    shims_applied.append("CPU placement: run without --cuda")
    return dst, shims_applied


_EPOCH = re.compile(r"Runing Epoch (\d+) ")
_BEST = re.compile(r"End\. Best Epoch (\d+)")
_RES = re.compile(r"\[(Valid|Test)\]: Precision: (\S+) Recall: (\S+) NDCG: (\S+) MRR: (\S+)")


def _metrics(m) -> dict:
    rec, ndcg = [float(x) for x in m.group(3).split("-")], [float(x) for x in m.group(4).split("-")]
    return {"recall@10": rec[0], "recall@20": rec[1], "ndcg@10": ndcg[0], "ndcg@20": ndcg[1]}


def their_args(method: str, data: Path) -> list:
    """The method's main.py arguments (:data:`FAMILY`) for the data folder ``data``."""
    return [x.format(data_name=data.name, data_parent=data.parent) for x in FAMILY[method]["args"]]


def run_theirs(folder: Path, shim: Path, data: Path, seed: int, max_epochs: int, threads: int,
               method: str = "diffrec") -> dict:
    """One run of their main.py; every stdout line is time-stamped here as it arrives."""
    env = dict(os.environ, SIDE_BY_SIDE_SEED=str(seed), PYTHONPATH=str(shim), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-u", "main.py", f"--data_path={data}/", f"--epochs={max_epochs}",
           *their_args(method, data)]
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
def our_overrides(method: str, seed: int) -> tuple:
    """(preset, overrides) of a run: :data:`FAMILY`'s overrides with ``{seed}`` filled in; ``base`` names another
    method's preset whose values come first (then the preset argument is empty)."""
    spec = dict(FAMILY[method]["overrides"])
    values, preset = {}, FAMILY[method]["preset"]
    if "base" in spec:
        from diffrec_core import registry
        base_method, base_preset = spec.pop("base")
        values, preset = dict(registry.get(base_method).presets[base_preset]), ""
    values.update({k: (int(v.format(seed=seed)) if isinstance(v, str) else v) for k, v in spec.items()})
    return preset, values


def run_ours(data: Path, seed: int, max_epochs: int, preset: str, method: str = "diffrec") -> dict:
    from diffrec_core.pipeline import build_model, load_split
    from diffrec_core.train import fit
    split = load_split(str(data))
    base, overrides = our_overrides(method, seed)
    if preset != FAMILY[method]["preset"]:       # another preset asked for on the command line: it alone
        base, overrides = preset, {}
    model = build_model(FAMILY[method]["ours"], split, preset=base, overrides=overrides, seed=seed)
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


def report(ours: list, theirs: list, labels: Optional[dict] = None,
           heading: str = "per seed (test at the validation-selected epoch)") -> dict:
    """Print the per-seed runs and, per column, the two sides' contrast (diffrec_core.reproduction.contrast).
    ``labels`` renames columns in the printout (the sequential harness prints Recall@k as HR@k)."""
    cols = [*METRICS, "best_epoch", "epochs_run", "epoch_s"]
    name = {c: (labels or {}).get(c, c) for c in cols}

    def get(r, c):
        return r["test"].get(c) if c in METRICS else r.get(c)

    print(f"\n{heading}")
    print(f"{'side':7s} {'seed':>4s} " + " ".join(f"{name[c]:>10s}" for c in cols))
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
            print(f"{name[c]:12s} {fmt(mo, so, d):>20s} {fmt(ma, sa, d):>20s} {row['diff']:>9.{d}f} "
                  f"{row['two_se']:>8.{d}f}  {within}")
        else:
            print(f"{name[c]:12s} {fmt(mo, so, d):>20s} {fmt(ma, sa, d):>20s}")
        summary[c] = row
    return summary


def authors_of(method: str) -> dict:
    """The repository and commit of the authors' code a method's row was run against."""
    if method == "diffkg":
        import sbs_diffkg
        return {"repository": sbs_diffkg.AUTHORS_REPO, "commit": sbs_diffkg.AUTHORS_COMMIT}
    return {"repository": AUTHORS_REPO, "commit": AUTHORS_COMMIT}


def merged_info(infos: list, data_name: str, method: str = "diffrec") -> dict:
    """One description of a run from the info of each process that took part (an --ours-only and an
    --authors-only process, say); the settings that make it one experiment must agree."""
    for k in ("max_epochs", "preset", "authors_commit", "seeds", "method"):
        vals = {json.dumps(i.get(k)) for i in infos}
        if len(vals) > 1:
            raise SystemExit(f"error: the runs to combine differ in {k} ({', '.join(sorted(vals))})")
    first = infos[0]

    def one(k):
        vals = list(dict.fromkeys(str(i[k]) for i in infos if i.get(k) is not None))
        return " / ".join(vals) if vals else None

    return {"data": one("data") or data_name, "seeds": first.get("seeds"), "budget_epochs": first.get("max_epochs"),
            "preset": first.get("preset"), "date": one("date"), "ours_commit": one("ours_commit"),
            "authors": dict(authors_of(method), commit=first.get("authors_commit")),
            "machine": {"cpu": one("cpu"), "threads": one("threads"), "python": one("python"), "torch": one("torch")},
            "shims": next((i["shims"] for i in infos if i.get("shims")), []),
            "commands": [i["command"] for i in infos if i.get("command")]}


def not_run_list(doc, own: tuple = NOT_RUN) -> list:
    """The file's methods that cannot run yet: for this script's methods (:data:`METHODS`) ``own`` alone (none of
    them is listed: they all run); for the others the file's entry where it has one (benchmarks/side_by_side_seq.py
    keeps those), else ``own``'s. ``repro.upsert`` then drops any method that has a row."""
    have = {n.get("method"): n for n in (doc or {}).get("not_run", [])}
    kept = [dict(n) for m, n in have.items() if m not in METHODS]
    return kept + [dict(n) for n in own if n["method"] in METHODS or n["method"] not in have]


def save(path: Path, infos: list, ours: list, theirs: list, data_name: str, note: str = "",
         method: str = "diffrec") -> None:
    """Append this run to the versioned results file (or replace the row of the same method, data and budget)."""
    if not ours or not theirs:
        raise SystemExit("error: --save needs runs of both sides (combine an --ours-only and an --authors-only file)")
    row = {"method": method, **merged_info(infos, data_name, method), "note": note,
           "runs": {"ours": [repro.run_record(r) for r in ours], "authors": [repro.run_record(r) for r in theirs]}}
    row["summary"] = repro.summarize(row["runs"]["ours"], row["runs"]["authors"])
    row["select_on"] = "test (authors' protocol)" if method == "diffkg" else "valid"   # which split kept the epoch
    doc = repro.load(path) if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repro.dumps(repro.upsert(doc, row, not_run_list(doc))))
    log(f"saved to {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=METHODS, default="diffrec")
    ap.add_argument("--authors", type=Path, help="checkout of github.com/YiyanXu/DiffRec at d35a6c6 (diffkg: "
                                                 "github.com/HKUDS/DiffKG at c924659)")
    ap.add_argument("--data", type=Path, help="folder with train/valid/test_list.npy (default diffrec_ml-1m_clean; "
                                              "diffkg: a folder with a knowledge graph, default recbole_test_kg)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--max-epochs", type=int, default=None,
                    help="epoch cap, the same on both sides (default: theirs, 1000; diffkg 25)")
    ap.add_argument("--preset", default=None, help="our preset (default: the one running the authors' settings)")
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
    kg = a.method == "diffkg"
    if kg:
        import sbs_diffkg as side
    if a.combine:
        files = [json.loads(f.read_text()) for f in a.combine]
        for f in files:
            print(json.dumps(f["info"]))
        method = files[0]["info"].get("method", "diffrec")
        ours, theirs = [r for f in files for r in f["ours"]], [r for f in files for r in f["authors"]]
        summary = report(ours, theirs)
        if a.save:
            save(a.save, [f["info"] for f in files], ours, theirs, files[0]["info"].get("data", ""), a.note,
                 method)
        if a.json:
            a.json.write_text(json.dumps({"info": [f["info"] for f in files], "summary": summary}, indent=1))
        return 0
    data = a.data or (side.DEFAULT_DATA if kg else DEFAULT_DATA)
    preset = a.preset or (side.PRESET if kg else FAMILY[a.method]["preset"])
    max_epochs = a.max_epochs or (side.EPOCHS if kg else 1000)
    if not kg and not (data / "train_list.npy").is_file():
        raise SystemExit(f"error: {data} holds no train_list.npy (see ../shared/data/README.md)")
    if len(a.seeds) < 3:
        log("note: fewer than 3 seeds - the spread (and so 'within') is not meaningful")
    import torch
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    info = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "threads": threads, "python":
            platform.python_version(), "torch": torch.__version__, "seeds": a.seeds, "max_epochs": max_epochs,
            "command": " ".join(sys.argv), "authors_commit": authors_of(a.method)["commit"], "preset": preset,
            "data": data.name, "method": a.method}
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
            scratch = Path(tempfile.mkdtemp(prefix="side_by_side_", dir="/tmp"))
            if kg:
                folder, applied = side.scratch_copy(side.authors_dir(a.authors), scratch, data.resolve())
            else:
                folder, applied = scratch_copy(authors_dir(a.authors, FAMILY[a.method]["folder"]), scratch)
            info["shims"] = applied
            log("shims: " + "; ".join(applied))
            for s in a.seeds:
                log(f"authors, seed {s} ...")
                if kg:
                    theirs.append(side.run_theirs(folder, scratch / "shims", s, max_epochs, threads))
                else:
                    theirs.append(run_theirs(folder, scratch / "shims", data.resolve(), s, max_epochs, threads,
                                             a.method))
                log(f"  {theirs[-1]}")
        if not a.authors_only:
            for s in a.seeds:
                log(f"ours, seed {s} ...")
                if kg:
                    ours.append(side.run_ours(data.resolve(), s, max_epochs, preset))
                else:
                    ours.append(run_ours(data.resolve(), s, max_epochs, preset, a.method))
                log(f"  {ours[-1]}")
    finally:
        if scratch is not None and not a.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({k: v for k, v in info.items() if k != "shims"}))
    summary = report(ours, theirs)
    if a.save:
        save(a.save, [info], ours, theirs, data.name, a.note, a.method)
    if a.json:
        a.json.write_text(json.dumps({"info": info, "ours": ours, "authors": theirs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
