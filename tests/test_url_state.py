"""Shareable state (views/url_state.py): a link reproduces the view, bad links fall back with a notice, widgets
write the URL, other pages' parameters are dropped."""
import re

from test_pages_app import REPO, TIMEOUT, AppTest, charts, messages, no_exception
from views import page_params
from views.url_state import Check, Param, between, one_of


def opening_step(at, key: str) -> str:
    """The label of the frame a stepper figure opens on (the link's step)."""
    slider = charts(at)[key]["layout"]["sliders"][0]
    return slider["steps"][slider["active"]]["label"]


def app_on(page: str, **query) -> AppTest:
    """The app (with its sidebar), opened on ``page`` through a link carrying ``query``."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at.query_params.update({k: str(v) for k, v in query.items()})
    return at.switch_page(f"views/{page}.py").run()


def toasts(at) -> str:
    return "\n".join(t.proto.body for t in at.toast)


# ------------------------------------------------------------------------------------------------ units
def test_param_parses_formats_and_validates():
    p = Param(int, 0, range(0, 11))
    assert p.parse(" 7 ") == 7 and p.format(7) == "7" and p.accepts("10") and not p.accepts("11")
    for bad in ("abc", "3.5", "", "1e3"):
        assert not p.accepts(bad), bad
    b = Param(bool, False)
    assert [b.parse(v) for v in ("1", "true", "On", "0", "no")] == [True, True, True, False, False]
    assert not b.accepts("maybe") and b.format(True) == "1"
    f = Param(float, None, between(0, 1))
    assert f.accepts("0.25") and not f.accepts("nan") and not f.accepts("inf") and not f.accepts("2")
    assert f.parse(f.format(1e-5)) == 1e-5                       # grid values round-trip exactly
    s = Param(str, "a", one_of(["a", "b"]))
    assert s.accepts("b") and not s.accepts("c") and "one of a, b" in s.describe()
    assert "0…10" in p.describe() and Check(lambda v: v > 0, "positive")(-1) is False


def test_every_forward_preset_link_is_valid():
    for name in page_params.PRESETS:
        full = page_params.expand("forward", {"fw_preset": name})
        assert set(full) == {"fw_preset", "fw_kind", "fw_T", "fw_scale", "fw_min", "fw_max", "fw_b1"}
        for k, raw in full.items():
            assert page_params.FORWARD[k].accepts(raw), (name, k, raw)


# ------------------------------------------------------------------------------------------------ links
def test_a_link_reproduces_the_reverse_view():
    at = app_on("reverse", user=12, seed=3, method="diffrec", rv_tprime=5, rv_noise=1, rv_step=3, rv_k=20,
                rv_scope="whole trajectory")
    no_exception(at)
    assert not at.toast
    assert at.number_input(key="user").value == 12 and at.number_input(key="seed").value == 3
    assert at.slider(key="rv_tprime").value == 5 and at.toggle(key="rv_noise").value is True
    assert opening_step(at, "rv_vectors") == "3" and at.select_slider(key="rv_k").value == 20
    assert at.radio(key="rv_scope").value == "whole trajectory"
    assert "T′ = 5" in "\n".join(c.value for c in at.caption)
    # the same link in a second session gives the identical figure
    again = app_on("reverse", user=12, seed=3, method="diffrec", rv_tprime=5, rv_noise=1, rv_step=3, rv_k=20,
                   rv_scope="whole trajectory")
    assert charts(again)["rv_vectors"]["data"][0]["y"].tolist() == charts(at)["rv_vectors"]["data"][0]["y"].tolist()


def test_a_link_reproduces_the_forward_view_and_its_preset():
    at = app_on("forward", fw_preset="visible noise (teaching)", fw_step=4)
    no_exception(at)
    assert at.selectbox(key="fw_preset").value == "visible noise (teaching)"
    assert at.number_input(key="fw_T").value == 10                 # the preset's fields came with it
    assert opening_step(at, "fw_hero") == "4"
    assert at.query_params["fw_T"] == "10" and at.query_params["fw_scale"] == "1.0"


def test_garbage_and_out_of_range_parameters_fall_back_with_a_notice():
    at = app_on("reverse", user=10 ** 6, seed=-4, present="maybe", method="nope", rv_tprime="abc", rv_k=7,
                rv_reverse="sideways", rv_noise="2")
    no_exception(at)
    note = toasts(at)
    for name in ("user=1000000", "seed=-4", "present=maybe", "method=nope", "rv_tprime=abc", "rv_k=7",
                 "rv_reverse=sideways", "rv_noise=2"):
        assert name in note, name
    assert 0 <= at.number_input(key="user").value < 1000 and at.number_input(key="seed").value == 0
    assert at.slider(key="rv_tprime").value == 0 and at.select_slider(key="rv_k").value == 10
    assert at.radio(key="rv_reverse").value == "all_T" and at.toggle(key="rv_noise").value is False
    assert at.selectbox(key="method").value == "diffrec"
    # the URL now carries the values in effect, not the garbage
    assert at.query_params["rv_tprime"] == "0" and at.query_params["rv_k"] == "10"
    assert charts(at)["rv_vectors"]


def test_a_value_valid_for_some_model_but_not_this_one_is_clamped_with_a_named_warning():
    at = app_on("reverse", rv_tprime=50, rv_step=99)
    no_exception(at)
    assert at.slider(key="rv_tprime").value == 10
    w = "\n".join(messages(at, "warning"))
    assert "rv_tprime" in w and "cannot exceed T = 10" in w
    assert "rv_step" in w and opening_step(at, "rv_vectors") == "10" and at.query_params["rv_step"] == "10"
    assert at.query_params["rv_tprime"] == "10"


def test_changing_a_widget_updates_the_query():
    at = app_on("reverse", rv_step=4)                            # the step the figure opens on
    assert at.query_params["rv_step"] == "4"
    at.select_slider(key="rv_k").set_value(5).run()
    at.number_input(key="user").set_value(7).run()
    at.toggle(key="present").set_value(True).run()
    q = at.query_params
    assert (q["rv_k"], q["user"], q["present"], q["rv_step"]) == ("5", "7", "1", "4")
    no_exception(at)


def test_other_pages_parameters_leave_the_url_and_settings_survive():
    at = app_on("reverse", rv_tprime=4, user=9)
    at.switch_page("views/forward.py").run()
    no_exception(at)
    assert not any(k.startswith("rv_") for k in at.query_params) and at.query_params["user"] == "9"
    assert "fw_step" in at.query_params
    at.switch_page("views/reverse.py").run()
    assert at.slider(key="rv_tprime").value == 4                  # the session kept it


def test_knowledge_graph_and_reranking_links():
    at = app_on("knowledge_graph", kg_center="user", kg_tprime=3, kg_k=5, kg_item=10 ** 6)
    no_exception(at)
    assert at.radio(key="kg_center").value == "user" and at.slider(key="kg_tprime").value == 3
    assert at.select_slider(key="kg_k").value == 5
    assert any("kg_item" in w for w in messages(at, "warning"))
    rr = app_on("reranking", rr_variant="T", rr_beam=2, rr_source="logged", rr_session=10 ** 6)
    no_exception(rr)
    assert rr.radio(key="rr_source").value == "logged" and rr.slider(key="rr_beam").value == 2
    assert any("Session" in w for w in messages(rr, "warning"))


# ------------------------------------------------------------------------------------------------ stepping
def test_stepping_runs_in_the_browser_and_settings_still_rerun_the_server():
    """Play and the step slider are the figure's (Plotly frames): no server-side step control, no autoplay state
    for the server to race; a setting still reruns and rebuilds the frames, the link keeps the opening step."""
    at = app_on("reverse", rv_step=5)
    no_exception(at)
    assert not [b for b in at.button if b.key in ("rv_play", "rv_prev", "rv_next")]
    assert "rv_playing" not in at.session_state
    assert opening_step(at, "rv_vectors") == "5"
    at.select_slider(key="rv_k").set_value(20).run()              # a setting: new frames, same opening step
    spec = charts(at)["rv_vectors"]
    assert "Recall@20" in spec["data"][-1]["text"][0] and opening_step(at, "rv_vectors") == "5"
    at.number_input(key="user").set_value(3).run()                # the shared sidebar
    at.switch_page("views/forward.py").run()                      # away and back
    at.switch_page("views/reverse.py").run()
    assert opening_step(at, "rv_vectors") == "5" and at.query_params["rv_step"] == "5"
    no_exception(at)


def test_no_page_blocks_the_server_with_a_loop():
    """Stepping is client-side Plotly frames (or server-side st.fragment(run_every=…)); never a blocking loop."""
    for f in sorted((REPO / "views").glob("*.py")):
        src = f.read_text()
        assert not re.search(r"^\s*while\s+(True|1)\b", src, re.M), f"{f.name}: an endless loop"
        assert "time.sleep" not in src and "from time import sleep" not in src, f"{f.name}: sleep"
    for name in ("reverse", "forward"):                          # these two step in the browser only
        src = (REPO / "views" / f"{name}.py").read_text()
        assert "run_every" not in src and "stepper_figure" in src, name


# ------------------------------------------------------------------------------------------------ the shared link
def test_id_lists_in_links_are_capped():
    from views.url_state import id_list, ids_text

    c = id_list(5, 999, max_chars=30)
    assert c("") and c("1,2,3") and c("0, 7; 999") and ids_text([3, 1, 2]) == "3,1,2"
    for bad in ("abc", "-1", "1.5", "1000", "1,2,3,4,5,6", "9" * 40, "1," * 20, "`[x](http://e)`", None, 12):
        assert not c(bad), bad
    assert not page_params.RERANKING["rr_ids"].accepts("1," * 5000)          # a hostile link stays harmless


def test_a_built_rerank_list_travels_in_the_copy_link():
    """The sidebar's 'Copy link' holds every setting and the built list as ids (picked or typed); the link opens
    on that list."""
    from urllib.parse import parse_qs, urlsplit

    from diffrec_core.rerank import load_rerank_data

    def link(at) -> dict:
        codes = [c.value for c in at.sidebar.code]
        assert len(codes) == 1
        return {k: v[0] for k, v in parse_qs(urlsplit(codes[0]).query, keep_blank_values=True).items()}

    at = app_on("reranking", rr_source="build")
    no_exception(at)
    session = int(at.number_input(key="rr_session").value)
    cands = [int(c) for c in load_rerank_data().cands[session]]
    picks = cands[2:7][::-1]
    at.multiselect(key=f"rr_pick_{session}").set_value(picks).run()
    no_exception(at)
    q = link(at)
    assert q["rr_source"] == "build" and q["rr_session"] == str(session) and q["rr_ids"] == ",".join(map(str, picks))
    again = app_on("reranking", **q)                                        # the link rebuilds the same list
    no_exception(again)
    assert again.text_input(key="rr_ids").value == q["rr_ids"]
    assert link(again)["rr_ids"] == q["rr_ids"]
    bad = app_on("reranking", rr_source="build", rr_ids="1," * 400)
    no_exception(bad)
    assert "rr_ids=" in toasts(bad) and "at most 20 comma-separated ids" in toasts(bad)


def test_a_built_history_travels_in_the_copy_link():
    from urllib.parse import parse_qs, urlsplit

    at = app_on("embeddings", em_source="build", em_typed="3,1,4")
    no_exception(at)
    assert at.multiselect(key="em_build").value == [] and at.text_input(key="em_typed").value == "3,1,4"
    q = parse_qs(urlsplit(at.sidebar.code[0].value).query)
    assert q["em_typed"] == ["3,1,4"] and q["em_source"] == ["build"]
    at.multiselect(key="em_build").set_value([7, 2]).run()                 # picks, then the typed ids
    no_exception(at)
    assert parse_qs(urlsplit(at.sidebar.code[0].value).query)["em_typed"] == ["7,2,3,1,4"]
    at.text_input(key="em_typed").set_value("7, Solar Station").run()      # titles: fine on the page, not a link
    no_exception(at)
    assert "em_typed" not in at.query_params or at.query_params["em_typed"] != "7, Solar Station"
