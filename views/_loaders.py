"""The app's cached loaders: data splits, pretrained checkpoints, recorded reverse runs, item axes and summaries,
the registry's lists the pages read, and the process's warm-up of all of them.

No session state here: every function is a pure load keyed by its arguments (cached objects are shared across
sessions and never mutated), so a background thread can call the very same functions the pages call. Which model
a page shows (the teaching choice, a Lab model in use) is decided in ``views/_common.py``, which re-exports these
names for the pages (``C.get_split``, ``C.load_model``, ...).
"""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from ui import data as uidata
from diffrec_core.errors import DiffRecError

REPO = Path(__file__).resolve().parents[1]
DATASETS = {"sample": "Sample world (1,000 users × 500 items)"}


class MissingModel(DiffRecError, RuntimeError):
    """No pretrained checkpoint for a method; the message says how to make one."""


# ------------------------------------------------------------------------------------------------ splits
@st.cache_resource(show_spinner="Loading the data set…")
def get_split(dataset: str, how: str = "auto"):
    """A data set's split: ``how='auto'`` the pages' default (chronological), ``'loo'`` leave-one-out."""
    from diffrec_core.pipeline import load_split

    return load_split(dataset, how=how)


def split_for(method: str, dataset: str):
    """The split a method's protocol reads (docs/methods.md §3.4): leave-one-out for sequence methods."""
    from diffrec_core.pipeline import split_how

    return get_split(dataset, split_how(method))


# ------------------------------------------------------------------------------------------------ models
def pretrained_root() -> str:
    from diffrec_core import pipeline

    return str(pipeline.PRETRAINED)


@st.cache_resource(show_spinner="Loading the pretrained model…")
def load_model(method: str, dataset: str, root: str):
    """A pretrained checkpoint by name: a registered method's (faithful) or a teaching variant's. Raises
    :class:`MissingModel` with a clear message."""
    from diffrec_core.pipeline import base_method, load_pretrained

    path = Path(root) / method
    if not (path / "model.safetensors").exists() or not (path / "config.json").exists():
        raise MissingModel(
            f"There is no pretrained checkpoint for **{method}** yet (looked in `{path}`). Make one with "
            f"`python -m diffrec_core pretrain --methods {method}` and reload this page.")
    try:
        return load_pretrained(method, split_for(base_method(method), dataset), root=root)
    except (ValueError, OSError, KeyError) as e:      # CheckpointError / ConfigError are ValueErrors
        raise MissingModel(f"The pretrained checkpoint for **{method}** in `{path}` could not be loaded: {e}. "
                           f"Re-create it with `python -m diffrec_core pretrain --methods {method}`.") from e


def run_settings(name: str, dataset: str) -> dict:
    """A checkpoint's own reverse-run settings (its config): T′ and sampling noise."""
    cfg = load_model(name, dataset, pretrained_root()).config
    return {"t_prime": int(cfg.sampling_steps), "noise": bool(cfg.sampling_noise)}


# ------------------------------------------------------------------------------------------------ reverse runs
@st.cache_data(show_spinner=False, max_entries=64)
def pretrained_trajectory(method: str, dataset: str, user: int, seed: int, T_prime: int, sampling_noise: bool,
                          reverse: str, k: int, root: str):
    """One user's recorded reverse run of a pretrained checkpoint (by checkpoint name)."""
    model = load_model(method, dataset, root)
    return model.trajectory(get_split(dataset), [int(user)], k=int(k), seed=int(seed), T_prime=int(T_prime),
                            sampling_noise=bool(sampling_noise), reverse=reverse)


def _held_run(run_id: str):
    """A Lab run by id from the server's size-capped store (not from session state: cached functions must not
    read it). Evicted runs raise :class:`MissingModel`."""
    from diffrec_core import lab_train as L

    e = L.RUNS.get(run_id)
    if e is None:
        raise MissingModel("The Lab model chosen for the pages is no longer held by the server (it keeps a few "
                           "at a time); train it again in the Lab or switch back to the pretrained models.")
    return e.obj


@st.cache_data(show_spinner=False, max_entries=64)
def lab_trajectory(run_id: str, user: int, seed: int, T_prime: int, sampling_noise: bool, reverse: str, k: int):
    """One user's recorded reverse run of a Lab model, cached under its run id (never under a pretrained
    method's key, so the two can never be mixed up)."""
    run = _held_run(run_id)
    return run.model.trajectory(run.split, [int(user)], k=int(k), seed=int(seed), T_prime=int(T_prime),
                                sampling_noise=bool(sampling_noise), reverse=reverse)


@st.cache_data(show_spinner=False, max_entries=64)
def lab_diffused_row(run_id: str, user: int):
    run = _held_run(run_id)
    return _diffused_row(run.model, run.split, user)


def _diffused_row(model, split, user: int):
    if not hasattr(model, "diffused_rows"):
        return None
    import torch

    with torch.no_grad():
        return model.diffused_rows(split, [int(user)])[0].detach().cpu().numpy().astype("float64")


@st.cache_data(show_spinner=False, max_entries=256)
def pretrained_diffused_row(method: str, dataset: str, user: int):
    """The row a pretrained checkpoint diffuses for one user (T-DiffRec: the time-weighted history)."""
    return _diffused_row(load_model(method, dataset, pretrained_root()), get_split(dataset), user)


# ------------------------------------------------------------------------------------------------ summaries
@st.cache_data(show_spinner=False)
def demo_user(dataset: str) -> int:
    return uidata.demo_user(get_split(dataset))


@st.cache_data(show_spinner=False)
def get_item_axis(dataset: str):
    split = get_split(dataset)
    return uidata.item_axis(split.item_genres, uidata.item_popularity(split), split.n_items)


@st.cache_data(show_spinner=False)
def get_world_summary(dataset: str) -> dict:
    return uidata.world_summary(get_split(dataset))


@st.cache_data(show_spinner=False)
def get_results() -> dict:
    p = REPO / "pretrained" / "results.json"
    return json.loads(p.read_text()) if p.exists() else {"methods": {}}


@st.cache_data(show_spinner=False)
def get_teaching_results() -> dict:
    """pretrained/teaching_results.json: the teaching models' figures and their faithful models' (pipeline)."""
    from diffrec_core.pipeline import TEACHING_RESULTS

    p = REPO / "pretrained" / TEACHING_RESULTS
    return json.loads(p.read_text()) if p.exists() else {"models": {}}


# ------------------------------------------------------------------------------------------------ the registry
def method_specs():
    from diffrec_core import registry

    return registry.specs()


def method_title(name: str) -> str:
    try:
        from diffrec_core import registry

        return registry.get(name).title
    except KeyError:
        return name


def reverse_methods() -> tuple:
    """The methods of the Reverse page (their denoising runs over interaction vectors), in teaching order: the
    sidebar's methods, and the only ones a Lab model can stand in for."""
    from diffrec_core import registry

    return tuple(registry.taught(page="reverse"))


# ------------------------------------------------------------------------------------------------ warm-up
WARM = {"started": None, "finished": None, "done": [], "errors": {}}   # the process's warm-up, as it goes


def warm_tasks(dataset: str = "sample") -> list:
    """``(label, call)`` for everything a first visit to a page loads through these cached loaders: the splits,
    every shipped checkpoint the pages read (faithful and teaching), the summaries, and the opening runs of Home
    and Reverse (the demo user, each model's own settings), in the order of a first lecture. Calls are the very
    loaders the pages call, with the arguments they pass, so a first visit hits the cache."""
    from diffrec_core import registry
    from diffrec_core.pipeline import TEACHING

    root = pretrained_root()
    tasks = [("split", lambda: get_split(dataset)), ("leave-one-out split", lambda: get_split(dataset, "loo")),
             ("demo user", lambda: demo_user(dataset)), ("item axis", lambda: get_item_axis(dataset)),
             ("world summary", lambda: get_world_summary(dataset)), ("results", get_results),
             ("teaching results", get_teaching_results)]
    readable = [s.name for s in registry.specs() if "lists" not in s.needs]     # rerankers load on their page
    reverse = reverse_methods()
    names = [m for m in reverse if m in readable] + list(TEACHING) + [m for m in readable if m not in reverse]
    shipped = [n for n in names if (Path(root) / n / "model.safetensors").exists()]
    tasks += [(f"model {n}", lambda n=n: load_model(n, dataset, root)) for n in shipped]

    def opening_run(name: str):
        user = demo_user(dataset)
        run = run_settings(name, dataset)
        pretrained_diffused_row(name, dataset, user)
        return pretrained_trajectory(name, dataset, user, 0, run["t_prime"], run["noise"], "all_T", 10, root)

    tasks += [(f"opening run {n}", lambda n=n: opening_run(n)) for n in shipped
              if n in reverse or n in TEACHING]
    return tasks + [("page modules", _import_page_modules)]


def _import_page_modules() -> None:
    """The figure modules (ui/) and page helpers (views/_*.py) the pages import: a first import costs seconds
    (Plotly's and pandas' own), once per process. None of them imports umap (design.md)."""
    import importlib

    for p in sorted((REPO / "ui").glob("*.py")):
        if p.stem != "__init__":
            importlib.import_module(f"ui.{p.stem}")
    for p in sorted((REPO / "views").glob("_*.py")):
        if p.stem not in ("__init__", "_common", "_loaders"):
            importlib.import_module(f"views.{p.stem}")


def warm_caches(dataset: str = "sample", log=None) -> dict:
    """Run :func:`warm_tasks` one after the other; ``{label: seconds}``, a failed task's error kept in
    :data:`WARM` (a missing checkpoint is the page's own message to show, not the warm-up's)."""
    import time

    WARM["started"] = WARM["started"] or time.time()
    out = {}
    for label, call in warm_tasks(dataset):
        t = time.perf_counter()
        try:
            call()
        except (MissingModel, OSError, ValueError, KeyError) as e:
            WARM["errors"][label] = str(e)[:200]
            continue
        out[label] = round(time.perf_counter() - t, 3)
        WARM["done"].append(label)
        if log:
            log(f"warm-up: {label} {out[label]:.2f} s")
    WARM["finished"] = time.time()
    return out


@st.cache_resource(show_spinner=False)
def _warm_thread(dataset: str):
    """The background warm-up, once per server process (a cached resource: every session and rerun gets the same
    thread). Its calls carry no page context, so they draw no spinner; what they load is shared with the pages."""
    import threading

    t = threading.Thread(target=warm_caches, args=(dataset,), name="diffrec-warm-up", daemon=True)
    t.start()
    return t


def start_warm_up(dataset: str = "sample") -> None:
    """Start :func:`warm_caches` in a background thread unless this process has already (app.py, every run)."""
    _warm_thread(dataset)
