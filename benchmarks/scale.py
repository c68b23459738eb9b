"""DiffRec at the papers' largest size, in one CPU process or several: peak memory and seconds per epoch /
evaluation pass.

    python benchmarks/scale.py                                  # simulated Amazon-Book, 3 + 1 training batches,
                                                                # one evaluation batch of 2048 users
    torchrun --standalone --nproc_per_node 2 benchmarks/scale.py --eval-batch 1024      # two data-parallel ranks
    python benchmarks/scale.py --batches 2 --eval-users 512 --json runs/scale.json      # shorter
    python benchmarks/scale.py --data PATH/amazon-book_clean    # the authors' release, where one has it

Data: ``--data`` (any DiffRec ``*_list.npy`` folder), by default a simulated matrix of Amazon-Book's shape and
density (108,822 users x 94,949 items, 3.1 M interactions, long-tailed item popularity;
``diffrec_core.data.simulate``), written once into the temp folder and reused. Model: ``diffrec`` with the
``amazon-book`` preset (the authors' settings: dims [1000], time embedding 10, T = 5, noise scale 1e-4, noise min
5e-4, noise max 5e-3, batch 400, lr 5e-5), built through the project's pipeline; ``--set`` overrides fields.

What is timed, through the project's own code paths: ``DiffRec.fit_epoch`` on the first ``batches x batch_size``
users (so exactly ``--batches`` optimiser steps; one untimed warm-up batch first, which also allocates AdamW's
state), and ``train.evaluate`` (validation and test, one shared scoring pass, seen items masked, top-20) on the
first ``--eval-users`` users in batches of ``--eval-batch`` (default evaluate's own batch size). Per-epoch and
per-pass seconds are **extrapolated**: seconds per batch x ceil(users / batch size), seconds per user x users.

Under torchrun (``diffrec_core.distributed``) each timed batch is the same global batch of ``batch_size`` users,
each rank training its share and the gradients summed before every step; the evaluation batches are dealt out
round-robin to the ranks (default ``--eval-users``: one evaluation batch per rank). Times are wall times of the
slowest rank (barriers before and after each phase); memory is each rank's own peak (every rank holds the data
and the whole model). Rank 0 prints and writes the JSON.

Memory: peak resident set size (VmHWM from /proc/self/status, reset before each phase by writing 5 to
/proc/self/clear_refs; where that is not allowed, the lifetime peak, labelled so), printed beside what the
training step has to hold - weights, their gradients, AdamW's two moments, one dense batch (batch x items
float32) - and beside the dense users x items matrix that is never built (the model reads each batch's rows from
the sparse training matrix). The residual (the phase's peak above what was resident before it, less that floor) is
given in units of one dense batch: the forward/backward intermediates (noised input, dropout mask, output, loss
terms and their gradients) are each batch-sized. The evaluation phase is compared with one dense evaluation batch
(eval batch x items float32) above the trained state (the weights, gradients and AdamW moments are still held).
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _floor import cpu_model  # noqa: E402
from diffrec_core import distributed  # noqa: E402
from diffrec_core.data import simulate  # noqa: E402
from diffrec_core.data.dataset import Split  # noqa: E402
from diffrec_core.pipeline import build_model, load_split  # noqa: E402
from diffrec_core.train import evaluate  # noqa: E402

MiB = 1024 ** 2
GiB = 1024 ** 3


def log(*a):
    if distributed.is_main():
        print(*a, file=sys.stderr, flush=True)


def barrier() -> None:
    if distributed.active():
        torch.distributed.barrier()


def per_rank(value: int) -> list:
    """One integer from every rank (rank order); ``[value]`` in one process."""
    if not distributed.active():
        return [int(value)]
    t = torch.tensor([int(value)], dtype=torch.int64)
    parts = [torch.zeros_like(t) for _ in range(distributed.world().world_size)]
    torch.distributed.all_gather(parts, t)
    return [int(x) for x in parts]


# ------------------------------------------------------------------------------------------------ memory
def _status(field: str) -> int:
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where not allowed (then VmHWM is the lifetime peak)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss() -> int:
    return _status("VmRSS")


def peak() -> int:
    return _status("VmHWM")


def mb(b: float) -> str:
    return f"{b / MiB:,.0f} MiB" if b < 10 * GiB else f"{b / GiB:,.1f} GiB"


# ------------------------------------------------------------------------------------------------ data
def default_data(seed: int) -> Path:
    """The simulated Amazon-Book folder in the temp directory, written on first use and reused after."""
    out = Path(tempfile.gettempdir()) / f"diffrec_amazon-book_sim_seed{seed}"
    meta = out / "simulated.json"
    if meta.exists():
        try:
            st = json.loads(meta.read_text())
            want = json.loads(json.dumps(dataclasses.asdict(simulate.AMAZON_BOOK)))     # as stored (lists)
            if st.get("shape") == want and st.get("seed") == seed:
                return out
        except ValueError:
            pass
    t0 = time.perf_counter()
    log(f"simulating Amazon-Book's shape into {out} (seed {seed}) ...")
    simulate.write(out, simulate.AMAZON_BOOK, seed, overwrite=True)
    log(f"  written in {time.perf_counter() - t0:.1f} s")
    return out


def head(split: Split, n: int) -> Split:
    """The first ``n`` users of a split (every item kept): the real code paths, on fewer rows."""
    cut = {f: getattr(split, f)[:n] for f in ("train", "valid", "test", "train_order", "train_noise")
           if getattr(split, f) is not None}
    return dataclasses.replace(split, **cut)


def csr_bytes(m) -> int:
    return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)


def _kv(pairs):
    """--set key=value pairs as strings (the config parser converts them to each field's type)."""
    bad = [p for p in pairs or [] if "=" not in p]
    if bad:
        raise SystemExit(f"--set expects key=value, got {bad[0]!r}")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs or [])}


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="a DiffRec *_list.npy folder (default: simulated Amazon-Book)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated data (default folder only)")
    ap.add_argument("--preset", default="amazon-book")
    ap.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override config fields, e.g. --set batch_size=200")
    ap.add_argument("--batches", type=int, default=3, help="timed training batches (after one warm-up batch)")
    ap.add_argument("--eval-users", type=int, default=None, help="users scored in the evaluation phase "
                                                                  "(default: one evaluation batch)")
    ap.add_argument("--eval-batch", type=int, default=None, help="evaluation batch size (default: evaluate's own)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.batches < 1:
        ap.error("--batches must be at least 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    world = distributed.init(torch.device("cpu"))      # a no-op outside torchrun
    eval_batch = a.eval_batch or inspect.signature(evaluate).parameters["batch_size"].default
    eval_users = a.eval_users or eval_batch * world.world_size
    if eval_users < 1 or eval_batch < 1:
        ap.error("--eval-users and --eval-batch must be at least 1")
    eval_batch = min(eval_batch, eval_users)

    rss_start = rss()
    if not a.data and distributed.is_main():
        default_data(a.seed)                  # written once, by rank 0, before the others read it
    barrier()
    data = Path(a.data) if a.data else default_data(a.seed)
    t0 = time.perf_counter()
    split = load_split(str(data))
    load_s = time.perf_counter() - t0
    U, I = split.n_users, split.n_items
    rss_data = rss()
    model = build_model("diffrec", split, preset=a.preset, overrides=_kv(a.set), device="cpu", seed=1)
    model.prepare(split)                      # builds the optimiser (its state is allocated at the first step)
    cfg = model.config
    B = int(cfg.batch_size)
    n_params = model.n_parameters()
    w_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    buf_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    batch_bytes = math.ceil(B / world.world_size) * I * 4      # this rank's rows of one batch
    floor_train = w_bytes * 4 + buf_bytes + batch_bytes    # weights + grads + AdamW exp_avg, exp_avg_sq + a batch
    eval_batch_bytes = eval_batch * I * 4
    dense_bytes = U * I * 4
    rss_model = rss()
    log(f"data {data.name}: {U:,} users x {I:,} items, {split.train.nnz:,} train / {split.valid.nnz:,} valid / "
        f"{split.test.nnz:,} test, loaded in {load_s:.1f} s; diffrec preset {a.preset}: dims {cfg.dims}, "
        f"T = {model.n_diffusion_steps()}, batch {B}, {n_params:,} parameters; torch threads {torch.get_num_threads()}")

    # --- training: one warm-up batch (allocates AdamW's state), then --batches timed ones
    exact = reset_peak()
    distributed.broadcast_state(model)
    gen = torch.Generator().manual_seed(distributed.rank_seed(1))
    rng = np.random.default_rng(1)             # one shuffled order on every rank
    barrier()
    t0 = time.perf_counter()
    model.fit_epoch(head(split, B), gen, rng)
    barrier()
    warm_s = time.perf_counter() - t0
    sub = head(split, B * a.batches)
    c0, t0 = time.process_time(), time.perf_counter()
    loss = model.fit_epoch(sub, gen, rng)["loss"]
    barrier()
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_train = peak()
    peaks_train = per_rank(peak_train)
    rss_after_train = rss()
    per_batch = train_s / a.batches
    n_batches = math.ceil(U / B)
    log(f"train: warm-up batch {warm_s:.1f} s, {a.batches} timed batches {train_s:.1f} s ({per_batch:.2f} s per "
        f"batch, loss {loss:.5f}), peak RSS {mb(peak_train)}")

    # --- evaluation: the project's evaluate() (valid + test, one shared scoring pass) on eval_users users
    reset_peak()
    model.eval()
    esub = head(split, min(eval_users, U))
    barrier()
    c1, t0 = time.process_time(), time.perf_counter()
    res = evaluate(model, esub, ("valid", "test"), batch_size=eval_batch)
    barrier()
    eval_s, eval_cpu = time.perf_counter() - t0, time.process_time() - c1
    peak_eval = peak()
    peaks_eval = per_rank(peak_eval)
    if not distributed.is_main():
        distributed.shutdown()
        return 0
    per_user = eval_s / esub.n_users
    log(f"eval: {esub.n_users:,} users in batches of {eval_batch} in {eval_s:.1f} s ({per_user * 1e3:.2f} ms per "
        f"user), peak RSS {mb(peak_eval)}")

    # the model's share of each peak: above the process + data (training; the weights are in the floor), above the
    # trained state (evaluation)
    held_train, held_eval = peak_train - rss_data, peak_eval - rss_after_train
    resid_train, resid_eval = held_train - floor_train, held_eval - eval_batch_bytes
    out = {
        "command": " ".join(["python"] + [str(x) for x in [Path(sys.argv[0]).as_posix()] + sys.argv[1:]]),
        "machine": {"cpu": cpu_model() or platform.processor(), "cpus": os.cpu_count(),
                    "processes": world.world_size, "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version(),
                    "loadavg": [round(v, 2) for v in os.getloadavg()]},
        "data": {"path": str(data), "users": U, "items": I, "train": int(split.train.nnz),
                 "valid": int(split.valid.nnz), "test": int(split.test.nnz),
                 "density": (split.train.nnz + split.valid.nnz + split.test.nnz) / (U * I),
                 "csr_bytes": sum(csr_bytes(m) for m in (split.train, split.valid, split.test)),
                 "load_s": round(load_s, 2)},
        "model": {"preset": a.preset, "dims": list(cfg.dims), "emb_size": cfg.emb_size, "steps": cfg.steps,
                  "noise_scale": cfg.noise_scale, "noise_min": cfg.noise_min, "noise_max": cfg.noise_max,
                  "batch_size": B, "lr": cfg.lr, "parameters": n_params},
        "theory_bytes": {"weights": w_bytes, "buffers": buf_bytes, "grads": w_bytes, "adamw_moments": 2 * w_bytes,
                         "dense_batch": batch_bytes, "train_floor": floor_train,
                         "eval_dense_batch": eval_batch_bytes,
                         "dense_users_x_items_float32": dense_bytes},
        "model_share_bytes": {"train_peak_above_data": held_train, "train_residual": resid_train,
                              "eval_peak_above_trained": held_eval, "eval_residual": resid_eval},
        "rss_bytes": {"start": rss_start, "after_data": rss_data, "after_model": rss_model,
                      "peak_train": peak_train, "after_train": rss_after_train, "peak_eval": peak_eval,
                      "peak_is_per_phase": exact, "peak_train_per_rank": peaks_train,
                      "peak_eval_per_rank": peaks_eval},
        "train": {"batches_timed": a.batches, "warmup_s": round(warm_s, 3), "timed_s": round(train_s, 3),
                  "cpu_s": round(train_cpu, 3), "s_per_batch": round(per_batch, 3), "batches_per_epoch": n_batches,
                  "epoch_s_extrapolated": round(per_batch * n_batches, 1)},
        "eval": {"users": esub.n_users, "batch": eval_batch, "s": round(eval_s, 3), "cpu_s": round(eval_cpu, 3),
                 "ms_per_user": round(per_user * 1e3, 3), "pass_s_extrapolated": round(per_user * U, 1),
                 "recall@20_on_these_users": round(res["valid"].get("recall@20", float("nan")), 4)},
    }
    print(f"DiffRec {a.preset} on {data.name}: {U:,} users x {I:,} items ({out['data']['density'] * 100:.4f} % "
          f"dense), {n_params:,} parameters; "
          + (f"{world.world_size} processes (gloo) x {torch.get_num_threads()} threads" if distributed.active()
             else f"one process, {torch.get_num_threads()} threads") + f", CPU ({out['machine']['cpu']})")
    print(f"  training: {per_batch:.2f} s per batch of {B} (mean of {a.batches}, after a warm-up batch) -> "
          f"{per_batch * n_batches / 60:.1f} min per epoch of {n_batches} batches (extrapolated)")
    print(f"  evaluation: {per_user * 1e3:.2f} ms per user ({esub.n_users:,} users, batches of {eval_batch}) -> "
          f"{per_user * U / 60:.1f} min per pass over {U:,} users (extrapolated)")
    print(f"  memory, theory: weights {mb(w_bytes)} + grads {mb(w_bytes)} + AdamW moments {mb(2 * w_bytes)} + one "
          f"dense batch (this process's rows) {mb(batch_bytes)} = {mb(floor_train)}; the dense users x items "
          f"float32 matrix would be {mb(dense_bytes)} (never built)")
    print(f"  memory, measured RSS: {mb(rss_start)} at start, {mb(rss_data)} with the data "
          f"(CSR {mb(out['data']['csr_bytes'])}), {mb(rss_model)} with the model, {mb(rss_after_train)} after "
          f"training" + ("" if exact else "  [peaks are lifetime peaks: clear_refs not allowed here]"))
    print(f"  training peak {mb(peak_train)}: {mb(held_train)} above process + data, against the floor "
          f"{mb(floor_train)} (residual {mb(resid_train)} = {resid_train / batch_bytes:.1f} dense batches of "
          f"intermediates)")
    print(f"  evaluation peak {mb(peak_eval)}: {mb(held_eval)} above the trained state, against one dense "
          f"evaluation batch of {mb(eval_batch_bytes)} (residual {mb(resid_eval)} = "
          f"{resid_eval / eval_batch_bytes:.1f} evaluation batches)")
    if distributed.active():
        print(f"  peak RSS per rank: training {', '.join(mb(x) for x in peaks_train)}; evaluation "
              f"{', '.join(mb(x) for x in peaks_eval)} (rank 0's figures above)")
    print(f"  peak / dense matrix: {peak_train / dense_bytes:.3f} (training), {peak_eval / dense_bytes:.3f} "
          f"(evaluation)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1) + "\n")
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
