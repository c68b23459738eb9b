"""Embeddings (DiffuRec, DreamRec): the item map, a noised item, a generated next-item embedding travelling across
the map, DreamRec's guidance weight, DiffuRec's λ, and both models side by side.

Thin: models and maps are loaded once (st.cache_resource), runs are cached (st.cache_data, milliseconds each);
figures and captions come from ``ui.embeddings``, ``ui.embeddings_reverse`` and
``ui.embeddings_models``. The maps are precomputed offline
(``python -m diffrec_core item-map``); live points are projected onto them, UMAP is never imported here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict

import pandas as pd
import streamlit as st

from diffrec_core import seq_explain as SX

from views import _common as C
from views import page_params as PP
from ui import embeddings as emap
from ui import embeddings_models as emodels
from ui import embeddings_reverse as erev
from ui.equations import forward_equation
from ui.schedule import table_from_betas

METHODS, MAP_METHODS, KINDS, LAMBDAS = PP.EM_METHODS, PP.EM_MAP_METHODS, PP.EM_KINDS, PP.EM_LAMBDAS  # link-checked
SWEEP_W = (0.0, 1.0, 2.0, 4.0, 8.0)
SOURCES = {"user": "a user's history", "build": "a history I build"}
HELDOUT = {"valid": "validation item", "test": "test item"}
SAMPLERS = {"ancestral": "ancestral (authors)", "ddim": "DDIM (our addition)"}


# ------------------------------------------------------------------------------------------------ cached loads
def get_seq_split(dataset: str):
    """Sequence methods read the leave-one-out split (docs/methods.md §3.4), not the pages' default split."""
    return C.get_split(dataset, "loo")


def get_seq_model(method: str, dataset: str, root: str):
    return C.load_model(method, dataset, root)      # shared cache; loads on the method's own split


@st.cache_resource(show_spinner=False)
def get_map(method: str, dataset: str, root: str):
    """(ItemMap, warning or None). Without a precomputed file: a PCA map computed now (milliseconds, no UMAP)."""
    from diffrec_core import item_map as IM

    model = get_seq_model(method, dataset, root)
    table = IM.item_table(model)
    try:
        imap = IM.load(IM.map_path(method, root))
    except IM.ItemMapError as e:
        return IM.build_map(method, table, with_umap=False), (
            f"{e}. Showing a PCA map computed now; for the UMAP map run `python -m diffrec_core item-map`.")
    if imap.meta.get("table_sha256") != IM.table_hash(table) or imap.embeddings.shape != table.shape:
        return IM.build_map(method, table, with_umap=False), (
            f"The precomputed {method} map was made from other weights than the checkpoint now in `{root}`; "
            "showing a PCA map of the current weights. Rebuild with `python -m diffrec_core item-map`.")
    return imap, None


@st.cache_data(show_spinner=False)
def get_map_stats(method: str, dataset: str, root: str):
    imap, _ = get_map(method, dataset, root)
    return emap.map_stats(imap, get_seq_split(dataset).item_genres)


@st.cache_data(show_spinner=False, max_entries=128)
def run_reverse(method, dataset, root, history: tuple, seed, k, w, lam, sampler, user, shared: bool = False):
    model = get_seq_model(method, dataset, root)
    x_T = None
    if shared:   # the same x_T for both models: one draw of the widest, each takes its first d coordinates
        dims = [SX.embedding_dim(get_seq_model(m, dataset, root)) for m in METHODS]
        x_T = SX.shared_start(dims, seed)[METHODS.index(method)]
    return SX.reverse(model, list(history), seed=seed, k=k, x_T=x_T, w=w, lam=lam, sampler=sampler, user=user)


@st.cache_data(show_spinner=False, max_entries=32)
def run_sweep(dataset, root, history: tuple, ws: tuple, seed, k, sampler):
    return SX.guidance_sweep(get_seq_model("dreamrec", dataset, root), list(history), list(ws), seed=seed, k=k,
                             sampler=sampler)


@st.cache_data(show_spinner="Running DiffuRec from 8 different x_T for each δ…", max_entries=32)
def run_lambda(dataset, root, history: tuple, seed, k):
    return SX.lambda_sensitivity(get_seq_model("diffurec", dataset, root), list(history), LAMBDAS, n_starts=8,
                                 seed=seed, k=k)


@st.cache_data(show_spinner=False, max_entries=64)
def run_forward(method, dataset, root, item, seed):
    imap, _ = get_map(method, dataset, root)
    return SX.forward_item(get_seq_model(method, dataset, root), item, seed=seed, E=imap.embeddings)


# ------------------------------------------------------------------------------------------------ page
em_linked = C.url_state(PP.EMBEDDINGS)   # a shared link's settings (validated) before any widget
if "em_typed" in em_linked:              # a link's built history is the whole history: no picks before it
    st.session_state["em_build"] = []
dataset, seed = C.current("dataset"), int(C.current("seed"))
root = C.pretrained_root()
st.title("Embeddings · DiffuRec and DreamRec")
# presentation mode: the page's prose waits behind "explain", so the projector shows the figures first
with st.expander("explain", icon=":material/school:") if C.presenting() else st.container():
    st.markdown("DiffuRec and DreamRec do not diffuse interaction vectors: they generate the **embedding of the next "
                "item** from noise, guided by the user's history, and recommend the items whose embeddings score "
                "highest against it (x̂0·eᵢ). Here you can watch that embedding travel across a map of the catalogue.")

split = get_seq_split(dataset)
titles, genres = split.item_titles, split.item_genres
models = {}
for m in METHODS:
    try:
        models[m] = get_seq_model(m, dataset, root)
    except C.MissingModel as e:
        C.missing_model(e)
if not models:
    st.stop()
with st.expander("Which of the authors' quirks do the pretrained models use?"):
    for m, model in models.items():
        C.say(emodels.quirk_sentence(m, asdict(model.config)))
    st.caption("Faithful = as in the authors' code; clean = our switch. Reproduction presets (e.g. `beauty`) use "
               "the faithful choice everywhere; the sample-world checkpoints switch only what is listed as clean.")

kind = st.radio("Map", KINDS, format_func=emap.KIND_LABEL.get, key="em_kind", horizontal=True,
                help="UMAP keeps neighbourhoods (precomputed offline); PCA is a linear projection (its axes mean "
                     "something, and new points land exactly).")

# ---------------------------------------------------------------- 1. the item map
st.header("1 · The item map")
avail_map = [m for m in MAP_METHODS if m in models or m == "sasrec"]
if st.session_state.get("em_map_method", avail_map[0]) not in avail_map:
    st.warning(f"No pretrained {st.session_state.pop('em_map_method')} model here; showing another map.")
map_method = st.radio("Item embeddings of", avail_map, format_func=lambda m: emap.METHOD_TITLE.get(m, m),
                      key="em_map_method", horizontal=True,
                      help="SASRec is the non-diffusion reference both papers compare against.")
try:
    imap, map_warn = get_map(map_method, dataset, root)
except C.MissingModel as e:
    C.missing_model(e)
    imap, map_warn = None, None
if imap is not None:
    if map_warn:
        st.warning(map_warn)
    if kind not in imap.kinds():
        st.info("This map has no UMAP layout; showing PCA.")
    mkind = kind if kind in imap.kinds() else "pca"
    C.chart(emap.map_figure(imap, mkind, genres, titles), key="em_map", filename=f"{map_method}_item_map_{mkind}")
    C.say(emap.map_caption(imap, mkind, get_map_stats(map_method, dataset, root)))
    C.say(emap.MAP_NOTE)
    st.caption("How this map was made: " + emap.describe(imap, mkind))

# ---------------------------------------------------------------- model for the generation sections
st.divider()
if st.session_state.get("em_method", next(iter(models))) not in models:
    st.warning(f"No pretrained {st.session_state.pop('em_method')} model here; showing {next(iter(models))}.")
method = st.radio("Model for sections 2–3", list(models), format_func=emap.METHOD_TITLE.get, key="em_method",
                  horizontal=True)
model = models[method]
results = C.get_results().get("methods", {})
for m in models:                     # each model's test Recall@20 beside a random ranking's (k / n_items)
    sentence = emap.chance_sentence(m, results.get(m, {}).get("test", {}), split.n_items)
    if sentence:
        C.say(sentence)
gmap, gwarn = get_map(method, dataset, root)
gkind = kind if kind in gmap.kinds() else "pca"
if gwarn:
    st.warning(gwarn)
T = int(model.n_diffusion_steps())

# ---------------------------------------------------------------- 2. forward
st.header("2 · Forward: noise one item's embedding")
C.say("Both models diffuse the embedding of the target item, x₀ = e_item. Pick an item and press ▶ (or move the "
      "figure's t slider): the point leaves the item and drifts towards noise; the ringed items are the ones x_t "
      "now resembles most (cosine, in the full space).")
item_msg = C.clamp_state("em_item", 0, split.n_items - 1, 0)
if item_msg:
    st.warning(f"Item {item_msg}")
item = st.selectbox("Item", list(range(split.n_items)), key="em_item",
                    format_func=lambda i: f"{titles[i]} · {genres[i]}" if titles else str(i))
t, _ = C.sticky_value("em_t", 0, T, default=T // 2)        # the frame the stepper opens on (a link's t)
fwd = run_forward(method, dataset, root, int(item), seed)
C.chart(emap.forward_stepper(gmap, gkind, fwd, genres, titles, start=t), key="em_forward",
        filename=f"{method}_forward_item{item}")
a, b = st.columns([3, 2])
with a:
    C.say(emap.forward_caption(fwd, T, titles, T))
    st.caption("How x_t was placed: " + emap.placement_sentence(gkind, float(fwd.cos_to_item[T]), titles[int(item)]))
with b:
    eq = forward_equation(table_from_betas(model.diffusion.betas.double().numpy()), t)
    C.equation_panel(dataclasses.replace(eq, title="The forward step (each t's numbers: in the figure)"), live=False)


# ---------------------------------------------------------------- 3. reverse
def history_controls():
    """Returns (history item ids, held-out item or None, user label) or None when there is nothing to run."""
    src = st.radio("Start from", list(SOURCES), format_func=SOURCES.get, key="em_source", horizontal=True)
    user = int(C.current("user"))
    if src == "user":
        msg = C.clamp_state("user", 0, split.n_users - 1)
        if msg:
            st.warning(f"User {msg}")
            user = int(st.session_state["user"])
        which = st.radio("Held-out next item", list(HELDOUT), format_func=HELDOUT.get, key="em_which",
                         horizontal=True, help="validation: the history is the training sequence; test: it also "
                                               "contains the validation item.")
        items, target = SX.user_history(model, split, user, which)
        C.say(f"User {user} (change it in the sidebar): {len(items)} items in the history, the last "
              f"{min(len(items), SX.window_len(model))} of which {emap.METHOD_TITLE[method]} reads.")
        if not len(items):
            st.info(f"User {user} has no history to condition on; pick another user or build a history.")
            return None
        return items, target, user
    if "em_build" not in st.session_state:          # start from the current user's last five items
        st.session_state["em_build"] = [int(i) for i in SX.user_history(model, split, user, "valid")[0][-5:]]
    chosen = st.multiselect("History (oldest first; the order you add items is the order of the sequence)",
                            list(range(split.n_items)), key="em_build",
                            format_func=lambda i: f"{titles[i]} · {genres[i]}" if titles else str(i))
    typed = st.text_input("…or type item ids / exact titles, comma-separated (appended after the list above)",
                          key="em_typed", placeholder="e.g. 12, 40, Solar Station")
    raw = list(chosen) + [s for s in typed.split(",")] if typed.strip() else list(chosen)
    check = SX.clean_history(raw, split.n_items, titles)
    if not check.empty:                   # the shared link carries the built history as typed ids
        from views import url_state

        url_state.link_extra("em_typed", url_state.ids_text(check.items))
    for p in check.problems(titles):
        st.warning(p)
    if check.empty:
        st.info(check.empty_message)
        return None
    L = SX.window_len(model)
    if len(check.items) > L:
        st.caption(f"{emap.METHOD_TITLE[method]} reads only the last {L} items of a history.")
    return check.items, None, -1


st.header("3 · Reverse: generate the next item's embedding")
C.say("From pure noise x_T the model predicts x̂0 at every step and moves to x_{t−1}. The thin grey path is "
      "the state x_t, the dotted vermillion path the model's prediction x̂0 at each step; faded points resemble no "
      f"item (best cosine < {emap.FADE}), so their map position only says which items they lean towards.")
hist = history_controls()
if hist is None:
    st.stop()
items, target, user = hist
c1, c2, c3, _ = st.columns([1, 1.5, 2, 2])
st.session_state.setdefault("em_k", 10)               # defaults via state: a link may have set them already
st.session_state.setdefault("em_w", float(models["dreamrec"].config.w) if "dreamrec" in models else 2.0)
st.session_state.setdefault("em_lam", 1e-3)
K = c1.select_slider("top-K", [5, 10, 20], key="em_k")
sampler = c2.radio("sampler", list(SAMPLERS), format_func=SAMPLERS.get, key="em_sampler")
# each model's own knob only: w is DreamRec's guidance, δ DiffuRec's λ scale (the other keeps its value)
if method == "dreamrec":
    w = c3.slider("DreamRec guidance w", 0.0, PP.EM_W_MAX, step=PP.EM_W_STEP, key="em_w", persist_state="session",
                  help="x̂0 = (1+w)·f(x, h) − w·f(x, ∅); w = 0 is the conditional model alone.")
else:
    w = st.session_state["em_w"]
if method == "diffurec":
    lam = c3.select_slider("DiffuRec δ (λ ~ N(δ, δ²))", LAMBDAS, key="em_lam", persist_state="session",
                           format_func=lambda v: f"{v:g}",
                           help="The scale at which the noisy target reaches DiffuRec's Transformer. Trained at "
                                "0.001.")
else:
    lam = st.session_state["em_lam"]
hist_t = tuple(int(i) for i in items)
traj = run_reverse(method, dataset, root, hist_t, seed, int(K), float(w), float(lam), sampler, int(user))
S = traj.n_steps
# the frame the stepper opens on: a link's step (em_step), clamped to a shorter chain's last step without a warning
step, _ = C.sticky_value("em_step", 1, S, default=S)
fig = erev.stepper_figure(gmap, gkind, traj, genres, titles, target, items[-SX.window_len(model):], start=step - 1)
st.caption(f"▶ play and the step slider run in your browser: the current x̂0, the starred top-{int(K)}, the rank "
           f"cursor and the step's numbers follow the step, with no wait for the server. {S} reverse steps"
           + (f"; the figure holds {len(fig.frames)} of them." if len(fig.frames) < S else ", one frame each.")
           + f" It opens on step {step}.")
C.chart(fig, key="em_reverse", filename=f"{method}_reverse")
C.say(erev.reverse_caption(traj, S - 1, target, titles))
r1, r2 = st.columns([1, 1])
with r1:
    st.markdown(f"**The final top-{int(K)}** (step {S}, the recommendation)")
    st.dataframe(pd.DataFrame(erev.topk_rows(traj, S - 1, titles, target, genres)), hide_index=True, key="em_topk")
with r2:
    eq = erev.reverse_equation(traj, S - 1)
    C.equation_panel(dataclasses.replace(eq, title=eq.title.split(" · ")[0] + " · one reverse step (this step's "
                                         "numbers: in the figure)"), live=False)

d1, d2, _ = st.columns([1, 1, 3])
label = f"user{user}" if user >= 0 else "built"
d1.download_button("trajectory (CSV)", data=lambda: erev.trajectory_csv(traj, gmap, gkind, titles, target),
                   file_name=f"{method}_{label}_trajectory.csv", mime="text/csv", key="em_csv",
                   icon=":material/download:")
d2.download_button("trajectory (NPZ)", data=lambda: traj.to_npz_bytes(), file_name=f"{method}_{label}_trajectory.npz",
                   mime="application/octet-stream", key="em_npz", icon=":material/download:")
st.caption("CSV: one row per step (map positions, lengths, held-out rank, top-K). NPZ: the full vectors x_t and x̂0 "
           "of every step, readable with `Trajectory.from_npz_bytes`.")

# ---------------------------------------------------------------- 4. guidance
if "dreamrec" in models:
    st.header("4 · DreamRec: the guidance weight w")
    ws = tuple(sorted(set(SWEEP_W) | {float(w)}))
    sweep = run_sweep(dataset, root, hist_t, ws, seed, int(K), sampler)
    dmap, _ = get_map("dreamrec", dataset, root)
    dkind = kind if kind in dmap.kinds() else "pca"
    C.chart(emodels.multiples_figure(dmap, dkind, sweep, [f"w = {v:g}" + (" (slider)" if v == float(w) else "")
                                                    for v in ws], genres, titles, target, cols=3,
                               title="Same x_T, same step noises; only w differs"),
            key="em_multiples", filename="dreamrec_guidance_multiples")
    C.say(emodels.guidance_caption(sweep, ws, target, titles))

# ---------------------------------------------------------------- 5. λ
if "diffurec" in models:
    st.header("5 · DiffuRec: why λ = 0.001 makes the sampler nearly deterministic")
    sens = run_lambda(dataset, root, hist_t, seed, int(K))
    C.chart(emodels.lambda_figure(sens, float(lam)), key="em_lambda", filename="diffurec_lambda")
    C.say(emodels.lambda_caption(sens, float(lam)))

# ---------------------------------------------------------------- 6. side by side
if len(models) == 2:
    st.header("6 · DiffuRec and DreamRec side by side")
    C.say("The same history, the same seed's starting noise (DiffuRec, d = 32, takes the first 32 coordinates of "
          "DreamRec's 64-dimensional x_T), each drawn on its own map: the two models live in different spaces.")
    st.session_state.setdefault("em_sbs", 100)
    frac = st.slider("progress through the reverse chain", 0, 100, step=5, key="em_sbs", format="%d%%")
    pair = [run_reverse(m, dataset, root, hist_t, seed, int(K), float(w), float(lam), sampler, int(user), True)
            for m in METHODS]
    maps = [get_map(m, dataset, root)[0] for m in METHODS]
    skind = kind if all(kind in mm.kinds() for mm in maps) else "pca"
    C.chart(emodels.side_by_side_figure(list(zip(maps, pair)), skind, frac / 100, genres, titles, target),
            key="em_side", filename="diffurec_vs_dreamrec")
    C.say(emodels.side_by_side_caption(pair, target, titles))
