"""Checkpoints: weights as safetensors (never a pickle) + the typed config and data shape as JSON.

A checkpoint directory holds ``model.safetensors`` and ``config.json``. Loading validates the format version, the
method name, every config key, and every tensor's name and shape before a single weight is copied, and fails with
a message that says what is wrong - a corrupted file, a checkpoint for another data set, a stale config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Optional, Tuple

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from . import registry
from .methods.base import ConfigError, Recommender, config_from_dict

FORMAT = "diffrec-checkpoint"
VERSION = 1
MAX_BYTES = 512 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded; the message says why."""


def _state(model: Recommender) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def to_bytes(model: Recommender, data_name: str = "", extra: Optional[dict] = None) -> Tuple[bytes, bytes]:
    """(safetensors bytes, config JSON bytes) - what the app offers as downloads."""
    weights = st_save(_state(model))
    meta = {
        "format": FORMAT, "version": VERSION, "method": model.name,
        "config": dataclasses.asdict(model.config), "n_users": model.n_users, "n_items": model.n_items,
        "data": data_name, "weights_sha256": hashlib.sha256(weights).hexdigest(), **(extra or {}),
    }
    return weights, json.dumps(meta, indent=2, sort_keys=True).encode()


def save(model: Recommender, directory, data_name: str = "", extra: Optional[dict] = None) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    w, c = to_bytes(model, data_name, extra)
    (d / "model.safetensors").write_bytes(w)
    (d / "config.json").write_bytes(c)
    return d


def from_bytes(weights: bytes, config_json: bytes, n_users: Optional[int] = None,
               n_items: Optional[int] = None, device="cpu") -> Tuple[Recommender, dict]:
    """Rebuild a model from checkpoint bytes. ``n_users``/``n_items``, when given, must match the checkpoint
    (i.e. the data set it will be used on)."""
    if len(weights) > MAX_BYTES:
        raise CheckpointError(f"checkpoint weights are {len(weights) / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB")
    try:
        meta = json.loads(config_json.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"config.json is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("config.json is not a checkpoint config of this app (no 'diffrec-checkpoint' format)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint format version {meta.get('version')} is not supported (expected {VERSION})")
    try:
        spec = registry.get(str(meta.get("method")))
    except KeyError as e:
        raise CheckpointError(str(e.args[0])) from e
    try:
        cfg = config_from_dict(spec.config_cls, dict(meta.get("config") or {}))
    except ConfigError as e:
        raise CheckpointError(f"checkpoint config does not fit this version of {spec.name}: {e}") from e
    cu, ci = int(meta.get("n_users", -1)), int(meta.get("n_items", -1))
    if n_users is not None and cu != n_users or n_items is not None and ci != n_items:
        raise CheckpointError(f"checkpoint was trained on {cu} users x {ci} items ({meta.get('data') or 'unknown data'}),"
                              f" but the data set has {n_users} users x {n_items} items")
    if meta.get("weights_sha256") and hashlib.sha256(weights).hexdigest() != meta["weights_sha256"]:
        raise CheckpointError("model.safetensors does not match its config.json (checksum differs): "
                              "the file is corrupted or belongs to another checkpoint")
    try:
        state = st_load(weights)
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise CheckpointError(f"model.safetensors is not a readable safetensors file: {e}") from e
    model = spec.model_cls(cfg, cu, ci)
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise CheckpointError(f"weights do not fit {spec.name}: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")
    bad = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        raise CheckpointError("weight shapes do not fit the config: " + "; ".join(bad[:5]))
    model.load_state_dict(state)
    model.eval()
    return model.to(device), meta


def load(directory, n_users: Optional[int] = None, n_items: Optional[int] = None,
         device="cpu") -> Tuple[Recommender, dict]:
    d = Path(directory)
    w, c = d / "model.safetensors", d / "config.json"
    if not w.exists() or not c.exists():
        raise CheckpointError(f"{d} is not a checkpoint directory (needs model.safetensors and config.json)")
    return from_bytes(w.read_bytes(), c.read_bytes(), n_users, n_items, device)
