"""Checkpoints: weights as safetensors (never a pickle) + the typed config and data shape as JSON.

A checkpoint directory holds ``model.safetensors`` and ``config.json``. Loading trusts neither file and checks, in
this order, before a single weight is allocated:

1. the sizes of both files (:data:`MAX_BYTES`, :data:`MAX_CONFIG_BYTES`), before they are read;
2. config.json: valid JSON, this app's format and version, a registered method, every config key and type;
   its metadata bounded (:func:`check_metadata`: finite numbers, short plain texts, a history of at most
   :data:`MAX_HISTORY` epochs, a seed below 2^63);
3. the data shape against the data it will be used on, then the budget (``diffrec_core.limits``): schedule length,
   users and items, and the bytes of the weights the config describes, counted without allocating them;
4. the SHA-256 of the weights against the one config.json records;
5. the safetensors header (parsed here, bounded): every tensor's name, dtype and shape against the model;
6. the weights themselves: every floating tensor finite (a NaN weight makes every score NaN).

Each failure is a :class:`CheckpointError` whose message says what is wrong - a corrupted file, a checkpoint for
another data set, a stale config, a model beyond the budget.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import struct
from pathlib import Path
from typing import Optional, Tuple

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from . import limits, registry
from .methods.base import ConfigError, Recommender, config_from_dict
from .errors import DiffRecError

FORMAT = "diffrec-checkpoint"
VERSION = 1
MAX_BYTES = limits.CHECKPOINT.weight_bytes + 16 * 1024 ** 2     # the weights budget plus room for the header
MAX_CONFIG_BYTES = 4 * 1024 ** 2     # a 1,000-epoch Lab history is about 0.4 MB
MAX_HISTORY = 1000                   # epochs of a recorded training history (the largest preset's epoch limit)
MAX_TEXT = 200                       # characters of any text in config.json (names, metric keys, notes)
MAX_DEPTH = 8                        # nesting of config.json's objects and lists
MAX_SEED = 2 ** 63 - 1               # seeds are int64 for NumPy and torch
_KEY = re.compile(r"[A-Za-z0-9_@.+\- ]{1,64}\Z")     # a metric / setting name: plain characters only
_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}


class CheckpointError(DiffRecError, ValueError):
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


# ------------------------------------------------------------------------------------------------ metadata
def _walk(v, where: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"config.json nests deeper than {MAX_DEPTH} levels at {where}")
    if isinstance(v, bool) or v is None:
        return
    if isinstance(v, int):
        if abs(v) > MAX_SEED:
            raise CheckpointError(f"config.json: {where} is a {len(str(abs(v)))}-digit number; numbers are limited "
                                  f"to 64 bits")
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise CheckpointError(f"config.json: {where} is {v} (numbers must be finite)")
    elif isinstance(v, str):
        if len(v) > MAX_TEXT:
            raise CheckpointError(f"config.json: {where} is a text of {len(v):,} characters; the limit is {MAX_TEXT}")
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in v):
            raise CheckpointError(f"config.json: {where} holds control characters")
    elif isinstance(v, list):
        if len(v) > MAX_HISTORY:
            raise CheckpointError(f"config.json: {where} has {len(v):,} entries; the limit is {MAX_HISTORY:,}")
        for i, x in enumerate(v):
            _walk(x, f"{where}[{i}]", depth + 1)
    elif isinstance(v, dict):
        if len(v) > 256:
            raise CheckpointError(f"config.json: {where} has {len(v):,} keys; the limit is 256")
        for k, x in v.items():
            if not _KEY.match(k):
                raise CheckpointError(f"config.json: {where} has a key that is not a plain name "
                                      f"({k[:40]!r}{'…' if len(k) > 40 else ''})")
            _walk(x, f"{where}.{k}", depth + 1)


def check_metadata(meta: dict) -> None:
    """Everything config.json carries besides the config is echoed on pages (history curves, seed, names):
    numbers finite and at most 64 bits, texts short and plain, keys plain names, lists (a training history) at
    most :data:`MAX_HISTORY` entries, a seed in [0, 2^63). Raises :class:`CheckpointError`."""
    for k, v in meta.items():
        if k != "config":
            _walk(v, k)
    lab = meta.get("lab")
    if lab is not None and not isinstance(lab, dict):
        raise CheckpointError("config.json: 'lab' is not an object")
    for where, seed in (("seed", meta.get("seed")), ("lab.seed", (lab or {}).get("seed"))):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
            raise CheckpointError(f"config.json: {where} must be an integer from 0 to 2^63 - 1, got "
                                  f"{str(seed)[:24]}{'…' if len(str(seed)) > 24 else ''}")
    hist = (lab or {}).get("history")
    if hist is not None:
        if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
            raise CheckpointError("config.json: lab.history is not a list of epoch records")
        for i, h in enumerate(hist):
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in h.values()):
                raise CheckpointError(f"config.json: lab.history[{i}] holds a value that is not a number")


# ------------------------------------------------------------------------------------------------ weights
def _header(weights: bytes) -> dict:
    """The safetensors header (name -> dtype, shape, offsets), parsed and bounded here before the file is."""
    if len(weights) < 8:
        raise CheckpointError(f"model.safetensors is {len(weights)} bytes: not a safetensors file")
    (n,) = struct.unpack("<Q", weights[:8])
    if n > len(weights) - 8 or n > MAX_CONFIG_BYTES:
        raise CheckpointError(f"model.safetensors is not a readable safetensors file: its header claims {n:,} "
                              f"bytes, the file has {len(weights) - 8:,} after the length")
    try:
        head = json.loads(weights[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"model.safetensors is not a readable safetensors file: its header is not JSON "
                              f"({e})") from e
    if not isinstance(head, dict):
        raise CheckpointError("model.safetensors is not a readable safetensors file: its header is not an object")
    head.pop("__metadata__", None)
    for k, v in head.items():
        if not (isinstance(v, dict) and isinstance(v.get("dtype"), str) and isinstance(v.get("shape"), list)
                and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v["shape"])):
            raise CheckpointError(f"model.safetensors is not a readable safetensors file: entry {k[:60]!r} is "
                                  f"not a tensor description")
    return head


def _check_tensors(head: dict, expected: dict, method: str) -> None:
    missing, unexpected = set(expected) - set(head), set(head) - set(expected)
    if missing or unexpected:
        raise CheckpointError(f"weights do not fit {method}: missing {sorted(missing)[:5]}, "
                              f"unexpected {[k[:60] for k in sorted(unexpected)[:5]]}")
    bad = [f"{k}: {tuple(head[k]['shape'])} vs {tuple(v.shape)}" for k, v in expected.items()
           if tuple(head[k]["shape"]) != tuple(v.shape)]
    if bad:
        raise CheckpointError("weight shapes do not fit the config: " + "; ".join(bad[:5]))
    bad = [f"{k} is {head[k]['dtype']}, the model needs {_DTYPES.get(v.dtype, v.dtype)}"
           for k, v in expected.items() if head[k]["dtype"] != _DTYPES.get(v.dtype)]
    if bad:
        raise CheckpointError("weight dtypes do not fit the model: " + "; ".join(bad[:5]))


def _check_finite(state: dict) -> None:
    bad = [(k, int((~torch.isfinite(v)).sum())) for k, v in state.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError("the weights hold non-finite values (NaN or inf; every score would be NaN): "
                              + "; ".join(f"{k}: {n:,}" for k, n in bad[:5]))


def _count(meta: dict, key: str) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise CheckpointError(f"config.json: {key} must be an integer, got {str(v)[:24]!r}")
    return v


def from_bytes(weights: bytes, config_json: bytes, n_users: Optional[int] = None,
               n_items: Optional[int] = None, device="cpu",
               budget: limits.Budget = limits.CHECKPOINT) -> Tuple[Recommender, dict]:
    """Rebuild a model from checkpoint bytes (the checks of the module docstring, in that order).
    ``n_users``/``n_items``, when given, must match the checkpoint (i.e. the data set it will be used on);
    ``budget`` bounds the model the config may describe (``limits.LAB`` for the app's uploads)."""
    if len(weights) > MAX_BYTES:
        raise CheckpointError(f"checkpoint weights are {len(weights) / 1e6:.0f} MB; the limit is "
                              f"{MAX_BYTES / 1e6:.0f} MB")
    if len(config_json) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"config.json is {len(config_json) / 1e6:.1f} MB; the limit is "
                              f"{MAX_CONFIG_BYTES / 1e6:.0f} MB")
    try:
        meta = json.loads(config_json.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"config.json is not valid JSON: {str(e)[:200]}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("config.json is not a checkpoint config of this app (no 'diffrec-checkpoint' format)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint format version {str(meta.get('version'))[:20]} is not supported "
                              f"(expected {VERSION})")
    try:
        spec = registry.get(str(meta.get("method"))[:64])
    except KeyError as e:
        raise CheckpointError(str(e.args[0])) from e
    check_metadata(meta)
    if not isinstance(meta.get("config") or {}, dict):
        raise CheckpointError("config.json: 'config' is not an object")
    try:
        cfg = config_from_dict(spec.config_cls, dict(meta.get("config") or {}))
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint config does not fit this version of {spec.name}: {e}") from e
    cu, ci = _count(meta, "n_users"), _count(meta, "n_items")
    if n_users is not None and cu != n_users or n_items is not None and ci != n_items:
        data = str(meta.get("data") or "")[:60] or "unknown data"
        raise CheckpointError(f"checkpoint was trained on {cu} users x {ci} items ({data}), but the data set has "
                              f"{n_users} users x {n_items} items")
    try:
        expected = limits.check_model(spec.model_cls, cfg, cu, ci, budget)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint config is beyond what can be loaded: {e}") from e
    if meta.get("weights_sha256") and hashlib.sha256(weights).hexdigest() != meta["weights_sha256"]:
        raise CheckpointError("model.safetensors does not match its config.json (checksum differs): "
                              "the file is corrupted or belongs to another checkpoint")
    _check_tensors(_header(weights), expected, spec.name)
    try:
        state = st_load(weights)
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise CheckpointError(f"model.safetensors is not a readable safetensors file: {str(e)[:200]}") from e
    _check_finite(state)
    model = spec.model_cls(cfg, cu, ci)
    model.load_state_dict(state)
    model.eval()
    return model.to(device), meta


def load(directory, n_users: Optional[int] = None, n_items: Optional[int] = None,
         device="cpu", budget: limits.Budget = limits.CHECKPOINT) -> Tuple[Recommender, dict]:
    d = Path(directory)
    w, c = d / "model.safetensors", d / "config.json"
    if not w.is_file() or not c.is_file():
        raise CheckpointError(f"{d} is not a checkpoint directory (needs model.safetensors and config.json)")
    for f, cap in ((w, MAX_BYTES), (c, MAX_CONFIG_BYTES)):       # before reading either
        if f.stat().st_size > cap:
            raise CheckpointError(f"{f.name} is {f.stat().st_size / 1e6:.0f} MB; the limit is {cap / 1e6:.0f} MB")
    return from_bytes(w.read_bytes(), c.read_bytes(), n_users, n_items, device, budget)
