"""The one record of a diffusion run that every view reads (design.md, "One contract for every method").

Views never reach into a model: they read a ``Trajectory``. It is plain NumPy, so it caches, pickles into
Streamlit's session-free caches, and saves to a versioned NPZ that can be loaded back for viewing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import versioned_npz
from .errors import DiffRecError

SCHEMA = "diffrec-trajectory"
SCHEMA_VERSION = 1


class TrajectoryFormatError(DiffRecError, ValueError):
    """A trajectory file is not one this version can read."""


@dataclass
class Trajectory:
    """A denoising run of one method for a batch of B users (or sequences, or lists).

    steps     (S,)        the diffusion index k fed to the network at each shown step, in the order shown
    states    (S, B, D)   the state x_k the network received at that step
    x0_hat    (S, B, D)   the network's prediction of the clean sample at that step
    scores    (S, B, I)   item scores implied by x0_hat at that step (masked items = -inf), or None
    topk      (S, B, K)   top-K item ids at that step, or None
    final     (B, D)      the sampler's returned state
    final_scores (B, I) / final_topk (B, K): the method's recommendation (equals the last step's scores/top-K)
    raw_scores (S, B, I)  the same item scores before masking (how the model treats the user's own history,
                          e.g. whether it demotes injected-noise interactions; for latent methods the only
                          item-space view of x0_hat)
    users     (B,)        who the rows belong to
    betas, alphas_cumprod (T,)  the schedule
    """

    method: str
    steps: np.ndarray
    states: np.ndarray
    x0_hat: np.ndarray
    final: np.ndarray
    users: np.ndarray
    betas: np.ndarray
    alphas_cumprod: np.ndarray
    scores: Optional[np.ndarray] = None
    topk: Optional[np.ndarray] = None
    final_scores: Optional[np.ndarray] = None
    final_topk: Optional[np.ndarray] = None
    raw_scores: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return int(len(self.steps))

    @property
    def T(self) -> int:
        return int(len(self.betas))

    def step_fraction(self) -> np.ndarray:
        """Progress 0..1 of each shown step, so methods with different T can share one slider (Compare page)."""
        S = self.n_steps
        return np.linspace(0.0, 1.0, S) if S > 1 else np.ones(1)

    # ------------------------------------------------------------------ persistence
    _ARRAYS = ("steps", "states", "x0_hat", "final", "users", "betas", "alphas_cumprod", "scores", "topk",
               "final_scores", "final_topk", "raw_scores")

    def to_npz_bytes(self) -> bytes:
        """The versioned NPZ (schema in ``trajectory_io.py``); the same run gives the same bytes."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS if getattr(self, k) is not None}
        header = {"schema": SCHEMA, "version": SCHEMA_VERSION, "method": self.method, "meta": self.meta}
        return versioned_npz.write(header, arrays)

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> "Trajectory":
        """Load a trajectory file. Never unpickles (allow_pickle=False); wrong schema or version is a clear error.
        Bytes from outside go through ``trajectory_io.read_npz`` (size, pickle and shape checks) instead."""
        header, arrays = versioned_npz.read(data, TrajectoryFormatError,
                                            "not a trajectory file (expected an NPZ written by this app)")
        if header.get("schema") != SCHEMA:
            raise TrajectoryFormatError(f"not a trajectory file: its header has no {SCHEMA!r} schema")
        if header.get("version") != SCHEMA_VERSION:
            raise TrajectoryFormatError(
                f"trajectory schema version {header.get('version')} is not supported (this app reads {SCHEMA_VERSION})")
        kw = {k: arrays[k] for k in cls._ARRAYS if k in arrays}
        missing = {"steps", "states", "x0_hat", "final", "users", "betas", "alphas_cumprod"} - set(kw)
        if missing:
            raise TrajectoryFormatError(f"trajectory file lacks arrays: {', '.join(sorted(missing))}")
        return cls(method=header.get("method", "?"), meta=header.get("meta", {}), **kw)
