"""The URL parameters of each page (see ``views/url_state.py``), declared in one importable place so that the tour's
links can be checked against them without running a page.

Validators here are static (what any model or log could accept); the pages then clamp to the live range (T′ ≤ T
of the loaded model, a session of the test split) with an on-page warning that names the setting.
"""
from __future__ import annotations

from diffrec_core.diffusion import PRESETS
from ui.reranking import CONDITION_LABELS
from ui.reverse import SCOPES
from views.url_state import Check, Param, between, one_of

# the noise-scale grid of the forward page's select sliders: 1, 2, 5 × 10^e, e = -6…0, and 0
GRID = sorted({m * 10.0 ** e for e in range(-6, 1) for m in (1, 2, 5)} | {0.0})
GRID = [g for g in GRID if g <= 1.0]
KINDS = {"linear_var": "linear-var (DiffRec): 1−ᾱ ramps from s·min to s·max",
         "linear_scaled": "linear β (image DDPM): β ramps from s·min to s·max"}
REVERSE_MODES = ("all_T", "from_T_prime")
HELDOUT = ("valid+test", "valid", "test")
STEP_MAX = 1000                     # the largest T any schedule here allows (forward page's T input)


def _on_grid(v) -> bool:
    return any(abs(v - g) <= 1e-9 * max(abs(g), 1e-12) for g in GRID)


def snap(v: float) -> float:
    """The grid value nearest to ``v`` in relative terms (0 stays 0)."""
    return min(GRID, key=lambda g: abs(g - v) / max(abs(v), 1e-12)) if v else 0.0


def preset_fields(name: str) -> dict:
    """The forward page's schedule fields of a preset (the values its widgets take)."""
    p = PRESETS[name]
    return {"fw_kind": p.name, "fw_T": int(p.T), "fw_scale": snap(p.scale), "fw_min": snap(p.a_min),
            "fw_max": snap(p.a_max), "fw_b1": p.beta1_fix is not None}


def expand(page: str, params: dict) -> dict:
    """A link's full parameters: a forward link that names a preset also carries the preset's fields, so the link
    reproduces the schedule even where the session had edited it."""
    out = dict(params)
    if page == "forward" and out.get("fw_preset") in PRESETS:
        for k, v in preset_fields(out["fw_preset"]).items():
            out.setdefault(k, FORWARD[k].format(v))
    return out


def sidebar(datasets, methods, n_users: int, default_user: int) -> dict:
    """The shared sidebar's parameters (every page). Depends on the data, so it is built where the data is."""
    return {
        "dataset": Param(str, next(iter(datasets)), one_of(list(datasets))),
        "method": Param(str, methods[0] if methods else "diffrec", one_of(methods)),
        "user": Param(int, default_user, range(0, n_users)),
        "seed": Param(int, 0, range(0, 2 ** 31)),
        "present": Param(bool, False),
    }


SIDEBAR_STATIC = ("dataset", "method", "user", "seed", "present")

FORWARD = {
    "fw_preset": Param(str, "diffrec ml-1m (tuned)", one_of(PRESETS)),
    "fw_kind": Param(str, None, one_of(KINDS)),
    "fw_T": Param(int, None, range(1, STEP_MAX + 1)),
    "fw_scale": Param(float, None, Check(_on_grid, "on the grid 0, 1e-06, 2e-06, 5e-06 … 1")),
    "fw_min": Param(float, None, Check(_on_grid, "on the grid 0, 1e-06, 2e-06, 5e-06 … 1")),
    "fw_max": Param(float, None, Check(_on_grid, "on the grid 0, 1e-06, 2e-06, 5e-06 … 1")),
    "fw_b1": Param(bool, None),
    "fw_step": Param(int, None, range(0, STEP_MAX + 1), sticky=True),
}

REVERSE = {
    "rv_tprime": Param(int, 0, range(0, STEP_MAX + 1), sticky=True),
    "rv_noise": Param(bool, False),
    "rv_reverse": Param(str, "all_T", one_of(REVERSE_MODES)),
    "rv_k": Param(int, 10, one_of((5, 10, 20))),
    "rv_heldout": Param(str, "valid+test", one_of(HELDOUT)),
    "rv_scope": Param(str, SCOPES[0], one_of(SCOPES)),
    "rv_step": Param(int, None, range(1, STEP_MAX + 1), sticky=True),
}

KNOWLEDGE_GRAPH = {
    "kg_center": Param(str, "item", one_of(("item", "user"))),
    "kg_item": Param(int, None, between(0, 10 ** 7)),
    "kg_hop": Param(bool, False),
    "kg_entity": Param(int, None, between(0, 10 ** 7)),
    "kg_tprime": Param(int, 0, range(0, STEP_MAX + 1), sticky=True),
    "kg_noise": Param(bool, False),
    "kg_reverse": Param(str, "all_T", one_of(REVERSE_MODES)),
    "kg_step": Param(int, None, range(1, STEP_MAX + 1), sticky=True),
    "kg_scope": Param(str, "per step", one_of(("per step", "whole trajectory"))),
    "kg_k": Param(int, 10, one_of((5, 10, 20))),
}

RERANKING = {
    "rr_session": Param(int, None, between(0, 10 ** 7)),
    "rr_source": Param(str, "ranker", one_of(("ranker", "logged", "build"))),   # an upload cannot be linked
    "rr_variant": Param(str, "P", one_of(("P", "T"))),
    "rr_steps": Param(int, None, range(1, STEP_MAX + 1), sticky=True),
    "rr_beam": Param(int, None, range(1, 7), sticky=True),
    "rr_cond": Param(str, None, one_of(CONDITION_LABELS)),
    "rr_step": Param(int, None, range(0, STEP_MAX + 1), sticky=True),
}

# page key (app.py's registry) -> its parameters; pages not listed carry only the sidebar's
PAGE_PARAMS = {"home": {}, "forward": FORWARD, "reverse": REVERSE, "knowledge graph": KNOWLEDGE_GRAPH,
               "reranking": RERANKING}
