"""Command line: ``python -m diffrec_core {train,evaluate,pretrain,compare,methods,item-map,sample-world}``.

    python -m diffrec_core train --method diffrec --data sample --json
    python -m diffrec_core train --method diffrec --data ../shared/data/diffrec_ml-1m_clean --preset ml-1m --device cuda
    python -m diffrec_core train --method dcdr --data sample --json --out runs/dcdr       # logged reranking sessions
    python -m diffrec_core evaluate --checkpoint runs/diffrec --data sample --json
    python -m diffrec_core pretrain
    python -m diffrec_core compare --data sample --seeds 1 2 3 --budget-minutes 0.5 --out runs/compare
    python -m diffrec_core methods
    python -m diffrec_core item-map --methods dreamrec
    python -m diffrec_core sample-world --out /tmp/world

With ``--json`` the last line printed is one JSON object with the validation and test figures, the epoch selected
on validation, the parameter count and the wall times. Selection is on validation, never on test. An error prints
one line ``error: ...`` on stderr and exits with status 2; this module is the only place that turns exceptions into
exit codes (the library raises the project's own exception types).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, distributed, precision, registry
from .errors import DiffRecError
from .methods.base import ConfigError
from .paths import SAMPLE_DATA
from .pipeline import (TEACHING, build_model, instantiate, load_split, make_config, pick_device, pretrain_all,
                       pretrain_teaching, split_how)
from .train import evaluate

SESSIONS_HELP = """\
Reranking methods (dcdr and the rerank_* baselines; see `methods`) train on logged reranking sessions. --data
sample: the sample world's sample_data/rerank_sessions.csv, scored by its known response model (as is any
folder made by `sample-world`). --data PATH: a CSV of one's own logs (or a folder holding rerank_sessions.csv),
one row per (session, candidate), with a header naming these columns (any order; others are ignored):
  session, user, item  ids (text or integers; renumbered in sorted order)
  cand_rank            the candidate's 0-based rank by the upstream ranker; its top L is the list to rerank
  position             1-based position in the logged (shown) list; -1 (or 0) for a candidate not shown
  click                0/1 response of a shown candidate
  like                 0/1, optional (0 when absent)
  genre                optional: the item's category (text, one per item)
Every session has one user, the same number n of candidates (cand_rank 0..n-1, distinct items) and the same
number L >= 2 of shown ones (positions 1..L). Sessions are split in id order: 75 % train, 12.5 % validation,
12.5 % test; a user's history features are their clicks in the training sessions. Figures: on one's own logs
the logged-list protocol (rerank the shown list, score it with the logged clicks: logged_ndcg@5, logged_auc);
on the sample world also the exact expected utility of the reranked ranker's list and NDCG@5 / AUC against
simulated responses (utility, ndcg@5, auc). --epochs sets DCDR's denoiser epochs (its evaluator's: --set
eval_epochs=N) and the evaluator epochs of PRM and the evaluator-based baselines; each keeps the epoch of lowest
validation loss."""
LIST_FIGURES = ("utility", "gain_vs_ranker", "ndcg@5", "auc", "logged_ndcg@5", "logged_auc")
NEEDS = {"interactions": "interactions", "sequences": "sequences", "kg": "KG", "lists": "sessions"}


def _error(message) -> int:
    """One line on stderr, exit status 2."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)
    return 2


def _kv(pairs):
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--set expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _needs_lists(method: str) -> bool:
    return method in registry.names() and "lists" in registry.get(method).needs


def _list_device(name: str) -> torch.device:
    """The rerankers train and rerank on the CPU: one list at a time, and DCDR's training batches live there."""
    if name not in ("auto", "cpu"):
        raise ConfigError(f"the reranking methods run on the CPU only, got --device {name}")
    return torch.device("cpu")


@contextlib.contextmanager
def _one_thread():
    """One intra-op thread while a reranker trains and reranks: a list through a d = 32 network is too small to
    split, and more threads only add synchronisation (on a busy 2-core machine two threads made the evaluation
    of 1,000 sessions 30x slower). The caller's setting is restored (main() may run inside another program)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_sessions(spec: str):
    """(RerankData, Simulator or None) for --data: 'sample' or a path (see SESSIONS_HELP)."""
    from .rerank import load_rerank_data, simulator_for

    root = None if spec == "sample" else spec
    return load_rerank_data(root), simulator_for(root)


def _check_fits(cfg, data) -> None:
    if int(cfg.list_len) < data.L:
        raise ConfigError(f"list_len {cfg.list_len} is shorter than the logged lists ({data.L})")
    if int(cfg.n_genres) < len(data.genres):
        raise ConfigError(f"n_genres {cfg.n_genres} is below the data's {len(data.genres)} genres")


def _score_lists(model, data, sim, sessions=None) -> dict:
    """Validation and test figures of one reranker (rerank.evaluate: NDCG@5, AUC; utility with a simulator), on
    the first ``sessions`` sessions of each split (None: all)."""
    from .rerank import evaluate as evaluate_lists

    if sessions is not None and sessions < 1:
        raise ConfigError(f"--sessions must be at least 1, got {sessions}")
    out = {}
    for w in ("valid", "test"):
        rows = data.splits[w][:sessions]
        res = evaluate_lists({model.name: model}, data, sim, rows, k=5, logged=True)
        out[w] = res[model.name]["summary"]
        if "_reference" in res:
            out.setdefault("reference", {})[w] = res["_reference"]["summary"]
    return out


def _print_lists(out: dict) -> None:
    for w in ("valid", "test"):
        print(w, "  ".join(f"{k} {out[w][k]:.4f}" for k in LIST_FIGURES if k in out[w]))


def _train_lists(a) -> int:
    """train for a reranking method: fit_lists on the training sessions (selection on validation), then the
    validation and test figures once."""
    device = _list_device(a.device)
    t_load = time.perf_counter()
    data, sim = _load_sessions(a.data)
    t_load = time.perf_counter() - t_load
    # the data fixes the list length and the genre vocabulary; --set can still change them (checked below)
    overrides = {"list_len": data.L, "n_genres": len(data.genres), **_kv(a.set)}
    cfg = make_config(a.method, a.preset, overrides)
    _check_fits(cfg, data)
    model = instantiate(a.method, cfg, data.n_users, data.n_items, seed=a.seed)
    log = None if a.quiet else (lambda s: print(s, file=sys.stderr))
    print(f"{a.method} on {data.name}: {data.S} sessions of {data.n} candidates, lists of {data.L} "
          f"({', '.join(f'{k} {len(v)}' for k, v in data.splits.items())}), {model.n_parameters():,} parameters, "
          f"device {device}" + ("" if sim else "; no simulator: logged-list figures only"), file=sys.stderr)
    t0 = time.perf_counter()
    info = model.fit_lists(data, seed=a.seed, log=log, epochs=a.epochs)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = _score_lists(model, data, sim, a.sessions)
    eval_seconds = time.perf_counter() - t0
    selected = {k: v["best_epoch"] for k, v in info.items() if isinstance(v, dict) and "best_epoch" in v}
    stopped = "nothing to train" if info.get("best_epoch") is None else "epoch limit"
    print(f"{stopped}; selected on validation loss: epoch {info.get('best_epoch')}"
          + (f" ({', '.join(f'{k} {v}' for k, v in selected.items())})" if selected else ""), file=sys.stderr)
    if a.out:
        checkpoint.save(model, a.out, data.name, {"valid": res["valid"], "test": res["test"],
                                                  "best_epoch": info.get("best_epoch")})
        print(f"checkpoint written to {a.out}", file=sys.stderr)
    out = {
        "method": a.method, "data": data.name, "preset": a.preset, "seed": a.seed, "device": str(device),
        "best_epoch": info.get("best_epoch"), "selected_epochs": selected, "stopped": stopped,
        "selected_on": "validation loss", "simulator": sim is not None,
        "sessions": {k: int(len(v)) for k, v in data.splits.items()},
        **res,
        "parameters": model.n_parameters(), "diffusion_steps": model.n_diffusion_steps(),
        "load_seconds": round(t_load, 3), "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(eval_seconds, 3),
    }
    if a.json:
        print(json.dumps(out))
    else:
        _print_lists(out)
    return 0


def _evaluate_lists(a) -> int:
    _list_device(a.device)
    data, sim = _load_sessions(a.data)
    model, meta = checkpoint.load(a.checkpoint, data.n_users, data.n_items)
    _check_fits(model.config, data)
    t0 = time.perf_counter()
    res = _score_lists(model, data, sim, a.sessions)
    out = {"method": meta["method"], "data": data.name, "simulator": sim is not None, **res,
           "parameters": model.n_parameters(), "eval_seconds": round(time.perf_counter() - t0, 3)}
    if a.json:
        print(json.dumps(out))
    else:
        _print_lists(out)
    return 0


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
    a.precision = precision.check(a.precision, a.method)     # ConfigError: one line, exit 2
    if distributed.env_world().world_size > 1 and _needs_lists(a.method):
        return _error(f"{a.method} trains one reranking list at a time on the CPU; it has no batches to share "
                      "between ranks: run it without torchrun")
    if _needs_lists(a.method):
        with _one_thread():
            return _train_lists(a)
    if a.sessions is not None:
        return _error("--sessions applies to the reranking methods only")
    device = pick_device(a.device)
    if a.epochs is not None and a.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0, got {a.epochs}")
    with distributed.process_group(device):      # under torchrun: one rank of a data-parallel run
        return _train_model(a, distributed.device_for(device))


def _train_model(a, device) -> int:
    """train for the interaction, sequence and KG methods; under torchrun every rank runs this, rank 0 prints
    and writes (diffrec_core/distributed.py)."""
    from .distributed_train import RankTrainer
    main = distributed.is_main()
    log = sys.stderr if main else io.StringIO()      # the other ranks' progress goes nowhere
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
    w = distributed.world()
    ranks = f", {w.world_size} ranks ({w.backend})" if w.world_size > 1 else ""
    print(f"{a.method} on {split.name}: {split.n_users} users x {split.n_items} items, "
          f"{model.n_parameters():,} parameters, device {device}{ranks}", file=log)
    state_dir = (Path(a.out) / "train_state") if a.out and a.state_every else None
    trainer = RankTrainer(model, split, seed=a.seed, epochs=a.epochs, precision=a.precision,
                          progress=None if a.quiet else _progress(log), state_dir=state_dir, state_every=a.state_every)
    if a.resume:
        trainer.resume(a.resume)
    while not trainer.done:
        trainer.step()
    res = trainer.result
    print(f"\n{res.stopped}; best validation epoch {res.best_epoch}", file=log)
    if not main:
        return 0
    if a.out:
        checkpoint.save(model, a.out, split.name, {"valid": res.valid, "test": res.test, "best_epoch": res.best_epoch})
        print(f"checkpoint written to {a.out}", file=sys.stderr)
    out = {
        "method": a.method, "data": split.name, "preset": a.preset, "seed": a.seed, "device": str(device),
        "precision": a.precision, "best_epoch": res.best_epoch, "stopped": res.stopped,
        "valid": {k: v for k, v in res.valid.items() if k.split("@")[1] in ("10", "20")},
        "test": {k: v for k, v in res.test.items() if k.split("@")[1] in ("10", "20")},
        "parameters": model.n_parameters(), "diffusion_steps": model.n_diffusion_steps(),
        "load_seconds": round(t_load, 3), "train_seconds": round(res.train_seconds, 3),
        "eval_seconds": round(res.eval_seconds, 3),
        "epoch_seconds": [round(s, 3) for s in res.epoch_seconds],
        "eval_pass_seconds": [round(s, 3) for s in res.eval_pass_seconds],
    }
    if w.world_size > 1:
        out["ranks"] = w.world_size
    if a.json:
        print(json.dumps(out))
    else:
        for w in ("valid", "test"):
            print(w, "  ".join(f"{k} {v:.4f}" for k, v in sorted(out[w].items()) if k.startswith(("recall", "ndcg"))))
    return 0


def cmd_evaluate(a) -> int:
    try:
        method = str(json.loads((Path(a.checkpoint) / "config.json").read_text()).get("method", ""))
    except (OSError, ValueError, AttributeError):
        method = ""   # checkpoint.load below reports what is wrong with the checkpoint
    a.precision = precision.check(a.precision, method)
    if _needs_lists(method):
        with _one_thread():
            return _evaluate_lists(a)
    if a.sessions is not None:
        return _error("--sessions applies to checkpoints of the reranking methods only")
    try:
        how = split_how(method)
    except KeyError:
        how = "auto"
    device = pick_device(a.device)
    split = load_split(a.data, how=how)
    try:
        model, meta = checkpoint.load(a.checkpoint, split.n_users, split.n_items, device=device)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model.attach(split)
    t0 = time.perf_counter()
    res = evaluate(model, split, precision=a.precision)
    out = {"method": meta["method"], "data": split.name, "precision": a.precision,
           "valid": res["valid"], "test": res["test"],
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
    if a.workers is not None and a.executor != "ray":
        print("error: --workers applies to --executor ray only", file=sys.stderr)
        return 2
    with compare.make_executor(a.executor, a.ray_address, a.workers) as ex:   # ExecutorError: one line, exit 2
        if a.executor != "serial":
            log(f"executor {a.executor}: {', '.join(f'{k} {v}' for k, v in ex.info().items() if k != 'name')}")
        try:
            results = compare.run_compare(a.data, log=log, methods=a.methods, seeds=a.seeds, budget_seconds=budget,
                                          device=a.device, preset=a.preset, denominator=a.denominator, executor=ex)
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 2
    paths = compare.write(results, a.out)
    print(compare.to_markdown(results))
    log("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_simulate(a) -> int:
    """Write a simulated data set of a paper's size in the DiffRec folder format (diffrec_core.data.simulate)."""
    from .data import simulate

    shape = simulate.shape_of(a.shape, a.scale)
    stats = simulate.write(a.out, shape, a.seed, overwrite=a.overwrite)
    print(json.dumps(stats, indent=1))
    print(f"simulated {shape.name} (seed {a.seed}) written to {a.out}", file=sys.stderr)
    return 0


def cmd_methods(a) -> int:
    rows = [(s.name, s.kind, " + ".join(NEEDS.get(n, n) for n in s.needs), s.title, s.diffused or "-",
             ", ".join(s.presets) or "-") for s in registry.specs()]
    head = ("method", "kind", "needs", "title", "diffused", "presets")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print("  ".join(f"{r[i]:{w[i]}s}" for i in range(4)) + f"  {r[4]}  [{r[5]}]")
    print("\nneeds: interactions = a user-item log; sequences = each user's ordered history (leave-one-out); "
          "KG = a knowledge graph beside the log; sessions = logged reranking sessions (see `train --help`)")
    return 0


def cmd_item_map(a) -> int:
    """2-D maps (UMAP + PCA) of pretrained item embeddings for the Embeddings page (diffrec_core.item_map)."""
    from . import item_map

    methods = a.methods or list(item_map.DEFAULT_METHODS)
    try:
        for m in methods:
            registry.get(m)                     # an unknown name is an error before any map is made
        item_map.precompute(methods, a.data, a.root, not a.no_umap,
                            a.neighbors, a.min_dist, a.seed, log=lambda s: print(s, file=sys.stderr))
    except ImportError as e:
        return _error(f"UMAP needs umap-learn (pip install umap-learn), or pass --no-umap: {e}")
    except (KeyError, ValueError, OSError) as e:
        return _error(e.args[0] if isinstance(e, KeyError) and e.args else e)
    return 0


def cmd_sample_world(a) -> int:
    """Generate the sample world (diffrec_core.data.sample_world): the same seed gives byte-identical files."""
    from .data import sample_world

    stats = sample_world.write_sample_world(a.out or SAMPLE_DATA, a.seed)
    print(json.dumps(stats, indent=1))
    print(f"sample world (seed {a.seed}) written to {a.out or SAMPLE_DATA}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m diffrec_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    t = sub.add_parser("train", help="train one method; select on validation; report test once",
                       epilog=SESSIONS_HELP, formatter_class=raw)
    t.add_argument("--method", required=True)
    t.add_argument("--data", default="sample", help="'sample' or a path (MovieLens, RecBole, DiffRec .npy, CSV; for "
                                                    "the reranking methods a sessions CSV, see below)")
    t.add_argument("--preset", default="sample", help="named configuration, e.g. ml-1m (see `methods`)")
    t.add_argument("--epochs", type=int, default=None, help="override the preset's epoch limit")
    t.add_argument("--set", nargs="*", action="extend", metavar="KEY=VALUE",
                   help="override config fields, e.g. --set steps=20 lr=1e-3 (repeatable: every --set adds)")
    t.add_argument("--device", default="auto", help="cpu | cuda | auto")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--precision", default="fp32", help="fp32 (default) | bf16: network forward passes under "
                                                       "bfloat16 autocast (the DiffRec family; see precision.py)")
    t.add_argument("--out", default=None, help="write a checkpoint directory here (with --state-every also its "
                                               "resumable training state, in <out>/train_state)")
    t.add_argument("--state-every", type=int, default=0, metavar="N",
                   help="with --out: also write the resumable training state every N epochs (default 0: never)")
    t.add_argument("--resume", default=None, metavar="PATH",
                   help="continue from a training state (<out>/train_state of an earlier run): weights, optimiser "
                        "state, epoch, kept epoch; the same method, data and settings")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--sessions", type=int, default=None, metavar="N", help="reranking methods: score only the first "
                                                                        "N validation and test sessions (default all)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=cmd_train)
    e = sub.add_parser("evaluate", help="evaluate a checkpoint directory on a data set",
                       epilog=SESSIONS_HELP, formatter_class=raw)
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", default="sample", help="'sample' or a path, as for train")
    e.add_argument("--device", default="auto")
    e.add_argument("--precision", default="fp32", help="fp32 | bf16, as for train")
    e.add_argument("--json", action="store_true")
    e.add_argument("--sessions", type=int, default=None, metavar="N", help="reranking methods: as for train")
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
    c.add_argument("--executor", default="serial", choices=["serial", "ray"],
                   help="serial: one run after another here (default); ray: each (method, seed) run as a Ray task "
                        "(pip install ray)")
    c.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="an existing Ray cluster (e.g. auto, ray://head:10001); default: start a local Ray")
    c.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local Ray: runs at once (default: the CPU count)")
    c.set_defaults(fn=cmd_compare)
    s = sub.add_parser("simulate", help="write a simulated data set of a paper's size (Amazon-Book: 108,822 users x "
                                        "94,949 items, 3.1 M interactions) as DiffRec *_list.npy files")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--shape", default="amazon-book", help="a named shape (diffrec_core.data.simulate.SHAPES)")
    s.add_argument("--scale", type=float, default=1.0, help="users, items and interactions times this (0, 1]")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true", help="replace a data set already in --out")
    s.set_defaults(fn=cmd_simulate)
    m = sub.add_parser("methods", help="list registered methods, what data each needs, and their presets")
    m.set_defaults(fn=cmd_methods)
    i = sub.add_parser("item-map", help="precompute the Embeddings page's 2-D maps (UMAP + PCA) of pretrained "
                                        "item embeddings into <root>/<method>/item_map.npz")
    i.add_argument("--methods", nargs="+", default=None, help="default: diffurec dreamrec sasrec")
    i.add_argument("--data", default="sample")
    i.add_argument("--root", default=None, help="folder with <method>/model.safetensors (default: pretrained/)")
    i.add_argument("--neighbors", type=int, default=15)
    i.add_argument("--min-dist", type=float, default=0.1)
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--no-umap", action="store_true", help="PCA only (no umap-learn needed)")
    i.set_defaults(fn=cmd_item_map)
    w = sub.add_parser("sample-world", help="generate the sample world into a folder (same seed: byte-identical "
                                            "files); prints its statistics")
    w.add_argument("--out", default=None, help="output folder (default: the repository's sample_data/)")
    w.add_argument("--seed", type=int, default=2024, help="2024 makes the shipped sample_data/")
    w.set_defaults(fn=cmd_sample_world)
    a = p.parse_args(argv)
    torch.set_flush_denormal(True)  # the trained reverse pass hits subnormal floats (docs/methods.md §4.2)
    try:
        return a.fn(a)
    except (DiffRecError, FileNotFoundError) as e:     # the project's own errors: a user's to fix
        return _error(e)


def _exit_rank(rc: int) -> None:
    """End a torchrun rank without the interpreter's finalisation. gloo's worker threads can still be torn down
    while Python finalises, which aborts the process now and then ("terminate called without an active
    exception", SIGABRT) after a run that succeeded; the process group is already destroyed and every output
    flushed here, so skipping finalisation loses nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    rc = main()
    if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1"):     # a rank of torchrun
        _exit_rank(int(rc or 0))
    sys.exit(rc)
