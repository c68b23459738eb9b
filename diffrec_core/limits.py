"""Size and work budgets for models built from outside input (a checkpoint's config.json, an uploaded data set,
the Lab's settings), and the checks that enforce them *before* anything is allocated.

Why a budget and not just a try/except around the constructor: a config with ``dims = [100000]`` asks the
allocator for tens of gigabytes (the server swaps or dies before any error is raised), and a config with ten
million diffusion steps spends minutes in the schedule's set-up. So the checks here read the config and the data
shape first, and refuse, with a message naming the field and the limit:

1. **schedule length** - every schedule field (:data:`SCHEDULE_FIELDS`) at most :data:`MAX_DIFFUSION_STEPS`;
2. **data shape** - users and items at most :data:`MAX_USERS` / :data:`MAX_ITEMS`;
3. **weights** - the bytes of every parameter and buffer, counted by building the model with its large tensors on
   PyTorch's ``meta`` device (shapes only, nothing allocated: :func:`weight_bytes`), at most the budget's bytes;
4. **sanity** - learning rate and weight decay finite and >= 0, epochs >= 0, batch sizes, validation interval and
   patience >= 1, dropout in [0, 1) (:func:`check_config`).

Every refusal is a :class:`BudgetError`, a :class:`~diffrec_core.methods.base.ConfigError` (so every caller that
already reports config errors reports these too).

The budgets (one place; the figures they are derived from are in the comments):

* :data:`CHECKPOINT` - what ``checkpoint.load`` accepts from any file (``evaluate --checkpoint``, the app's
  pretrained models): 512 MB of weights, the checkpoint file limit.
* :data:`LAB` - what the Lab trains or loads on a shared classroom server: 100 MB of weights (so that a Lab model
  can always be downloaded as a checkpoint zip and uploaded again), and a bound on the work of one training
  epoch and of one evaluation pass, the units in which the Lab holds the server's training lock (an epoch cannot
  be interrupted). The bounds are about 3.5x DiffRec's largest ML-1M preset (dims [200, 600], T = 40: 4.7 M
  weights x 6,040 users = 2.8e10 weight-rows per epoch, 0.7-0.9 s per epoch on two AMD EPYC vCPUs; 1.1e12
  weight-row-steps per 40-step evaluation pass; benchmarks/README.md), so ML-1M with every shipped preset fits.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch.overrides import TorchFunctionMode

from .methods.base import ConfigError

MAX_DIFFUSION_STEPS = 1000        # the largest preset is DreamRec's T = 500 (Beauty); the pages' sliders end at 1000
SCHEDULE_FIELDS = ("steps", "sampling_steps", "ddim_steps", "infer_steps")   # config fields that set a schedule length
MAX_USERS = 1_000_000             # Amazon-Book, the largest data set of the papers, has 108,822 users
MAX_ITEMS = 1_000_000             # ... and 94,949 items
_META_NUMEL = 1 << 16             # factory calls of at least this many elements go to the meta device (weights);
                                  # smaller ones (schedule coefficients, read with .item()) are made for real


class BudgetError(ConfigError):
    """A config or data shape beyond the stated budget; the message names the field, the value and the limit."""


@dataclass(frozen=True)
class Budget:
    name: str
    weight_bytes: int                       # parameters + buffers, in their own dtypes
    max_users: int = MAX_USERS
    max_items: int = MAX_ITEMS
    epoch_work: Optional[float] = None      # weights x users: one training epoch (None: unbounded)
    pass_work: Optional[float] = None       # weights x users x steps: one evaluation pass (None: unbounded)


CHECKPOINT = Budget("checkpoint", weight_bytes=512 * 1024 ** 2)
LAB = Budget("Lab", weight_bytes=100 * 1024 ** 2, max_users=100_000, max_items=20_000,
             epoch_work=1e11, pass_work=4e12)
LAB_MAX_CELLS = 50_000_000        # users x items of an upload the Lab accepts (ML-1M: 22.4 M; a dense float32
                                  # user-item matrix of this size is 200 MB)
LAB_MAX_EPOCHS = 500              # the Lab's epochs field ends here


def _mb(n: float) -> str:
    return f"{n / 2 ** 20:,.0f} MB" if n >= 2 ** 20 else f"{int(n):,} bytes"


# ------------------------------------------------------------------------------------------------ sanity
def _fields(cfg) -> dict:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)} if dataclasses.is_dataclass(cfg) else {}


def check_config(cfg):
    """Refuse settings no run can use (a negative learning rate, negative epochs, an empty batch, ...), naming the
    field. Returns ``cfg``."""
    name = type(cfg).__name__
    for k, v in _fields(cfg).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise BudgetError(f"{name}.{k} must be a finite number, got {v}")
        if k in ("lr", "weight_decay") and v < 0:
            raise BudgetError(f"{name}.{k} must be >= 0, got {v}")
        if k == "epochs" and v < 0:
            raise BudgetError(f"{name}.epochs must be >= 0, got {v}")
        if (k.endswith("batch_size") or k in ("eval_every", "patience")) and v < 1:
            raise BudgetError(f"{name}.{k} must be >= 1, got {v}")
        if k.startswith("dropout") and not 0 <= v < 1:
            raise BudgetError(f"{name}.{k} must be in [0, 1), got {v}")
    return cfg


# ------------------------------------------------------------------------------------------------ size
class _LargeOnMeta(TorchFunctionMode):
    """Factory calls of at least ``_META_NUMEL`` elements without an explicit device make meta tensors: a model
    built under this mode has every weight's shape and dtype and no weight's memory."""

    _FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.randint,
                  torch.eye}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self._FACTORIES and kwargs.get("device") is None and _numel(func, args, kwargs) >= _META_NUMEL:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _numel(func, args, kwargs) -> int:
    if func is torch.eye:
        n = args[0] if args else kwargs.get("n", 0)
        m = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("m", n)
        return int(n) * int(m)
    if func is torch.randint:            # randint(high, size) / randint(low, high, size)
        size = next((a for a in args if isinstance(a, (tuple, list, torch.Size))), kwargs.get("size", ()))
    else:
        size = kwargs.get("size", args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size))
                          else args)
        if func is torch.full and args:
            size = args[0]
    try:
        return math.prod(int(s) for s in size)
    except (TypeError, ValueError):
        return 0


def weight_shapes(model_cls, cfg, n_users: int, n_items: int) -> dict:
    """The state dict of ``model_cls(cfg, n_users, n_items)`` with its large tensors on the meta device: every
    parameter's and buffer's name, shape and dtype, none of their memory. Call after :func:`check_shape` (small
    tensors and NumPy arrays are still made for real, and the schedule's length is what bounds them)."""
    with _LargeOnMeta(), torch.random.fork_rng(devices=[]):
        model = model_cls(cfg, int(n_users), int(n_items))
    return model.state_dict()


def weight_bytes(model_cls, cfg, n_users: int, n_items: int) -> int:
    """Bytes of every parameter and buffer of the model, counted without allocating them (:func:`weight_shapes`)."""
    return int(sum(t.numel() * t.element_size() for t in weight_shapes(model_cls, cfg, n_users, n_items).values()))


def steps_of(cfg) -> int:
    """The longest schedule a config asks for (0 for a method without one)."""
    vals = [v for k, v in _fields(cfg).items() if k in SCHEDULE_FIELDS and isinstance(v, int)]
    return max(vals, default=0)


def check_shape(cfg, n_users: int, n_items: int, budget: Budget = CHECKPOINT) -> None:
    """Schedule lengths and the data shape, before anything is built."""
    name = type(cfg).__name__
    for k, v in _fields(cfg).items():
        if k in SCHEDULE_FIELDS and isinstance(v, int) and not isinstance(v, bool) and v > MAX_DIFFUSION_STEPS:
            raise BudgetError(f"{name}.{k} = {v:,} is above the limit of {MAX_DIFFUSION_STEPS:,} diffusion steps")
    for what, v, cap in (("users", n_users, budget.max_users), ("items", n_items, budget.max_items)):
        if not 1 <= int(v) <= cap:
            raise BudgetError(f"{int(v):,} {what}: the {budget.name} limit is 1 to {cap:,} {what}")


def check_model(model_cls, cfg, n_users: int, n_items: int, budget: Budget = CHECKPOINT) -> dict:
    """Every budget check for a model about to be built: sanity, schedule length, data shape, weight bytes and
    (where the budget bounds them) the work of an epoch and of an evaluation pass. Returns the model's state dict
    of shapes (:func:`weight_shapes`), for a caller that checks a file against it."""
    check_config(cfg)
    check_shape(cfg, n_users, n_items, budget)
    try:
        shapes = weight_shapes(model_cls, cfg, n_users, n_items)
    except (ValueError, TypeError, KeyError, IndexError, NotImplementedError, RuntimeError) as e:
        raise BudgetError(f"{type(cfg).__name__} does not describe a model that can be built: {e}") from e
    nbytes = sum(t.numel() * t.element_size() for t in shapes.values())
    name = type(cfg).__name__
    if nbytes > budget.weight_bytes:
        raise BudgetError(f"{name} with {n_users:,} users x {n_items:,} items has {_mb(nbytes)} of weights; the "
                          f"{budget.name} limit is {_mb(budget.weight_bytes)} (check dims / hidden sizes)")
    weights = nbytes / 4
    if budget.epoch_work is not None and weights * n_users > budget.epoch_work:
        raise BudgetError(f"{name}: one training epoch would be {weights * n_users:.1e} weight-rows "
                          f"({weights:,.0f} weights x {n_users:,} users); the {budget.name} limit is "
                          f"{budget.epoch_work:.0e} (fewer users or smaller dims; the command line has no limit)")
    work = weights * n_users * max(1, steps_of(cfg))
    if budget.pass_work is not None and work > budget.pass_work:
        raise BudgetError(f"{name}: one evaluation pass would be {work:.1e} weight-row-steps ({weights:,.0f} "
                          f"weights x {n_users:,} users x {max(1, steps_of(cfg))} steps); the {budget.name} limit is "
                          f"{budget.pass_work:.0e} (fewer steps or smaller dims; the command line has no limit)")
    return shapes
