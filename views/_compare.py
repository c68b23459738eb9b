"""Cached loaders of the Compare page (kept out of ``views/_loaders.py``, which other pages share): the
precomputed comparison results, the leave-one-out split and pretrained sequence models, every method's
trajectory for one user, and the data the live comparison trains on. Cached objects are shared across
sessions and never mutated; session state holds only indices, settings and the live run's plain-number results.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from views import _common as C

# (label, results file relative to the repository) - the precomputed comparisons the page can show
RESULTS = (("Sample world (precomputed)", "pretrained/compare/results.json"),
           ("ML-1M clean (benchmark)", "pretrained/compare/ml-1m/results.json"))


SIDE_BY_SIDE = str(C.REPO / "benchmarks" / "results" / "side_by_side.json")   # benchmarks/side_by_side.py --save


@st.cache_data(show_spinner=False)
def _side_by_side(path: str, mtime: float) -> dict:
    from diffrec_core import reproduction

    return reproduction.load(path)


def side_by_side() -> tuple:
    """(the side-by-side reproductions, None), or (None, why they cannot be shown): a missing, oversized or
    malformed file is a message, never an exception on the page."""
    from diffrec_core import reproduction

    p = Path(SIDE_BY_SIDE)
    try:
        return _side_by_side(str(p), p.stat().st_mtime if p.exists() else 0.0), None
    except reproduction.ReproductionError as e:
        return None, str(e)


def available_results() -> dict:
    """{label: path} of the precomputed comparisons that exist."""
    return {label: str(C.REPO / rel) for label, rel in RESULTS if (C.REPO / rel).exists()}


@st.cache_data(show_spinner=False)
def load_results(path: str, mtime: float) -> dict:
    from diffrec_core import compare

    return compare.load(path)


def results(path: str) -> dict:
    return load_results(path, Path(path).stat().st_mtime)



def sample_comparison() -> dict:
    """The sample world's comparison every page ranks from: the precomputed one (several seeds) where it exists,
    else ``pretrained/results.json`` (one seed) in the same schema. The Compare page's first table and the
    Knowledge-graph page's ranking both read it through ``diffrec_core.compare.ranking``."""
    from ui import compare as compare_ui

    path = available_results().get(RESULTS[0][0])
    if path:
        return results(path)
    specs = {s.name: s for s in C.method_specs()}
    return compare_ui.from_pretrained(C.get_results(), {k: s.title for k, s in specs.items()},
                                      {k: s.kind for k, s in specs.items()})

def step_methods() -> list:
    """The diffusion methods with per-user reverse runs (all but the rerankers), in teaching order."""
    from diffrec_core import registry

    return registry.taught(needs_not="lists")


def needs_sequences(method: str) -> bool:
    from diffrec_core import registry

    return "sequences" in registry.get(method).needs


split_for = C.split_for      # the split each method's protocol reads (leave-one-out for sequence methods)


def model(method: str, dataset: str):
    if method in C.REVERSE_METHODS:             # their runs go through C.get_trajectory
        return C.get_model(method, dataset)
    return C.load_model(method, dataset, C.pretrained_root())


@st.cache_data(show_spinner=False, max_entries=128)
def _trajectory(method: str, dataset: str, user: int, seed: int, k: int, root: str):
    m = C.load_model(method, dataset, root)
    return m.trajectory(split_for(method, dataset), [int(user)], k=int(k), seed=int(seed))


def trajectory(method: str, dataset: str, user: int, seed: int, k: int, from_noise: bool = False):
    """One user's reverse run. The interaction-vector methods go through ``C.get_trajectory`` (shared with the
    Reverse page); ``from_noise`` corrupts their history for T steps first (T' = T, sampling noise on) instead of
    the faithful T' = 0."""
    if method in C.REVERSE_METHODS:
        T = model(method, dataset).n_diffusion_steps() if from_noise else 0
        return C.get_trajectory(method, dataset, int(user), int(seed), int(T), bool(from_noise), "all_T", int(k),
                                C.pretrained_root())
    return _trajectory(method, dataset, int(user), int(seed), int(k), C.pretrained_root())


@st.cache_resource(show_spinner="Preparing the live comparison's data…")
def live_data(dataset: str):
    """The data the live comparison trains on, with both splits built up front (so the shared object is never
    mutated by a session)."""
    from diffrec_core.compare import ComparisonData

    cd = ComparisonData(dataset)
    cd.split(cd.base_how)
    if cd.info.time_order:
        cd.split("leave_one_out")
    return cd
