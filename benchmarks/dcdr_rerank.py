"""DCDR (reconstruction) and the reranking baselines on the sample world's held-out sessions.

    python benchmarks/dcdr_rerank.py                         # pretrained checkpoints, 500 test sessions, beam 4
    python benchmarks/dcdr_rerank.py --retrain --seeds 1 2 3  # train fresh (P, T, PRM) per seed, mean ± sd
    python benchmarks/dcdr_rerank.py --sessions 100 --json runs/dcdr.json --write-results

Every reranker gets the upstream ranker's list of each held-out session (sessions 3500-3999) and is scored by the
sample world's exact expected utility U (clicks + 2 x likes), by NDCG@5 / AUC against one fixed draw of simulated
list-independent responses per session, and (paper-style) by NDCG@5 / AUC of its reordering of the *logged* list
against the *logged* clicks. Latency: one list at a time, batch 1, on CPU, after a warm-up; median and p90.

The paper's figures (Avito AUC 0.9172 / NDCG 0.3901, VideoRerank AUC 0.6361 / NDCG 0.6576, Kuaishou online +0.88 %
likes vs PRM; docs/methods.md §4.1) are on other data and protocols: nothing here is comparable with them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffrec_core.methods.dcdr import DCDR, DCDRConfig, load_pretrained_rerank  # noqa: E402
from diffrec_core.methods.rerank_baselines import BASELINE_TITLES, PRM, RerankNetConfig, build_rerankers  # noqa: E402
from diffrec_core.rerank import Simulator, evaluate, load_rerank_data  # noqa: E402

PAPER = {"avito_auc": 0.9172, "avito_ndcg": 0.3901, "videorerank_auc": 0.6361, "videorerank_ndcg": 0.6576,
         "online_likes_pct_vs_prm": 0.884}
COLS = ("utility", "gain_pct", "share_improved", "share_worse", "share_of_best_gain", "ndcg@5", "auc",
        "logged_ndcg@5", "logged_auc")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def train(data, seed: int):
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    p = DCDR(DCDRConfig(variant="P"), data.n_users, data.n_items)
    p.fit_lists(data, seed=seed)
    torch.manual_seed(seed)
    t = DCDR(DCDRConfig(variant="T"), data.n_users, data.n_items)
    t.fit_lists(data, seed=seed, evaluator_state=p.evaluator.state_dict())
    torch.manual_seed(seed)
    prm = PRM(RerankNetConfig(), data.n_users, data.n_items)
    prm.fit_lists(data, seed=seed)
    secs = time.perf_counter() - t0
    models = {"dcdr_p": p.eval(), "dcdr_t": t.eval(), "rerank_prm": prm}
    models.update(build_rerankers(p, prm))
    return models, secs


def rerankers(models: dict, beam: int) -> dict:
    p, t = models["dcdr_p"], models["dcdr_t"]
    out = {BASELINE_TITLES[k]: models[k] for k in BASELINE_TITLES if k in models}
    out[f"DCDR-P (B={beam}, like)"] = lambda r: p.run(r, beam=beam, condition="like").output
    out[f"DCDR-T (B={beam}, like)"] = lambda r: t.run(r, beam=beam, condition="like").output
    out[f"DCDR-P (B={beam}, no condition)"] = lambda r: p.run(r, beam=beam, condition="none").output
    out["DCDR-P (B=1, greedy)"] = lambda r: p.run(r, beam=1, condition="like").output
    return out


def latency(fn, reqs, warm: int = 10) -> dict:
    for r in reqs[:warm]:
        fn(r)
    ts = []
    for r in reqs:
        t0 = time.perf_counter()
        fn(r)
        ts.append(1e3 * (time.perf_counter() - t0))
    return {"median_ms": statistics.median(ts), "p90_ms": float(np.percentile(ts, 90)), "lists": len(ts)}


def cpu_share(t_wall: float, t_cpu: float, threads: int) -> float:
    return t_cpu / max(t_wall * threads, 1e-9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=500, help="held-out sessions to evaluate (max 500)")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--retrain", action="store_true", help="train fresh models instead of loading pretrained/")
    ap.add_argument("--seeds", type=int, nargs="*", default=[1], help="with --retrain: one training run per seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--latency-lists", type=int, default=200)
    ap.add_argument("--no-logged", action="store_true", help="skip the paper-style logged-list protocol")
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-results", action="store_true",
                    help="store the held-out summary in pretrained/dcdr_results.json (the Reranking page shows it)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    log(f"load average at start: {os.getloadavg()}")
    data, sim = load_rerank_data(), Simulator()
    rows = data.splits["test"][: a.sessions]
    runs = []
    for seed in (a.seeds if a.retrain else [None]):
        if a.retrain:
            log(f"training P, T and PRM with seed {seed} …")
            c0 = time.process_time()
            w0 = time.perf_counter()
            models, secs = train(data, seed)
            share = cpu_share(time.perf_counter() - w0, time.process_time() - c0, a.threads)
            log(f"  trained in {secs:.1f} s (CPU share {share:.2f})")
        else:
            models, problems = load_pretrained_rerank(None, data.n_users, data.n_items)
            for p in problems:
                log(f"warning: {p}")
            secs = None
        R = rerankers(models, a.beam)
        t0 = time.perf_counter()
        res = evaluate(R, data, sim, rows, k=5, logged=not a.no_logged)
        log(f"evaluated {len(R)} rerankers on {len(rows)} sessions in {time.perf_counter() - t0:.1f} s")
        reqs = [data.request(s) for s in rows[: a.latency_lists]]
        c0, w0 = time.process_time(), time.perf_counter()
        lat = {name: latency(getattr(fn, "rerank", fn), reqs) for name, fn in R.items()}
        share = cpu_share(time.perf_counter() - w0, time.process_time() - c0, a.threads)
        runs.append({"seed": seed, "train_seconds": secs, "results": {k: v["summary"] for k, v in res.items()},
                     "latency": lat, "latency_cpu_share": share})

    names = [n for n in runs[0]["results"] if not n.startswith("_")]
    ref = runs[0]["results"]["_reference"]
    print(f"\n## DCDR (reconstruction) on {len(rows)} held-out sample-world sessions"
          f" ({'pretrained seed 1' if not a.retrain else 'seeds ' + ' '.join(map(str, a.seeds))}; beam {a.beam}; "
          f"{a.threads} thread(s); {platform.processor() or platform.machine()})\n")
    print(f"ranker's list U = {ref['ranker_utility']:.4f}; best list of all 20 candidates (ground truth) U = "
          f"{ref['best_utility']:.4f}\n")
    head = ["method", "U", "gain %", "improved", "worse", "share of best gain", "NDCG@5", "AUC", "logged NDCG@5",
            "logged AUC", "ms/list (median, p90)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    summary = {}
    for n in names:
        vals = {c: [r["results"][n].get(c, np.nan) for r in runs] for c in COLS}
        lat = [r["latency"][n]["median_ms"] for r in runs]
        p90 = [r["latency"][n]["p90_ms"] for r in runs]
        summary[n] = {c: float(np.mean(v)) for c, v in vals.items()}
        summary[n]["ms_per_list_median"] = float(np.mean(lat))
        summary[n]["ms_per_list_p90"] = float(np.mean(p90))

        def f(c, d=4, pct=False):
            v = np.asarray(vals[c], dtype=float)
            m = 100 * v.mean() if pct else v.mean()
            s = f"{m:.{d}f}" if np.isfinite(m) else "–"
            if len(v) > 1 and np.isfinite(m):
                s += f" ± {(100 if pct else 1) * v.std(ddof=1):.{d}f}"
            return s
        print(f"| {n} | {f('utility')} | {f('gain_pct', 2)} | {f('share_improved', 1, True)} % | "
              f"{f('share_worse', 1, True)} % | {f('share_of_best_gain', 3)} | {f('ndcg@5')} | {f('auc')} | "
              f"{f('logged_ndcg@5')} | {f('logged_auc')} | {np.mean(lat):.2f}, {np.mean(p90):.2f} |")
    share = min(r["latency_cpu_share"] for r in runs)
    print(f"\nLatency: one list at a time (batch 1), {a.latency_lists} lists after a warm-up, CPU share {share:.2f}"
          + ("  WARNING: the process did not have its core(s); latencies are inflated" if share < 0.9 else ""))
    if a.retrain:
        print("Training (P + T + PRM, evaluator shared): " + ", ".join(f"seed {r['seed']}: {r['train_seconds']:.1f} s"
                                                                        for r in runs))
    print(f"Paper (other data, not comparable): Avito AUC {PAPER['avito_auc']} / NDCG {PAPER['avito_ndcg']}; "
          f"online +{PAPER['online_likes_pct_vs_prm']} % likes vs PRM on Kuaishou.")
    out = {"sessions": int(len(rows)), "beam": a.beam, "threads": a.threads, "runs": runs, "summary": summary,
           "reference": ref, "paper": PAPER, "machine": platform.platform(), "load_average_end": os.getloadavg(),
           "note": (f"benchmarks/dcdr_rerank.py: {len(rows)} held-out sessions, beam {a.beam}, condition 'like'; "
                    "U = the sample world's exact expected utility; NDCG@5 / AUC against simulated responses; "
                    "latency on one CPU thread, one list at a time. Not comparable with the paper's data sets.")}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
    if a.write_results:
        p = REPO / "pretrained" / "dcdr_results.json"
        d = json.loads(p.read_text()) if p.exists() else {}
        d["heldout"] = {"summary": summary, "reference": ref, "note": out["note"], "sessions": int(len(rows))}
        p.write_text(json.dumps(d, indent=1, sort_keys=True, default=float) + "\n")
        log(f"wrote the held-out summary into {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
