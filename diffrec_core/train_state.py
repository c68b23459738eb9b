"""A resumable training state: what a :class:`train.Trainer` needs to continue a run as if it had not stopped.

A state directory holds ``state.safetensors`` (tensors only: the model's parameters and every buffer, persistent
or not - the importance sampler's loss history is one; the kept epoch's weights; every optimiser's moment
tensors; the torch random states of each rank) and ``state.json`` (the epoch, the selection, the history so far,
the optimisers' hyper-parameters, the NumPy shuffling state). Nothing is unpickled: tensors come from
safetensors, the rest from JSON, both size-capped before they are read.

Optimisers are found on the model as attributes holding a ``torch.optim.Optimizer`` (or a tuple of them, as
L-DiffRec's two); one a method builds lazily (DiffKG's denoiser optimiser) receives its saved state just before
its first step after the resume, through an optimiser step pre-hook.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch.optim.optimizer import register_optimizer_step_pre_hook

from . import limits
from .errors import DiffRecError

FORMAT = "diffrec-train-state"
VERSION = 1
MAX_BYTES = 3 * limits.CHECKPOINT.weight_bytes + 64 * 1024 ** 2   # weights, kept weights, two Adam moments
MAX_JSON_BYTES = 16 * 1024 ** 2
PLAIN_COUNTERS = ("_epoch",)       # plain int attributes a method advances per epoch (the sequence methods' LR step)


class TrainStateError(DiffRecError, ValueError):
    """A training state cannot be resumed; the message says why."""


def optimizers(model: torch.nn.Module) -> Dict[str, torch.optim.Optimizer]:
    """The optimisers a model holds, by attribute name (``_opts.0`` for the first of a tuple)."""
    out = {}
    for name, v in sorted(vars(model).items()):
        if isinstance(v, torch.optim.Optimizer):
            out[name] = v
        elif isinstance(v, (tuple, list)) and v and all(isinstance(o, torch.optim.Optimizer) for o in v):
            out.update({f"{name}.{i}": o for i, o in enumerate(v)})
    return out


def _model_tensors(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    named = dict(model.named_parameters())
    named.update(dict(model.named_buffers()))
    return named


def _jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def _np_state(rng: np.random.Generator) -> dict:
    """NumPy's generator state with its 128-bit integers as text (JSON readers cap integers at 64 bits)."""
    def enc(v):
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return enc(rng.bit_generator.state)


def _np_restore(state: dict) -> dict:
    def dec(v):
        if isinstance(v, dict):
            return {k: dec(x) for k, x in v.items()}
        return int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v
    return dec(state)


def save(trainer, directory, rank_states: Optional[List[Dict[str, torch.Tensor]]] = None) -> Path:
    """Write ``trainer``'s state after its current epoch. ``rank_states``: each rank's torch random states
    (``distributed`` gathers them); default: this process's."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    model = trainer.model
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in _model_tensors(model).items()}
    if trainer._best_state is not None:
        tensors.update({f"best/{k}": v.detach().cpu().contiguous() for k, v in trainer._best_state.items()})
    optim = {}
    for name, opt in optimizers(model).items():
        sd = opt.state_dict()
        optim[name] = {"param_groups": _jsonable(sd["param_groups"]), "scalars": {}}
        for idx, st in sd["state"].items():
            for key, v in st.items():
                if isinstance(v, torch.Tensor) and v.dim() > 0:
                    tensors[f"optim/{name}/{idx}/{key}"] = v.detach().cpu().contiguous()
                else:
                    optim[name]["scalars"][f"{idx}/{key}"] = _jsonable(v)
    for r, st in enumerate(rank_states or [rank_random_state(trainer)]):
        tensors.update({f"rng/{r}/{k}": v for k, v in st.items()})
    sel, res = trainer.selection, trainer.result
    meta = {
        "format": FORMAT, "version": VERSION, "method": model.name, "seed": trainer.seed, "epoch": trainer.epoch,
        "select": trainer.select, "n_ranks": len(rank_states or [0]),
        "selection": {"best_epoch": sel.best_epoch, "best_value": float(sel.best_value),
                      "best_each": sel._best_each},
        "result": {"best_epoch": res.best_epoch, "valid": res.valid, "history": _jsonable(res.history),
                   "train_seconds": res.train_seconds, "eval_seconds": res.eval_seconds,
                   "epoch_seconds": res.epoch_seconds, "eval_pass_seconds": res.eval_pass_seconds},
        "numpy_rng": _np_state(trainer._rng), "optimizers": optim,
        "counters": {k: int(getattr(model, k)) for k in PLAIN_COUNTERS if isinstance(getattr(model, k, None), int)},
    }
    (d / "state.safetensors").write_bytes(st_save(tensors))
    (d / "state.json").write_text(json.dumps(meta, allow_nan=True))
    return d


def rank_random_state(trainer) -> Dict[str, torch.Tensor]:
    """This process's torch random states: the global generator (dropout) and the trainer's noise generator."""
    return {"torch": torch.get_rng_state(), "noise": trainer._gen.get_state()}


def read(directory):
    """(tensors, meta) of a state directory, sizes checked before reading."""
    d = Path(directory)
    w, j = d / "state.safetensors", d / "state.json"
    for f, cap in ((w, MAX_BYTES), (j, MAX_JSON_BYTES)):
        if not f.is_file():
            raise TrainStateError(f"{d} holds no {f.name}: not a training state written by --state-every")
        if f.stat().st_size > cap:
            raise TrainStateError(f"{f} is {f.stat().st_size / 1e6:.0f} MB; the limit is {cap / 1e6:.0f} MB")
    try:
        meta = json.loads(j.read_text())
        tensors = st_load(w.read_bytes())
    except (ValueError, OSError, RuntimeError) as e:
        raise TrainStateError(f"cannot read the training state in {d}: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise TrainStateError(f"{j} is not a {FORMAT} version {VERSION} file")
    return tensors, meta


@torch.no_grad()
def restore(trainer, directory, rank: int = 0) -> None:
    """Continue ``trainer`` (already started: the model prepared) from the state in ``directory``; ``rank``
    picks that rank's random states. A run whose protocol had ended at the saved epoch finishes at once."""
    tensors, meta = read(directory)
    model = trainer.model
    if meta.get("method") != model.name:
        raise TrainStateError(f"the training state is of {meta.get('method')!r}, not {model.name!r}")
    own = _model_tensors(model)
    saved = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    if set(saved) != set(own):
        missing, extra = sorted(set(own) - set(saved))[:3], sorted(set(saved) - set(own))[:3]
        raise TrainStateError(f"the training state's tensors do not match this {model.name} model "
                              f"(missing {missing}, extra {extra})")
    for k, t in own.items():
        if t.shape != saved[k].shape:
            raise TrainStateError(f"{k}: the training state holds shape {tuple(saved[k].shape)}, the model "
                                  f"{tuple(t.shape)} (another data set or config)")
        t.copy_(saved[k].to(t.device, t.dtype))
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
    trainer._best_state = {k: v.to(model.device) for k, v in best.items()} or None
    for k, v in meta.get("counters", {}).items():
        if k in PLAIN_COUNTERS:
            setattr(model, k, int(v))
    _restore_optimizers(model, meta.get("optimizers", {}), tensors)
    r = rank if f"rng/{rank}/torch" in tensors else None
    if r is not None:
        torch.set_rng_state(tensors[f"rng/{r}/torch"])
        trainer._gen.set_state(tensors[f"rng/{r}/noise"])
    trainer._rng.bit_generator.state = _np_restore(meta["numpy_rng"])
    trainer.epoch = int(meta["epoch"])
    trainer.select = str(meta["select"])
    sel = meta["selection"]
    trainer.selection.best_epoch = int(sel["best_epoch"])
    trainer.selection.best_value = float(sel["best_value"])
    trainer.selection._best_each = {str(k): float(v) for k, v in sel["best_each"].items()}
    res, saved_res = trainer.result, meta["result"]
    res.best_epoch, res.valid, res.history = int(saved_res["best_epoch"]), dict(saved_res["valid"]), \
        list(saved_res["history"])
    for k in ("train_seconds", "eval_seconds"):
        setattr(res, k, float(saved_res[k]))
    res.epoch_seconds, res.eval_pass_seconds = list(saved_res["epoch_seconds"]), list(saved_res["eval_pass_seconds"])
    p = trainer.protocol
    if p.stop(trainer.epoch, trainer.selection.best_epoch):
        trainer.finish(f"early stop: no validation gain for {p.patience} epochs")
    elif trainer.epoch >= p.epochs:
        trainer.finish("epoch limit")


def _optimizer_state(entry: dict, name: str, tensors: dict) -> dict:
    state: Dict[int, dict] = {}
    prefix = f"optim/{name}/"
    for k, v in tensors.items():
        if k.startswith(prefix):
            idx, key = k[len(prefix):].split("/", 1)
            state.setdefault(int(idx), {})[key] = v
    for k, v in entry.get("scalars", {}).items():
        idx, key = k.split("/", 1)
        # AdamW keeps its step count as a 0-d float32 tensor; other scalars stay numbers
        state.setdefault(int(idx), {})[key] = torch.tensor(float(v)) if key == "step" else v
    return {"state": state, "param_groups": entry["param_groups"]}


def _restore_optimizers(model, saved: dict, tensors: dict) -> None:
    pending = {name: _optimizer_state(entry, name, tensors) for name, entry in saved.items()}
    for name, opt in optimizers(model).items():
        if name in pending:
            opt.load_state_dict(pending.pop(name))
    if not pending:
        return
    handle = None

    def load_when_built(optimizer, args, kwargs):
        for name, opt in optimizers(model).items():
            if opt is optimizer and name in pending:
                optimizer.load_state_dict(pending.pop(name))
        if not pending and handle is not None:
            handle.remove()

    handle = register_optimizer_step_pre_hook(load_when_built)
