"""What the Lab made in this session, for every page: the models trained or loaded, the data sets uploaded, and
which model is "in use".

Session state holds only ids (``lab_runs``, ``lab_data``, ``lab_active``, ``lab_dataset``); the objects live in
the size-capped stores of :mod:`diffrec_core.lab_train` (a module-level dict with least-recently-used eviction,
24 runs and 8 data sets per server process), so an id can outlive its object: every accessor drops ids whose
object was evicted and the pages say so. Each session keeps at most :data:`PER_SESSION` runs.

For other pages (the lead wires this into the sidebar)::

    from views import _lab_state as lab
    hit = lab.active_model()          # None, or a LabRun: .model, .split, .method, .label(), .summary()
    for rid, run in lab.trained_models(): ...
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import streamlit as st

from diffrec_core import lab_train as L

PER_SESSION = 4
SAMPLE_ID = "sample"
ML100K_ID = "ml-100k"


def _ids(key: str) -> list:
    ids = st.session_state.get(key)
    if not isinstance(ids, list):
        ids = []
        st.session_state[key] = ids
    return ids


# ------------------------------------------------------------------------------------------------ data sets
@st.cache_resource(show_spinner=False)
def _sample() -> L.LabData:
    """The sample world as a Lab data set (shared, read-only; its splits are made once per kind)."""
    return L.LabData.sample()


@st.cache_resource(show_spinner="Loading ML-100K from RecBole's package data…")
def _ml100k(folder: str) -> L.LabData:
    return L.LabData.from_folder(folder, "ML-100K (RecBole)")


def _held(key: str, store) -> list:
    """(id, entry) of this session's ids under ``key`` that ``store`` still holds, oldest first; ids the store
    has evicted are forgotten."""
    ids, out = _ids(key), []
    for i in list(ids):
        e = store.get(i)
        if e is None:
            ids.remove(i)
        else:
            out.append((i, e))
    return out


def add_dataset(data: L.LabData) -> str:
    did = L.DATASETS.put(data, "data", data.name)
    ids = _ids("lab_data")
    ids.append(did)
    del ids[:-PER_SESSION]
    return did


def datasets() -> List[Tuple[str, str]]:
    """(id, label) of the data sets this session can train on: the sample world, ML-100K where RecBole provides
    it, and this session's uploads that are still held."""
    from diffrec_core.upload import recbole_ml100k

    out = [(SAMPLE_ID, "Sample world (1,000 users × 500 items)")]
    if recbole_ml100k() is not None:
        out.append((ML100K_ID, "ML-100K with its knowledge graph (RecBole package data)"))
    out += [(did, f"Upload: {e.label}") for did, e in _held("lab_data", L.DATASETS)]
    return out


def get_dataset(did: Optional[str]) -> Optional[L.LabData]:
    if did in (None, SAMPLE_ID):
        return _sample()
    if did == ML100K_ID:
        from diffrec_core.upload import recbole_ml100k

        folder = recbole_ml100k()
        return _ml100k(str(folder)) if folder is not None else None
    if did not in _ids("lab_data"):                  # only this session's uploads
        return None
    e = L.DATASETS.get(did)
    return e.obj if e is not None else None


# ------------------------------------------------------------------------------------------------ runs
def add_run(run: L.LabRun) -> str:
    """Keep a run for this session (the oldest of this session's runs beyond PER_SESSION is dropped)."""
    rid = L.RUNS.put(run, "run", run.method)
    ids = _ids("lab_runs")
    ids.append(rid)
    while len(ids) > PER_SESSION:
        old = ids.pop(0)
        if st.session_state.get("lab_active") == old:
            st.session_state["lab_active"] = None
        L.RUNS.drop(old)
    return rid


def get_run(rid: Optional[str]) -> Optional[L.LabRun]:
    if not rid or rid not in _ids("lab_runs"):       # only this session's runs
        return None
    e = L.RUNS.get(rid)
    return e.obj if e is not None else None


def runs() -> List[Tuple[str, L.LabRun]]:
    """This session's runs still held (running or done), oldest first; evicted ids are forgotten."""
    return [(rid, e.obj) for rid, e in _held("lab_runs", L.RUNS)]


def trained_models() -> List[Tuple[str, L.LabRun]]:
    """This session's finished runs (trained or loaded from a checkpoint): usable on every page."""
    return [(rid, r) for rid, r in runs() if r.done]


def set_active(rid: Optional[str]) -> None:
    st.session_state["lab_active"] = rid


def active_model() -> Optional[L.LabRun]:
    """The finished run chosen "for use on every page" in this session, or None (none chosen, or evicted)."""
    run = get_run(st.session_state.get("lab_active"))
    if run is None or not run.done:
        return None
    return run
