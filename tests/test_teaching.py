"""The teaching model (pretrained/diffrec_teaching): it loads, its noise is visible and its reverse chain recovers
held-out items on the sample world; the Reverse page's teaching / faithful choice round-trips in the URL and is
shown only where it is offered; the background warm-up fills the caches the pages read."""
import json

import numpy as np
import pytest

from test_pages_app import REPO, TIMEOUT, AppTest, charts, no_exception, page, texts
from diffrec_core import pipeline
from views import _common as C
from views import _loaders as L
from views import page_params


@pytest.fixture(scope="module")
def split():
    return pipeline.load_split("sample")


@pytest.fixture(scope="module")
def teaching(split):
    return pipeline.load_pretrained("diffrec_teaching", split)


def app_on(page_name: str, **query) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at.query_params.update({k: str(v) for k, v in query.items()})
    return at.switch_page(f"views/{page_name}.py").run()


# ------------------------------------------------------------------------------------------------ the checkpoint
def test_teaching_checkpoint_is_diffrec_with_visible_noise_run_from_x_T(teaching):
    assert teaching.name == "diffrec" and pipeline.base_method("diffrec_teaching") == "diffrec"
    assert pipeline.teaching_of("diffrec") == "diffrec_teaching" and pipeline.teaching_of("tdiffrec") is None
    cfg, d = teaching.config, teaching.diffusion
    assert cfg.sampling_steps == d.T and not cfg.sampling_noise                  # reversed from x_T, T' = T
    assert float(d.sqrt_one_minus_alphas_cumprod[-1]) > 0.9                      # std at T (faithful: 0.006)
    faithful = json.loads((REPO / "pretrained" / "diffrec" / "config.json").read_text())["config"]
    assert faithful["noise_max"] == 1e-2 and faithful["sampling_steps"] == 0     # the faithful one is untouched


def test_teaching_chain_recovers_heldout_items_over_all_users(split, teaching):
    """Computed here, over every user: the last reverse step's held-out Recall@10 clearly exceeds the first's,
    x_T keeps little trace of the history (AUC <= 0.6), and the figures pretraining recorded are these."""
    fig = pipeline.reverse_figures(teaching, split)
    r = fig["heldout_recall"]
    assert fig["steps"] == 10 and fig["T_prime"] == 10 and fig["users_heldout"] > 900
    assert r[-1] > r[0] + 0.05 and r[-1] > 2 * r[0], r                           # a rise one can see
    assert fig["history_recall"][-1] > fig["history_recall"][0]                  # the history comes back too
    assert 0.5 < fig["start_auc"] <= 0.6
    recorded = json.loads((REPO / "pretrained" / pipeline.TEACHING_RESULTS).read_text())["models"]
    rec = recorded["diffrec_teaching"]["reverse"]
    # the same computation, but float32 BLAS rounds differently per CPU: a near-tie in a user's top-10 (or between
    # two states of x_T) can flip, moving one user's share of the average (1/1000 of a user's recall)
    assert np.allclose(rec["heldout_recall"], r, rtol=0, atol=3e-3)
    assert abs(rec["start_auc"] - fig["start_auc"]) <= 1e-3
    # and the faithful model, measured the same way, starts from the history itself
    assert recorded["diffrec_teaching"]["faithful_reverse"]["start_auc"] == 1.0


def test_reverse_figures_of_a_small_run(split):
    """reverse_figures on a few users' worth of batches: shapes, ranges and the users counted."""
    model = pipeline.load_pretrained("diffrec", split)
    fig = pipeline.reverse_figures(model, split, batch=400)
    assert fig["users_heldout"] == int(((split.valid + split.test).getnnz(axis=1) > 0).sum())
    assert len(fig["heldout_recall"]) == fig["steps"] == model.n_diffusion_steps()
    assert all(0.0 <= v <= 1.0 for v in fig["heldout_recall"] + fig["history_recall"])
    assert fig["T_prime"] == 0 and fig["start_noise_std"] == 0.0 and fig["start_auc"] == 1.0


def test_pretrain_rejects_an_unknown_teaching_name(tmp_path):
    with pytest.raises(KeyError, match="teaching models: diffrec_teaching"):
        pipeline.pretrain_teaching(tmp_path, names=["diffrec_nonsense"])


# ------------------------------------------------------------------------------------------------ the choice
def test_reverse_page_opens_on_the_teaching_model_labelled_and_run_from_noise():
    at = page("reverse").run()
    no_exception(at)
    assert at.title[0].value == "Reverse denoising · DiffRec (teaching model)"
    assert at.radio(key="rv_model").value == "teaching"
    assert at.slider(key="rv_tprime").value == 10                                # its own run: T' = T
    t = texts(at)
    assert "Teaching model." in t and "Not the authors' setting" in t and "rises from" in t
    assert "T′ = 10" in "\n".join(c.value for c in at.caption)


def test_the_faithful_model_is_one_click_away_with_its_flat_line_explained():
    at = page("reverse").run()
    at.radio(key="rv_model").set_value("faithful").run()
    no_exception(at)
    assert at.title[0].value == "Reverse denoising · DiffRec (faithful)"
    assert at.slider(key="rv_tprime").value == 0                                 # the authors' T' = 0
    t = texts(at)
    assert "Faithful model" in t and "flat line" in t and "0.006" in t
    # the two runs differ: the teaching model's start is noise, the faithful one's the history
    faithful = charts(at)["rv_vectors"]
    at.radio(key="rv_model").set_value("teaching").run()
    assert at.slider(key="rv_tprime").value == 10
    assert charts(at)["rv_vectors"]["data"][0]["y"].tolist() != faithful["data"][0]["y"].tolist()


def test_the_choice_round_trips_in_the_url():
    model_param = page_params.REVERSE_PARAMS["rv_model"]
    assert model_param.accepts("faithful") and not model_param.accepts("x")
    at = app_on("reverse", rv_model="faithful")
    no_exception(at)
    assert at.radio(key="rv_model").value == "faithful" and at.query_params["rv_model"] == "faithful"
    assert at.title[0].value.endswith("(faithful)")
    at.radio(key="rv_model").set_value("teaching").run()
    assert at.query_params["rv_model"] == "teaching" and at.query_params["rv_tprime"] == "10"
    bad = app_on("reverse", rv_model="bogus")
    assert bad.radio(key="rv_model").value == "teaching"
    assert "rv_model=bogus" in "\n".join(t.proto.body for t in bad.toast)


def test_other_methods_and_pages_show_the_faithful_models():
    at = page("reverse")
    at.session_state["method"] = "tdiffrec"
    at.run()
    no_exception(at)
    assert "rv_model" not in [r.key for r in at.radio] and at.title[0].value == "Reverse denoising · T-DiffRec"
    assert "A teaching model with visible noise ships for DiffRec" in texts(at)
    home = page("home").run()
    no_exception(home)
    assert C.checkpoint_name("diffrec") == "diffrec"            # no page run offering the choice: faithful


# ------------------------------------------------------------------------------------------------ warm-up
def test_warm_up_fills_the_caches_the_pages_read(monkeypatch):
    import streamlit as st

    from diffrec_core.methods.diffrec import DiffRec

    st.cache_data.clear()
    st.cache_resource.clear()
    loads, runs = [], []
    real_load, real_traj = pipeline.load_pretrained, DiffRec.trajectory
    monkeypatch.setattr(pipeline, "load_pretrained", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    monkeypatch.setattr(DiffRec, "trajectory", lambda self, *a, **k: runs.append(1) or real_traj(self, *a, **k))
    try:
        took = C.warm_caches()
        assert not C.WARM["errors"], C.WARM["errors"]
        assert {"model diffrec", "model diffrec_teaching", "opening run diffrec_teaching", "page modules"} <= set(took)
        assert {"diffrec", "diffrec_teaching", "diffurec", "diffkg"} <= set(loads)
        n_loads, n_runs = len(loads), len(runs)
        root, user = C.pretrained_root(), C.default_user("sample")
        L.load_model("diffrec_teaching", "sample", root)                      # what the pages call
        L.load_model("diffkg", "sample", root)
        L.pretrained_trajectory("diffrec_teaching", "sample", user, 0, 10, False, "all_T", 10, root)
        L.pretrained_trajectory("diffrec", "sample", user, 0, 0, False, "all_T", 10, root)    # Home's run
        assert len(loads) == n_loads and len(runs) == n_runs                   # all cache hits
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_the_warm_up_thread_starts_once_per_process(monkeypatch):
    import threading

    import streamlit as st

    calls = []
    monkeypatch.setattr(L, "warm_caches", lambda dataset="sample": calls.append(dataset))
    L._warm_thread.clear()
    try:
        C.start_warm_up()
        t = L._warm_thread("sample")
        C.start_warm_up()
        assert isinstance(t, threading.Thread) and L._warm_thread("sample") is t
        t.join(timeout=30)
        assert calls == ["sample"]
    finally:
        L._warm_thread.clear()
        st.cache_data.clear()
