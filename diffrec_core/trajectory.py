"""The one record of a diffusion run that every view reads (design.md, "One contract for every method").

Views never reach into a model: they read a ``Trajectory``. It is plain NumPy, so it caches, pickles into
Streamlit's session-free caches, and saves to a versioned NPZ that can be loaded back for viewing.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from .errors import DiffRecError

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
        buf = io.BytesIO()
        arrays = {k: getattr(self, k) for k in self._ARRAYS if getattr(self, k) is not None}
        header = {"schema": "diffrec-trajectory", "version": SCHEMA_VERSION, "method": self.method,
                  "meta": self.meta}
        arrays = {"__header__": np.frombuffer(json.dumps(header, default=str).encode(), dtype=np.uint8), **arrays}
        # np.savez_compressed stamps every member with the current time, so two saves of the same run differ;
        # a fixed stamp makes the file a pure function of the trajectory (same settings + seed -> same bytes).
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, arr in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> "Trajectory":
        """Load a trajectory file. Never unpickles (allow_pickle=False); wrong schema or version is a clear error."""
        try:
            z = np.load(io.BytesIO(data), allow_pickle=False)
            header = json.loads(bytes(z["__header__"]).decode())
        except Exception as e:  # noqa: BLE001 - any parse failure is the same user-facing problem
            raise TrajectoryFormatError(f"not a trajectory file (expected an NPZ written by this app): {e}") from e
        if header.get("schema") != "diffrec-trajectory":
            raise TrajectoryFormatError("not a trajectory file: its header has no 'diffrec-trajectory' schema")
        if header.get("version") != SCHEMA_VERSION:
            raise TrajectoryFormatError(
                f"trajectory schema version {header.get('version')} is not supported (this app reads {SCHEMA_VERSION})")
        kw = {k: z[k] for k in cls._ARRAYS if k in z.files}
        missing = {"steps", "states", "x0_hat", "final", "users", "betas", "alphas_cumprod"} - set(kw)
        if missing:
            raise TrajectoryFormatError(f"trajectory file lacks arrays: {', '.join(sorted(missing))}")
        return cls(method=header.get("method", "?"), meta=header.get("meta", {}), **kw)

    def to_long_csv(self, row: int = 0, item_titles=None) -> str:
        """One row per (step, item) for user row ``row``: reverse_step (1 … S, counted as the chain runs, the pages'
        step number), t (the paper's step of the state read, code index k + 1), item, x_t, x0_hat, score, rank
        (1-based or empty)."""
        S, _, D = self.states.shape
        lines = ["reverse_step,t,item,title,x_t,x0_hat,score,rank"]
        for s in range(S):
            ranks = {}
            if self.topk is not None:
                ranks = {int(i): r + 1 for r, i in enumerate(self.topk[s, row])}
            sc = self.scores[s, row] if self.scores is not None and self.scores.shape[-1] == D else None
            for i in range(D):
                title = "" if item_titles is None or i >= len(item_titles) else str(item_titles[i]).replace(",", " ")
                score = "" if sc is None else f"{float(sc[i]):.6g}"
                lines.append(f"{s + 1},{int(self.steps[s]) + 1},{i},{title},{float(self.states[s, row, i]):.6g},"
                             f"{float(self.x0_hat[s, row, i]):.6g},{score},{ranks.get(i, '')}")
        return "\n".join(lines) + "\n"
