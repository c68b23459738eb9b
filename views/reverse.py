"""Reverse denoising of interaction vectors (DiffRec, T-DiffRec, L-DiffRec): step through one user's run.

Stepping runs in the browser: every (capped) step of the run is a frame of one Plotly figure (``ui.reverse_stepper.
stepper_figure``), scrubbed and played without a server round trip. The server reruns only when a setting changes
the run; the link's ``rv_step`` sets the frame the figure opens on."""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from diffrec_core import trajectory_io
from views import _common as C
from views import page_params
from ui import data as uidata
from ui import equations, forward, reverse, reverse_noise, reverse_stepper, reverse_variants
from views._export import figures_note
from views.page_params import HELDOUT_SPLIT_LABELS, REVERSE_MODE_LABELS


applied = C.url_state(page_params.REVERSE_PARAMS)          # a shared link's settings (validated) before any widget
dataset, user, seed = C.current("dataset"), int(C.current("user")), int(C.current("seed"))
method = C.current("method")
if method not in C.REVERSE_METHODS:
    method = C.DEFAULTS["method"]
title = C.method_title(method) + C.model_label(method)      # names the teaching model where it is shown
st.title(f"Reverse denoising · {title}")
st.markdown("The model runs the chain backwards: at each step it reads the state xₜ, predicts the clean history x̂0, "
            "and moves to xₜ₋₁ = c₁·x̂0 + c₂·xₜ. Its last x̂0 ranks the items the user has not seen. "
            "Pick the user and method in the sidebar.")

split = C.get_split(dataset)
msg = C.clamp_state("user", 0, split.n_users - 1)
if msg:
    st.warning(f"User {msg}")
    user = int(st.session_state["user"])
C.model_choice(method)                                   # teaching (visible noise) / faithful, before the run settings
try:
    model = C.get_model(method, dataset)
except C.MissingModel as e:
    C.missing_model(e)
    st.stop()
T = int(model.n_diffusion_steps())
profile = uidata.user_profile(split, user)
ax = C.get_item_axis(dataset)

# ---------------------------------------------------------------- run settings
with st.container(border=True):
    c1, c2, c3 = st.columns([2, 1.3, 1.7])
    T_prime, tp_msg = C.sticky_slider("T′: how far to noise the history before denoising", 0, T, key="rv_tprime",
                                      default=0, container=c1, help="The authors use T′ = 0 (start from the clean "
                                      f"history). This model has T = {T}.")
    keep = dict(persist_state="session")      # settings survive a visit to another page
    sampling_noise = c2.toggle("sampling noise", key="rv_noise", **keep,
                               help="Add posterior noise σ̃·ε in each reverse step (the authors: off).")
    if C.advanced():              # presentation mode hides the advanced controls; their values stay in effect
        reverse_mode = c3.radio("reverse steps", list(REVERSE_MODE_LABELS), format_func=REVERSE_MODE_LABELS.get,
                                key="rv_reverse", **keep, horizontal=True)
    else:
        reverse_mode = st.session_state.get("rv_reverse", "all_T")
    c4, c5, c6 = st.columns([1, 1.6, 1.6])
    st.session_state.setdefault("rv_k", 10)
    K = c4.select_slider("top-K", [5, 10, 20], key="rv_k", **keep)
    which = c5.radio("held-out items", list(HELDOUT_SPLIT_LABELS), format_func=HELDOUT_SPLIT_LABELS.get,
                     key="rv_heldout", **keep, horizontal=True)
    if C.advanced():
        scope = c6.radio("axis / colour range", list(reverse.SCOPES), key="rv_scope", **keep, horizontal=True,
                         help="per step: each step uses its own range (see detail); whole trajectory: one range, "
                              "so steps are comparable.")
    else:
        scope = st.session_state.get("rv_scope", reverse.SCOPES[0])
if tp_msg:
    st.warning(f"T′ (rv_tprime) {tp_msg} T′ cannot exceed T = {T} for {title}.")
if reverse_mode == "from_T_prime" and T_prime == 0:
    st.info("With the clean option and T′ = 0 there is nothing to denoise: the reverse process has no steps. "
            "Raise T′ or choose 'all T steps'.")
    st.stop()

heldout = profile.heldout(which)
traj = C.get_trajectory(method, dataset, user, seed, T_prime, sampling_noise, reverse_mode, K, C.pretrained_root())
S = traj.n_steps
latent = reverse.is_latent(traj)
kinds = forward.item_kinds(profile, split.n_items, heldout)
st.caption(reverse.start_caption(traj) + (f" Sampling noise uses seed {seed}." if sampling_noise else ""))
if len(profile.train) == 0:
    st.warning(f"User {user} has no training history: the model starts from an all-zero vector, so its "
               "recommendation is the same for every such user.")
metrics = reverse.step_metrics(traj, heldout, (K,))

# the row the method diffuses (T-DiffRec: time-weighted), for the demotion ratio x̂0 / x0
model_input_row = None
if not latent and hasattr(model, "diffused_rows"):
    model_input_row = C.get_diffused_row(method, dataset, user)
cluster_of_latent = ic = slices = None
if latent:
    ic, slices, cluster_of_latent = reverse_variants.latent_clusters(traj.meta, split.n_items, traj.states.shape[-1])

# ---------------------------------------------------------------- stepping (in the browser; every panel follows)
step, s_msg = C.sticky_value("rv_step", 1, S, default=S)     # the frame the figure opens on (the link's step)
if s_msg and "rv_step" in applied:
    st.warning(f"The link's reverse step (rv_step): {s_msg}")
fig = reverse_stepper.stepper_figure(traj, ax, kinds, split.item_titles, heldout, metrics, scope=scope,
                                     start=step - 1, cluster_of_latent=cluster_of_latent,
                                     sampling_noise=sampling_noise, profile=profile,
                                     x0=None if latent else model_input_row)
n_frames = len(fig.frames)
st.caption(f"▶ play and the step slider run in your browser: every panel of the figure follows the step, with no "
           f"wait for the server. {S} reverse steps recorded"
           + (f"; the figure holds {n_frames} of them (evenly spaced, first and last included)." if n_frames < S
              else ", one frame each.")
           + f" It opens on reverse step {step}" + (" (from the link)." if "rv_step" in applied else "."))
st.caption(reverse.numbering_caption(traj))
slide = f"{C.method_title(method)} · user {user}"      # what every exported image of this page says on top
C.chart(fig, key="rv_vectors", filename=f"{method}_user{user}_steps",
        title=f"{slide} · {reverse.step_label(traj, step - 1)}")
left, right = st.columns([1.4, 1])
with left:
    C.say(reverse.bump_caption(traj, heldout))
    C.say(reverse.metrics_caption(metrics, None, len(heldout)))
    lesson = reverse.one_shot_lesson(traj, metrics)
    if lesson:
        st.info(lesson, icon=":material/school:")
with right:
    eq = equations.reverse_equation(traj.betas, traj.alphas_cumprod, int(traj.steps[step - 1]),
                                    sampling_noise=sampling_noise, latent=latent)
    C.equation_panel(dataclasses.replace(eq, title="One reverse step, xₜ → xₜ₋₁ (each step's numbers: top of "
                                                   "the figure)", note=""), live=False)

last = S - 1
st.subheader("Does x̂0 demote the injected noise?")
# latent methods: decoded item scores (logits) before masking; only their ranking is compared
table = (None if latent and traj.raw_scores is None else
         reverse_noise.demotion_table(traj, last, profile, x0=None if latent else model_input_row,
                                      titles=split.item_titles))
stats = reverse_noise.demotion_stats(table)
d1, d2 = st.columns([3, 1.4])
with d1:
    if table is not None:
        C.chart(reverse_noise.demotion_figure(table, reverse.step_label(traj, last) + ", the recommendation"),
                key="rv_demotion", filename=f"{method}_user{user}_demotion",
                title=f"{slide} · {reverse.step_label(traj, last)}")
    C.say(reverse_noise.demotion_caption(stats, profile.has_truth, latent and traj.raw_scores is None))
with d2:
    if table is not None and stats["n_noise"]:
        st.metric("noise vs genuine AUC", f"{stats['auc']:.2f}" if np.isfinite(stats["auc"]) else "n/a",
                  help="P(x̂0/x0 of an injected-noise item < that of a genuine one); 0.5 = chance")
        st.metric("noise among the most demoted", f"{stats['noise_in_bottom']} of {stats['n_noise']}")
    st.caption("At the last step, whose x̂0 ranks the items (the figure above prints this AUC at every step). "
               "x̂0 ÷ x0: how much of each training interaction the model's prediction keeps (T-DiffRec: "
               "relative to its time weight). The models never see which interactions are injected noise; "
               "the sample world knows.")
if latent and ic is not None:
    st.subheader("L-DiffRec: item clusters and the latent trajectory")
    l1, l2 = st.columns(2)
    with l1:
        C.chart(reverse_variants.cluster_figure(ic, split.item_genres, profile), key="rv_clusters",
                filename="ldiffrec_clusters", title=slide)
        C.say(reverse_variants.cluster_caption(ic, split.item_genres, str(traj.meta.get("cluster_source", ""))))
    with l2:
        C.chart(reverse_variants.latent_figure(traj, None, slices), key="rv_latent",
                filename=f"ldiffrec_user{user}_latent", title=slide)
        C.say(reverse_variants.latent_caption(traj))
elif latent:
    st.info("This L-DiffRec record carries no item clusters in its metadata.")

if method == "tdiffrec" and model_input_row is not None:
    st.subheader("T-DiffRec: the time weights of the user's history")
    C.chart(reverse_variants.time_weights_figure(model_input_row, profile, split.item_titles), key="rv_weights",
            filename=f"tdiffrec_user{user}_weights", title=slide)
    C.say(reverse_variants.time_weights_caption(model_input_row, profile))

# ---------------------------------------------------------------- downloads
st.subheader("Download this run")
d1, d2, _ = st.columns([1, 1, 3])
d1.download_button("trajectory (CSV)", data=lambda: trajectory_io.to_csv(traj, [0], split.item_titles),
                   file_name=f"{method}_user{user}_trajectory.csv", mime="text/csv", key="rv_csv",
                   icon=":material/download:")
d2.download_button("trajectory (NPZ)", data=lambda: traj.to_npz_bytes(),
                   file_name=f"{method}_user{user}_trajectory.npz", mime="application/octet-stream", key="rv_npz",
                   icon=":material/download:")
st.caption(figures_note())
