"""The URL parameters of each page (see ``views/url_state.py``), declared in one importable place so that the tour's
links can be checked against them without running a page.

Validators here are static (what any model or log could accept); the pages then clamp to the live range (T′ ≤ T
of the loaded model, a session of the test split) with an on-page warning that names the setting.
"""
from __future__ import annotations

from diffrec_core import compare as compare_core
from diffrec_core.diffusion import PRESETS
from ui.reranking import CONDITION_LABELS
from ui.reverse import SCOPES
from views.url_state import Check, Param, between, id_list, one_of

# the noise-scale grid of the forward page's select sliders: 1, 2, 5 × 10^e, e = -6…0, and 0
GRID = sorted({m * 10.0 ** e for e in range(-6, 1) for m in (1, 2, 5)} | {0.0})
GRID = [g for g in GRID if g <= 1.0]
KINDS = {"linear_var": "linear-var (DiffRec): 1−ᾱ ramps from s·min to s·max",
         "linear_scaled": "linear β (image DDPM): β ramps from s·min to s·max"}
# the reverse chain's length (diffrec_core: reverse="all_T" | "from_T_prime") -> its label on the pages
REVERSE_MODE_LABELS = {"all_T": "all T steps (authors)", "from_T_prime": "only T′ steps (clean option)"}
REVERSE_MODES = tuple(REVERSE_MODE_LABELS)
# which pretrained model a page with the choice shows (views/_common.py: model_choice); the first is the default
MODEL_KINDS = {"teaching": "teaching (visible noise)", "faithful": "faithful (authors' settings)"}
# which of the user's held-out interactions the reverse page scores the top-K against -> its label
HELDOUT_SPLIT_LABELS = {"valid+test": "validation + test", "valid": "validation", "test": "test"}
STEP_MAX = 1000                     # the largest T any schedule here allows (forward page's T input)


def _tour_count() -> int:
    from ui import tour

    return tour.count()


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

# the guided tour's stop on the page a tour link opens (1-based; views/_tour.py draws its banner)
TOUR = {"tour": Param(int, None, range(1, _tour_count() + 1))}

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

REVERSE_PARAMS = {
    "rv_model": Param(str, next(iter(MODEL_KINDS)), one_of(MODEL_KINDS)),
    "rv_tprime": Param(int, 0, range(0, STEP_MAX + 1), sticky=True),
    "rv_noise": Param(bool, False),
    "rv_reverse": Param(str, "all_T", one_of(REVERSE_MODES)),
    "rv_k": Param(int, 10, one_of((5, 10, 20))),
    "rv_heldout": Param(str, "valid+test", one_of(HELDOUT_SPLIT_LABELS)),
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

RR_LINK_IDS = 20                    # ids a reranking link may carry (a list is at most 10 long; the page says so)
RERANKING = {
    "rr_session": Param(int, None, between(0, 10 ** 7)),
    "rr_source": Param(str, "ranker", one_of(("ranker", "logged", "build"))),   # an upload cannot be linked
    "rr_variant": Param(str, "P", one_of(("P", "T"))),
    "rr_steps": Param(int, None, range(1, STEP_MAX + 1), sticky=True),
    "rr_beam": Param(int, None, range(1, 7), sticky=True),
    "rr_cond": Param(str, None, one_of(CONDITION_LABELS)),
    "rr_step": Param(int, None, range(0, STEP_MAX + 1), sticky=True),
    # a built list as typed ids (the page checks them against the session's candidates and its list length)
    "rr_ids": Param(str, None, id_list(RR_LINK_IDS, 10 ** 7)),
}

# ------------------------------------------------------------------------------------------------ embeddings
# The embeddings page's option lists live here (the page imports them) so links are validated against the same
# values the widgets offer. Items and steps are checked statically here and clamped to the loaded data / chain.
EM_KINDS = ("umap", "pca")
EM_METHODS = ("diffurec", "dreamrec")
EM_MAP_METHODS = ("diffurec", "dreamrec", "sasrec")
EM_LAMBDAS = (1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0)
EM_SOURCES = ("user", "build")          # a built history is not linked (it can be long); the source is
EM_HELDOUT = ("valid", "test")
EM_SAMPLERS = ("ancestral", "ddim")
EM_W_MAX, EM_W_STEP = 8.0, 0.5
EM_LINK_IDS = 50                    # ids an embeddings link may carry as a built history


def _on_step(v, step, hi) -> bool:
    return 0 <= v <= hi and abs(v / step - round(v / step)) < 1e-9


EMBEDDINGS = {
    "em_kind": Param(str, None, one_of(EM_KINDS)),
    "em_map_method": Param(str, None, one_of(EM_MAP_METHODS)),
    "em_method": Param(str, None, one_of(EM_METHODS)),
    "em_item": Param(int, None, between(0, 10 ** 7)),
    "em_t": Param(int, None, range(0, STEP_MAX + 1), sticky=True),
    "em_source": Param(str, None, one_of(EM_SOURCES)),
    "em_which": Param(str, None, one_of(EM_HELDOUT)),
    "em_k": Param(int, 10, one_of((5, 10, 20))),
    "em_sampler": Param(str, None, one_of(EM_SAMPLERS)),
    "em_w": Param(float, None, Check(lambda v: _on_step(v, EM_W_STEP, EM_W_MAX), "0 … 8 in steps of 0.5")),
    "em_lam": Param(float, 1e-3, one_of(EM_LAMBDAS)),
    "em_step": Param(int, None, range(1, STEP_MAX + 1), sticky=True),
    "em_sbs": Param(int, 100, Check(lambda v: _on_step(v, 5, 100), "0 … 100 in steps of 5")),
    # a built history as typed ids (the page checks them against the catalogue; a link's list replaces the picks)
    "em_typed": Param(str, None, id_list(EM_LINK_IDS, 10 ** 7)),
}

# ------------------------------------------------------------------------------------------------ compare
COMPARE = {
    "cmp_protocol": Param(str, None, one_of(compare_core.PROTOCOLS)),   # shown only when results hold several
    "cmp_metric": Param(str, None, one_of(compare_core.METRICS)),
    "cmp_frac": Param(int, 100, Check(lambda v: _on_step(v, 5, 100), "0 … 100 in steps of 5")),
}

# ------------------------------------------------------------------------------------------------ lab
LAB_TABS = ("Train", "Data", "Load files")


def _lab_params() -> dict:
    """Tab, method and preset only: uploads and trained runs live in one session and cannot be linked."""
    from diffrec_core import lab_train as L
    from diffrec_core import registry

    methods = L.lab_methods()
    presets = sorted({p for m in methods for p in registry.get(m).presets} | {"sample"})
    return {"lab_tab": Param(str, LAB_TABS[0], one_of(LAB_TABS)),
            "lab_method": Param(str, None, one_of(methods)),
            "lab_preset": Param(str, None, one_of(presets))}


LAB = _lab_params()

# page key (app.py's registry) -> its parameters; pages not listed carry only the sidebar's
PAGE_PARAMS = {"home": {}, "forward": FORWARD, "reverse": REVERSE_PARAMS, "knowledge graph": KNOWLEDGE_GRAPH,
               "reranking": RERANKING, "embeddings": EMBEDDINGS, "compare": COMPARE, "lab": LAB}
