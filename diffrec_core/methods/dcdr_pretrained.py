"""The pretrained sample-world rerankers: :func:`pretrain` trains and writes DCDR-P, DCDR-T (sharing DCDR-P's evaluator)
and the PRM baseline; :func:`load_pretrained_rerank` loads them with the evaluator-based baselines (``dcdr.py``
re-exports both)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import torch

from ..paths import PRETRAINED
from ..rerank import load_rerank_data
from .dcdr import DCDR, DCDRConfig


def pretrain(out=None, data_root=None, seed: int = 1, log=print, threads: Optional[int] = None) -> dict:
    """Train the sample-world rerankers and write ``pretrained/dcdr_p``, ``pretrained/dcdr_t`` (both with the same
    evaluator), ``pretrained/dcdr_prm`` and ``pretrained/dcdr_results.json`` (training losses and times; the
    benchmark adds held-out figures). Deterministic for a seed and thread count."""
    from .. import checkpoint       # checkpoint imports the methods package: loaded when this runs, not before
    from .rerank_baselines import PRM, RerankNetConfig     # here: DCDR registers first (the registry keeps order)

    out = Path(out) if out else PRETRAINED
    if threads:
        torch.set_num_threads(int(threads))
    data = load_rerank_data(data_root)
    results = {"seed": seed, "sessions": {k: int(len(v)) for k, v in data.splits.items()}, "methods": {}}
    t0 = time.perf_counter()
    log("DCDR-P (trains the shared evaluator first)")
    torch.manual_seed(seed)
    p = DCDR(DCDRConfig(variant="P"), data.n_users, data.n_items)
    rp = p.fit_lists(data, seed=seed, log=log)
    checkpoint.save(p, out / "dcdr_p", "sample-rerank")
    log("DCDR-T (shares DCDR-P's evaluator)")
    torch.manual_seed(seed)
    t = DCDR(DCDRConfig(variant="T"), data.n_users, data.n_items)
    rt = t.fit_lists(data, seed=seed, log=log, evaluator_state=p.evaluator.state_dict())
    checkpoint.save(t, out / "dcdr_t", "sample-rerank")
    log("PRM baseline")
    torch.manual_seed(seed)
    prm = PRM(RerankNetConfig(), data.n_users, data.n_items)
    rr = prm.fit_lists(data, seed=seed, log=log)
    checkpoint.save(prm, out / "dcdr_prm", "sample-rerank")
    results["methods"] = {"dcdr_p": rp, "dcdr_t": rt, "rerank_prm": rr}
    results["train_seconds_total"] = round(time.perf_counter() - t0, 2)
    results["parameters"] = {"dcdr_p": p.n_parameters(), "dcdr_t": t.n_parameters(), "rerank_prm": prm.n_parameters()}
    prev = out / "dcdr_results.json"
    if prev.exists():   # keep the benchmark's held-out table (seed 1 reproduces the same models exactly)
        try:
            old = json.loads(prev.read_text())
            if "heldout" in old and old.get("seed") == seed:
                results["heldout"] = old["heldout"]
        except (OSError, ValueError):
            pass
    prev.write_text(json.dumps(results, indent=1, sort_keys=True, default=float) + "\n")
    log(f"wrote {out / 'dcdr_p'}, {out / 'dcdr_t'}, {out / 'dcdr_prm'} in {results['train_seconds_total']} s")
    return results


CHECKPOINTS = {"dcdr_p": "dcdr_p", "dcdr_t": "dcdr_t", "rerank_prm": "dcdr_prm"}
PRETRAIN_HINT = "python -m diffrec_core pretrain --methods dcdr"


def load_pretrained_rerank(root=None, n_users: Optional[int] = None, n_items: Optional[int] = None):
    """The pretrained sample-world rerankers: {'dcdr_p', 'dcdr_t', 'rerank_prm', and the evaluator-based
    baselines built from DCDR-P's evaluator}, plus a list of messages for checkpoints that are missing or broken.
    Raises FileNotFoundError (with the command that makes them) when DCDR-P itself is unavailable."""
    from .. import checkpoint       # see pretrain
    from .rerank_baselines import build_rerankers

    root = Path(root) if root is not None else PRETRAINED
    models, problems = {}, []
    for key, folder in CHECKPOINTS.items():
        path = root / folder
        if not (path / "model.safetensors").exists() or not (path / "config.json").exists():
            problems.append(f"no checkpoint for {key} in `{path}`")
            continue
        try:
            models[key] = checkpoint.load(path, n_users, n_items)[0].eval()
        except (ValueError, OSError, KeyError) as e:
            problems.append(f"the checkpoint for {key} in `{path}` could not be loaded: {e}")
    if "dcdr_p" not in models:
        raise FileNotFoundError("No usable pretrained DCDR checkpoint (" + "; ".join(problems) + "). Make them with "
                                f"`{PRETRAIN_HINT}` (under a minute on a CPU) and reload.")
    models.update(build_rerankers(models["dcdr_p"], models.get("rerank_prm")))
    return models, problems
