"""What every method implements, so that the trainer, the evaluator, checkpoints, the contract test and the app
can treat all of them alike."""
from __future__ import annotations

import dataclasses
import json
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import nn

from ..data.dataset import Split
from ..metrics import mask_scores, topk
from ..trajectory import Trajectory
from ..errors import DiffRecError
from ..train_config import train_settings


class ConfigError(DiffRecError, ValueError):
    """A config has an unknown key or a value of the wrong type."""


def config_from_dict(cls, d: dict):
    """Build a typed config from a dict (a preset, a JSON checkpoint, CLI overrides); unknown keys are an error,
    so a typo in a preset can never be silently ignored (the authors hid hyper-parameters in file names)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown setting(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(fields))}")
    kw = {}
    for k, v in d.items():
        default = getattr(cls(), k)
        try:
            if isinstance(default, bool):
                if isinstance(v, str):  # real booleans: never argparse's type=bool trap (docs/methods.md §2.1 quirk 1)
                    if v.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(v)
                    v = v.lower() in ("true", "1", "yes")
                kw[k] = bool(v)
            elif isinstance(default, int) and not isinstance(default, bool):
                kw[k] = int(v)
            elif isinstance(default, float):
                kw[k] = float(v)
            elif isinstance(default, (list, tuple)):
                kw[k] = [int(x) for x in (json.loads(v) if isinstance(v, str) else v)]
            elif default is None and isinstance(v, str) and v.lower() == "none":
                kw[k] = None
            elif default is None and v is not None:
                kw[k] = float(v)
            else:
                kw[k] = v
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{cls.__name__}.{k}: cannot use {v!r} ({e})") from e
    return cls(**kw)


class Recommender(nn.Module):
    """Base of every method and baseline.

    Life cycle: ``m = Cls(config, n_users, n_items)`` builds the shapes (so a checkpoint can be loaded without
    data); ``m.prepare(split)`` does data-dependent initialisation (closed-form fits, clusters) and stores what it
    derives as buffers; ``m.fit_epoch(split, ...)`` trains one epoch; ``m.score(split, users, which)`` gives raw
    item scores; ``m.trajectory(...)`` records a denoising run as a :class:`Trajectory`.
    """

    name: ClassVar[str] = ""
    trainable: ClassVar[bool] = True   # False: prepare() is the whole fit (pop, EASE, ItemKNN)
    autocast_ok: ClassVar[bool] = False   # True: checked to train and score under bf16 autocast (precision.py)

    def __init__(self, config, n_users: int, n_items: int):
        super().__init__()
        self.config = config
        self.n_users, self.n_items = int(n_users), int(n_items)
        self._opt = None

    # -- data -----------------------------------------------------------------------------------------------
    def prepare(self, split: Split) -> None:
        """Data-dependent initialisation before training. Default: nothing."""

    def attach(self, split: Split) -> None:
        """Re-derive caches that are not weights (e.g. T-DiffRec's time-weighted matrix) after loading a
        checkpoint. Learned or fitted state lives in persistent buffers and is never recomputed here."""

    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    def input_rows(self, split: Split, users, which: str = "valid", col_major: bool = False) -> torch.Tensor:
        """The interaction vectors a method reads for these users: the training history (and, for the test
        pass with ``test_input='train+valid'``, the validation items too). ``col_major``: the same (B, I)
        values stored column by column."""
        x = split.rows(users, "train", "F" if col_major else "C")
        if which == "test" and train_settings(self.config).test_input == "train+valid":
            x = np.maximum(x, split.rows(users, "valid"))
        return torch.from_numpy(x).to(self.device)

    @property
    def test_uses_valid(self) -> bool:
        """False when the test pass reads the same input as the validation pass, so one scoring pass serves both
        (halves evaluation cost; docs/methods.md §2.1)."""
        return train_settings(self.config).test_input == "train+valid"

    # -- training / inference -------------------------------------------------------------------------------
    def fit_epoch(self, split: Split, generator: torch.Generator, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def score(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        raise NotImplementedError

    def n_diffusion_steps(self) -> int:
        return 0

    def trajectory(self, split: Split, users, k: int = 10, **opts) -> Trajectory:
        """Baselines have no denoising process: a one-step trajectory whose only state is the input history."""
        users = np.atleast_1d(np.asarray(users))
        with torch.no_grad():
            was = self.training
            self.eval()
            x = self.input_rows(split, users)
            s = self.score(split, users, "valid")
            self.train(was)
        return build_trajectory(self.name, [0], x[None], s[None], x if x.shape == s.shape else s, users,
                                np.zeros(1), np.ones(1), seen=x, k=k, scores=s[None], meta={"sampler": "none"})

    # -- helpers --------------------------------------------------------------------------------------------
    def optimizer(self, params=None, lr: Optional[float] = None, wd: Optional[float] = None):
        if self._opt is None:
            self._opt = make_adamw(params if params is not None else self.parameters(),
                                   lr=lr if lr is not None else self.config.lr,
                                   weight_decay=wd if wd is not None else self.config.weight_decay)
        return self._opt

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.parameters()))


def make_adamw(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW, fused where this PyTorch build supports it (one kernel instead of a dozen per parameter: 5-10x
    faster steps on CPU for DiffRec's 3.6 M parameters; equal up to rounding)."""
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def build_trajectory(method: str, steps, states: torch.Tensor, x0_hat: torch.Tensor, final: torch.Tensor, users,
                     betas, alphas_cumprod, seen: Optional[torch.Tensor], k: int, scores: Optional[torch.Tensor] = None,
                     final_scores: Optional[torch.Tensor] = None, meta: Optional[dict] = None) -> Trajectory:
    """Assemble a :class:`Trajectory`: masks seen items in each step's scores and takes the top-K per step."""
    scores = x0_hat if scores is None else scores
    masked = mask_scores(scores, None if seen is None else seen.unsqueeze(0).expand_as(scores))
    tk = topk(masked, k)
    fs = masked[-1] if final_scores is None else mask_scores(final_scores, seen)
    return Trajectory(
        method=method, steps=np.asarray(steps, dtype=np.int64),
        states=states.detach().float().cpu().numpy(), x0_hat=x0_hat.detach().float().cpu().numpy(),
        final=final.detach().float().cpu().numpy(), users=np.asarray(users, dtype=np.int64),
        betas=np.asarray(betas, dtype=np.float64), alphas_cumprod=np.asarray(alphas_cumprod, dtype=np.float64),
        scores=masked.detach().float().cpu().numpy(), topk=tk.cpu().numpy(),
        final_scores=fs.detach().float().cpu().numpy(), final_topk=topk(fs, k).cpu().numpy(),
        raw_scores=scores.detach().float().cpu().numpy(), meta=dict(meta or {}))
