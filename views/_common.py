"""What every page shares: session state (the shared sidebar's values, sticky sliders), the model a page shows
(teaching or faithful, pretrained or the session's Lab model), the shared sidebar, the equation panel, chart and
caption helpers. Pages stay thin; figures and captions come from ``ui``.

Session state holds indices and settings only (user id, seed, step, ...), never tensors. The cached loaders live
in ``views/_loaders.py`` and the Lab's routing in ``views/_lab_state.py``; the loaders' names are re-exported here
(``C.get_split``, ``C.load_model``, ...) and looked up on ``_loaders`` at each use, so a page and the loaders
always see the same function (a test that replaces ``_loaders.get_split`` replaces it for every page).
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from ui import data as uidata
from ui import presentation
from ui.theme import PRESENT_SCALE, plotly_config, scale_figure
from ui.stepper import PAUSE_SCRIPT
from views import _loaders as L
from views import page_params
from views import url_state as URL
from views._loaders import DATASETS, REPO, MissingModel  # noqa: F401  (re-exported: pages read them via C)
from views.url_state import Param, between, one_of  # noqa: F401  (re-exported: pages declare Params via C)

DEFAULTS = {"dataset": "sample", "method": "diffrec", "user": None, "seed": 0,   # user: the data's demo user
            "present": False}
# pages offering the teaching / faithful choice of a pretrained model: page key -> its URL parameters (the choice,
# and the run settings a change of model resets to that model's own: T′ and sampling noise)
TEACHING_PAGES = {"reverse": {"choice": "rv_model", "t_prime": "rv_tprime", "noise": "rv_noise"}}
PAGES: dict = {}   # page key -> st.Page, filled by app.py (links fall back to plain text without it)

# the loaders' names the pages and app.py call through this module (see the module docstring)
_LOADERS = ("get_split", "split_for", "pretrained_root", "load_model", "get_item_axis", "get_world_summary",
            "get_results", "get_teaching_results", "method_specs", "method_title", "WARM",
            "warm_tasks", "warm_caches", "start_warm_up")


def __getattr__(name: str):
    if name == "REVERSE_METHODS":                 # the Reverse page's methods, from the registry
        return L.reverse_methods()
    if name in _LOADERS:
        return getattr(L, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------ state
def current(key: str):
    """A shared-sidebar value (dataset, method, user, seed, present), or its default when the sidebar is not
    drawn (a page run on its own, as in the page tests). ``'model'``: which pretrained model of the current
    method this page shows, 'teaching' or 'faithful' (:func:`model_kind`)."""
    if key == "model":
        return model_kind(current("method"))
    v = st.session_state.get(key)
    if v is None:
        v = default_user(current("dataset")) if key == "user" else DEFAULTS[key]
    return v


# ------------------------------------------------------------------------------------------------ URL state
def url_state(params: dict, notify: bool = True) -> set:
    """Declare a page's URL parameters (``{key: Param(type, default, validator[, sticky])}`` or plain tuples) at
    the top of the page, before its widgets: a shared link's values are validated and applied, bad ones fall back
    with a notice. Returns the keys applied from the link in this run. See ``views/url_state.py``."""
    return URL.url_state(params, notify=notify)


def sync_url() -> None:
    """Write the page's current settings into the URL (app.py after each run; call at the end of a fragment), and
    offer the link in the sidebar (at the end of the run, so it holds every widget's value)."""
    URL.sync()
    with st.sidebar.popover("Copy link", icon=":material/link:",
                            help="This exact view as a link: the settings, the step a stepper opens on, a built "
                                 "list (never uploads or Lab models)."):
        st.code(URL.share_url(), language=None, wrap_lines=True)
        st.caption("The copy icon at the right of the link copies it.")



# ------------------------------------------------------------------------------------------------ presentation
def presenting() -> bool:
    """Presentation mode (sidebar switch, URL ``present=1``): larger fonts and figures, advanced controls
    hidden."""
    return bool(current("present"))


def advanced() -> bool:
    """Whether to draw advanced controls: False in presentation mode, so a projected page shows only the
    controls the lesson needs. A hidden control keeps its value (pages read it from session state)."""
    return not presenting()


def default_user(dataset: str) -> int:
    return int(L.demo_user(dataset))


def clamp_state(key: str, lo, hi, default=None) -> Optional[str]:
    """Keep a widget's stored value inside [lo, hi] before the widget is drawn; returns a message when it had to
    move the value (a stale or bad value), else None."""
    if key not in st.session_state:
        if default is not None:
            st.session_state[key] = default
        return None
    v = st.session_state[key]
    try:
        fixed = min(max(v, lo), hi)
    except TypeError:
        st.session_state[key] = default if default is not None else lo
        return f"{key}: {v!r} is not a valid value; reset."
    if fixed != v:
        st.session_state[key] = fixed
        return f"{v} is outside {lo}..{hi}; using {fixed}."
    return None


def _remember(key: str) -> None:
    st.session_state[f"_{key}_value"] = st.session_state[key]


def sticky_value(key: str, lo: int, hi: int, default: int):
    """The integer kept under ``_<key>_value`` (a sticky slider's, or a step that only a link sets, such as the
    first frame of a stepper figure), clamped into [lo, hi] and stored back. Returns (value, message): message
    says when a stored value had to be clamped."""
    shadow = f"_{key}_value"
    want = st.session_state.get(shadow, st.session_state.get(key, default))
    msg = None
    try:
        want = int(want)
    except (TypeError, ValueError):
        msg, want = f"{want!r} is not a step; using {default}.", int(default)
    if want > hi or want < lo:
        fixed = min(max(want, lo), hi)
        msg = f"{want} is outside {lo}…{hi}; using {fixed}."
        want = fixed
    st.session_state[shadow] = want
    return want, msg


def sticky_slider(label: str, lo: int, hi: int, key: str, default: int, container=None, **kw):
    """An integer slider whose value survives a change of its range (Streamlit gives a slider a new identity
    when min/max change, which would reset it). The last chosen value is kept under ``_<key>_value`` and
    clamped into [lo, hi]. Returns (value, message): message says when a stored value had to be clamped."""
    want, msg = sticky_value(key, lo, hi, default)
    st.session_state[key] = want
    value = (container or st).slider(label, lo, hi, key=key, on_change=_remember, args=(key,), **kw) if hi > lo \
        else lo
    return int(value), msg


# ------------------------------------------------------------------------------------------------ the model shown
def get_model(method: str, dataset: Optional[str] = None):
    """The model of a method a page shows: the session's Lab model where one is in use on this page (see
    :func:`lab_model_for`), else the pretrained one (shared, read-only). Raises :class:`MissingModel` with a clear
    message."""
    dataset = dataset or current("dataset")
    hit = lab_model_for(method, dataset)
    if hit is not None:
        return hit[1].model
    return L.load_model(checkpoint_name(method), dataset, L.pretrained_root())


def get_trajectory(method: str, dataset: str, user: int, seed: int, T_prime: int, sampling_noise: bool,
                   reverse: str, k: int, root: str):
    """One user's recorded reverse run (milliseconds; cached so that stepping through it costs nothing). With a Lab
    model in use on this page the run is the Lab model's, cached under its run id - never under the pretrained
    method's key, so the two can never be mixed up."""
    hit = lab_model_for(method, dataset)
    if hit is not None:
        return L.lab_trajectory(hit[0], int(user), int(seed), int(T_prime), bool(sampling_noise), reverse, int(k))
    return L.pretrained_trajectory(checkpoint_name(method), dataset, int(user), int(seed), int(T_prime),
                                   bool(sampling_noise), reverse, int(k), root)



def get_diffused_row(method: str, dataset: str, user: int):
    """The row a method diffuses for one user (T-DiffRec: the time-weighted history), as a NumPy vector."""
    hit = lab_model_for(method, dataset)
    if hit is not None:
        return L.lab_diffused_row(hit[0], int(user))
    return L.pretrained_diffused_row(checkpoint_name(method), dataset, int(user))




# ------------------------------------------------------------------------------------------------ teaching models
def _teaching_name(method: str) -> Optional[str]:
    from diffrec_core.pipeline import teaching_of

    return teaching_of(method)


def _choice_page() -> Optional[str]:
    """The page now running, where it offers the teaching / faithful choice (declared its parameter this run)."""
    run = st.session_state.get(URL.RUN_KEYS, {})
    return next((p for p, keys in TEACHING_PAGES.items() if keys["choice"] in run), None)


def model_kind(method: str) -> str:
    """'teaching' or 'faithful': which pretrained model of ``method`` the page now running shows. The teaching
    model only on a page of :data:`TEACHING_PAGES`, for a method that has one, while it is chosen (the default);
    every other page shows the faithful model."""
    page = _choice_page()
    if page is None or _teaching_name(method) is None:
        return "faithful"
    v = st.session_state.get(TEACHING_PAGES[page]["choice"])
    return v if v in page_params.MODEL_KINDS else next(iter(page_params.MODEL_KINDS))


def checkpoint_name(method: str) -> str:
    """The pretrained checkpoint shown for ``method`` on the page now running (``diffrec_teaching`` or
    ``diffrec``)."""
    return _teaching_name(method) if model_kind(method) == "teaching" else method


def model_label(method: str) -> str:
    """The title suffix naming the model shown: ' (teaching model)' or ' (faithful)' where the page offers the
    choice for this method, else ''."""
    if _choice_page() is None or _teaching_name(method) is None:
        return ""
    return " (teaching model)" if model_kind(method) == "teaching" else " (faithful)"


def _model_changed(method: str, page: str) -> None:
    """A change of model puts the page's run settings at that model's own (the teaching model runs from x_T,
    T′ = T; the faithful one from the history, T′ = 0), so each opens on the run it was made for."""
    keys = TEACHING_PAGES[page]
    name = _teaching_name(method) if st.session_state.get(keys["choice"]) == "teaching" else method
    try:
        run = L.run_settings(name, current("dataset"))
    except MissingModel:
        return
    st.session_state[f"_{keys['t_prime']}_value"] = run["t_prime"]        # the sticky T′ slider's value
    st.session_state[keys["noise"]] = run["noise"]
    st.session_state[f"_{keys['choice']}_shown"] = name


def _teaching_sentence(method: str, kind: str) -> tuple:
    """(label, sentence): what the chosen model shows, from the figures pretraining measured over all users
    (pretrained/teaching_results.json)."""
    row = L.get_teaching_results().get("models", {}).get(_teaching_name(method) or "", {})
    t, f = row.get("reverse"), row.get("faithful_reverse")
    title = L.method_title(method)
    if kind == "teaching":
        if not t:
            return "Teaching model:", (f"{title} trained with noise one can see and run from noise (x_T, T′ = T). "
                    "Its figures are not recorded yet (`python -m diffrec_core pretrain --methods "
                    f"{_teaching_name(method)}`).")
        r = t["heldout_recall"]
        text = (f"Not the authors' setting: {title}'s network and objective, trained on this data "
                f"(seed 1) with noise one can see - std {t['noise_std_T']:.2f} at T, so x_T barely tells the "
                f"history from the other items (AUC {t['start_auc']:.2f}; 0.5 = no trace) - and run from x_T "
                f"(T′ = T). Over all users, held-out Recall@{t['k']} rises from {r[0]:.3f} at step 1 to "
                f"{r[-1]:.3f} at step {t['steps']}: noise destroys, the reverse chain recovers.")
        test_t, test_f = row.get("test", {}).get("recall@10"), L.get_results().get("methods", {}).get(
            method, {}).get("test", {}).get("recall@10")
        if test_t is not None and test_f is not None:
            text += (f" It recommends worse than the faithful model (test Recall@10 {test_t:.3f} against "
                     f"{test_f:.3f}): it is made for watching diffusion, not for ranking.")
        return "Teaching model.", text
    if not f:
        return "Faithful model:", (f"{title} with the authors' settings - tiny noise, and the chain starts from "
                "the clean history (T′ = 0), so the steps barely change the ranking.")
    r = f["heldout_recall"]
    return "Faithful model", (f"(the authors' settings): noise std {f['noise_std_T']:.3f} at T, and the chain "
            f"starts from the clean history (T′ = 0), so x_T looks exactly like the history and the top-"
            f"{f['k']} hardly moves - held-out Recall@{f['k']} {r[0]:.3f} at step 1, {r[-1]:.3f} at step "
            f"{f['steps']} over all users. That flat line is the honest finding, not a fault: DiffRec works as "
            f"{f['steps']} small denoising corrections of the history, not as generation from noise.")


def model_choice(method: str, page: str = "reverse") -> str:
    """The teaching / faithful choice on ``page`` (one of :data:`TEACHING_PAGES`, whose parameters it declared),
    drawn where it is called, with the sentence saying what the chosen model shows. Draw it before the page's run
    settings: the first visit opens on the chosen model's own T′. Returns the model shown: 'teaching',
    'faithful', or 'lab' (a Lab model of this session is in use; the choice is not drawn)."""
    from diffrec_core.pipeline import TEACHING

    keys = TEACHING_PAGES[page]
    dataset = current("dataset")
    lab = lab_model_for(method, dataset)
    name, kind = _teaching_name(method), model_kind(method)
    shown = f"lab {lab[0]}" if lab is not None else name if kind == "teaching" else method
    shadow, mark = f"_{keys['t_prime']}_value", f"_{keys['choice']}_shown"
    prev = st.session_state.get(mark)
    st.session_state[mark] = shown
    # the shown model's own run: on a first visit that neither a link nor the session has set, and when the
    # sidebar (method, Lab model) moves the page to or from a teaching model; the radio's own change is
    # _model_changed's
    first = shadow not in st.session_state and keys["t_prime"] not in st.session_state
    if first or (prev is not None and prev != shown and (prev in TEACHING or shown in TEACHING)):
        try:
            cfg = lab[1].model.config if lab is not None else L.load_model(shown, dataset, L.pretrained_root()).config
        except MissingModel:
            cfg = None
        if cfg is not None:
            st.session_state[shadow] = int(cfg.sampling_steps)
            if first:
                st.session_state.setdefault(keys["noise"], bool(cfg.sampling_noise))
            else:
                st.session_state[keys["noise"]] = bool(cfg.sampling_noise)
    if lab is not None:
        st.caption("Your Lab model is shown; the teaching / faithful choice applies to the pretrained models.")
        return "lab"
    if name is None:
        have = ", ".join(L.method_title(t.method) for t in TEACHING.values())
        st.caption(f"{L.method_title(method)}: the faithful model (authors' settings). A teaching model with visible "
                   f"noise ships for {have}.")
        return "faithful"
    st.radio("model", list(page_params.MODEL_KINDS), format_func=page_params.MODEL_KINDS.get, key=keys["choice"],
             horizontal=True, on_change=_model_changed, args=(method, page), persist_state="session",
             help="teaching: the same method trained with visible noise and run from noise, so the steps show "
                  "diffusion at work; faithful: the authors' settings, as the benchmarks use it.")
    lead, text = _teaching_sentence(method, kind)
    say(text, lead=lead)
    return kind


# ------------------------------------------------------------------------------------------------ Lab models
def _lab():
    """``views/_lab_state`` (the Lab's routing), or None on a session without Lab runs: such a session never
    imports the Lab's training code."""
    if not st.session_state.get("lab_runs"):
        return None
    from views import _lab_state

    return _lab_state


def lab_model_for(method: str, dataset: str):
    """``(run id, run)`` when the page now running shows the session's Lab model in place of the pretrained
    ``method`` (``views/_lab_state.py``: :func:`model_for`), else None (the pretrained model)."""
    lab = _lab()
    return lab.model_for(method, dataset) if lab is not None else None


# ------------------------------------------------------------------------------------------------ sidebar
def _random_user():
    import numpy as np

    split = L.get_split(current("dataset"))
    st.session_state["user"] = int(np.random.default_rng().integers(split.n_users))


def sidebar(page: Optional[str] = None) -> None:
    """The shared sidebar: data set, method, user, seed, presentation mode (drawn by app.py on every page).
    Its settings are URL parameters of every page. ``page``: the page about to run (its URL path)."""
    URL.begin(page)
    url_state({"dataset": Param(str, DEFAULTS["dataset"], one_of(DATASETS))})
    if st.session_state.get("dataset") not in DATASETS:
        st.session_state["dataset"] = DEFAULTS["dataset"]
    names = [m for m in L.reverse_methods() if m in {s.name for s in L.method_specs()}]
    split = L.get_split(current("dataset"))
    params = page_params.sidebar(DATASETS, names, split.n_users, default_user(current("dataset")))
    url_state({k: params[k] for k in ("method", "user", "seed", "present")})
    with st.sidebar:
        st.selectbox("Data set", list(DATASETS), format_func=DATASETS.get, key="dataset",
                     help="Pretrained models ship for the sample world. Real data sets are trained from the command "
                          "line: `python -m diffrec_core train --method diffrec --data PATH`.")
        if st.session_state.get("method") not in names:
            st.session_state["method"] = names[0] if names else DEFAULTS["method"]
        st.selectbox("Method", names, format_func=L.method_title, key="method",
                     help="The diffusion model the reverse page denoises with.")
        lab = _lab()
        if lab is not None:                      # which model the pages use, where this session has Lab models
            lab.model_selector(current("dataset"))
        clamp_state("user", 0, split.n_users - 1, default_user(current("dataset")))
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.number_input("User", min_value=0, max_value=split.n_users - 1, step=1, key="user",
                        help=f"0 … {split.n_users - 1}")
        c2.button("", icon=":material/casino:", on_click=_random_user, help="a random user", key="random_user")
        profile = uidata.user_profile(split, int(current("user")))
        st.caption(uidata.user_summary(profile))
        clamp_state("seed", 0, 2**31 - 1, DEFAULTS["seed"])
        st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                        help="Seeds every random draw on the pages (the forward noise ε, sampling noise).")
        st.toggle(":material/co_present: Presentation mode", key="present",
                  help="For a projector: larger text and figures, advanced controls hidden. Part of the link, so "
                       "a prepared link opens in presentation mode.")
        st.caption("Every setting is in the page's address: copy it to share this exact view.")
    if presenting():                             # the projector's layout: ui/presentation.py
        st.html(presentation.page_html(page, PRESENT_SCALE), unsafe_allow_javascript=True)
    st.html(PAUSE_SCRIPT, unsafe_allow_javascript=True)   # ❚❚ pause without an error in the console (ui/stepper.py)
    from views import _tour

    _tour.banner(page)                          # a tour link's stop: its banner above the page
    lab = _lab()
    line = lab.badge(current("dataset")) if lab is not None else None
    if line:                                    # a Lab model is chosen: whether this page shows it, above its title
        st.markdown(line)


# ------------------------------------------------------------------------------------------------ rendering
def _plain(text: str) -> str:
    """Text with its Markdown specials escaped (a data-driven caption is shown as written)."""
    return text.replace("$", "\\$").replace("*", "\\*").replace("_", "\\_")


def say(text: str, lead: str = "") -> None:
    """A data-driven caption, at body size (readable on a projector). Markdown specials are escaped; ``lead``, a
    fixed label of ours, is set in bold before it."""
    st.markdown((f"**{lead}** " if lead else "") + _plain(text))


def chart(fig, key: str, filename: Optional[str] = None, export: bool = True, title: Optional[str] = None) -> None:
    """Draw a figure (built for this call: presentation mode scales its fonts and height in place), with a small
    "Download" popover under it: PNG/SVG (and GIF for an animated figure) from ``views/_export.py``.

    Why a popover: every chart of every page gets the same export in one place without pushing the lesson down the
    page; its buttons hold deferred callables, so kaleido renders only when one is clicked (Streamlit's deferred
    downloads) and its status is probed once per process (``ui.export.kaleido_status``), never per rerun.
    ``export=False`` for a chart drawn where a popover cannot go (inside another popover). ``title``: what the
    exported images say on top (method, user, step), so a slide names what it shows."""
    if presenting():                        # the page's key figure also fits the first screen
        fig = (presentation.fit_key_figure(fig, presentation.KEY_HEIGHTS.get(key, presentation.KEY_HEIGHT))
               if key in presentation.KEY_CHARTS else scale_figure(fig, PRESENT_SCALE))
    st.plotly_chart(fig, key=key, config=plotly_config(filename or key), width="stretch", theme=None)
    if export:
        from views._export import export_buttons

        with st.popover("Download", icon=":material/download:", type="tertiary",
                        help="this figure as an image (PNG, SVG; GIF for an animation)"):
            export_buttons(fig, filename or key, key=f"{key}__export", title=title)


def equation_panel(eq, columns: int = 3, live: bool = True) -> None:
    """The equation of the current view and the live values of its terms at the current step. ``live=False``:
    the general equation only (a stepper figure prints each step's numbers itself, following its scrubber)."""
    with st.container(border=True):
        st.markdown(f"**{eq.title}**")
        st.latex(eq.general)
        if not live:
            return
        st.latex(eq.live)
        cols = st.columns(columns)
        for i, (label, value, help_) in enumerate(eq.terms):
            cols[i % columns].metric(label, value, help=help_)
        if eq.note:
            st.caption(eq.note)


def page_link(key: str, label: str, icon: Optional[str] = None, query_params: Optional[dict] = None) -> None:
    """A link to a registered page (with URL state: the page opens with exactly these settings)."""
    page = PAGES.get(key)
    if page is not None:
        st.page_link(page, label=label, icon=icon, query_params=query_params)
    else:
        st.markdown(f"**{label}**")


def missing_model(err: Exception) -> None:
    st.warning(str(err), icon="📦")
