"""Reverse denoising of interaction vectors (DiffRec, T-DiffRec, L-DiffRec): step through one user's run."""
from __future__ import annotations

import numpy as np
import streamlit as st

from views import _common as C
from views import page_params
from ui import data as uidata
from ui import equations, forward, reverse


HELDOUT = {"valid+test": "validation + test", "valid": "validation", "test": "test"}
REVERSE = {"all_T": "all T steps (authors)", "from_T_prime": "only T′ steps (clean option)"}


def _step(delta: int, S: int):
    st.session_state["rv_playing"] = False          # stepping by hand stops autoplay
    v = int(st.session_state.get("_rv_step_value", st.session_state.get("rv_step", 1))) + delta
    v = min(max(v, 1), S)
    st.session_state["_rv_step_value"] = v


def _toggle_play(S: int):
    playing = not st.session_state.get("rv_playing", False)
    st.session_state["rv_playing"] = playing
    if playing and int(st.session_state.get("_rv_step_value", 1)) >= S:
        st.session_state["_rv_step_value"] = 1


applied = C.url_state(page_params.REVERSE)           # a shared link's settings (validated) before any widget
C.stop_on_interaction("rv_playing")                   # any change of a setting stops autoplay
dataset, user, seed = C.current("dataset"), int(C.current("user")), int(C.current("seed"))
method = C.current("method")
if method not in C.REVERSE_METHODS:
    method = C.DEFAULTS["method"]
title = C.method_title(method)
st.title(f"Reverse denoising · {title}")
st.markdown("The model runs the chain backwards: at each step it reads the state x_t, predicts the clean history x̂0, "
            "and moves to x_{t−1} = c₁·x̂0 + c₂·x_t. Its last x̂0 ranks the items the user has not seen. "
            "Pick the user and method in the sidebar.")

split = C.get_split(dataset)
msg = C.clamp_state("user", 0, split.n_users - 1)
if msg:
    st.warning(f"User {msg}")
    user = int(st.session_state["user"])
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
        reverse_mode = c3.radio("reverse steps", list(REVERSE), format_func=REVERSE.get, key="rv_reverse", **keep,
                                horizontal=True)
    else:
        reverse_mode = st.session_state.get("rv_reverse", "all_T")
    c4, c5, c6 = st.columns([1, 1.6, 1.6])
    st.session_state.setdefault("rv_k", 10)
    K = c4.select_slider("top-K", [5, 10, 20], key="rv_k", **keep)
    which = c5.radio("held-out items", list(HELDOUT), format_func=HELDOUT.get, key="rv_heldout", **keep,
                     horizontal=True)
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

# ---------------------------------------------------------------- stepping (server side; all views follow)
playing = bool(st.session_state.get("rv_playing", False))
p1, p2 = st.columns([1, 5], vertical_alignment="center")
p1.button("❚❚ pause" if playing else "▶ play", key="rv_play", on_click=_toggle_play, args=(S,), type="primary",
          help="Steps through the reverse process on the server; every view follows.")
p2.caption(f"{S} reverse steps recorded. ▶ advances one step every second (the server steps, nothing blocks); "
           "touching any control stops it; ◀ ▶ step by hand.")


@st.fragment(run_every=1.0 if playing else None)
def linked_views():
    if st.session_state.get("rv_playing", False) and not C.stop_on_interaction("rv_playing"):
        st.rerun()                                    # the user moved a control: redraw the ▶ button, stop ticking
    if st.session_state.get("rv_playing", False):
        cur = int(st.session_state.get("_rv_step_value", 1))
        if cur >= S:
            st.session_state["rv_playing"] = False
            st.rerun()
        st.session_state["_rv_step_value"] = cur + 1
    b1, mid, b2 = st.columns([1, 10, 1], vertical_alignment="bottom")
    b1.button("◀", key="rv_prev", on_click=_step, args=(-1, S), help="previous step")
    b2.button("▶", key="rv_next", on_click=_step, args=(1, S), help="next step")
    step, s_msg = C.sticky_slider("reverse step", 1, S, key="rv_step", default=S, container=mid,
                                  help="1 = the first reverse step (t = T), the last one returns the recommendation.")
    if s_msg and "rv_step" in applied:
        st.warning(f"The link's reverse step (rv_step): {s_msg}")
    i = step - 1
    C.say(reverse.reverse_caption(traj, i, heldout))
    cluster_of_latent = None
    ic = slices = None
    if latent:
        ic, slices, cluster_of_latent = reverse.latent_clusters(traj.meta, split.n_items, traj.states.shape[-1])
    left, right = st.columns([3, 1.6])
    with left:
        C.chart(reverse.vectors_figure(traj, i, ax, kinds, split.item_titles, scope=scope,
                                       cluster_of_latent=cluster_of_latent),
                key="rv_vectors", filename=f"{method}_user{user}_step{step}")
    with right:
        C.equation_panel(equations.reverse_equation(traj.betas, traj.alphas_cumprod, int(traj.steps[i]),
                                                    sampling_noise=sampling_noise, latent=latent), columns=2)
    a, b = st.columns(2)
    with a:
        C.chart(reverse.bump_figure(traj, i, split.item_titles, heldout), key="rv_bump",
                filename=f"{method}_user{user}_topk")
        C.say(reverse.bump_caption(traj, heldout))
    with b:
        C.chart(reverse.metrics_figure(traj, metrics, i), key="rv_metrics", filename=f"{method}_user{user}_metrics")
        C.say(reverse.metrics_caption(metrics, i, len(heldout)))

    st.subheader("Does x̂0 demote the injected noise?")
    x0 = model_input_row
    # latent methods: decoded item scores (logits) before masking; only their ranking is compared
    table = (None if latent and traj.raw_scores is None else
             reverse.demotion_table(traj, i, profile, x0=None if latent else x0, titles=split.item_titles))
    stats = reverse.demotion_stats(table)
    d1, d2 = st.columns([3, 1.4])
    with d1:
        if table is not None:
            C.chart(reverse.demotion_figure(table, reverse.step_label(traj, i)), key="rv_demotion",
                    filename=f"{method}_user{user}_demotion")
        C.say(reverse.demotion_caption(stats, profile.has_truth, latent and traj.raw_scores is None))
    with d2:
        if table is not None and stats["n_noise"]:
            st.metric("noise vs genuine AUC", f"{stats['auc']:.2f}" if np.isfinite(stats["auc"]) else "n/a",
                      help="P(x̂0/x0 of an injected-noise item < that of a genuine one); 0.5 = chance")
            st.metric("noise among the most demoted", f"{stats['noise_in_bottom']} of {stats['n_noise']}")
        st.caption("x̂0 ÷ x0: how much of each training interaction the model's prediction keeps (T-DiffRec: "
                   "relative to its time weight). The models never see which interactions are injected noise; "
                   "the sample world knows.")
    if latent and ic is not None:
        st.subheader("L-DiffRec: item clusters and the latent trajectory")
        l1, l2 = st.columns(2)
        with l1:
            C.chart(reverse.cluster_figure(ic, split.item_genres, profile), key="rv_clusters",
                    filename="ldiffrec_clusters")
            C.say(reverse.cluster_caption(ic, split.item_genres, str(traj.meta.get("cluster_source", ""))))
        with l2:
            C.chart(reverse.latent_figure(traj, i, slices), key="rv_latent", filename=f"ldiffrec_user{user}_latent")
            C.say(reverse.latent_caption(traj))
    elif latent:
        st.info("This L-DiffRec record carries no item clusters in its metadata.")
    C.sync_url()                                      # a fragment rerun (a step) updates the link too


# the row the method diffuses (T-DiffRec: time-weighted), for the demotion ratio x̂0 / x0
model_input_row = None
if not latent and hasattr(model, "diffused_rows"):
    model_input_row = C.get_diffused_row(method, dataset, user)
linked_views()

if method == "tdiffrec" and model_input_row is not None:
    st.subheader("T-DiffRec: the time weights of the user's history")
    C.chart(reverse.time_weights_figure(model_input_row, profile, split.item_titles), key="rv_weights",
            filename=f"tdiffrec_user{user}_weights")
    C.say(reverse.time_weights_caption(model_input_row, profile))

# ---------------------------------------------------------------- downloads
st.subheader("Download this run")
d1, d2, _ = st.columns([1, 1, 3])
d1.download_button("trajectory (CSV)", data=lambda: traj.to_long_csv(0, split.item_titles),
                   file_name=f"{method}_user{user}_trajectory.csv", mime="text/csv", key="rv_csv",
                   icon=":material/download:")
d2.download_button("trajectory (NPZ)", data=lambda: traj.to_npz_bytes(),
                   file_name=f"{method}_user{user}_trajectory.npz", mime="application/octet-stream", key="rv_npz",
                   icon=":material/download:")
st.caption("Figures: use the camera icon in each chart's toolbar (PNG at 2× resolution).")
