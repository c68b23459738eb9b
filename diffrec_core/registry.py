"""The method registry: every method declares a spec once, and the CLI, the trainer, the contract test and the
app read it from here instead of keeping their own lists."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class MethodSpec:
    name: str                 # registry key, e.g. 'diffrec'
    title: str                # display name, e.g. 'DiffRec'
    paper: str                # citation, e.g. 'Wang et al., SIGIR 2023 (arXiv 2304.04971)'
    diffused: str             # what is diffused ('' for baselines)
    model_cls: type           # a diffrec_core.methods.base.Recommender subclass
    config_cls: type          # its typed config dataclass
    kind: str = "diffusion"   # 'diffusion' | 'baseline'
    needs: Tuple[str, ...] = ("interactions",)  # data it needs: interactions / sequences / kg / lists
    idea: str = ""            # one line for the app's method card
    page: str = ""            # the app page that shows it
    order: int = 0            # place in the app's teaching order of the diffusion methods (1 first; 0: after them)
    presets: Dict[str, dict] = field(default_factory=dict)  # named config overrides


_REGISTRY: Dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    if spec.name in _REGISTRY and _REGISTRY[spec.name].model_cls is not spec.model_cls:
        raise ValueError(f"method {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _load_all() -> None:
    from . import methods  # noqa: F401  (importing registers every method)


def get(name: str) -> MethodSpec:
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def names(kind: str | None = None) -> list:
    _load_all()
    return [n for n, s in _REGISTRY.items() if kind is None or s.kind == kind]


def specs() -> list:
    _load_all()
    return list(_REGISTRY.values())


def teaching_order(specs_) -> list:
    """``specs_`` in the app's teaching order (``order``; unplaced ones after, each group as given)."""
    return sorted(specs_, key=lambda s: (getattr(s, "order", 0) <= 0, getattr(s, "order", 0)))


def taught(page: str | None = None, needs_not: str | None = None) -> list:
    """Names of the diffusion methods in teaching order, optionally only those shown on ``page`` or only those
    whose data needs exclude ``needs_not`` (e.g. 'lists': the per-user methods, not the rerankers)."""
    return [s.name for s in teaching_order(specs()) if s.kind == "diffusion"
            and (page is None or s.page == page) and (needs_not is None or needs_not not in s.needs)]
