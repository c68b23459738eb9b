"""Command line: ``python -m diffrec_core {train,evaluate,pretrain,compare,methods}``.

    python -m diffrec_core train --method diffrec --data sample --json
    python -m diffrec_core train --method diffrec --data ../shared/data/diffrec_ml-1m_clean --preset ml-1m --device cuda
    python -m diffrec_core evaluate --checkpoint runs/diffrec --data sample --json
    python -m diffrec_core pretrain
    python -m diffrec_core compare --data sample --seeds 1 2 3 --budget-minutes 0.5 --out runs/compare

With ``--json`` the last line printed is one JSON object with the validation and test metrics, the epoch selected
on validation, the parameter count and the wall times. Selection is on validation, never on test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, registry
from .data.dataset import DataFormatError
from .methods.base import ConfigError
from .pipeline import TEACHING, build_model, load_split, pick_device, pretrain_all, pretrain_teaching, split_how
from .train import evaluate, fit


def _kv(pairs):
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"--set expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _progress(stream):
    def show(rec):
        extra = "".join(f"  valid {k[6:]} {v:.4f}" for k, v in rec.items() if k in ("valid_recall@20", "valid_ndcg@20"))
        stream.write(f"\repoch {rec['epoch']:4d}  loss {rec.get('loss', float('nan')):.5f}  "
                     f"{rec['seconds']:.2f}s{extra}   ")
        if extra:
            stream.write("\n")
        stream.flush()
    return show


def cmd_train(a) -> int:
    device = pick_device(a.device)
    t_load = time.perf_counter()
    try:
        how = split_how(a.method)  # leave-one-out for sequence methods (docs/methods.md §3.4)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    split = load_split(a.data, how=how)
    t_load = time.perf_counter() - t_load
    try:
        model = build_model(a.method, split, preset=a.preset, overrides=_kv(a.set), device=device, seed=a.seed)
    except (KeyError, ConfigError, ValueError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    print(f"{a.method} on {split.name}: {split.n_users} users x {split.n_items} items, "
          f"{model.n_parameters():,} parameters, device {device}", file=sys.stderr)
    res = fit(model, split, epochs=a.epochs, seed=a.seed, progress=None if a.quiet else _progress(sys.stderr))
    print(f"\n{res.stopped}; best validation epoch {res.best_epoch}", file=sys.stderr)
    if a.out:
        checkpoint.save(model, a.out, split.name, {"valid": res.valid, "test": res.test, "best_epoch": res.best_epoch})
        print(f"checkpoint written to {a.out}", file=sys.stderr)
    out = {
        "method": a.method, "data": split.name, "preset": a.preset, "seed": a.seed, "device": str(device),
        "best_epoch": res.best_epoch, "stopped": res.stopped,
        "valid": {k: v for k, v in res.valid.items() if k.split("@")[1] in ("10", "20")},
        "test": {k: v for k, v in res.test.items() if k.split("@")[1] in ("10", "20")},
        "parameters": model.n_parameters(), "diffusion_steps": model.n_diffusion_steps(),
        "load_seconds": round(t_load, 3), "train_seconds": round(res.train_seconds, 3),
        "eval_seconds": round(res.eval_seconds, 3),
        "epoch_seconds": [round(s, 3) for s in res.epoch_seconds],
        "eval_pass_seconds": [round(s, 3) for s in res.eval_pass_seconds],
    }
    if a.json:
        print(json.dumps(out))
    else:
        for w in ("valid", "test"):
            print(w, "  ".join(f"{k} {v:.4f}" for k, v in sorted(out[w].items()) if k.startswith(("recall", "ndcg"))))
    return 0


def cmd_evaluate(a) -> int:
    device = pick_device(a.device)
    try:
        method = json.loads((Path(a.checkpoint) / "config.json").read_text()).get("method", "")
        how = split_how(method)
    except (OSError, ValueError, KeyError):
        how = "auto"  # checkpoint.load below reports what is wrong with the checkpoint
    split = load_split(a.data, how=how)
    try:
        model, meta = checkpoint.load(a.checkpoint, split.n_users, split.n_items, device=device)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model.attach(split)
    t0 = time.perf_counter()
    res = evaluate(model, split)
    out = {"method": meta["method"], "data": split.name, "valid": res["valid"], "test": res["test"],
           "parameters": model.n_parameters(), "eval_seconds": round(time.perf_counter() - t0, 3)}
    print(json.dumps(out) if a.json else "\n".join(f"{w}: {json.dumps(res[w])}" for w in res))
    return 0


def cmd_pretrain(a) -> int:
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    teaching = [m for m in a.methods or [] if m in TEACHING]       # teaching variants (pipeline.TEACHING)
    wanted = [m for m in a.methods if m not in teaching] if a.methods else [s.name for s in registry.specs()]
    for m in wanted:
        registry.get(m)  # unknown names are an error before anything trains
    rerank = [m for m in wanted if "lists" in registry.get(m).needs]
    rest = [m for m in wanted if m not in rerank]
    if rest:
        pretrain_all(a.out, methods=rest if a.methods else None, log=log)
    if rerank:  # DCDR and the rerankers train on the logged sessions, together (one shared evaluator)
        from .methods.dcdr import pretrain as pretrain_dcdr
        pretrain_dcdr(a.out, log=log)
    if teaching or not a.methods:   # after the faithful models, which they are measured against
        pretrain_teaching(a.out, names=teaching or None, log=log)
    return 0


def cmd_compare(a) -> int:
    """Every applicable method on the same split and protocol; results.json / .csv / .md (diffrec_core.compare)."""
    from . import compare

    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    budget = None if a.budget_minutes is None else float(a.budget_minutes) * 60.0
    if budget is not None and budget <= 0:
        print("error: --budget-minutes must be positive", file=sys.stderr)
        return 2
    try:
        results = compare.run_compare(a.data, log=log, methods=a.methods, seeds=a.seeds, budget_seconds=budget,
                                      device=a.device, preset=a.preset, denominator=a.denominator)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    paths = compare.write(results, a.out)
    print(compare.to_markdown(results))
    log("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_methods(a) -> int:
    for s in registry.specs():
        print(f"{s.name:10s} {s.kind:9s} {s.title:10s} {s.diffused or '-'}  [presets: {', '.join(s.presets) or '-'}]")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m diffrec_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one method; select on validation; report test once")
    t.add_argument("--method", required=True)
    t.add_argument("--data", default="sample", help="'sample' or a path (MovieLens, RecBole, DiffRec .npy, CSV)")
    t.add_argument("--preset", default="sample", help="named configuration, e.g. ml-1m (see `methods`)")
    t.add_argument("--epochs", type=int, default=None, help="override the preset's epoch limit")
    t.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="override config fields, e.g. --set steps=20")
    t.add_argument("--device", default="auto", help="cpu | cuda | auto")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--out", default=None, help="write a checkpoint directory here")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("evaluate", help="evaluate a checkpoint directory on a data set")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default="sample")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_evaluate)
    r = sub.add_parser("pretrain", help="train every registered method on the sample world into pretrained/")
    r.add_argument("--out", default=None)
    r.add_argument("--methods", nargs="*", default=None,
                   help=f"registered methods, or teaching models ({', '.join(TEACHING)}); default: all of them")
    r.set_defaults(fn=cmd_pretrain)
    c = sub.add_parser("compare", help="every applicable method on one data set, same split and protocol; "
                                       "writes results.json/.csv/.md")
    c.add_argument("--data", default="sample", help="'sample' or a path (as for train)")
    c.add_argument("--methods", nargs="*", default=None, help="default: every registered method")
    c.add_argument("--seeds", nargs="*", type=int, default=[1], help="one run per seed; mean ± std over seeds")
    c.add_argument("--budget-minutes", type=float, default=None,
                   help="per method and seed: stop training between epochs after this long (default: no budget)")
    c.add_argument("--preset", default="auto", help="'auto': the preset named after the data set where a method "
                                                    "has one (e.g. ml-1m), else 'sample'")
    c.add_argument("--denominator", default="gt", choices=["gt", "all"],
                   help="average over users with ground truth (gt) or over all users (the DiffRec authors)")
    c.add_argument("--device", default="auto", help="cpu | cuda | auto")
    c.add_argument("--out", default="runs/compare", help="folder for results.json, results.csv, results.md")
    c.set_defaults(fn=cmd_compare)
    m = sub.add_parser("methods", help="list registered methods and presets")
    m.set_defaults(fn=cmd_methods)
    a = p.parse_args(argv)
    torch.set_flush_denormal(True)  # the trained reverse pass hits subnormal floats (docs/methods.md §4.2)
    try:
        return a.fn(a)
    except (DataFormatError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
