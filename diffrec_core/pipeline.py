"""Glue the command line and the app share: load a data set into a split, build a method from a preset, and the
deterministic ``pretrain`` that writes ``pretrained/`` for the sample world."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import checkpoint, limits, registry
from .data import load_dataset, make_split
from .data.dataset import Split
from .methods.base import ConfigError, Recommender, config_from_dict
from .paths import PRETRAINED, REPO  # noqa: F401 - REPO, PRETRAINED: read (and patched in tests) as pipeline.*
from .train import fit

PRETRAIN_SEED = 1


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError as e:            # torch's message for 'tpu9': "Invalid device string"
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from e


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
    return limits.check_config(config_from_dict(spec.config_cls, values))   # no negative lr, epochs, ... (limits)


def instantiate(method: str, config, n_users: int, n_items: int, seed: int = 1) -> Recommender:
    """Build a method with its initial weights drawn from ``seed`` (as the authors seed before building), so
    that the same seed gives the same model."""
    torch.manual_seed(seed)
    return registry.get(method).model_cls(config, n_users, n_items)


def build_model(method: str, split: Split, preset: str = "sample", overrides: Optional[dict] = None,
                device="cpu", seed: int = 1) -> Recommender:
    spec = registry.get(method)
    if "interactions" not in spec.needs and "sequences" not in spec.needs:
        raise ValueError(f"{method} trains on logged reranking sessions, not on an interaction split "
                         f"(python -m diffrec_core train --method {method} --data sample)")
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


# ------------------------------------------------------------------------------------------------ teaching models
@dataclass(frozen=True)
class Teaching:
    """A teaching variant of a registered method: the method trained with a named preset of its own whose noise is
    visible, saved beside the faithful checkpoint (``pretrained/<name>/``), never in its place."""
    name: str       # its directory under pretrained/ and its key in TEACHING_RESULTS
    method: str     # the registered method
    preset: str     # the method's preset (diffrec_core/methods/<method>.py)


TEACHING = {t.name: t for t in (Teaching("diffrec_teaching", "diffrec", "teaching"),)}
TEACHING_RESULTS = "teaching_results.json"


def teaching_of(method: str) -> Optional[str]:
    """The teaching variant of ``method`` (its checkpoint name), or None where there is none."""
    return next((t.name for t in TEACHING.values() if t.method == method), None)


def base_method(name: str) -> str:
    """The registered method behind a checkpoint name (a teaching variant's method; else the name itself)."""
    return TEACHING[name].method if name in TEACHING else name


def reverse_figures(model: Recommender, split: Split, k: int = 10, seed: int = 0, batch: int = 250) -> dict:
    """What a reverse run shows, measured over every user: the chain run as the Reverse page runs it by default
    (the config's T', sampling noise and reverse mode; trajectory noise from ``seed``), and at each step

    * ``heldout_recall``: Recall@k of the step's top-k (training items masked) against the user's validation +
      test items, averaged over the users who have any (descriptive figures of a fixed model: nothing is selected
      on them);
    * ``history_recall``: Recall@k of the step's unmasked x̂0 against the user's training items (does the chain
      bring the history back?);

    and ``start_auc``: the AUC with which the chain's first state (x_T where T' = T; the history itself where
    T' = 0) separates a user's training items from the other items, averaged over users (0.5 = no trace left)."""
    from .metrics import ranking_metrics
    from .rerank import auc

    held = (split.valid + split.test).tocsr()
    rec, hist, aucs, n_held = None, None, [], 0
    for lo in range(0, split.n_users, batch):
        users = np.arange(lo, min(lo + batch, split.n_users))
        tr = model.trajectory(split, users, k=k, seed=seed)
        gt = torch.from_numpy(held[users].toarray() > 0)
        seen = torch.from_numpy(split.train[users].toarray() > 0)
        has, had = gt.any(1), seen.any(1)
        r = np.array([float(ranking_metrics(torch.from_numpy(tr.topk[s]), gt, (k,))[f"recall@{k}"][has].sum())
                      for s in range(tr.n_steps)])
        raw = torch.from_numpy(tr.raw_scores)
        h = np.array([float(ranking_metrics(torch.topk(raw[s], k, dim=1).indices, seen, (k,))[f"recall@{k}"][had]
                            .sum()) for s in range(tr.n_steps)])
        rec, hist = (r, h) if rec is None else (rec + r, hist + h)
        n_held += int(has.sum())
        aucs += [auc(tr.states[0][i], seen[i].numpy()) for i in range(len(users)) if had[i]]
    n_hist, tp = len(aucs), int(tr.meta.get("T_prime", 0))
    return {"k": k, "seed": seed, "steps": int(len(rec)), "users_heldout": n_held, "users_history": n_hist,
            "T_prime": tp, "sampling_noise": bool(tr.meta.get("sampling_noise", False)),
            "start_noise_std": float(np.sqrt(1.0 - tr.alphas_cumprod[tp - 1])) if tp else 0.0,   # of x_T'
            "noise_std_T": float(np.sqrt(1.0 - tr.alphas_cumprod[-1])),
            "heldout_recall": [round(float(v) / max(n_held, 1), 6) for v in rec],
            "history_recall": [round(float(v) / max(n_hist, 1), 6) for v in hist],
            "start_auc": round(float(np.nanmean(aucs)), 6) if aucs else float("nan")}


def pretrain_teaching(out=None, names=None, log: Callable[[str], None] = print) -> dict:
    """Train the teaching variants (:data:`TEACHING`) on the sample world (seed 1, selected on validation as
    every pretrained model) into ``pretrained/<name>/`` and record their figures, with :func:`reverse_figures` of
    each one and of its faithful model for contrast, in ``pretrained/teaching_results.json``. The faithful
    checkpoints and ``results.json`` are only read."""
    out = Path(out) if out else PRETRAINED
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    for n in names or []:
        if n not in TEACHING:
            raise KeyError(f"no teaching model {n!r}; teaching models: {', '.join(TEACHING)}")
    splits, rows = {}, {}
    for name in names or list(TEACHING):
        t = TEACHING[name]
        how = split_how(t.method)
        split = splits.setdefault(how, load_split("sample", how=how))
        model = build_model(t.method, split, preset=t.preset, seed=PRETRAIN_SEED)
        res = fit(model, split, seed=PRETRAIN_SEED)
        checkpoint.save(model, out / name, split.name, extra={"variant": "teaching", "preset": t.preset,
                                                              "seed": PRETRAIN_SEED})
        model.eval()
        row = {"method": t.method, "preset": t.preset, "protocol": split.meta.get("how", how),
               "best_epoch": res.best_epoch, "valid": res.valid, "test": res.test,
               "parameters": model.n_parameters(), "diffusion_steps": model.n_diffusion_steps(),
               "train_seconds": round(res.train_seconds, 2), "stopped": res.stopped,
               "reverse": reverse_figures(model, split)}
        if (out / t.method / "model.safetensors").exists():     # the faithful model, read only, for contrast
            row["faithful_reverse"] = reverse_figures(load_pretrained(t.method, split, root=out), split)
        rows[name] = row
        fr = row["reverse"]
        log(f"{name:16s} valid R@20 {res.valid.get('recall@20', 0):.4f}  test R@10 {res.test.get('recall@10', 0):.4f}"
            f"  held-out R@10 step 1 {fr['heldout_recall'][0]:.3f} -> step {fr['steps']} "
            f"{fr['heldout_recall'][-1]:.3f}  AUC of x_T {fr['start_auc']:.3f}")
    path = out / TEACHING_RESULTS
    old = json.loads(path.read_text()).get("models", {}) if path.exists() else {}
    old.update(rows)
    results = {"data": next(iter(splits.values())).stats(), "seed": PRETRAIN_SEED, "models": old}
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


def load_pretrained(method: str, split: Split, root=None) -> Recommender:
    """A pretrained sample-world model (what the app's pages use); data-dependent state is re-derived."""
    model, _ = checkpoint.load(Path(root or PRETRAINED) / method, split.n_users, split.n_items)
    model.attach(split)
    return model.eval()
