"""Where a DiffRec ML-1M training epoch and evaluation pass spend their time (torch.profiler), on CPU or GPU.

    python benchmarks/profile_diffrec.py                      # CPU, one warm-up epoch, then one profiled epoch
    python benchmarks/profile_diffrec.py --device cuda --rows 25

The companion of benchmarks/diffrec_ml1m.py: that script says how far an epoch is from its matrix-product floor,
this one says which operators make up the difference. Prints the operator table sorted by self time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from diffrec_core.pipeline import build_model, load_split, pick_device  # noqa: E402
from diffrec_core.train import evaluate  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "diffrec_ml-1m_clean"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--device", default="cpu")
    p.add_argument("--rows", type=int, default=20, help="operators to list")
    p.add_argument("--skip-eval", action="store_true")
    a = p.parse_args(argv)
    if not (Path(a.data) / "train_list.npy").exists():
        print(f"error: no DiffRec ML-1M clean split at {a.data}; pass --data PATH", file=sys.stderr)
        return 2
    torch.set_flush_denormal(True)
    device = pick_device(a.device)
    split = load_split(a.data)
    model = build_model("diffrec", split, preset="ml-1m", device=device)
    gen, rng = torch.Generator().manual_seed(1), np.random.default_rng(1)
    model.prepare(split)
    model.fit_epoch(split, gen, rng)                      # warm-up: allocator, kernels, thread pools
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    stages = [("training epoch", lambda: model.fit_epoch(split, gen, rng))]
    if not a.skip_eval:
        stages.append(("evaluation pass", lambda: evaluate(model, split, ("valid",))))
    for name, fn in stages:
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        plain = time.perf_counter() - t0
        with profile(activities=acts) as prof:
            fn()
            sync()
        print(f"\n## {name} on {device}: {plain:.3f} s unprofiled")
        print(prof.key_averages().table(sort_by=key, row_limit=a.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
