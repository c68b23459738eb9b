"""Knowledge graph (DiffKG): the subgraph around an item or user, an entity's KG row denoised step by step, what
the rebuilt KG keeps against the sample world's ground truth, and what that does to recommendations."""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from diffrec_core import trajectory_io
from views import _common as C
from views import page_params
from ui import data as uidata
from ui import equations
from ui import knowledge_graph as kgviews
from ui import kg_subgraph as kgsub
from ui import kg_row as kgrow
from ui.fmt import num, pct

METHOD = "diffkg"
COMPARE = ("diffkg", "kgat", "lightgcn")
REVERSE = {"all_T": "all T steps (authors)", "from_T_prime": "only T′ steps (clean option)"}


@st.cache_resource(show_spinner="Rebuilding the denoised KG once for this model…")
def kg_analysis(dataset: str, root: str) -> dict:
    """Everything on this page that depends only on the model: computed once per checkpoint, shared, read-only."""
    from diffrec_core.kg_eval import kg_view_metrics

    model = C.load_model(METHOD, dataset, root)
    split = C.get_split(dataset)
    info = split.kg_info or {}
    names = list(info.get("entity_names") or [])
    E = int(model.n_entities)
    if len(names) < E:
        names += [f"entity {e}" for e in range(len(names), E)]
    state = model.kg_state(split)
    edges = kgviews.edge_table(state, split.kg, info.get("relation_names"), names)
    tops, view_metrics = kg_view_metrics(model, split, 20)
    pos, bands = kgrow.entity_order(info.get("entity_types"), E, split.n_items)
    return {"edges": edges, "truth": kgviews.truth_metrics(edges), "tops": tops, "views": view_metrics, "names": names,
            "pos": pos, "bands": bands, "types": info.get("entity_types"), "state": state,
            "cfg": model.config, "T": int(model.n_diffusion_steps())}


@st.cache_data(show_spinner=False, max_entries=64)
def row_trajectory(dataset: str, entity: int, T_prime: int, noise: bool, reverse: str, seed: int, root: str):
    model = C.load_model(METHOD, dataset, root)
    return model.kg_trajectory(C.get_split(dataset), [int(entity)], k=10, seed=int(seed), T_prime=int(T_prime),
                               sampling_noise=bool(noise), reverse=reverse)


@st.cache_data(show_spinner=False, max_entries=8)
def kg_csv(dataset: str, root: str) -> str:
    e = kg_analysis(dataset, root)["edges"]
    cols = [c for c in ("head", "head_name", "relation_name", "tail", "tail_name", "inverse", "wrong", "sampled",
                        "rebuilt", "denoised", "status") if c in e]
    return e[cols].to_csv(index=False)


applied = C.url_state(page_params.KNOWLEDGE_GRAPH)    # a shared link's settings (validated) before any widget
dataset, user, seed = C.current("dataset"), int(C.current("user")), int(C.current("seed"))
root = C.pretrained_root()
st.title("Knowledge graph · DiffKG")
# presentation mode: the page's prose waits behind "explain", so the projector shows the figures first
with st.expander("explain", icon=":material/school:") if C.presenting() else st.container():
    st.markdown("DiffKG diffuses **one row of the knowledge graph** at a time: an entity's 0/1 links to every other "
                "entity. A denoiser learns to reconstruct the rows; every epoch each row keeps only its strongest "
                "predicted link(s), and a KG-aware LightGCN trains on that *denoised* graph, with a contrastive "
                "loss against the original one.")

split = C.get_split(dataset)
if split.kg is None:
    st.info("This data set has no knowledge graph, so there is nothing for DiffKG to denoise.")
    st.stop()
msg = C.clamp_state("user", 0, split.n_users - 1)
if msg:
    st.warning(f"User {msg}")
    user = int(st.session_state["user"])
try:
    C.get_model(METHOD, dataset)
except C.MissingModel as e:
    C.missing_model(e)
    st.stop()
A = kg_analysis(dataset, root)
edges, names, cfg, T = A["edges"], A["names"], A["cfg"], A["T"]
truth = A["truth"]
n_triples = int((~edges["inverse"]).sum())
wrong_n = int(edges.loc[~edges["inverse"], "wrong"].fillna(0).sum())
C.say(f"This KG: {len(names):,} entities ({split.n_items:,} items), {n_triples:,} triples over "
      f"{len(split.kg_info.get('relation_names') or [])} relations"
      + (f", of which {wrong_n} ({pct(wrong_n / max(n_triples, 1))}) were injected wrong when the sample world was "
         "made (the model never sees which)." if kgviews.has_truth(edges) else "."))
counts = kgviews.kg_counts(edges)
C.say(kgviews.units_sentence(counts))
st.caption("The two stages: the **" + kgviews.STAGE_LABELS["rebuilt"] + "** KG, and the **"
           + kgviews.STAGE_LABELS["denoised"] + "** KG.")
st.caption(f"Model: `diffkg` checkpoint, T = {T}, rebuild top-{cfg.rebuild_k} per row, keep rate {num(cfg.keep_rate)}, "
           f"CL weight {num(cfg.ssl_reg)}, faithful_bug = {cfg.faithful_bug} "
           + ("(the denoised KG reaches training, as intended)" if not cfg.faithful_bug else
              "(as in the authors' code: training never sees the denoised KG)")
           + ". Selected on validation Recall@20; the authors selected on test.")

# ---------------------------------------------------------------- 1. the subgraph
st.header("The graph around an item or a user")
profile = uidata.user_profile(split, user)
profile_items = np.asarray(profile.chrono, dtype=np.int64)                  # oldest -> newest
wrong_heads = set(edges.loc[(edges["wrong"] == 1) & ~edges["inverse"], "head"].astype(int))
default_item = next((int(i) for i in profile_items if int(i) in wrong_heads),
                    int(profile_items[0]) if len(profile_items) else 0)
c1, c2, c3 = st.columns([1.2, 2.4, 1.2], vertical_alignment="bottom")
center_kind = c1.radio("centre", ["item", "user"], horizontal=True, key="kg_center", persist_state="session")
if st.session_state.get("kg_item") is not None and not 0 <= int(st.session_state["kg_item"]) < split.n_items:
    if "kg_item" in applied:
        st.warning(f"The link's item (kg_item = {st.session_state['kg_item']}) is not one of the {split.n_items} "
                   f"items; showing item {default_item}.")
    st.session_state["kg_item"] = default_item
st.session_state.setdefault("kg_item", default_item)
item = c2.selectbox("item", range(split.n_items), key="kg_item",
                    format_func=lambda i: f"{names[i]} (item {i})" + (" ✕" if i in wrong_heads else ""),
                    help="✕: this item has an injected wrong triple.", disabled=center_kind == "user")
hop = c3.toggle("second hop", key="kg_hop", help="Also show a few other items linked to each neighbour.",
                disabled=center_kind == "user") if C.advanced() else st.session_state.get("kg_hop", False)
if center_kind == "user":
    g = kgsub.subgraph(edges, user, "user", names, A["types"], split.n_items, user_items=profile_items[::-1],
                   max_items=8, max_neighbours=14)
    title = f"User {user}: the newest {min(len(profile_items), 8)} of {len(profile_items)} training items and the KG"
else:
    g = kgsub.subgraph(edges, int(item), "item", names, A["types"], split.n_items, second_hop=3 if hop else 0)
    title = f"{kgviews.short(names[int(item)], 40)} and its KG neighbours"
C.chart(kgsub.subgraph_figure(g, title), key="kg_subgraph", filename=f"kg_{center_kind}")
C.say(kgsub.subgraph_caption(g, len(edges)))
st.caption("Colour = relation; line style = the edge's fate in the stored model: solid kept in the denoised KG, "
           "dashed rebuilt but dropped by the random keep step, dotted dropped by the rebuild (the row's top-k did "
           "not pick it). Red ✕ = an injected wrong triple.")

# ---------------------------------------------------------------- 2. an entity's row
st.header("An entity's KG row, noised and denoised")
nb_all = kgrow.row_neighbours(edges, int(item))
row_choices = [int(item)] + [int(t) for t in nb_all["tail"]]
if st.session_state.get("kg_entity") not in row_choices:
    if "kg_entity" in applied:
        st.warning(f"The link's KG row (kg_entity = {st.session_state.get('kg_entity')}) is not the item or one of "
                   "its neighbours; showing the item's row.")
    st.session_state["kg_entity"] = int(item)
with st.container(border=True):
    r1, r2, r3, r4 = st.columns([2.2, 1.8, 1, 1.6])
    types = A["types"] or ["entity"] * len(names)
    entity = r1.selectbox("row of", row_choices, key="kg_entity", help="The chosen item or one of its neighbours.",
                          format_func=lambda e: f"{kgviews.short(names[e], 36)} ({types[e]})")
    T_prime, tp_msg = C.sticky_slider("T′: noise the row first", 0, T, key="kg_tprime", default=0, container=r2,
                                      help="The authors rebuild from the clean row (T′ = 0).")
    noise = r3.toggle("sampling noise", key="kg_noise", persist_state="session")
    if C.advanced():          # presentation mode hides the advanced controls; their values stay in effect
        reverse_mode = r4.radio("reverse steps", list(REVERSE), format_func=REVERSE.get, key="kg_reverse",
                                persist_state="session")
    else:
        reverse_mode = st.session_state.get("kg_reverse", "all_T")
if tp_msg:
    st.warning(f"T′ {tp_msg}")
if reverse_mode == "from_T_prime" and T_prime == 0:
    st.info("With the clean option and T′ = 0 there is nothing to denoise: the row is shown as it is.")
traj = row_trajectory(dataset, int(entity), int(T_prime), bool(noise), reverse_mode, seed, root)
S = traj.n_steps
step, s_msg = C.sticky_value("kg_step", 1, S, default=S)      # the frame the stepper opens on (a link's step)
if s_msg and "kg_step" in applied:
    st.warning(f"The link's reverse step (kg_step): {s_msg}")
neigh = kgrow.row_neighbours(edges, int(entity))
scope = st.radio("axis range", ["per step", "whole trajectory"], horizontal=True, key="kg_scope",
                 persist_state="session") if C.advanced() else st.session_state.get("kg_scope", "per step")
fig = kgrow.stepper_figure(traj, A["pos"], A["bands"], neigh, names, cfg.rebuild_k, scope, start=step - 1,
                           sampling_noise=noise)
st.caption(f"▶ play and the step slider run in your browser: both panels, the ringed top-{cfg.rebuild_k} and the "
           f"step's numbers follow the step, with no wait for the server. {S} reverse steps"
           + (f"; the figure holds {len(fig.frames)} of them." if len(fig.frames) < S else ", one frame each.")
           + f" It opens on step {step}.")
C.chart(fig, key="kg_row", filename=f"kg_row_{entity}_steps")
left, right = st.columns([3, 1.5])
with left:
    C.say(kgrow.row_caption(traj, S - 1, neigh, names, cfg.rebuild_k))
    st.markdown(f"**The row's neighbours at the last step** (step {S}, the x̂0 the rebuild ranks)")
    st.dataframe(kgrow.row_table(traj, S - 1, neigh, names), hide_index=True, width="stretch",
                 column_config={"x̂0 at this step": st.column_config.NumberColumn(format="%.4f")})
with right:
    eq = equations.reverse_equation(traj.betas, traj.alphas_cumprod, int(traj.steps[S - 1]), sampling_noise=noise)
    C.equation_panel(dataclasses.replace(eq, title="One reverse step (this step's numbers: in the figure)"),
                     live=False)
st.caption("Fate in the model: the stored denoised KG was rebuilt from the clean rows (T′ = 0) with the final "
           "denoiser; an edge survives if this row's or the neighbour's top-k picked it and its keep coin came up.")

# ---------------------------------------------------------------- 3. ground truth
st.header("The denoised KG against the ground truth")
if truth:
    t1, t2 = st.columns([1.3, 1])
    with t1:
        st.markdown("**What the rebuild removes** (bars) vs keeping as many triples at random (hatched; whisker: "
                    "90 % of random draws)")
        C.chart(kgviews.truth_figure(truth), key="kg_truth", filename="kg_truth")
    with t2:
        r = truth["rebuilt"]
        st.metric("wrong triples removed by the rebuild", pct(r.wrong_removed, 1),
                  delta=f"{100 * (r.wrong_removed - r.random_wrong_removed):+.1f} pts vs random keeping",
                  help="Random keeping: the same number of triples kept uniformly at random.")
        st.metric("precision of the kept triples", pct(r.precision, 1),
                  delta=f"{100 * (r.precision - r.random_precision):+.1f} pts vs random")
        st.metric("recall of the correct triples", pct(r.recall, 1),
                  delta=f"{100 * (r.recall - r.random_recall):+.1f} pts vs random")
    C.say(kgviews.truth_caption(truth, cfg.keep_rate))
    st.dataframe(kgviews.truth_table(truth), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in kgviews.truth_table(truth).columns if c not in ("KG", "triples kept", "of")})
else:
    st.info("This data set carries no ground truth for its triples.")

# ---------------------------------------------------------------- 4. recommendations
st.header("The effect on recommendations")
st.session_state.setdefault("kg_k", 10)
Kk = st.select_slider("top-K", [5, 10, 20], key="kg_k")
held = profile.heldout("valid+test")
orig, den = A["tops"]["original KG"][user, :Kk], A["tops"]["denoised KG"][user, :Kk]
a, b = st.columns([1.6, 1])
with a:
    st.markdown(f"**User {user}: top-{Kk} with each KG** (✓ = a held-out item)")
    st.dataframe(kgviews.topk_table(orig, den, split.item_titles or names, held), hide_index=True, width="stretch")
    C.say(kgviews.topk_caption(orig, den, held))
with b:
    st.markdown("**DiffKG scored with either KG** (test, all users)")
    st.dataframe(kgviews.views_table(A["views"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("recall@20", "ndcg@20")})
    from diffrec_core.compare import ranking
    from ui import compare as compare_ui
    from views import _compare

    comparison = _compare.sample_comparison()          # the Compare page's table: one ranking on both pages
    ranked = ranking(comparison, COMPARE, "recall@20")
    st.markdown("**DiffKG vs the baselines** (test, selected on validation; the Compare page's table)")
    if ranked:
        st.dataframe(compare_ui.ranking_frame(ranked), hide_index=True, width="stretch", key="kg_ranking",
                     column_config={c: st.column_config.NumberColumn(format="%.4f")
                                    for c in ("test Recall@20", "± sd")})
    C.say(compare_ui.ranking_sentence(ranked, comparison))
st.caption("KG attention (KGAT-style) is DiffKG's own KG encoder and LightGCN without the diffusion and the "
           "contrastive loss; LightGCN uses no KG. The authors' argument-passing bug (issue #10) is the switch "
           "`faithful_bug`: `python -m diffrec_core train --method diffkg --set faithful_bug=true`.")

C.equation_panel(kgviews.diffkg_equation(cfg.e_loss, cfg.rebuild_k, cfg.keep_rate, counts), columns=3)

# ---------------------------------------------------------------- downloads
st.subheader("Downloads")
d1, d2, d3, _ = st.columns([1, 1, 1.2, 2])
d1.download_button("row trajectory (CSV)", data=lambda: trajectory_io.to_csv(traj, [0], names),
                   file_name=f"diffkg_row{entity}_trajectory.csv", mime="text/csv", key="kg_csv_row",
                   icon=":material/download:")
d2.download_button("row trajectory (NPZ)", data=lambda: traj.to_npz_bytes(),
                   file_name=f"diffkg_row{entity}_trajectory.npz", mime="application/octet-stream", key="kg_npz",
                   icon=":material/download:")
d3.download_button("denoised KG (CSV)", data=lambda: kg_csv(dataset, root), file_name="diffkg_denoised_kg.csv",
                   mime="text/csv", key="kg_csv_kg", icon=":material/download:")
from views._export import figures_note  # noqa: E402 - the one sentence on saving figures

st.caption(figures_note())
