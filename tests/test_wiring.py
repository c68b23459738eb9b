"""Cross-cutting wiring: every chart's export popover (views/_common.chart), URL state of the Embeddings, Compare and
Lab pages (views/page_params.py), and a Lab-trained model shown on the Reverse page through the shared sidebar."""
import numpy as np
import pytest

from test_pages_app import charts, messages, no_exception, page, texts
from test_url_state import app_on, toasts


def _export_ids(at) -> list:
    return [b.proto.id for b in at.get("download_button") if "__export" in b.proto.id]


# ------------------------------------------------------------------------------------------------ exports
def test_every_chart_offers_an_export_that_renders_only_when_clicked(monkeypatch):
    from ui import export as E

    calls = []
    monkeypatch.setattr(E, "figure_to_image", lambda *a, **k: calls.append(a) or b"")
    at = page("reverse").run()
    at.run()
    no_exception(at)
    n_charts = len(at.get("plotly_chart"))
    assert n_charts >= 2 and len(at.get("popover")) == n_charts        # one "Download" popover per chart
    assert {p.proto.popover.label for p in at.get("popover")} == {"Download"}
    ok, why = E.kaleido_status()
    if ok:
        ids = _export_ids(at)
        # PNG and SVG for every chart, and a GIF for the animated one (the stepper figure)
        assert len(ids) == 2 * n_charts + 1 and any(i.endswith("rv_vectors__export_png") for i in ids)
        assert [i for i in ids if i.endswith("__export_gif")][0].endswith("rv_vectors__export_gif")
    else:
        assert why in texts(at)
    assert calls == []                                                   # nothing rendered without a click
    assert E._probe.cache_info().currsize == 1                          # the browser lookup is made once


# ------------------------------------------------------------------------------------------------ URL state
def test_an_embeddings_link_reproduces_the_view():
    at = app_on("embeddings", em_method="dreamrec", em_map_method="sasrec", em_kind="pca", em_item="7",
                em_t="3", em_k="5", em_w="4.0", em_lam="0.01", em_sampler="ddim", em_sbs="50")
    no_exception(at)
    assert not at.toast, toasts(at)
    assert at.radio(key="em_method").value == "dreamrec" and at.radio(key="em_map_method").value == "sasrec"
    assert at.radio(key="em_kind").value == "pca" and at.selectbox(key="em_item").value == 7
    fw = charts(at)["em_forward"]["layout"]["sliders"][0]                # t: the forward stepper's opening frame
    assert fw["steps"][fw["active"]]["label"] == "3" and at.select_slider(key="em_k").value == 5
    assert at.slider(key="em_w").value == 4.0
    assert not [s for s in at.select_slider if s.key == "em_lam"]       # δ is DiffuRec's: not drawn for DreamRec
    assert at.radio(key="em_sampler").value == "ddim" and at.slider(key="em_sbs").value == 50
    at.slider(key="em_w").set_value(1.5).run()                          # the widget writes the link
    assert at.query_params["em_w"] == "1.5" and at.query_params["em_method"] == "dreamrec"
    at.radio(key="em_method").set_value("diffurec").run()               # the link's δ was kept while hidden
    assert at.select_slider(key="em_lam").value == 0.01
    assert not [s for s in at.slider if s.key == "em_w"]                # and w is DreamRec's


def test_bad_embeddings_compare_and_lab_links_fall_back_with_a_notice():
    at = app_on("embeddings", em_lam="0.5", em_w="3.3", em_method="sasrec", em_item="99999")
    no_exception(at)
    note = toasts(at)
    assert "em_lam=0.5" in note and "em_w=3.3" in note and "em_method=sasrec" in note
    assert at.select_slider(key="em_lam").value == 1e-3
    assert any("Item 99999 is outside" in w for w in messages(at, "warning"))
    assert at.selectbox(key="em_item").value == len(at.selectbox(key="em_item").options) - 1
    at = app_on("compare", cmp_metric="recall@99", cmp_frac="42")
    no_exception(at)
    note = toasts(at)
    assert "cmp_metric=recall@99" in note and "cmp_frac=42" in note
    at = app_on("lab", lab_tab="Nope", lab_method="dcdr", lab_preset="beauty")
    no_exception(at)
    note = toasts(at)
    assert "lab_tab=Nope" in note and "lab_method=dcdr" in note
    assert any("has no preset 'beauty'" in w for w in messages(at, "warning"))    # valid somewhere, not for DiffRec


def test_compare_and_lab_links_reproduce_the_view():
    at = app_on("compare", cmp_metric="ndcg@10", cmp_frac="50", user="12")
    no_exception(at)
    assert not at.toast, toasts(at)
    assert at.radio(key="cmp_metric").value == "ndcg@10"
    assert at.slider(key="cmp_frac").value == 50 and "**User 12**" in [m.value for m in at.markdown]
    at.slider(key="cmp_frac").set_value(25).run()
    assert at.query_params["cmp_frac"] == "25" and at.query_params["cmp_metric"] == "ndcg@10"
    at = app_on("lab", lab_tab="Data", lab_method="ease", lab_preset="ml-1m")
    no_exception(at)
    assert not at.toast, toasts(at)
    assert at.selectbox(key="lab_method").value == "ease" and at.selectbox(key="lab_preset_ease").value == "ml-1m"
    assert at.get("tab_container")[0].proto.tab_container.default_tab_index == 1          # the Data tab
    assert at.query_params["lab_tab"] == "Data" and at.query_params["lab_preset"] == "ml-1m"


# ------------------------------------------------------------------------------------------------ Lab model
@pytest.fixture(scope="module")
def lab_runs():
    """A one-epoch DiffRec and a Pop run, trained directly into the server's store (as the Lab page would)."""
    import torch

    from diffrec_core import lab_train as L

    torch.set_num_threads(1)
    data = L.LabData.sample()
    out = {}
    for m in ("diffrec", "pop"):
        run = L.LabRun(m, data, seed=3, epochs=1, eval_every=1)
        while not run.done:
            run.step()
        out[m] = (L.RUNS.put(run, "run", m), run)
    return out


def _vectors(at):
    spec = charts(at)["rv_vectors"]
    return [np.asarray(t["y"], dtype=float) for t in spec["data"]                  # the x_t and x̂0 strips
            if t.get("y") is not None and t.get("yaxis", "y") in ("y", "y2")]


def test_a_lab_model_chosen_in_the_sidebar_is_shown_on_the_reverse_page(lab_runs):
    rid, run = lab_runs["diffrec"]
    prid, _ = lab_runs["pop"]
    at = app_on("reverse")
    no_exception(at)
    pretrained = _vectors(at)
    assert not [s for s in at.sidebar.selectbox if s.key == "side_lab_model"]        # no Lab runs: no selector
    at.session_state["lab_runs"] = [rid, prid]
    at.run()
    sel = at.sidebar.selectbox(key="side_lab_model")
    assert sel.value is None
    assert sel.options == ["pretrained", f"Lab: {run.label()}", f"Lab: {lab_runs['pop'][1].label()}"]
    assert all(np.allclose(a, b) for a, b in zip(_vectors(at), pretrained))      # runs alone change nothing
    sel.set_value(rid).run()
    no_exception(at)
    assert at.session_state["lab_active"] == rid and at.session_state["method"] == "diffrec"
    assert "Shown on: Reverse denoising" in "\n".join(c.value for c in at.sidebar.caption)
    lab = _vectors(at)
    assert len(lab) == len(pretrained) and not all(np.allclose(a, b) for a, b in zip(lab, pretrained))
    # the page's chart is the Lab model's own run (cached under the run id, not under "diffrec")
    spec = charts(at)["rv_vectors"]
    slider = spec["layout"]["sliders"][0]
    user, step = int(at.session_state["user"]), int(slider["steps"][slider["active"]]["label"])
    own = run.model.trajectory(run.split, [user], k=10, seed=0)
    assert own.n_steps == len(spec["frames"])
    xhat = np.float32(own.x0_hat[step - 1][0])
    assert any(len(v) > 5 and np.isin(np.float32(v), xhat).all() for v in lab)      # the Lab model's x̂0 values
    # a Lab model no page can show: honest caption, the pretrained model stays
    at.sidebar.selectbox(key="side_lab_model").set_value(prid).run()
    no_exception(at)
    assert "No page shows a Lab-trained" in "\n".join(c.value for c in at.sidebar.caption)
    assert all(np.allclose(a, b) for a, b in zip(_vectors(at), pretrained))
    # the choice survives a visit to a page without the Lab's radio, and the Home page keeps the pretrained hero
    at.sidebar.selectbox(key="side_lab_model").set_value(rid).run()
    at.switch_page("views/home.py").run()
    no_exception(at)
    assert at.session_state["lab_active"] == rid
    at.switch_page("views/lab.py").run()                                # the Lab's own radio agrees
    no_exception(at)
    assert at.radio(key="lab_active").value == rid and at.sidebar.selectbox(key="side_lab_model").value == rid
