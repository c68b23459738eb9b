"""DiffKG vs LightGCN vs the KGAT-style KG baseline, on the sample world, ML-100K with its Freebase KG, and
RecBole's tiny KG set: Recall@20 / NDCG@20 (validation-selected, test once), wall time, peak memory, and - where
the data knows its wrong triples (the sample world) - how many injected wrong triples the KG rebuild removes
against keeping the same number of triples at random.

    python benchmarks/diffkg_kg.py                                   # sample world: diffkg, lightgcn, kgat
    python benchmarks/diffkg_kg.py --data ml-100k --json runs/diffkg_ml100k.json
    python benchmarks/diffkg_kg.py --data recbole_test_kg
    python benchmarks/diffkg_kg.py --variants faithful-bug no-cl     # add DiffKG ablations (sample world)
    python benchmarks/diffkg_kg.py --data ml-100k --max-epochs 1     # quick check of the script

Each method runs in its own process (so that its peak resident memory, ``ru_maxrss``, is its own), with the
preset named after the data set (``sample`` for the sample world and RecBole's tiny set, ``ml-100k`` for ML-100K),
``torch.set_num_threads(--threads)`` and seed 1, through the project's pipeline (``load_split`` - per-user
chronological 80/10/10 -, ``build_model``, ``fit``). Data live in ``../shared/data`` beside the repository and are
never downloaded; a missing folder is a message, not an error.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
DATA = {"sample": "sample", "ml-100k": str(SHARED / "ml-100k"), "recbole_test_kg": str(SHARED / "recbole_test_kg")}
PRESET = {"sample": "sample", "ml-100k": "ml-100k", "recbole_test_kg": "sample"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0     # Linux: KiB


def worker(a) -> dict:
    """One method on one data set, in this process; prints one JSON line."""
    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    from diffrec_core.pipeline import build_model, load_split
    from diffrec_core.train import fit

    t0 = time.perf_counter()
    split = load_split(DATA[a.data])
    load_s = time.perf_counter() - t0
    rss_data = rss_mb()
    method, _, variant = a.worker.partition(":")
    preset = variant or PRESET[a.data]
    if variant and a.data == "ml-100k":
        raise SystemExit("variants are defined for the sample world's configuration only")
    over = {}
    if a.max_epochs:
        over["epochs"] = a.max_epochs
    model = build_model(method, split, preset=preset, overrides=over, seed=1)
    epochs_log = []
    t0 = time.perf_counter()
    res = fit(model, split, seed=1, progress=lambda r: (epochs_log.append(
        {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()
         if k in ("epoch", "loss", "seconds", "valid_recall@20", "rebuilt_edges", "kept_edges", "diff", "ckgc")}),
        log(f"  {a.worker} epoch {r['epoch']} {r['seconds']:.1f}s"
            + (f" valid R@20 {r['valid_recall@20']:.4f}" if "valid_recall@20" in r else ""))))
    fit_s = time.perf_counter() - t0
    out = {"method": method, "variant": variant or "", "data": a.data, "preset": preset,
           "users": split.n_users, "items": split.n_items, "train": int(split.train.nnz),
           "best_epoch": res.best_epoch, "stopped": res.stopped, "epochs_run": len(res.history),
           "valid": {k: res.valid.get(k) for k in ("recall@20", "ndcg@20")},
           "test": {k: res.test.get(k) for k in ("recall@20", "ndcg@20")},
           "load_s": round(load_s, 2), "fit_s": round(fit_s, 2), "train_s": round(res.train_seconds, 2),
           "eval_s": round(res.eval_seconds, 2), "epoch_s": [round(s, 2) for s in res.epoch_seconds],
           "peak_rss_mb": round(rss_mb(), 1), "rss_after_data_mb": round(rss_data, 1),
           "parameters": model.n_parameters(), "threads": a.threads, "history": epochs_log}
    if hasattr(model, "n_entities") and split.kg is not None:
        E = int(model.n_entities)
        out.update(entities=E, kg_edges=int(model.config.n_kg_edges),
                   dense_kg_float64_gb=round(E * E * 8 / 1e9, 2))      # what the authors' kgMatrix would take
    if method == "diffkg" and split.kg is not None and "is_wrong" in split.kg:
        from ui.knowledge_graph import edge_table, truth_metrics

        state = model.kg_state(split)
        truth = truth_metrics(edge_table(state, split.kg, split.kg_info.get("relation_names")))
        out["truth"] = {k: {f: (round(v, 4) if isinstance(v, float) else v) for f, v in vars(s).items()
                            if f != "name"} for k, s in truth.items()}
    print(json.dumps(out, default=lambda o: list(o) if isinstance(o, tuple) else str(o)), flush=True)
    return out


def run_one(a, spec: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", spec, "--data", a.data,
           "--threads", str(a.threads)] + (["--max-epochs", str(a.max_epochs)] if a.max_epochs else [])
    log(f"== {spec} on {a.data}")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env={**os.environ})
    if p.returncode != 0:
        return {"method": spec, "error": f"exit code {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def fmt_row(r: dict) -> str:
    if "error" in r:
        return f"| {r['method']} | failed: {r['error']} |"
    name = r["method"] + (f" [{r['variant']}]" if r.get("variant") else "")
    return (f"| {name} | {r['test']['recall@20']:.4f} | {r['test']['ndcg@20']:.4f} | {r['valid']['recall@20']:.4f} "
            f"| {r['best_epoch']}/{r['epochs_run']} | {r['train_s']:.1f} | {r['fit_s']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {r['parameters']:,} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="sample", choices=list(DATA))
    p.add_argument("--methods", nargs="*", default=["diffkg", "lightgcn", "kgat"])
    p.add_argument("--variants", nargs="*", default=[], help="extra DiffKG presets: faithful-bug, no-cl")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker(a)
        return 0
    if a.data != "sample" and not Path(DATA[a.data]).exists():
        print(f"{DATA[a.data]} is absent (benchmark data live in ../shared/data beside the repository); skipped")
        return 0
    t0 = time.perf_counter()
    specs = list(a.methods) + [f"diffkg:{v}" for v in a.variants]
    rows = [run_one(a, s) for s in specs]
    print(f"\n## {a.data}: seed 1, {a.threads} thread(s), per-user chronological 80/10/10, validation-selected, "
          f"test once, training items masked\n")
    print("| method | test Recall@20 | test NDCG@20 | valid Recall@20 | best/run epochs | train s | fit s "
          "| peak RSS MB | parameters |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(fmt_row(r))
    kg = next((r for r in rows if r.get("entities")), None)
    if kg:
        gb = kg["entities"] ** 2 * 8 / 1e9
        size = f"{gb:.1f} GB" if gb >= 1 else f"{gb * 1e3:.1f} MB"
        print(f"\nKG: {kg['entities']:,} entities, {kg['kg_edges']:,} directed edges; the authors' dense float64 "
              f"entity x entity matrix would take {size} on its own (here: a CSR of "
              f"{kg['kg_edges'] * 12 / 1e6:.1f} MB, densified one batch of rows at a time).")
    for r in rows:
        t = r.get("truth")
        if not t:
            continue
        name = "diffkg" + (f" [{r['variant']}]" if r.get("variant") else "")
        for stage in ("rebuilt", "denoised"):
            s = t[stage]
            print(f"\n{name}, {stage} KG: keeps {s['kept']} of {s['total']} triples; removes "
                  f"{100 * s['wrong_removed']:.1f} % of the {s['wrong_total']} injected wrong triples (random keeping "
                  f"of as many triples: {100 * s['random_wrong_removed']:.1f} %, 90 % band "
                  f"{100 * s['random_band'][0]:.1f}-{100 * s['random_band'][1]:.1f} %); precision "
                  f"{100 * s['precision']:.1f} % vs {100 * s['random_precision']:.1f} % at random; "
                  f"P(random removes as many) {'< 1e-12' if s['p_value'] < 1e-12 else '= %.2g' % s['p_value']}")
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.2f} "
          f"(on a shared machine, wall times are inflated)")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"data": a.data, "threads": a.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
