"""DiffRec on the authors' ML-1M (clean) split, against the authors' code and the arithmetic floor.

    python benchmarks/diffrec_ml1m.py                           # seed 1, the full protocol, then MultVAE
    python benchmarks/diffrec_ml1m.py --seeds 1 2 3 --json runs/bench_ml1m.json
    python benchmarks/diffrec_ml1m.py --max-epochs 2 --skip-multvae     # quick check of the script itself
    python benchmarks/diffrec_ml1m.py --device cuda

Trains ``diffrec`` with the ``ml-1m`` preset through the project's own pipeline (``load_split``, ``build_model``,
``fit``: evaluation every 5 epochs, selection and early stopping on validation Recall@20, test scored once with
the selected weights) and prints the test metrics, the wall time of every training epoch and evaluation pass, and
end to end. In the same process, with the same threads, dtype and device, it measures the floor: the plain matrix
products of one training epoch (forward + backward of the Linear chain) and of one 40-step evaluation pass
(benchmarks/_floor.py). Reference figures (docs/methods.md §4.1-4.2) are the authors' code on an idle 2-core machine.
"""
from __future__ import annotations

import argparse
import inspect
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
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from _floor import (batch_sizes, cpu_model, cpu_share, eval_pass_floor, eval_pass_runner,  # noqa: E402
                    train_epoch_floor, train_epoch_runner)
from diffrec_core import registry  # noqa: E402
from diffrec_core.pipeline import build_model, load_split, pick_device  # noqa: E402
from diffrec_core.train import fit  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "diffrec_ml-1m_clean"

# Authors' code, DiffRec/main.py @ d35a6c6, tuned ML-1M config, idle 2-vCPU machine, torch CPU
# (docs/methods.md §4.1-4.2)
REF = {
    "epoch_s": 3.21,          # one training epoch (15 batches of 400)
    "eval_pass_s": 26.1,      # one evaluate() pass, 40 reverse steps, all 5,949 users
    "passes_per_round": 2,    # valid and test, identical inputs, every evaluation round
    "floor_epoch_s": 2.6, "floor_pass_s": 17.0,
    "test": {"recall@10": 0.1007, "recall@20": 0.1697, "ndcg@10": 0.0862, "ndcg@20": 0.1094},
    "best_epoch": 10,
}
PAPER = {  # recalled, unverified (docs/methods.md §4.1)
    "diffrec": {"recall@10": 0.1058, "recall@20": 0.1787, "ndcg@10": 0.0901, "ndcg@20": 0.1148},
    "multvae": {"recall@10": 0.1007, "recall@20": 0.1726, "ndcg@10": 0.0825, "ndcg@20": 0.1076},
}
TARGET_RATIO, TARGET_SPEEDUP = 1.25, 2.0
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def machine(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "device": str(device), "platform": platform.platform()}
    if cpu_model():
        info["cpu"] = cpu_model()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return info


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def layer_sizes(model) -> list:
    """The Linear chain of DiffRec's DNN: [I + emb, ..., I] (2820, 600, 200, 600, 2810 for ML-1M)."""
    net = model.net
    layers = [*net.in_layers, *net.out_layers]
    return [layers[0].in_features] + [l.out_features for l in layers]


def measure_floor(model, n_users: int, eval_batch: int, reps: int, device) -> dict:
    sizes = layer_sizes(model)
    train_b = batch_sizes(n_users, int(model.config.batch_size))
    eval_b = batch_sizes(n_users, eval_batch)
    steps = model.n_diffusion_steps()
    dtype = next(model.parameters()).dtype
    log(f"floor: layers {sizes}, dtype {dtype}, {torch.get_num_threads()} threads; training epoch = "
        f"{len(train_b)} batches {train_b[0]}..{train_b[-1]}; eval pass = {steps} steps x batches {eval_b}")
    tr = train_epoch_floor(sizes, train_b, reps=reps, device=device, dtype=dtype)
    log(f"  epoch floor {tr['seconds']:.3f} s  ({tr['gflop']:.0f} GFLOP, {tr['gflops_per_s']:.1f} GFLOP/s; reps "
        + ", ".join(f"{t:.3f}" for t in tr["reps"]) + "; CPU share " + ", ".join(f"{c:.2f}" for c in tr["cpu_share"])
        + ")")
    ev = eval_pass_floor(sizes, eval_b, steps, reps=reps, device=device, dtype=dtype)
    log(f"  pass floor  {ev['seconds']:.3f} s  ({ev['gflop']:.0f} GFLOP, {ev['gflops_per_s']:.1f} GFLOP/s; reps "
        + ", ".join(f"{t:.3f}" for t in ev["reps"]) + "; CPU share " + ", ".join(f"{c:.2f}" for c in ev["cpu_share"])
        + ")")
    return {"layers": sizes, "dtype": str(dtype), "train_batches": train_b, "eval_batches": eval_b,
            "steps": steps, "epoch": tr, "pass": ev}


def combine_floors(floors: list) -> dict:
    """The lower of the medians measured before and after training, for each workload: the ratios are then
    conservative (a floor inflated by a busy moment would flatter us)."""
    out = dict(floors[0])
    out["measurements"] = [{"epoch_s": f["epoch"]["seconds"], "pass_s": f["pass"]["seconds"]} for f in floors]
    out["epoch"] = min((f["epoch"] for f in floors), key=lambda r: r["seconds"])
    out["pass"] = min((f["pass"] for f in floors), key=lambda r: r["seconds"])
    return out


def paired_runners(model, n_users: int, eval_batch: int, device) -> dict:
    """The floor workloads as callables (``_floor.py``), built once: one floor epoch is run after every training
    epoch and one floor pass after every evaluation pass, so each is compared with the floor measured seconds
    later. Why: on the shared VMs these benchmarks run on, the speed of the same GEMMs drifts by 20-30 % over a
    few minutes (the floor's own repetitions show it), so a floor measured only before and after a 2-minute run
    can sit in a fast or a slow moment of the machine and move every ratio with it."""
    sizes = layer_sizes(model)
    dtype = next(model.parameters()).dtype
    return {"epoch": train_epoch_runner(sizes, batch_sizes(n_users, int(model.config.batch_size)), device, dtype),
            "pass": eval_pass_runner(sizes, batch_sizes(n_users, eval_batch), model.n_diffusion_steps(), device,
                                     dtype)}


def progress(tag: str):
    def show(rec):
        line = f"  [{tag}] epoch {rec['epoch']:4d}  loss {rec.get('loss', float('nan')):.5f}  {rec['seconds']:.3f} s"
        if "valid_recall@20" in rec:
            line += (f"  | valid R@20 {rec['valid_recall@20']:.4f}  N@20 {rec['valid_ndcg@20']:.4f}  "
                     f"eval pass {rec['eval_seconds']:.3f} s")
        log(line)
    return show


def run_one(method: str, split, seed: int, device, max_epochs, eval_batch: int, t_load: float,
            pair: dict = None) -> dict:
    """One training run. With ``pair`` (paired_runners), a floor epoch follows every training epoch and a floor
    pass every evaluation pass (the test pass too); their time is left out of the end-to-end figure."""
    floors = {"epoch": [], "pass": [], "seconds": 0.0}
    show = progress(f"{method} s{seed}")

    def on_epoch(rec):
        show(rec)
        if pair:
            t = time.perf_counter()
            floors["epoch"].append(pair["epoch"]())
            if "eval_seconds" in rec:
                floors["pass"].append(pair["pass"]())
            floors["seconds"] += time.perf_counter() - t

    t0, c0 = time.perf_counter(), time.process_time()
    model = build_model(method, split, preset="ml-1m", device=device)
    res = fit(model, split, epochs=max_epochs, seed=seed, progress=on_epoch, eval_batch=eval_batch)
    fit_s = time.perf_counter() - t0 - floors["seconds"]
    if pair:
        floors["pass"].append(pair["pass"]())       # the floor pass paired with the test pass
    share = cpu_share(time.process_time() - c0, fit_s + floors["seconds"])   # floors ran in this process too
    rounds = len(res.eval_pass_seconds)                       # validation passes during training
    test_pass = res.eval_seconds - sum(res.eval_pass_seconds)  # the one test pass after training
    passes = list(res.eval_pass_seconds) + [test_pass]
    epochs_run = len(res.epoch_seconds)
    return {
        "method": method, "seed": seed, "preset": "ml-1m", "best_epoch": res.best_epoch, "epochs": epochs_run,
        "stopped": res.stopped, "rounds": rounds, "passes": len(passes),
        "valid": {k: res.valid.get(k) for k in METRICS}, "test": {k: res.test.get(k) for k in METRICS},
        "epoch_seconds": res.epoch_seconds, "eval_pass_seconds": passes,
        "median_epoch_s": statistics.median(res.epoch_seconds) if res.epoch_seconds else None,
        "max_epoch_s": max(res.epoch_seconds) if res.epoch_seconds else None,
        "median_pass_s": statistics.median(passes), "max_pass_s": max(passes),
        "train_seconds": res.train_seconds, "eval_seconds": res.eval_seconds,
        "load_s": t_load, "fit_s": fit_s, "e2e_s": t_load + fit_s, "cpu_share": share,
        "paired_epoch_floor_s": floors["epoch"] or None, "paired_pass_floor_s": floors["pass"] or None,
        "parameters": model.n_parameters(), "steps": model.n_diffusion_steps(),
        "batch_size": int(model.config.batch_size), "eval_every": int(model.config.eval_every),
        "patience": int(model.config.patience),
        "_model": model,
    }


def compare(r: dict, floor: dict) -> dict:
    """Ratios to the floor: each epoch (pass) over its paired floor where the run has them, else over the floor
    measured before / after training; the latter ('_ends') is always reported too."""
    fe, fp = floor["epoch"]["seconds"], floor["pass"]["seconds"]
    ep, ps = r["epoch_seconds"], r["eval_pass_seconds"]
    pe, pp = r.get("paired_epoch_floor_s"), r.get("paired_pass_floor_s")
    e_ratio = [t / f for t, f in zip(ep, pe)] if pe else [t / fe for t in ep]
    p_ratio = [t / f for t, f in zip(ps, pp)] if pp else [t / fp for t in ps]
    authors = r["epochs"] * REF["epoch_s"] + r["rounds"] * REF["passes_per_round"] * REF["eval_pass_s"]
    return {
        "floor_kind": "paired" if pe else "before/after",
        "floor_epoch_s": statistics.median(pe) if pe else fe, "floor_pass_s": statistics.median(pp) if pp else fp,
        "epoch_ratios": e_ratio, "pass_ratios": p_ratio,
        "epoch_ratio_median": statistics.median(e_ratio), "epoch_ratio_max": max(e_ratio),
        "epochs_within": sum(x <= TARGET_RATIO for x in e_ratio),
        "epochs_within_after_first": sum(x <= TARGET_RATIO for x in e_ratio[1:]),
        "pass_ratio_median": statistics.median(p_ratio), "pass_ratio_max": max(p_ratio),
        "passes_within": sum(x <= TARGET_RATIO for x in p_ratio),
        "epoch_ratio_ends": r["median_epoch_s"] / fe, "pass_ratio_ends": r["median_pass_s"] / fp,
        "authors_e2e_s": authors,
        "authors_e2e_formula": (f"{r['epochs']} epochs x {REF['epoch_s']} s + {r['rounds']} rounds x "
                                f"{REF['passes_per_round']} passes x {REF['eval_pass_s']} s = {authors:.1f} s"),
        "speedup": authors / r["e2e_s"],
    }


def fmt(v, nd=4):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def report_run(r: dict, floor: dict, c: dict) -> None:
    fe, fp = floor["epoch"]["seconds"], floor["pass"]["seconds"]
    print(f"\n## {r['method']} seed {r['seed']}: {r['stopped']}; best validation epoch {r['best_epoch']} of "
          f"{r['epochs']} run ({r['parameters']:,} parameters" + (f", T = {r['steps']})" if r["steps"] else ")"))
    print("test   " + "  ".join(f"{k} {r['test'][k]:.4f}" for k in METRICS))
    print("valid  " + "  ".join(f"{k} {r['valid'][k]:.4f}" for k in METRICS if r["valid"][k] is not None))
    print("epoch seconds: " + " ".join(f"{t:.3f}" for t in r["epoch_seconds"]))
    print(f"CPU share over the run (process CPU s / (wall s x threads); ~1 = cores to itself): {r['cpu_share']:.2f}")
    print(f"eval pass seconds ({r['rounds']} validation passes during training + 1 test pass): "
          + " ".join(f"{t:.3f}" for t in r["eval_pass_seconds"]))
    if r["method"] != "diffrec":
        print(f"median epoch {r['median_epoch_s']:.3f} s, median eval pass {r['median_pass_s']:.3f} s, "
              f"end to end {r['e2e_s']:.1f} s")
        return
    kind = c["floor_kind"]
    if r.get("paired_epoch_floor_s"):
        print("paired floor epoch seconds: " + " ".join(f"{t:.3f}" for t in r["paired_epoch_floor_s"]))
        print("paired floor pass seconds: " + " ".join(f"{t:.3f}" for t in r["paired_pass_floor_s"]))
    print(f"epoch / {kind} floor: " + " ".join(f"{x:.2f}" for x in c["epoch_ratios"]))
    print(f"eval pass / {kind} floor: " + " ".join(f"{x:.2f}" for x in c["pass_ratios"]))
    print(f"training epoch: median of epoch / {kind} floor = {c['epoch_ratio_median']:.2f}x (max "
          f"{c['epoch_ratio_max']:.2f}x; {c['epochs_within']}/{r['epochs']} epochs within {TARGET_RATIO}x); median "
          f"epoch {r['median_epoch_s']:.3f} s over the floor measured before/after training {fe:.3f} s = "
          f"{c['epoch_ratio_ends']:.2f}x")
    print(f"eval pass:      median of pass / {kind} floor = {c['pass_ratio_median']:.2f}x (max "
          f"{c['pass_ratio_max']:.2f}x; {c['passes_within']}/{r['passes']} passes within {TARGET_RATIO}x); median "
          f"pass {r['median_pass_s']:.3f} s over the floor measured before/after training {fp:.3f} s = "
          f"{c['pass_ratio_ends']:.2f}x")
    print(f"evaluation passes: ours {r['passes']} (validation only at each of the {r['rounds']} rounds, test once "
          f"at the end with the selected weights); the authors' code would run {REF['passes_per_round'] * r['rounds']} "
          f"(valid + test at every round)")
    print(f"end to end: ours {r['e2e_s']:.1f} s (load {r['load_s']:.1f} + build/fit/test {r['fit_s']:.1f}); "
          f"authors for the same epochs: {c['authors_e2e_formula']} -> {c['speedup']:.2f}x faster "
          f"(target >= {TARGET_SPEEDUP}x)")


def table(runs, floor, comps) -> str:
    head = ["method", "seed", "R@10", "R@20", "N@10", "N@20", "best ep", "epochs", "epoch s (med)", "floor epoch s",
            "epoch/floor (med)", "pass s (med)", "floor pass s", "pass/floor (med)", "passes", "e2e s",
            "authors e2e s", "speed-up"]
    rows = []
    for r, c in zip(runs, comps):
        t = r["test"]
        d = r["method"] == "diffrec"
        rows.append([r["method"], str(r["seed"]), *(fmt(t[k]) for k in METRICS), str(r["best_epoch"]),
                     str(r["epochs"]), fmt(r["median_epoch_s"], 3), fmt(c["floor_epoch_s"], 3) if d else "-",
                     f"{c['epoch_ratio_median']:.2f}x" if d else "-", fmt(r["median_pass_s"], 3),
                     fmt(c["floor_pass_s"], 3) if d else "-", f"{c['pass_ratio_median']:.2f}x" if d else "-",
                     str(r["passes"]),
                     fmt(r["e2e_s"], 1), fmt(c["authors_e2e_s"], 1) if d else "-",
                     f"{c['speedup']:.2f}x" if d else "-"])
    dif = [r for r in runs if r["method"] == "diffrec"]
    if len(dif) > 1:
        mean = {k: statistics.mean(r["test"][k] for r in dif) for k in METRICS}
        sd = {k: statistics.stdev(r["test"][k] for r in dif) for k in METRICS}
        rows.append(["diffrec", f"mean±sd ({len(dif)})", *(f"{mean[k]:.4f}±{sd[k]:.4f}" for k in METRICS),
                     *["-"] * 12])
    R = REF["test"]
    rows.append(["authors' DiffRec (ref.)", "1", *(fmt(R[k]) for k in METRICS), str(REF["best_epoch"]), "<30",
                 fmt(REF["epoch_s"], 2), fmt(REF["floor_epoch_s"], 1), "-", fmt(REF["eval_pass_s"], 1),
                 fmt(REF["floor_pass_s"], 1), "-", "2 / round", "-", "-", "1.00x"])
    for m, p in PAPER.items():
        rows.append([f"{m} paper (recalled)", "-", *(fmt(p[k]) for k in METRICS), *["-"] * 12])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def contention(runs, floor, device, threshold: float = 0.9):
    """A warning when the process did not have its CPU cores to itself (CPU runs only; on a GPU the share says
    nothing). Wall times are then inflated - the element-wise ops of a 2-thread run far more than the GEMMs - and
    the ratios and the speed-up are not the benchmark."""
    if device.type != "cpu":
        return None
    shares = {f"floor ({w})": min(f[w]["cpu_share"]) for w in ("epoch", "pass") for f in [floor]}
    shares.update({f"{r['method']} seed {r['seed']}": r["cpu_share"] for r in runs})
    low = {k: v for k, v in shares.items() if v < threshold}
    if not low:
        return None
    return ("WARNING: the machine was busy (CPU share below " + f"{threshold}: "
            + ", ".join(f"{k} {v:.2f}" for k, v in low.items())
            + "). Wall times are inflated; rerun on an idle machine before reading the ratios or the speed-up.")


def checks(runs, comps) -> list:
    out = []
    for r, c in zip(runs, comps):
        if r["method"] != "diffrec":
            continue
        t = r["test"]
        ok = lambda b: "PASS" if b else "FAIL"  # noqa: E731
        out.append(f"seed {r['seed']}: metrics R@20 {t['recall@20']:.4f} >= {REF['test']['recall@20']} and N@20 "
                   f"{t['ndcg@20']:.4f} >= {REF['test']['ndcg@20']}: "
                   f"{ok(t['recall@20'] >= REF['test']['recall@20'] and t['ndcg@20'] >= REF['test']['ndcg@20'])}")
        out.append(f"seed {r['seed']}: every epoch within {TARGET_RATIO}x of the {c['floor_kind']} floor: "
                   f"{ok(c['epochs_within'] == r['epochs'])} ({c['epochs_within']}/{r['epochs']}; after the first, "
                   f"warm-up epoch {c['epochs_within_after_first']}/{r['epochs'] - 1}; median "
                   f"{c['epoch_ratio_median']:.2f}x, max {c['epoch_ratio_max']:.2f}x)")
        out.append(f"seed {r['seed']}: every eval pass within {TARGET_RATIO}x of the {c['floor_kind']} floor: "
                   f"{ok(c['passes_within'] == r['passes'])} ({c['passes_within']}/{r['passes']}; median "
                   f"{c['pass_ratio_median']:.2f}x, max {c['pass_ratio_max']:.2f}x)")
        out.append(f"seed {r['seed']}: end to end >= {TARGET_SPEEDUP}x faster than the authors: "
                   f"{ok(c['speedup'] >= TARGET_SPEEDUP)} ({c['speedup']:.2f}x)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help=f"DiffRec ML-1M clean folder (default {DEFAULT_DATA})")
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu, as the reference figures)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (quick checks); default: preset's")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--floor-reps", type=int, default=3, help="timed repetitions of each floor (median)")
    p.add_argument("--floor", choices=["paired", "both", "start"], default="paired",
                   help="paired (default): a floor epoch after every training epoch and a floor pass after every "
                        "evaluation pass, each ratio against its own; both: only the floor measured before and "
                        "after training (the lower); start: before only. Before/after figures are printed always")
    p.add_argument("--skip-multvae", action="store_true")
    p.add_argument("--json", default=None, metavar="OUT", help="also write every figure to this JSON file")
    a = p.parse_args(argv)

    data = Path(a.data)
    if not (data / "train_list.npy").exists():
        print(f"error: the DiffRec ML-1M clean split is not at {data} (expected train_list.npy, valid_list.npy, "
              f"test_list.npy there); pass --data PATH. It lives in ../shared/data/ next to the repository and is "
              f"never downloaded by this script.", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # the trained reverse pass hits subnormal floats (docs/methods.md §4.2)
    device = pick_device(a.device)
    eval_batch = int(inspect.signature(fit).parameters["eval_batch"].default)
    info = machine(device)
    info["loadavg_start"] = loadavg()
    log("machine: " + json.dumps(info))
    if device.type != "cpu":
        log("note: the reference figures (3.21 s/epoch, 26.1 s/pass) are the authors' code on a 2-core CPU; on a GPU "
            "the ratios to the floor are the meaningful figures, the speed-up against them is not like for like")

    t0 = time.perf_counter()
    split = load_split(str(data))
    t_load = time.perf_counter() - t0
    log(f"data: {split.stats()} loaded in {t_load:.2f} s")

    probe = build_model("diffrec", split, preset="ml-1m", device=device)
    floors = [measure_floor(probe, split.n_users, eval_batch, a.floor_reps, device)]
    pair = paired_runners(probe, split.n_users, eval_batch, device) if a.floor == "paired" else None

    runs = []
    for seed in a.seeds:
        log(f"diffrec seed {seed} ...")
        r = run_one("diffrec", split, seed, device, a.max_epochs, eval_batch, t_load, pair)
        r.pop("_model")
        runs.append(r)
    del pair
    if a.floor in ("both", "paired"):
        log("floor again, after training (the machine's load may have changed):")
        floors.append(measure_floor(probe, split.n_users, eval_batch, a.floor_reps, device))
    del probe
    floor = combine_floors(floors)
    comps = [compare(r, floor) for r in runs]
    for r, c in zip(runs, comps):
        report_run(r, floor, c)

    multvae_note = None
    if a.skip_multvae:
        multvae_note = "skipped (--skip-multvae)"
    elif "multvae" not in registry.names() or "ml-1m" not in registry.get("multvae").presets:
        multvae_note = "skipped: no 'multvae' method with an 'ml-1m' preset in diffrec_core yet"
    else:
        for seed in a.seeds:
            log(f"multvae seed {seed} ...")
            r = run_one("multvae", split, seed, device, a.max_epochs, eval_batch, t_load)
            r.pop("_model")
            c = {"authors_e2e_s": None}
            report_run(r, floor, c)
            runs.append(r)
            comps.append(c)
    if multvae_note:
        print(f"\nMultVAE: {multvae_note}")
        log(f"MultVAE: {multvae_note}")

    info["loadavg_end"] = loadavg()
    print(f"\n## Summary ({info['device']}, {info.get('gpu') or info.get('cpu', '?')}, {info['threads']} threads, "
          f"torch {info['torch']}; load average at start {info['loadavg_start']}, at end {info['loadavg_end']})\n")
    when = " / ".join(f"{m['epoch_s']:.3f} s, {m['pass_s']:.3f} s" for m in floor["measurements"])
    print(f"Floor (same process, median of {a.floor_reps}; lower of the measurements before / after training: "
          f"{when}): training epoch {floor['epoch']['seconds']:.3f} s ({floor['epoch']['gflop']:.0f} GFLOP, "
          f"{floor['epoch']['gflops_per_s']:.1f} GFLOP/s), eval pass {floor['pass']['seconds']:.3f} s "
          f"({floor['pass']['gflop']:.0f} GFLOP, {floor['pass']['gflops_per_s']:.1f} GFLOP/s); layers "
          f"{floor['layers']}, training batches of {floor['train_batches'][0]} (last {floor['train_batches'][-1]}), "
          f"eval batch {eval_batch} x {floor['steps']} steps.\n")
    print(table(runs, floor, comps))
    print("\nReference: authors' code, idle 2-vCPU machine (docs/methods.md §4.1-4.2): 3.21 s/epoch, 26.1 s per "
          "40-step eval pass, 2 passes per evaluation round (valid + test on identical inputs); authors' e2e for our "
          "epochs = epochs x 3.21 + rounds x 2 x 26.1. Paper rows are recalled, unverified.")
    note = contention(runs, floor, device)
    if note:
        print("\n" + note)
    print("\nChecks:")
    for line in checks(runs, comps):
        print("  " + line)
    if a.max_epochs is not None:
        print(f"  (--max-epochs {a.max_epochs}: a quick check, not the benchmark; metrics are not expected to pass)")

    if a.json:
        out = {"machine": info, "data": split.stats(), "eval_batch": eval_batch, "floor": floor,
               "reference": REF, "paper_recalled": PAPER, "targets": {"ratio": TARGET_RATIO, "speedup": TARGET_SPEEDUP},
               "max_epochs": a.max_epochs, "multvae": multvae_note or "run",
               "runs": [{**r, **{k: v for k, v in c.items()}} for r, c in zip(runs, comps)]}
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
        log(f"figures written to {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
