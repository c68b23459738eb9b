"""What the Lab made in this session, for every page: the models trained or loaded, the data sets uploaded, and
which model is "in use".

Session state holds only ids (``lab_runs``, ``lab_data``, ``lab_active``, ``lab_dataset``); the objects live in
the size-capped stores of :mod:`diffrec_core.lab_train` (a module-level dict with least-recently-used eviction,
24 runs and 8 data sets per server process), so an id can outlive its object: every accessor drops ids whose
object was evicted and the pages say so. Each session keeps at most :data:`PER_SESSION` runs.

It also routes the pages: which page shows the session's Lab model in place of a pretrained one
(:data:`MODEL_PAGES`, :func:`model_for`, with the honest reasons when it cannot: :func:`why_not`) and the
sidebar's "Model on the pages" selector. ``views/_common.py`` imports this module only on a session that has Lab
runs, so a session without any never imports the Lab's training code::

    from views import _lab_state as lab
    hit = lab.active_model()          # None, or a LabRun: .model, .split, .method, .label(), .summary()
    for rid, run in lab.trained_models(): ...
    lab.model_for("diffrec", "sample")  # (run id, run) where the page now running shows it, else None
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import streamlit as st

from diffrec_core import lab_train as L
from views import _loaders as loaders

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


# ------------------------------------------------------------------------------------------------ the pages' model
MODEL_PAGES = {"reverse": "Reverse denoising"}   # URL paths of the pages that can show a Lab model


def choice() -> Optional[Tuple[str, L.LabRun]]:
    """``(run id, run)`` of the Lab model chosen for the pages in this session, or None (none chosen, evicted)."""
    run = active_model()
    return (st.session_state["lab_active"], run) if run is not None else None


def why_not(run: L.LabRun, dataset: str) -> Optional[str]:
    """Why the pages cannot show this Lab run in place of a pretrained model (None when they can). Honest limits:
    only the interaction-vector methods the Reverse page runs, and only on the very data the pages show (the Lab's
    sample world is the same split as ``get_split("sample")``; an upload is another catalogue)."""
    if run.method not in loaders.reverse_methods():
        return (f"No page shows a Lab-trained {loaders.method_title(run.method)} yet; the pages show the pretrained "
                f"models.")
    split = loaders.get_split(dataset)
    same = run.split.n_users == split.n_users and run.split.n_items == split.n_items \
        and (run.split.train != split.train).nnz == 0
    if not same:
        return (f"It was trained on {run.data_name}, while the pages show "
                f"{loaders.DATASETS.get(dataset, dataset)}; the pages keep the pretrained models.")
    return None


def model_for(method: str, dataset: str) -> Optional[Tuple[str, L.LabRun]]:
    """``(run id, run)`` when the page now running shows the session's Lab model in place of the pretrained
    ``method``: a Lab model is chosen, it is a ``method`` model, the page is one of :data:`MODEL_PAGES`, and its
    data is the pages' data. Else None (the pretrained model)."""
    hit = choice()
    if hit is None or st.session_state.get("_url_page") not in MODEL_PAGES or hit[1].method != method:
        return None
    return hit if why_not(hit[1], dataset) is None else None



def badge(dataset: str) -> Optional[str]:
    """The line above a page's title while a Lab model is chosen for this session (None when none is): whether
    this page shows it, and where it is shown instead, so no page looks like it uses a model it does not."""
    hit = choice()
    if hit is None:
        return None
    run = hit[1]
    page = st.session_state.get("_url_page")
    why = why_not(run, dataset)
    where = ", ".join(MODEL_PAGES.values())
    if why is None and page in MODEL_PAGES:
        if st.session_state.get("method") == run.method:
            return f":violet-badge[:material/science: Lab model: {run.label()}]"
        return (f":gray-badge[:material/science: Lab model chosen ({run.title}); this page shows the pretrained "
                f"{loaders.method_title(st.session_state.get('method') or run.method)}]")
    return (f":gray-badge[:material/science: Lab model chosen ({run.title}); this page shows the pretrained models"
            + (f" - the Lab model is shown on {where}" if why is None else "") + "]")

def _use_model() -> None:
    """Sidebar callback: the chosen Lab run becomes the session's model for the pages (the Lab page's own radio
    writes the same ``lab_active``), and the sidebar's method follows it so the Reverse page shows it at once."""
    rid = st.session_state.get("side_lab_model")
    set_active(rid)
    run = get_run(rid)
    if run is not None and run.method in loaders.reverse_methods():
        st.session_state["method"] = run.method


def model_selector(dataset: str) -> None:
    """In the sidebar, where this session has Lab models: which model the pages use, with the honest scope."""
    done = trained_models()
    if "lab_active" in st.session_state:         # keep the choice when the Lab page's radio is not drawn
        st.session_state["lab_active"] = st.session_state["lab_active"]
    if not done:
        return
    labels = {rid: r.label() for rid, r in done}
    ids = [None] + list(labels)
    st.session_state["side_lab_model"] = st.session_state.get("lab_active") if \
        st.session_state.get("lab_active") in ids else None
    st.selectbox("Model on the pages", ids, key="side_lab_model", on_change=_use_model,
                 format_func=lambda r: "pretrained" if r is None else f"Lab: {labels[r]}",
                 help="A model you trained or loaded in the Lab during this session. Links never carry it: a "
                      "shared link opens with the pretrained models.")
    hit = choice()
    if hit is None:
        return
    why = why_not(hit[1], dataset)
    if why:
        st.caption(why)
    else:
        where = ", ".join(MODEL_PAGES.values())
        st.caption(f"Shown on: {where} (when Method is {loaders.method_title(hit[1].method)}). The other pages "
                   f"show the pretrained models.")
