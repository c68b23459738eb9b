"""AppTest of the Compare page: the precomputed table and charts, protocols never mixed, not-applicable rows
shown, the computed verdict, 'same user, same noise', the papers' numbers, and the live run with a budget."""
import json

import pytest

from test_pages_app import charts, fresh_caches, messages, no_exception, page, texts  # noqa: F401
from test_compare import table


def write_results(tmp_path, results) -> str:
    from diffrec_core import compare

    path = tmp_path / "results.json"
    path.write_text(compare.to_json(results))
    return str(path)


def frame_with(at, column: str):
    """The first st.dataframe on the page whose table has ``column`` (AppTest does not expose dataframe keys)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def harness_table():
    t = table()
    t.update(schema="diffrec-compare", stats={})
    for r in t["rows"]:
        if r.get("test"):
            r.update(train_seconds={"mean": 1.0, "std": None}, infer_ms_per_user={"mean": 0.1, "std": None},
                     parameters=10, state_size=10, diffusion_steps=0, best_epoch=[1], page="")
    return t


@pytest.fixture
def synthetic(monkeypatch, tmp_path, fresh_caches):
    from views import _compare as X

    path = write_results(tmp_path, harness_table())
    monkeypatch.setattr(X, "available_results", lambda: {"Synthetic": path})
    return path


def test_compare_shows_the_precomputed_comparison():
    at = page("compare").run()
    no_exception(at)
    ch = charts(at)
    assert {"cmp_bars", "cmp_cost"} <= set(ch)
    assert "Verdict" in texts(at) and "ranked by test Recall@20" in texts(at)
    before_axis = ch["cmp_bars"]["layout"]["xaxis"]["title"]["text"]
    before_text = texts(at)
    at.radio(key="cmp_metric").set_value("ndcg@10").run()
    no_exception(at)
    assert charts(at)["cmp_bars"]["layout"]["xaxis"]["title"]["text"] != before_axis
    assert "ranked by test NDCG@10" in texts(at) and texts(at) != before_text       # the verdict follows


def test_ml1m_results_sit_beside_the_papers_numbers_on_the_same_split():
    from views import _compare as X

    if "ML-1M clean (benchmark)" not in X.available_results():
        pytest.skip("no ML-1M comparison in pretrained/compare/ml-1m")
    at = page("compare").run()
    no_exception(at)
    fig = charts(at)["cmp_papers"]
    ours, reported = fig["data"]
    assert all(y.endswith("(ours, same split)") for y in ours["y"]) and reported["name"] == "reported"
    assert any("DiffRec, SIGIR'23" in y for y in reported["y"])
    at.radio(key="cmp_source").set_value("ML-1M clean (benchmark)").run()
    no_exception(at)
    assert "diffrec_ml-1m_clean" in texts(at) and "its own released split" in texts(at)
    assert "needs a knowledge graph" in frame_with(at, "why")["why"].str.cat()


def test_protocols_are_never_mixed(synthetic):
    at = page("compare").run()
    no_exception(at)
    assert at.radio(key="cmp_protocol").options == ["per-user chronological 80/10/10",
                                                    "leave-one-out (last item test, second-to-last valid)"]
    ys = [y for t in charts(at)["cmp_bars"]["data"] for y in t["y"]]
    assert sorted(ys) == ["DiffRec", "EASE", "L-DiffRec", "TopPop"]
    assert "best diffusion method is DiffRec" in texts(at)
    at.radio(key="cmp_protocol").set_value("leave_one_out").run()
    no_exception(at)
    ys = [y for t in charts(at)["cmp_bars"]["data"] for y in t["y"]]
    assert sorted(ys) == ["DreamRec", "SASRec"]
    assert "SASRec" in texts(at) and "beats the best diffusion method, DreamRec" in texts(at)


def test_not_applicable_methods_are_shown(synthetic):
    at = page("compare").run()
    no_exception(at)
    na = frame_with(at, "why")
    assert na["method"].tolist() == ["DiffKG"] and "knowledge graph" in na["why"].iloc[0]
    assert "Not applicable to this data: DiffKG" in texts(at)


def test_a_method_the_budget_did_not_reach_is_not_run_never_not_applicable(monkeypatch, tmp_path, fresh_caches):
    from views import _compare as X

    t = harness_table()
    t["rows"].append({"method": "multvae", "title": "Mult-VAE", "kind": "baseline", "protocol": "chrono",
                      "applicable": True, "not_run": True, "status": "not run (budget)", "n_seeds": 0,
                      "reason": "not run (the time budget ran out, or a stop was asked, before its turn)"})
    path = write_results(tmp_path, t)
    monkeypatch.setattr(X, "available_results", lambda: {"Synthetic": path})
    at = page("compare").run()
    no_exception(at)
    frames = [df.value for df in at.dataframe if "why" in df.value.columns]
    assert [f["method"].tolist() for f in frames] == [["DiffKG"], ["Mult-VAE"]]
    assert frames[0]["status"].tolist() == ["not applicable"] and frames[1]["status"].tolist() == ["not run (budget)"]
    assert "Not run: Mult-VAE" in texts(at) and "Not applicable to this data: DiffKG (" in texts(at)


def test_compare_without_any_results(monkeypatch, fresh_caches):
    from views import _compare as X
    from views import _loaders as L

    monkeypatch.setattr(X, "available_results", lambda: {})
    monkeypatch.setattr(L, "get_results", lambda: {"methods": {}})
    at = page("compare").run()
    no_exception(at)
    assert any("No precomputed comparison" in i for i in messages(at, "info"))
    assert "cmp_grid" in charts(at)                                # the rest of the page still works


def test_same_user_same_noise_follows_one_slider():
    at = page("compare").run()
    ch = charts(at)
    grid = ch["cmp_grid"]
    heads = [a["text"] for a in grid["layout"]["annotations"]]
    assert any("DiffRec" in h for h in heads) and any("DreamRec" in h for h in heads)
    assert any("step 10/10" in h for h in heads) and any("step 100/100" in h for h in heads)
    assert len(ch["cmp_sched"]["data"]) == len(heads)             # one schedule per method shown
    lesson = [i.value for i in at.info if "one-shot denoising" in i.value]   # the hits chart's lesson, in words
    assert len(lesson) == 1 and "DiffRec (" in lesson[0]
    at.slider(key="cmp_frac").set_value(50).run()
    no_exception(at)
    heads = [a["text"] for a in charts(at)["cmp_grid"]["layout"]["annotations"]]
    assert any("step 6/10" in h for h in heads) and any("step 51/100" in h for h in heads)  # round(.5*9), round(.5*99)
    assert charts(at)["cmp_hits"]["layout"]["shapes"][0]["x0"] == 0.5
    at.multiselect(key="cmp_methods").set_value(["diffrec"]).run()
    no_exception(at)
    assert len(charts(at)["cmp_grid"]["layout"]["annotations"]) == 1



def test_same_user_section_shows_the_sidebar_user():
    """The section has no user of its own: set the sidebar's user and the grid holds that user's run."""
    from views import _compare as X

    def diffrec_items(at):
        grid = charts(at)["cmp_grid"]
        return sorted(int(h.rsplit("(item ", 1)[1].rstrip(")")) for t in grid["data"] for h in t["customdata"]
                      if h.startswith("DiffRec ·"))

    at = page("compare")
    at.session_state["user"] = 7
    at.run()
    no_exception(at)
    assert "**User 7**" in [m.value for m in at.markdown] and "cmp_user" not in [n.key for n in at.number_input]
    want = sorted(int(i) for i in X.trajectory("diffrec", "sample", 7, 0, 10).topk[-1, 0])
    assert diffrec_items(at) == want
    at.session_state["user"] = 8
    at.run()
    assert "**User 8**" in [m.value for m in at.markdown]
    assert diffrec_items(at) == sorted(int(i) for i in X.trajectory("diffrec", "sample", 8, 0, 10).topk[-1, 0])
    assert diffrec_items(at) != want, "users 7 and 8 get different DiffRec lists in the sample world"


def test_the_knowledge_graph_page_and_compare_state_one_ranking():
    """Both pages read the sample world's comparison through diffrec_core.compare.ranking: the KG page's DiffKG /
    KG attention / LightGCN order is the Compare table's order of those methods, and its sentence names the same
    first method."""
    from views.knowledge_graph import COMPARE

    cmp_at = page("compare").run()
    no_exception(cmp_at)
    cmp_table = frame_with(cmp_at, "kind")
    from views import _common as C
    wanted = [C.method_title(m) for m in COMPARE]
    cmp_order = [m for m in cmp_table["method"].tolist() if m in wanted]
    kg_at = page("knowledge_graph").run()
    no_exception(kg_at)
    kg_table = frame_with(kg_at, "± sd")
    assert kg_table["method"].tolist() == cmp_order and len(cmp_order) == len(COMPARE)
    assert f"{cmp_order[0]} ranks first" in texts(kg_at)

def test_papers_numbers_are_labelled():
    at = page("compare").run()
    papers = frame_with(at, "caveats")
    assert {"paper", "dataset", "protocol", "status", "caveats"} <= set(papers.columns)
    assert "11.11 %" in papers["value"].tolist() and "1.100 %" in papers["value"].tolist()
    assert any("not ours" in h.value for h in at.subheader)
    at.selectbox(key="cmp_paper").set_value("DiffKG").run()
    no_exception(at)
    papers = frame_with(at, "caveats")
    assert set(papers["dataset"]) == {"Last-FM", "MIND", "Alibaba-iFashion"}
    assert papers["caveats"].str.contains("TEST epoch").any()


def test_live_comparison_runs_within_its_budget(fresh_caches):
    at = page("compare").run()
    at.multiselect(key="cmp_live_methods").set_value(["pop", "ease"])
    at.slider(key="cmp_live_budget").set_value(5)
    at.button(key="cmp_live_run").click().run(timeout=120)
    no_exception(at)
    live = at.session_state["cmp_live"]
    assert {r["method"] for r in live["rows"]} == {"pop", "ease"}
    assert live["budget_seconds"] == pytest.approx(2.5)           # 5 s shared by two runs
    assert at.radio(key="cmp_source").value == "Live run (this session)"
    ys = [y for t in charts(at)["cmp_bars"]["data"] for y in t["y"]]
    assert sorted(ys) == ["EASE", "TopPop"]
    assert any("Live results" in s for s in messages(at, "success"))
    json.dumps(live)                                              # plain numbers only in session state


def test_reproduction_against_the_authors_code_is_shown(fresh_caches):
    from diffrec_core import reproduction

    doc = reproduction.load()                                    # the shipped benchmarks/results file
    at = page("compare").run()
    no_exception(at)
    assert any(h.value == "Reproduced against the authors' code" for h in at.subheader)
    table = frame_with(at, "within spread?")
    assert len(table) == len(doc["rows"]) and "DiffRec" in table["method"].tolist()
    assert set(table["within spread?"]) <= {"yes", "no", "not measured (one seed)"}
    assert "Recall@20" in texts(at) and "the combined spread" in texts(at)
    assert doc["rows"][0]["date"] in texts(at)
    from diffrec_core import registry
    title = {**reproduction.VARIANT_TITLES, **{s.name: s.title for s in registry.specs()}}
    if doc["not_run"]:                          # every method the file lists as not run, by its title
        why = frame_with(at, "why not run")
        assert {title.get(n["method"], n["method"]) for n in doc["not_run"]} == set(why["method"])
    assert {title.get(r["method"], r["method"]) for r in doc["rows"]} <= set(table["method"])


@pytest.mark.parametrize("content, msg", [(None, "no side-by-side results file"), ("{oops", "not valid JSON"),
                                          ('{"schema": "other"}', "not a side-by-side results file")])
def test_a_missing_or_malformed_reproduction_file_is_a_message(monkeypatch, tmp_path, fresh_caches, content, msg):
    from views import _compare as X

    path = tmp_path / "side_by_side.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr(X, "SIDE_BY_SIDE", str(path))
    at = page("compare").run()
    no_exception(at)
    assert any(msg in w for w in messages(at, "warning"))
    assert not any("within spread?" in df.value.columns for df in at.dataframe)
    assert any("not ours" in h.value for h in at.subheader)              # the rest of the page still renders
    assert frame_with(at, "caveats") is not None and at.button(key="cmp_live_run") is not None
