"""Compare: every method against simple baselines on the same split and protocol (precomputed by the harness,
``python -m diffrec_core compare``), the computed verdict, the same user's denoising runs side by side, what each
method diffuses and costs, the papers' own numbers beside ours, and a live comparison with a time budget."""
from __future__ import annotations

import math
import time

import streamlit as st

from views import _common as C
from views import _compare as X
from views import page_params as PP
from views import url_state as URL
from ui import cite
from ui import compare as compare_ui
from ui import compare_steps as S
from ui import data as uidata
from ui import papers as P

LIVE = "Live run (this session)"
LIVE_DEFAULT = ("diffrec", "multvae", "ease", "itemknn", "pop")   # the fast ones: a few seconds each
LIVE_CAP_S = 120

C.url_state(PP.COMPARE)          # a shared link's settings (validated) before any widget
st.title("Compare methods")
st.markdown("Every method and baseline is trained on **the same split with the same protocol**: selection on "
            "validation, the test split scored once, the user's seen items masked, every metric averaged over the "
            "same users. Interaction methods and sequence methods use different protocols (chronological split vs "
            "leave-one-out), so they are **never ranked in one table**. Numbers are means over seeds ± their "
            "sample standard deviation.")

specs = {s.name: s for s in C.method_specs()}
titles = {k: s.title for k, s in specs.items()}
dataset = C.current("dataset")

# ------------------------------------------------------------------------------------------------ which results
sources = dict(X.available_results())
if st.session_state.get("cmp_live"):
    sources[LIVE] = None
    if st.session_state.pop("_cmp_show_live", False):   # a live run just finished: show it (before the widget)
        st.session_state["cmp_source"] = LIVE
if sources:
    source = st.radio("results", list(sources), horizontal=True, key="cmp_source")
    results = st.session_state["cmp_live"] if source == LIVE else X.results(sources[source])
else:
    source = "pretrained/results.json (one seed)"
    results = compare_ui.from_pretrained(C.get_results(), titles, {k: s.kind for k, s in specs.items()})
have_table = bool(compare_ui.protocols(results))
if not have_table:
    st.info("No precomputed comparison yet: run `python -m diffrec_core compare --data sample --seeds 1 2 3 "
            "--budget-minutes 1 --out pretrained/compare` (or the live run at the bottom of this page).")

# ------------------------------------------------------------------------------------------------ table, verdict
metric = "recall@20"
if have_table:
    protos = compare_ui.protocols(results)
    protocol = protos[0]
    if st.session_state.get("cmp_protocol", protocol) not in protos:
        st.warning(f"These results have no protocol '{st.session_state.pop('cmp_protocol')}'; showing "
                   f"{compare_ui.core.protocol_of(protocol).label}.")
    if len(protos) > 1:      # never rank methods evaluated under different protocols in one table or chart
        protocol = st.radio("evaluation protocol", protos, horizontal=True, key="cmp_protocol",
                            format_func=lambda p: compare_ui.core.protocol_of(p).label)
    st.session_state.setdefault("cmp_metric", "recall@20")     # via state, not index=: a link may have set it
    metric = st.radio("metric", list(compare_ui.ALL_METRICS), horizontal=True, key="cmp_metric",
                      format_func=compare_ui.metric_label)
    label = compare_ui.results_label(results)
    verdict = compare_ui.verdict_lines(results, metric)
    with st.container(border=True):
        st.markdown("**Verdict** (computed from the table below, not written by hand)")
        C.say(verdict.get(protocol, ""))
        for key in ("not applicable", "not run"):
            if key in verdict:
                st.caption(verdict[key])
    urls = {k: getattr(p, "url_path", None) for k, p in C.PAGES.items() if k != "compare"}
    df = compare_ui.table_frame(results, protocol, metric, urls)
    c1, c2 = st.columns(2)
    with c1:
        C.chart(compare_ui.bars_figure(df, metric, label), key="cmp_bars", filename="compare_bars")
    with c2:
        C.chart(compare_ui.cost_figure(df, metric, label), key="cmp_cost", filename="compare_cost")
    show = df.drop(columns=["key"] + ([] if df["page"].notna().any() else ["page"]))
    cfg = {c: st.column_config.NumberColumn(format="%.4f") for c in show.columns
           if c in {compare_ui.metric_label(m) for m in compare_ui.ALL_METRICS} or c.startswith("±")}
    cfg.update({"train s": st.column_config.NumberColumn(format="%.2f"),
                "infer ms/user": st.column_config.NumberColumn(format="%.3f"),
                "page": st.column_config.LinkColumn("page", display_text="open")})
    st.dataframe(show, hide_index=True, width="stretch", column_config=cfg, key="cmp_table")
    st.caption(f"{label}. Click a column header to sort. " + compare_ui.stats_caption(results, protocol)
               + " Train seconds include the validation passes used for selection; inference is one full test "
                 "pass (scoring, masking, ranking) divided by the number of users.")
    links = {}
    for k in df["key"]:
        page = getattr(specs.get(k), "page", "")
        if page and page != "compare" and page in C.PAGES:
            links.setdefault(page, []).append(titles.get(k, k))
    if links:
        cols = st.columns(len(links))
        for col, (page, names) in zip(cols, links.items()):
            with col:
                C.page_link(page, f"{', '.join(names)}: {page} page")
    na = compare_ui.not_applicable_frame(results)
    if len(na):
        st.markdown("**Not applicable to this data** (listed, never dropped silently)")
        st.dataframe(na, hide_index=True, width="stretch", key="cmp_na")
    nr = compare_ui.not_run_frame(results)
    if len(nr):
        st.markdown("**Not run** (applicable, but the time budget ran out before their turn, or the run failed)")
        st.dataframe(nr, hide_index=True, width="stretch", key="cmp_not_run")

# ------------------------------------------------------------------------------------------------ same user, same noise
st.subheader("Same user, same noise")
st.markdown("The sidebar's user and seed, every diffusion method's reverse run side by side. T differs between "
            "methods, so the slider is a **fraction of each run**: at 50 % DiffRec (T = 10) shows step 6 of 10 and "
            "DreamRec (T = 100) step 51 of 100. Each column is that step's x̂0 read as item scores: its top-10.")


@st.fragment
def same_user_section() -> None:
    """The linked step views: a change of user, methods or step fraction reruns only this part of the page."""
    split = C.get_split(dataset)
    have = [m for m in X.step_methods() if m in specs and (C.REPO / "pretrained" / m / "model.safetensors").exists()]
    c1, c2, c3 = st.columns([1, 3, 2], vertical_alignment="bottom")
    user = min(max(int(C.current("user")), 0), split.n_users - 1)         # the sidebar's user, as on every page
    c1.markdown(f"**User {user}**", help="The sidebar's user: change it there and every page follows.")
    chosen = c2.multiselect("methods", have, default=have, format_func=lambda m: titles.get(m, m), key="cmp_methods")
    from_noise = c3.toggle("DiffRec family: start from noise", value=False, key="cmp_from_noise",
                           help="Faithful DiffRec starts from the user's clean history (T' = 0). On: corrupt it "
                                "for T steps first and add sampling noise, as real generation from noise would.")
    st.session_state.setdefault("cmp_frac", 100)
    frac = st.slider("step fraction of each reverse run (%)", 0, 100, step=5, key="cmp_frac") / 100.0
    trajs, problems = {}, []
    for m in chosen:
        try:
            trajs[m] = X.trajectory(m, dataset, user, int(C.current("seed")), 10, from_noise)
        except C.MissingModel as e:
            problems.append(str(e))
    for p in problems:
        st.warning(p, icon="📦")
    profile = uidata.user_profile(split, user)
    heldout, seen = profile.heldout(), profile.train
    if trajs:
        slide = f"Same user, same noise · user {user} · {frac:.0%} of each reverse run"
        C.chart(S.grid_figure(trajs, titles, frac, split.item_titles, heldout, seen), key="cmp_grid",
                filename="same_user_topk", title=slide)
        C.say(S.grid_caption(trajs, titles, frac, heldout))
        C.chart(S.hits_figure(trajs, titles, heldout, frac), key="cmp_hits", filename="same_user_hits",
                title=slide)
        lesson = S.hits_lesson(trajs, titles, heldout)
        if lesson:
            st.info(lesson, icon=":material/school:")
        st.caption("Held-out items are the user's newest 20 % (the chronological split's validation and test "
                   "items). DiffuRec and DreamRec read the leave-one-out sequence and do not mask history items, "
                   "as in their papers, so blue items can appear in their lists. Baselines have no reverse run.")
    elif not problems:
        st.info("Pick at least one method.")

    # -------------------------------------------------------------------------------------------- what, schedule, cost
    st.subheader("What each method diffuses, its schedule, its cost")
    sample_rows = {}
    sample_path = X.available_results().get(X.RESULTS[0][0])
    if sample_path:
        sample_rows = {r["method"]: r for r in X.results(sample_path)["rows"] if compare_ui.core.ran(r)}
    if trajs:
        st.dataframe(S.diffuses_frame(specs, trajs, sample_rows), hide_index=True, width="stretch", key="cmp_what",
                     column_config={"noise std at T": st.column_config.NumberColumn(format="%.3g"),
                                    "train s": st.column_config.NumberColumn(format="%.2f"),
                                    "infer ms/user": st.column_config.NumberColumn(format="%.3f")})
        C.chart(S.schedules_figure(trajs, titles), key="cmp_sched", filename="schedules")
        st.caption("Noise std √(1−ᾱₜ) on a log axis: the DiffRec family adds noise of std below 0.01 to a 0/1 "
                   f"history (it barely diffuses, {cite.link('5.1')}), DiffuRec and DreamRec end near pure noise. Cost "
                   "columns come from the precomputed sample-world comparison.")
    URL.sync(final=False)            # a fragment rerun (user, step fraction) updates the link too (the bad-link
                                     # notice waits for app.py's sync, after every widget)


if dataset != "sample":
    st.info("Pretrained models exist for the sample world only.")
else:
    same_user_section()

# ------------------------------------------------------------------------------------------------ the papers' numbers
st.subheader("The papers' own numbers (not ours)")
st.markdown("Reported by the papers (or, where marked, by this project's run of the authors' code or by third "
            f"parties), **on their data sets and protocols**, transcribed from {cite.link('4.1')} with their status "
            "tags. "
            "They are not comparable with our sample-world table, nor with each other: different data, splits, "
            "candidate sets, masking and selection rules.")
ml1m = X.available_results().get(X.RESULTS[1][0])
if ml1m and metric in compare_ui.METRICS:
    mres = X.results(ml1m)
    core = compare_ui.core
    ours = {r["title"]: (core.mean(r, metric), None if math.isnan(core.std(r, metric)) else core.std(r, metric))
            for r in core.groups(mres).get("shipped", [])}
    ours = dict(sorted(ours.items(), key=lambda kv: -kv[1][0] if kv[1][0] == kv[1][0] else 0))
    if ours:
        C.chart(P.beside_figure(ours, "ML-1M clean", compare_ui.metric_label(metric), "ours, same split"),
                key="cmp_papers", filename="papers_ml1m")
        st.caption("ML-1M clean is the one data set where our run and the papers share the split (DiffRec's released "
                   f"files). Ours: {compare_ui.results_label(mres)}, averaged over "
                   f"{'all users' if mres.get('denominator') == 'all' else 'users with a test item'}.")
which = st.selectbox("paper", ("all",) + P.PAPERS, key="cmp_paper")
st.dataframe(P.papers_frame(None if which == "all" else which).drop(columns=["role", "source"]), hide_index=True,
             width="stretch", key="cmp_paper_table",
             column_config={"caveats": st.column_config.TextColumn(width="large"),
                            "protocol": st.column_config.TextColumn(width="large")})
st.caption(P.CRITIQUE)

# ------------------------------------------------------------------------------------------------ authors' code
st.subheader("Reproduced against the authors' code")
st.markdown("Our implementation and the authors' own training script, run on **the same data files with the same "
            "configuration**, several seeds each (`benchmarks/side_by_side.py`). The two sides' seeds are different "
            "random streams, so the means are compared: the gap against the combined spread 2 SE, "
            "`SE = sqrt(sd_ours²/n_ours + sd_theirs²/n_theirs)`. Computed from the per-seed runs in "
            "`benchmarks/results/side_by_side.json`.")
sbs, sbs_problem = X.side_by_side()
if sbs_problem:
    st.warning(f"The side-by-side results cannot be shown: {sbs_problem}", icon="📄")
else:
    rtitles = compare_ui.reproduction_titles(titles)
    if sbs["rows"]:
        st.dataframe(compare_ui.reproduction_frame(sbs, metric, rtitles), hide_index=True, width="stretch",
                     key="cmp_sbs", column_config={"gap": st.column_config.NumberColumn(format="%+.4f"),
                                    "2 SE": st.column_config.NumberColumn(format="%.4f")})
    for r in sbs["rows"]:
        C.say(compare_ui.reproduction_sentence(r, metric, rtitles.get(r["method"])))
        C.say(compare_ui.reproduction_provenance(r), lead="Run:")
        with st.expander(f"{compare_ui.reproduction_label(r, rtitles)}: every run"):
            st.dataframe(compare_ui.reproduction_seeds_frame(r), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.4f")
                                        for c in map(compare_ui.metric_label, compare_ui.METRICS)})
    if sbs["not_run"]:
        st.markdown("**Not reproduced yet** (the authors' code exists; why it has not been run side by side)")
        st.dataframe(compare_ui.reproduction_not_run_frame(sbs, rtitles), hide_index=True, width="stretch",
                     key="cmp_sbs_not_run", column_config={"why not run": st.column_config.TextColumn(width="large")})

# ------------------------------------------------------------------------------------------------ live comparison
st.subheader("Run the comparison live")
st.markdown("Train the chosen methods on the sample world now, with a time budget: training stops between "
            "epochs when a method's share of the budget is used, and the run stops when the whole budget is spent. "
            "A budget-capped method is marked: its figures are lower bounds.")
runnable = [s.name for s in C.method_specs() if "lists" not in s.needs]
c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
live_methods = c1.multiselect("methods", runnable, default=[m for m in LIVE_DEFAULT if m in runnable],
                              format_func=lambda m: titles.get(m, m), key="cmp_live_methods")
budget = c2.slider("time budget (s, all methods)", 5, LIVE_CAP_S, 60, step=5, key="cmp_live_budget")
n_seeds = int(c3.number_input("seeds", 1, 3, 1, key="cmp_live_seeds"))
if "diffurec" in live_methods:
    st.caption("One DiffuRec epoch takes about ten seconds on a laptop CPU; the budget is checked between epochs.")
if st.button("Run the comparison", key="cmp_live_run", icon=":material/play_arrow:", disabled=not live_methods):
    from diffrec_core.compare import iter_compare

    runs = max(1, len(live_methods) * n_seeds)
    per_run = max(1.0, budget / runs)
    t0 = time.perf_counter()
    deadline = t0 + budget
    with st.status(f"Training {len(live_methods)} method(s) × {n_seeds} seed(s), {per_run:.0f} s each at most…",
                   expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        line = st.empty()

        def on_epoch(rec):
            frac = min(1.0, (rec["index"] + min(1.0, (time.perf_counter() - t_run[0]) / per_run)) / rec["total"])
            bar.progress(frac, text=f"{titles.get(rec['method'], rec['method'])}, seed {rec['seed']}: epoch "
                                    f"{rec['epoch']}")

        t_run = [t0]
        out = None
        for ev in iter_compare(X.live_data(dataset), methods=live_methods, seeds=list(range(1, n_seeds + 1)),
                               budget_seconds=per_run, device="cpu",
                               should_stop=lambda: time.perf_counter() > deadline, progress=on_epoch):
            if ev["event"] == "start":
                t_run[0] = time.perf_counter()
                bar.progress(ev["index"] / max(1, ev["total"]),
                             text=f"{titles.get(ev['method'], ev['method'])}, seed {ev['seed']}")
            elif ev["event"] == "done":
                bar.progress(ev["index"] / max(1, ev["total"]), text=f"{ev['index']} of {ev['total']} runs done")
                r = ev["record"]
                line.write(f"{titles.get(ev['method'], ev['method'])} seed {ev['seed']}: "
                           + (r["error"] if "error" in r else f"{r['train_seconds']:.1f} s, {r['stopped']}"))
            else:
                out = ev["results"]
        bar.progress(1.0, text="done")
        status.update(label=f"Done in {time.perf_counter() - t0:.0f} s", state="complete", expanded=False)
    st.session_state["cmp_live"] = out
    st.session_state["_cmp_show_live"] = True
    st.rerun()
if st.session_state.get("cmp_live"):
    live = st.session_state["cmp_live"]
    st.success("Live results are in the table above (results: " + LIVE + "). " + " ".join(
        v for k, v in compare_ui.verdict_lines(live).items() if k not in ("not applicable",)))
