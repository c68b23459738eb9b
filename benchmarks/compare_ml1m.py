"""The comparison harness on ML-1M clean (the DiffRec authors' released split): every method that applies,
with a stated CPU budget, beside the figures the papers and the authors' code reported on the same data.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/compare_ml1m.py                  # budget 5 min / method
    python benchmarks/compare_ml1m.py --budget-minutes 1 --methods diffrec ease pop      # a quick check
    python benchmarks/compare_ml1m.py --seeds 1 2 3 --device cuda

Runs ``diffrec_core.compare`` (the same code as ``python -m diffrec_core compare``): the data set's own split
(``shipped``: ≈ 71 / 18.5 / 10 % per user), full ranking with seen items masked, selection on validation
Recall@20, test scored once; presets named after the data set where a method has one (``ml-1m``: DiffRec
[200,600] T 40, L-DiffRec, Mult-VAE, EASE, ItemKNN, TopPop), else the small ``sample`` configuration (T-DiffRec,
LightGCN: labelled in the table). Metrics are averaged over ALL users (``--denominator all``), as the DiffRec
authors do, so that the reference figures below are on the same footing. ML-1M clean has no knowledge graph and
no timestamps (its event order is the file order), so DiffKG, the KG baseline and the sequence methods are listed
as not applicable; DCDR reranks logged lists (a different task).

Each method's training stops between epochs once its budget is spent (the table marks it: a lower bound). The
results go to ``pretrained/compare/ml-1m/`` (JSON, CSV, Markdown) unless ``--out`` says otherwise; the Compare page
shows them beside the papers' numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from diffrec_core import compare  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "diffrec_ml-1m_clean"

# docs/methods.md §4.1 (test, ML-1M clean, the authors' split): status tags as there
REFERENCE = [
    ("DiffRec authors' code, run by this project [run], seed 1, CPU", {"recall@10": 0.1007, "recall@20": 0.1697,
                                                                        "ndcg@10": 0.0862, "ndcg@20": 0.1094}),
    ("DiffRec paper [recalled, unverified]", {"recall@10": 0.1058, "recall@20": 0.1787, "ndcg@10": 0.0901,
                                              "ndcg@20": 0.1148}),
    ("Mult-VAE in the DiffRec paper [recalled, unverified]", {"recall@10": 0.1007, "recall@20": 0.1726,
                                                              "ndcg@10": 0.0825, "ndcg@20": 0.1076}),
    ("L-DiffRec, community re-run, issue #13 [ext]", {"recall@10": 0.0981, "recall@20": 0.173, "ndcg@10": 0.0825,
                                                      "ndcg@20": 0.1085}),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--methods", nargs="*", default=None, help="default: every registered method")
    ap.add_argument("--seeds", nargs="*", type=int, default=[1])
    ap.add_argument("--budget-minutes", type=float, default=5.0, help="per method and seed (default 5)")
    ap.add_argument("--denominator", default="all", choices=["all", "gt"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", default=str(REPO / "pretrained" / "compare" / "ml-1m"))
    a = ap.parse_args(argv)
    if not Path(a.data).exists():
        print(f"{a.data} is absent: this benchmark needs the DiffRec ML-1M clean release (../shared/data).",
              file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)   # the trained reverse pass hits subnormal floats (docs/methods.md §4.2)
    print(f"load average at start {os.getloadavg()[0]:.2f}; threads {torch.get_num_threads()}; budget "
          f"{a.budget_minutes:g} min per method and seed; device {a.device}", file=sys.stderr)
    t0, c0 = time.perf_counter(), time.process_time()
    res = compare.run_compare(a.data, log=lambda s: print(s, file=sys.stderr, flush=True), methods=a.methods,
                              seeds=a.seeds, budget_seconds=a.budget_minutes * 60, device=a.device,
                              denominator=a.denominator)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    res["benchmark"] = {"script": "benchmarks/compare_ml1m.py", "wall_seconds": round(wall, 1),
                        "cpu_seconds": round(cpu, 1), "cpu_share": round(cpu / max(wall, 1e-9) /
                                                                         torch.get_num_threads(), 3),
                        "load_average_end": round(os.getloadavg()[0], 2), "reference": REFERENCE}
    paths = compare.write(res, a.out)
    print(compare.to_markdown(res))
    print("## Reference figures on the same data and split (docs/methods.md §4.1)\n")
    print("| source | Recall@10 | Recall@20 | NDCG@10 | NDCG@20 |\n|---|---|---|---|---|")
    for name, m in REFERENCE:
        print(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20"))
              + " |")
    print(f"\nwall {wall / 60:.1f} min, CPU {cpu / 60:.1f} min (share {res['benchmark']['cpu_share']:.2f} of "
          f"{torch.get_num_threads()} thread(s)); load average at end {os.getloadavg()[0]:.2f}. "
          f"Written: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
