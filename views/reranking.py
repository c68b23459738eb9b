"""Reranking sandbox: DCDR (a reconstruction) reranks a logged list step by step, against every baseline."""
from __future__ import annotations

import numpy as np
import streamlit as st

from views import _common as C
from views import page_params
from ui import reranking as R

PREFIX = "rr_"
SOURCES = {"ranker": "the ranker's list", "logged": "the logged (shown) list", "build": "build your own",
           "upload": "upload a CSV of item ids"}
CSV_HELP = ("A CSV of item ids, one per row or comma-separated, optionally under a header named `item`. Ids must "
            "come from this session's candidates; at most 10 items; files over 20 kB are refused.")


@st.cache_resource(show_spinner="Loading the reranking logs…")
def get_data():
    from diffrec_core.rerank import Simulator, load_rerank_data

    return load_rerank_data(), Simulator()


@st.cache_resource(show_spinner="Loading the pretrained rerankers…")
def _models(root: str):
    from diffrec_core.methods.dcdr import load_pretrained_rerank

    data, _ = get_data()
    return load_pretrained_rerank(root, data.n_users, data.n_items)


@st.cache_data(show_spinner=False)
def get_benchmark(root: str) -> dict:
    import json
    from pathlib import Path

    p = Path(root) / "dcdr_results.json"
    try:
        return json.loads(p.read_text()).get("heldout", {}) if p.exists() else {}
    except (OSError, ValueError):
        return {}


@st.cache_data(show_spinner=False, max_entries=256)
def rerank_all(root: str, session: int, items: tuple, variant: str, steps: int, beam: int, condition: str):
    """Every reranker on one list (milliseconds; cached so that stepping through the run costs nothing)."""
    from diffrec_core import rerank_harness

    data, sim = get_data()
    models, _ = _models(root)
    return rerank_harness.rerank_all(models, data, sim, session, items, variant, steps, beam, condition)


def _reset_step():
    st.session_state.pop("_rr_step_value", None)
    st.session_state.pop("rr_step", None)


# ================================================================ page
applied = C.url_state(page_params.RERANKING)          # a shared link's settings (validated) before any widget
st.title("Reranking · DCDR")
st.markdown("A reranker reorders the few items an upstream ranker picked, because what a user does at position 5 "
            "depends on what sits at positions 1–4. **DCDR** (Lin et al., WWW'24) treats the ranker's list as a "
            "noisy list and denoises it with a *discrete* diffusion model: swaps (DCDR-P) or replacements (DCDR-T), "
            "conditioned on the responses we want, with beam search and an evaluator that picks the output.")
st.info(R.RECON_NOTE, icon=":material/construction:")

root = C.pretrained_root()
try:
    data, sim = get_data()
except (FileNotFoundError, OSError, ValueError) as e:
    st.error(f"The sample world's reranking logs could not be read: {e}")
    st.stop()
try:
    models, problems = _models(root)
except FileNotFoundError as e:
    C.missing_model(e)
    st.stop()
for p in problems:
    st.warning(f"Partly missing: {p}. Run `python -m diffrec_core pretrain --methods dcdr` to make it; the page "
               "shows what it can without it.", icon="📦")
dcdr_cfg = models["dcdr_p"].config
L_MAX = int(dcdr_cfg.list_len)
test = data.splits["test"]
lo, hi = int(test[0]), int(test[-1])

# ---------------------------------------------------------------- the request
st.header("1 · The request")
c1, c2 = st.columns([1, 2.2])
# the session follows the sidebar's user (the logs are the sample world's, its users are the sidebar's users)
sidebar_user = int(C.current("user"))
same_world = C.current("dataset") == "sample"
mine = [int(s) for s in test if int(data.users[s]) == sidebar_user] if same_world else []
followed = st.session_state.get("_rr_followed_user")
if mine and "rr_session" not in applied and (followed is None and "rr_session" not in st.session_state
                                             or followed is not None and followed != sidebar_user):
    st.session_state["rr_session"] = mine[0]          # first visit, or a new sidebar user: their first session
    _reset_step()
st.session_state["_rr_followed_user"] = sidebar_user
msg = C.clamp_state("rr_session", lo, hi, mine[0] if mine else lo)
if msg:
    st.warning(f"Session {msg}")
session = int(c1.number_input(f"held-out session ({lo}–{hi})", min_value=lo, max_value=hi, step=1,
                              key="rr_session", on_change=_reset_step,
                              help="Sessions the models never trained on. Each has a user, 20 candidates in the "
                                   "upstream ranker's order and the list that was shown, with its clicks and likes."))
source = c2.radio("list to rerank", list(SOURCES), format_func=SOURCES.get, key="rr_source", horizontal=True,
                  on_change=_reset_step)
user = int(data.users[session])
cands = data.cands[session]
titles, genre_names = data.titles, data.genres
cand_set = [int(c) for c in cands]
ranker_list = cand_set[:data.L]
logged_list = [int(cands[i]) for i in data.logged[session]]
c1.caption(f"User {user}; {data.n} candidates; logged clicks at positions "
           f"{', '.join(str(p + 1) for p in np.flatnonzero(data.clicks[session])) or 'none'}. "
           + R.follow_caption(sidebar_user, user, mine, same_world, n_users_with_sessions=len(set(data.users[test]))))

tokens, upload_error = None, None
if source == "ranker":
    tokens = ranker_list
elif source == "logged":
    tokens = logged_list
elif source == "build":
    fmt = {it: f"{titles[it]} · {genre_names[int(data.item_genre[it])]} · rank {r + 1}" for r, it in
           enumerate(cand_set)}
    pick_key = f"rr_pick_{session}"
    picked = c2.multiselect("items in order (pick by title; remove and re-add an item to move it to the end)",
                            cand_set, default=ranker_list, format_func=lambda it: fmt.get(it, str(it)),
                            key=pick_key, on_change=_reset_step, max_selections=data.n)
    typed = c2.text_input("…or type item ids in order (comma-separated; overrides the picks)", key="rr_ids",
                          on_change=_reset_step, placeholder="e.g. " + ", ".join(map(str, ranker_list[:4])))
    tokens = [t for t in typed.replace(";", ",").replace(" ", ",").split(",") if t.strip()] if typed.strip() \
        else picked
elif source == "upload":
    up = c2.file_uploader("CSV of item ids", type=["csv", "txt"], key="rr_upload", help=CSV_HELP,
                          on_change=_reset_step)
    if up is None:
        c2.caption(CSV_HELP)
        tokens = None
    else:
        from diffrec_core.rerank import parse_item_csv

        raw = up.getvalue()
        tokens, upload_error = parse_item_csv(raw)

cand_titles_list = None
if tokens is None and upload_error is None:
    st.info("Upload a CSV of item ids from this session's candidates (see the table below), or pick another "
            "source.")
    check = None
elif upload_error:
    st.error(f"The uploaded file could not be used: {upload_error}")
    check = None
else:
    from diffrec_core.rerank import validate_list

    check = validate_list(tokens, cand_set, data.n_items, L_MAX, titles=titles)
    for w in check.warnings:
        st.warning(w)
    for e in check.errors:
        st.error(e)

current = check.items if check is not None and check.ok else []
if source == "build" and current:
    from views import url_state

    url_state.link_extra("rr_ids", url_state.ids_text(current))   # a list built by picks travels as typed ids
with st.expander(f"The {data.n} candidates (the upstream ranker's order)", expanded=check is None or not check.ok):
    st.caption("The logs keep the upstream ranker's order (rank), not its raw scores. The evaluator score is DCDR's "
               "evaluator's predicted utility of the item placed first (for items in the list). The last column is "
               "the sample world's ground truth, which no model sees.")
    res_for_table = None
    if current:
        res_for_table = rerank_all(root, session, tuple(current), "P", min(3, dcdr_cfg.steps), 1, "like")
    st.dataframe(R.candidates_frame(cand_set, current, titles, data.item_genre, genre_names,
                                    scores=res_for_table["item_scores"] if res_for_table else None,
                                    truth=sim.relevance(user, cands)),
                 hide_index=True, width="stretch",
                 column_config={"evaluator score": st.column_config.NumberColumn(format="%.3f"),
                                "true relevance s (ground truth)": st.column_config.NumberColumn(format="%.2f")})
if not current:
    st.stop()

# ---------------------------------------------------------------- settings
st.header("2 · DCDR step by step")
with st.container(border=True):
    s1, s2, s3, s4 = st.columns([1.2, 1, 1, 1.8])
    keep = dict(persist_state="session")
    variant = s1.radio("variant", ["P", "T"], format_func=R.VARIANT_LABELS.get, key="rr_variant",
                       on_change=_reset_step, **keep,
                       help="P: each reverse step undoes a swap (permutation noise). T: each step mixes a "
                            "prediction of the clean list through the posterior of token replacements, so items "
                            "outside the list can come in.")
    if variant == "T" and "dcdr_t" not in models:
        st.warning("No DCDR-T checkpoint: showing DCDR-P.")
        variant = "P"
    T = int(models[f"dcdr_{variant.lower()}"].config.steps)
    steps, st_msg = C.sticky_slider("reverse steps T_inf", 1, T, key="rr_steps", default=min(3, T), container=s2,
                                    help=f"x_init is treated as the list at step T_inf and denoised down to k = 1 "
                                         f"(the forward process has T = {T}).")
    if C.advanced():          # presentation mode hides the advanced controls; their values stay in effect
        beam, b_msg = C.sticky_slider("beam width B", 1, 6, key="rr_beam", default=int(dcdr_cfg.beam),
                                      container=s3, help="Lists kept per step. B = 1 is greedy decoding.")
        cond = s4.radio("desired responses (the condition)", list(R.CONDITION_LABELS),
                        format_func=R.CONDITION_LABELS.get, key="rr_cond", on_change=_reset_step, **keep,
                        help="What DCDR is asked to produce at every position. The paper conditions on positive "
                             "responses everywhere.")
    else:
        beam, b_msg = int(st.session_state.get("_rr_beam_value", dcdr_cfg.beam)), None
        cond = st.session_state.get("rr_cond", next(iter(R.CONDITION_LABELS)))
for m_ in (st_msg, b_msg):
    if m_:
        st.warning(m_)

res = rerank_all(root, session, tuple(current), variant, int(steps), int(beam), cond)
traj, entries = res["traj"], res["entries"]
C.say(R.run_caption(traj, titles))
rows = R.grid_rows(traj)
g1, g2 = st.columns([3, 1.3])
with g1:
    row, _ = C.sticky_slider("show step", 0, len(rows) - 1, key="rr_step", default=len(rows) - 1,
                             help="0 = x_init; 1, 2, … = the reverse steps (their beams are shaded); the last = "
                                  "the evaluator's pick.")
    C.chart(R.steps_figure(traj, titles, data.item_genre, genre_names, current=row), key="rr_steps_fig",
            filename=f"dcdr_{variant}_session{session}_steps",
            title=f"DCDR-{variant} · session {session} (user {user}) · step {row} of {len(rows) - 1}")
    C.say(R.step_caption(traj, row, titles))
with g2:
    C.equation_panel(R.step_equation(traj, row), columns=2)
beam_row = min(row, len(traj.meta.get("beams", [])) - 1)
beam_k = "x_init" if beam_row == 0 else f"k = {rows[beam_row]['k']}"         # the grid's labelling
st.markdown(f"**Beams after {beam_k}** "
            f"(condition: {R.CONDITION_LABELS[cond]})")
st.dataframe(R.beams_frame(traj, beam_row, titles), hide_index=True, width="stretch",
             column_config={"log-prob": st.column_config.NumberColumn(format="%.2f"),
                            "Û (evaluator)": st.column_config.NumberColumn(format="%.3f")})

# ---------------------------------------------------------------- comparison
st.header("3 · Against every baseline on this list")
df = R.compare_frame(entries, current, data.item_genre, titles)
best_u = entries["best list of all candidates (ground truth)"]["utility"]
k1, k2 = st.columns([1.3, 1])
with k1:
    C.chart(R.utility_figure(df, best=best_u, start=entries["_input"]["utility"]), key="rr_utility",
            filename=f"rerank_session{session}_utility")
    st.caption("Bars (from zero): the true expected utility of each method's list (clicks + 2 × likes, exact under "
               "the sample world's response model); grey bars are ground-truth references, not methods. Dotted "
               "line: the input list; dashed: the best list of all candidates.")
with k2:
    C.chart(R.moves_figure(current, res["output"], titles, label_after=f"DCDR-{variant}"), key="rr_moves",
            filename=f"dcdr_{variant}_session{session}_moves")
    st.caption(f"Where DCDR-{variant} moved each item (orange: moved).")
C.say(R.compare_caption(df, best_u))
st.dataframe(df, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("expected utility", "gain vs input", "Û (evaluator)")})
st.caption("Baselines: the ranker's order; greedy = sort by the evaluator's score of each item placed first; MMR = "
           "relevance vs genre redundancy (λ 0.7); PRM = a Transformer scoring items in context (BCE on clicks); "
           "random + evaluator = 16 random permutations, the evaluator keeps the best (a generator–evaluator "
           "without diffusion). Only DCDR-T can bring in items from outside the list.")

bench = get_benchmark(root)
if bench.get("summary"):
    import pandas as pd

    st.subheader("On all held-out sessions")
    rows_b = [{"method": k, **{m: v.get(m) for m in ("utility", "gain_pct", "share_improved", "ndcg@5", "auc",
                                                     "ms_per_list_median")}}
              for k, v in bench["summary"].items()]
    st.dataframe(pd.DataFrame(rows_b), hide_index=True, width="stretch")
    st.caption(bench.get("note", "From benchmarks/dcdr_rerank.py."))

st.subheader("Download this run")
d1, d2, _ = st.columns([1, 1, 3])
d1.download_button("trajectory (NPZ)", data=lambda: traj.to_npz_bytes(),
                   file_name=f"dcdr_{variant}_session{session}.npz", mime="application/octet-stream",
                   key="rr_npz", icon=":material/download:")
d2.download_button("reranked list (CSV)", data="position,item,title\n" + "".join(
    f"{p + 1},{it},{titles[it].replace(',', ' ')}\n" for p, it in enumerate(res["output"])),
    file_name=f"dcdr_{variant}_session{session}.csv", mime="text/csv", key="rr_csv", icon=":material/download:")
st.markdown("**Read with care.** The sample world is not Avito or Kuaishou: the paper's figures (Avito AUC 0.9172, "
            "NDCG 0.3901; +0.88 % likes online) are not comparable with anything here. The evaluator was trained on "
            "logged lists that are the ranker's order with two random swaps, so it has seen few orders; DCDR's "
            "gains here come as much from the evaluator's choice among a few proposals as from the denoiser.")
