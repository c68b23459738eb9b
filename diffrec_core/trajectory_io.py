"""Trajectory files: the one CSV writer every page's "trajectory (CSV)" button uses, and the checked reader of a
trajectory NPZ from outside (the Lab's "view a trajectory file").

**CSV schema** (:data:`CSV_COLUMNS`; one row per shown user, reverse step and dimension, in that order)

=============  =======================================================================================
user           the row's user (or sequence, or KG entity) id: ``Trajectory.users``
reverse_step   1 ... S, counted as the chain runs: the pages' "reverse step n of S"
t              the paper's step of the state read at that step: code index k + 1 (k = ``Trajectory.steps``)
item           the dimension: an item id for the interaction-vector methods, a latent coordinate for the others
title          the item's title where titles are given, else empty; a title a spreadsheet would run as a formula
               (= + - @, tab, carriage return first) gets a leading apostrophe
x_t            the state the network received at that step (``states``)
x0_hat         the network's prediction of the clean sample at that step (``x0_hat``)
score          the item score implied by x0_hat; empty where the item is masked (the user's history) or the
               method has no item-space scores of this width
rank           1-based rank in that step's top-K; empty when not in it
=============  =======================================================================================

**NPZ schema** (``diffrec-trajectory``, version :data:`~diffrec_core.trajectory.SCHEMA_VERSION`): a zip of ``.npy``
arrays (no object arrays, loaded with ``allow_pickle=False``) holding ``__header__`` - UTF-8 JSON
``{"schema": "diffrec-trajectory", "version": 1, "method": str, "meta": {...}}`` as uint8 bytes
(``versioned_npz.py``) - and the arrays ``steps (S,)`` int, ``states (S,B,D)``, ``x0_hat (S,B,D)``,
``final (B,D)``, ``users (B,)`` int, ``betas (T,)``, ``alphas_cumprod (T,)``, and optionally
``scores / raw_scores (S,B,I)``, ``topk (S,B,K)`` int, ``final_scores (B,I)``, ``final_topk (B,K)`` int.
``Trajectory.to_npz_bytes`` writes it; :func:`read_npz` reads outside bytes back, checked.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from . import untrusted
from .trajectory import SCHEMA_VERSION, Trajectory, TrajectoryFormatError

CSV_COLUMNS = ("user", "reverse_step", "t", "item", "title", "x_t", "x0_hat", "score", "rank")
MAX_TRAJECTORY_BYTES = 64 * 1024 ** 2      # a stored trajectory of the pages is well under 1 MB
UNPACK_FACTOR = 8                          # an NPZ may unpack to this many times its size (float arrays compress)


# ------------------------------------------------------------------------------------------------ CSV
def csv_cell(text) -> str:
    """A text cell that a spreadsheet will not run: one starting with = + - @ or a tab / carriage return (a
    formula, e.g. from an uploaded file's titles) gets a leading apostrophe."""
    t = str(text)
    return "'" + t if t[:1] in ("=", "+", "-", "@", "\t", "\r") else t


def to_csv(traj: Trajectory, rows: Optional[Sequence[int]] = None, item_titles=None) -> bytes:
    """The trajectory as CSV in the schema of :data:`CSV_COLUMNS`, for the users at ``rows`` (default all).
    Vectorised (no loop over items)."""
    S, B, D = traj.states.shape
    rows = list(range(B)) if rows is None else [int(r) for r in rows]
    titles = None
    if item_titles is not None:
        listed = [csv_cell(t) for t in list(item_titles)[:D]]
        titles = np.asarray(listed + [""] * (D - len(listed)), dtype=object)
    parts = []
    for r in rows:
        item = np.tile(np.arange(D), S)
        frame = pd.DataFrame({
            "user": np.full(S * D, int(traj.users[r])), "reverse_step": np.repeat(np.arange(1, S + 1), D),
            "t": np.repeat(traj.steps.astype(np.int64) + 1, D), "item": item,
            "title": titles[item] if titles is not None else "",
            "x_t": traj.states[:, r, :].reshape(-1), "x0_hat": traj.x0_hat[:, r, :].reshape(-1)})
        if traj.scores is not None and traj.scores.shape[-1] == D:
            sc = traj.scores[:, r, :].reshape(-1).astype(float)
            frame["score"] = np.where(np.isfinite(sc), sc, np.nan)
        else:
            frame["score"] = np.nan
        rank = np.zeros((S, D), dtype=np.int64)
        if traj.topk is not None and traj.topk.shape[-1] and int(traj.topk[:, r].max(initial=-1)) < D:
            K = traj.topk.shape[-1]
            np.put_along_axis(rank, traj.topk[:, r, :].astype(np.int64), np.arange(1, K + 1)[None].repeat(S, 0), 1)
        frame["rank"] = pd.Series(rank.reshape(-1)).replace(0, pd.NA).astype("Int64")
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(CSV_COLUMNS))
    return out[list(CSV_COLUMNS)].to_csv(index=False, float_format="%.6g").encode()


# ------------------------------------------------------------------------------------------------ NPZ
def read_npz(raw: bytes, max_bytes: int = MAX_TRAJECTORY_BYTES) -> Trajectory:
    """Read a trajectory file from outside, checking it against the schema; raises :class:`TrajectoryFormatError`
    with a message for the user (too large, a pickle, not an NPZ, a zip bomb, another schema or version, missing
    or inconsistent arrays). Never unpickles."""
    untrusted.check_size(len(raw), max_bytes, TrajectoryFormatError, "the file", "the limit for a trajectory")
    untrusted.check_not_pickle(raw, TrajectoryFormatError, "this file is a Python pickle; the app never unpickles "
                               "uploads (a pickle can run code). Upload the trajectory NPZ that a page's "
                               "'trajectory (NPZ)' button saves")
    untrusted.zip_entries(raw, TrajectoryFormatError, max_unpacked=UNPACK_FACTOR * max_bytes,
                          unpacked_what="the trajectory",
                          not_zip="not a trajectory file: expected the NPZ (a zip of .npy arrays) that a page's "
                                  "'trajectory (NPZ)' button saves")
    traj = Trajectory.from_npz_bytes(raw)         # schema name, version, required arrays
    check_shapes(traj)
    return traj


def check_shapes(t: Trajectory) -> None:
    """Every array's rank, shape and dtype as the schema says, each against the others."""
    def bad(msg):
        raise TrajectoryFormatError(f"inconsistent trajectory arrays: {msg}")

    if t.states.ndim != 3:
        bad(f"states must be (steps, users, dims), got shape {t.states.shape}")
    S, B, D = t.states.shape
    if t.x0_hat.shape != t.states.shape:
        bad(f"x0_hat {t.x0_hat.shape} differs from states {t.states.shape}")
    if t.steps.shape != (S,):
        bad(f"steps {t.steps.shape} should be ({S},)")
    if t.users.shape != (B,):
        bad(f"users {t.users.shape} should be ({B},)")
    if t.final.ndim != 2 or t.final.shape[0] != B:
        bad(f"final {t.final.shape} should have {B} rows")
    if t.betas.shape != t.alphas_cumprod.shape or t.betas.ndim != 1:
        bad(f"betas {t.betas.shape} and alphas_cumprod {t.alphas_cumprod.shape} should be equal 1-D arrays")
    for name in ("scores", "raw_scores"):
        a = getattr(t, name)
        if a is not None and (a.ndim != 3 or a.shape[:2] != (S, B)):
            bad(f"{name} {a.shape} should be ({S}, {B}, items)")
    if t.topk is not None and (t.topk.ndim != 3 or t.topk.shape[:2] != (S, B) or t.topk.dtype.kind not in "iu"):
        bad(f"topk {t.topk.shape} {t.topk.dtype} should be integer ({S}, {B}, K)")
    for name in ("steps", "users"):
        if getattr(t, name).dtype.kind not in "iu":
            bad(f"{name} should hold integers, got {getattr(t, name).dtype}")
    for name in ("states", "x0_hat"):
        if getattr(t, name).dtype.kind != "f":
            bad(f"{name} should hold floats, got {getattr(t, name).dtype}")


def summary(t: Trajectory) -> dict:
    """What a loaded trajectory holds, for a caption."""
    S, B, D = t.states.shape
    return {"method": t.method, "steps": S, "users": B, "dims": D, "T": t.T, "schema_version": SCHEMA_VERSION,
            "top_k": int(t.topk.shape[-1]) if t.topk is not None else 0,
            "items": int(t.scores.shape[-1]) if t.scores is not None else D,
            "sampler": str(t.meta.get("sampler", "")) if isinstance(t.meta, dict) else ""}
