"""Glue the command line and the app share: load a data set into a split, build a method from a preset, and the
deterministic ``pretrain`` that writes ``pretrained/`` for the sample world."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

import torch

from . import checkpoint, registry
from .data import load_dataset, make_split
from .data.dataset import Split
from .methods.base import Recommender, config_from_dict
from .train import fit

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "pretrained"
PRETRAIN_SEED = 1


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda asked for, but PyTorch sees no CUDA GPU here")
    return torch.device(name)


def load_split(spec: str = "sample", how: str = "auto") -> Split:
    """'sample' or a path -> Split (the split a data set ships where it ships one, else per-user chronological
    80/10/10)."""
    return make_split(load_dataset(spec), how=how)


def split_how(method: str) -> str:
    """The split a method's protocol needs (docs/methods.md §3.4): leave-one-out for sequence methods, else 'auto'."""
    return "loo" if "sequences" in registry.get(method).needs else "auto"


def _is_leave_one_out(split: Split) -> bool:
    return int(split.valid.getnnz(axis=1).max(initial=0)) <= 1 and int(split.test.getnnz(axis=1).max(initial=0)) <= 1


def make_config(method: str, preset: str = "sample", overrides: Optional[dict] = None):
    spec = registry.get(method)
    if preset and preset not in spec.presets and preset != "sample":
        raise KeyError(f"{method} has no preset {preset!r}; presets: {', '.join(spec.presets) or 'none'}")
    values = dict(spec.presets.get(preset, {}) if preset else {})
    values.update(overrides or {})
    return config_from_dict(spec.config_cls, values)


def instantiate(method: str, config, n_users: int, n_items: int, seed: int = 1) -> Recommender:
    """Build a method with its initial weights drawn from ``seed`` (as the authors seed before building), so
    that the same seed gives the same model."""
    torch.manual_seed(seed)
    return registry.get(method).model_cls(config, n_users, n_items)


def build_model(method: str, split: Split, preset: str = "sample", overrides: Optional[dict] = None,
                device="cpu", seed: int = 1) -> Recommender:
    spec = registry.get(method)
    if "interactions" not in spec.needs and "sequences" not in spec.needs:
        raise ValueError(f"{method} needs {', '.join(spec.needs)}, which this command does not provide yet")
    if "kg" in spec.needs and getattr(split, "kg", None) is None:
        raise ValueError(f"{method} needs a knowledge graph, and {split.name} has none (the sample world and RecBole "
                         f"folders with .kg + .link files, e.g. ML-100K, have one)")
    if "sequences" in spec.needs and not _is_leave_one_out(split):
        # sequences come from split.train_order; the protocol needs one valid and one test item per user
        raise ValueError(f"{method} is evaluated leave-one-out: load the data with load_split(data, how='loo')")
    cfg = make_config(method, preset, overrides)
    return instantiate(method, cfg, split.n_users, split.n_items, seed).to(device)


def interaction_methods() -> list:
    return [s.name for s in registry.specs() if s.needs == ("interactions",)]


def kg_methods() -> list:
    """Methods that read the interactions and the knowledge graph (DiffKG and the KG baseline)."""
    return [s.name for s in registry.specs() if s.needs == ("interactions", "kg")]


def sequence_methods() -> list:
    return [s.name for s in registry.specs() if s.needs == ("sequences",)]


def pretrain_all(out=None, methods=None, log: Callable[[str], None] = print) -> dict:
    """Train every interaction and sequence method on the sample world with its 'sample' preset (seed 1) and write
    ``pretrained/<method>/`` checkpoints plus ``pretrained/results.json`` (validation-selected, test once).
    Sequence methods (DiffuRec, DreamRec, SASRec) use the leave-one-out split of the same log."""
    out = Path(out) if out else PRETRAINED
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # same arithmetic order on every machine we ship from
    splits = {"auto": load_split("sample")}
    results = {"data": splits["auto"].stats(), "seed": PRETRAIN_SEED, "methods": {}}
    for name in methods or interaction_methods() + kg_methods() + sequence_methods():
        how = split_how(name)
        if how not in splits:
            splits[how] = load_split("sample", how=how)
        split = splits[how]
        model = build_model(name, split, seed=PRETRAIN_SEED)
        t0 = time.perf_counter()
        res = fit(model, split, seed=PRETRAIN_SEED)
        dt = time.perf_counter() - t0
        checkpoint.save(model, out / name, split.name)
        results["methods"][name] = {
            "protocol": split.meta.get("how", how), "best_epoch": res.best_epoch, "valid": res.valid,
            "test": res.test, "parameters": model.n_parameters(),
            "diffusion_steps": model.n_diffusion_steps(), "train_seconds": round(res.train_seconds, 2),
            "stopped": res.stopped, **({"split": "leave_one_out"} if how == "loo" else {})}
        if how == "loo":  # leave-one-out: HR / NDCG, selected on validation NDCG@10 (docs/methods.md §3.4)
            log(f"{name:10s} valid N@10 {res.valid.get('ndcg@10', 0):.4f}  test HR@10 {res.test.get('hr@10', 0):.4f}"
                f"  N@10 {res.test.get('ndcg@10', 0):.4f}  ({dt:.1f}s)")
        else:
            log(f"{name:10s} valid R@20 {res.valid.get('recall@20', 0):.4f}  test R@20 "
                f"{res.test.get('recall@20', 0):.4f}  N@20 {res.test.get('ndcg@20', 0):.4f}  ({dt:.1f}s)")
    prev = out / "results.json"
    if methods and prev.exists():  # a partial run keeps the other methods' rows
        old = json.loads(prev.read_text())
        old["methods"].update(results["methods"])
        results["methods"] = old["methods"]
    prev.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    from . import item_map   # the Embeddings page's maps belong to these weights: rebuild them with the checkpoints

    remap = [m for m in results["methods"] if m in item_map.DEFAULT_METHODS and (not methods or m in methods)]
    if remap:
        item_map.precompute(remap, root=out, log=log)
    return results


def load_pretrained(method: str, split: Split, root=None) -> Recommender:
    """A pretrained sample-world model (what the app's pages use); data-dependent state is re-derived."""
    model, _ = checkpoint.load(Path(root or PRETRAINED) / method, split.n_users, split.n_items)
    model.attach(split)
    return model.eval()
