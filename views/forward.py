"""Forward noising of an interaction vector: q(x_t | x0) under DiffRec's schedules and an image-DDPM one."""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from diffrec_core.diffusion import PRESETS, GaussianDiffusion, ScheduleConfig
from views import _common as C
from views import page_params
from ui import data as uidata
from ui import cite, equations, forward, schedule
from ui.fmt import num, pct


DEFAULT_PRESET = "diffrec ml-1m (tuned)"
KINDS, GRID = page_params.KINDS, page_params.GRID       # shared with the URL parameters' validators
FIELDS = ("fw_kind", "fw_T", "fw_scale", "fw_min", "fw_max", "fw_b1")


_on_grid, _preset_values = page_params.snap, page_params.preset_fields


def _apply_preset():
    name = st.session_state.get("fw_preset", DEFAULT_PRESET)
    if name in PRESETS:
        st.session_state.update(_preset_values(name))


@st.cache_data(show_spinner=False)
def _preset_noise() -> dict:
    return schedule.noise_at_T(PRESETS)


def _edited(name: str) -> bool:
    vals = _preset_values(name)
    return any(st.session_state.get(k) != v for k, v in vals.items())


st.title("Forward noising")
st.markdown("Diffusion first **destroys** data step by step: x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε. In DiffRec the data is a "
            "user's interaction vector x0 ∈ {0, 1}ᴵ, one entry per item. Press ▶ to watch it being noised; the step "
            "slider below drives the curves, the histogram and the equation.")

applied = C.url_state(page_params.FORWARD)            # a shared link's settings (validated) before any widget
if "fw_preset" in applied:                            # a link naming a preset: its fields, unless the link sets them
    for k, v in _preset_values(st.session_state["fw_preset"]).items():
        if k not in applied:
            st.session_state[k] = v
dataset, user, seed = C.current("dataset"), int(C.current("user")), int(C.current("seed"))
split = C.get_split(dataset)
msg = C.clamp_state("user", 0, split.n_users - 1)
if msg:
    st.warning(f"User {msg}")
    user = int(st.session_state["user"])
ax = C.get_item_axis(dataset)
profile = uidata.user_profile(split, user)

# ---------------------------------------------------------------- schedule controls
if "fw_preset" not in st.session_state or st.session_state["fw_preset"] not in PRESETS:
    st.session_state["fw_preset"] = DEFAULT_PRESET
for k, v in _preset_values(st.session_state["fw_preset"]).items():
    st.session_state.setdefault(k, v)
if st.session_state.get("fw_kind") not in KINDS:
    st.session_state["fw_kind"] = "linear_var"
for k in ("fw_scale", "fw_min", "fw_max"):
    if st.session_state.get(k) not in GRID:
        st.session_state[k] = _on_grid(float(st.session_state.get(k) or 0.0))
t_msg = C.clamp_state("fw_T", 1, 1000)

with st.container(border=True):
    c1, c2 = st.columns([2, 3])
    c1.selectbox("Preset", list(PRESETS), key="fw_preset", persist_state="session", on_change=_apply_preset,
                 help="The DiffRec authors' tuned settings (from their released checkpoints), the sample world's, a "
                      "'visible noise' teaching preset, and image-DDPM for contrast.")
    c2.radio("Schedule", list(KINDS), format_func=KINDS.get, key="fw_kind", persist_state="session", horizontal=True)
    c3, c4, c5, c6, c7 = st.columns([1, 1, 1, 1, 1.2])
    c3.number_input("T (steps)", min_value=1, max_value=1000, step=1, key="fw_T", persist_state="session")
    c4.select_slider("noise scale s", GRID, format_func=num, key="fw_scale", persist_state="session")
    if C.advanced():          # presentation mode hides these; the preset's (or the link's) values stay in effect
        c5.select_slider("min", GRID, format_func=num, key="fw_min", persist_state="session")
        c6.select_slider("max", GRID, format_func=num, key="fw_max", persist_state="session")
        c7.toggle("β₁ fix", key="fw_b1", persist_state="session",
                  help="DiffRec overwrites β₁ with 1e-5 after building the schedule.")
    if _edited(st.session_state["fw_preset"]):
        st.caption(f"Edited from the preset “{st.session_state['fw_preset']}”.")
if t_msg:
    st.warning(f"T: {t_msg}")

cfg = ScheduleConfig(st.session_state["fw_kind"], int(st.session_state["fw_T"]), float(st.session_state["fw_scale"]),
                     float(st.session_state["fw_min"]), float(st.session_state["fw_max"]),
                     1e-5 if st.session_state["fw_b1"] else None)
try:
    diffusion = GaussianDiffusion(cfg)
except ValueError as e:
    st.error(f"This schedule is not valid: {e}. For linear-var, min must be smaller than max.", icon="⚠️")
    st.stop()
table = diffusion.schedule_table()
T = diffusion.T
x0 = split.rows([user], "train")[0].astype(np.float64)
eps = forward.noise_draw(split.n_items, seed)
kinds = forward.item_kinds(profile, split.n_items)


# ---------------------------------------------------------------- stepping (in the browser; every panel follows)
t0, step_msg = C.sticky_value("fw_step", 0, T, default=T)    # the frame the figure opens on (the link's step)
if step_msg and "fw_step" in applied:
    st.warning(f"The link's step (fw_step): {step_msg}")
steps = forward.frame_steps(T, include=[t0])
states = forward.forward_states(diffusion, x0, steps, eps)
fig = forward.stepper_figure(states, steps, ax, kinds, table, split.item_titles, current_t=t0, T=T, x0=x0,
                             noise=eps)
C.chart(fig, key="fw_hero", filename=f"forward_user{user}", title=f"Forward noising · user {user} · t = {t0} of {T}")
C.say(forward.history_caption(profile) + " Press ▶ or drag the step slider: the vector, the curves' marker, the "
      "histogram and the numbers at the top follow the step in your browser. "
      f"“{forward.MODEL_VIEW}” greys out which items were interacted (the model sees x_t only): at t = T the "
      f"history is invisible; “{forward.REVEAL}” shows the colours again.")
st.caption(f"T = {T} steps" + (f"; the figure holds {len(steps)} of them (evenly spaced, t = 0 and T included), "
                               "the curves every step." if len(steps) < T + 1 else ", one frame each.")
           + f" It opens on t = {t0}" + (" (from the link)." if "fw_step" in applied else ".")
           + f" Noise ε drawn once with seed {seed} and reused for every step and setting.")
left, right = st.columns([1, 1.25])
with left:
    eq = equations.forward_equation(table, t0)
    C.equation_panel(dataclasses.replace(eq, title="Forward noising (this step's numbers: top of the figure)"),
                     live=False)


def honest_point():
    """The honest point of docs/methods.md §5.1: DiffRec's tuned noise is tiny next to image diffusion."""
    stds = _preset_noise()
    end = schedule.terms_at(table, T)
    st.markdown("**How much noise does DiffRec really add?**")
    m1, m2, m3 = st.columns(3)
    m1.metric("noise std at T", num(end["noise_std"]), help="√(1−ᾱ_T) under the current setting")
    m2.metric("signal kept at T", num(end["sqrt_alpha_bar"], 4), help="√ᾱ_T: the factor on x0 at the last step")
    m3.metric("β₁ share", pct(schedule.beta1_share(table), 1),
              help="β₁'s share of the summed noise Σβ. With DiffRec's β₁ fix (1e-5) the first step alone can be "
                   f"most of the noise ({cite.link('1.2')}).")
    C.chart(schedule.noise_at_T_figure(stds, current=end["noise_std"]), key="fw_noise_T",
            filename="noise_std_at_T")
    C.say(schedule.noise_at_T_caption(stds, end["noise_std"]) + " DiffRec also starts its reverse process from "
          "the clean history (T′ = 0): it behaves like a multi-step denoising autoencoder rather than a generator "
          "from noise.")


with right:
    honest_point()
