"""AppTest of the forward-noising page."""
import numpy as np

from test_pages_app import (charts, fresh_caches, masked_split, messages, metrics, no_exception,  # noqa: F401
                            page, texts)


def run(**state):
    at = page("forward")
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def hero_y(at, trace="interacted"):
    spec = charts(at)["fw_hero"]
    return next(np.asarray(t["y"], dtype=float) for t in spec["data"] if t["name"] == trace)


def test_page_runs_with_hero_animation_and_linked_views():
    at = run()
    no_exception(at)
    c = charts(at)
    assert set(c) == {"fw_hero", "fw_curves", "fw_hist", "fw_noise_T"}
    hero = c["fw_hero"]
    assert 2 <= len(hero["frames"]) <= 42 and len(hero["data"]) == 3
    assert hero["layout"]["updatemenus"][0]["buttons"][0]["method"] == "animate"
    assert len(at.latex) == 2 and "q(x_t" in at.latex[0].value
    assert "noise std at T" in metrics(at)
    assert "seed 0" in texts(at)                               # the shared noise draw is said on screen


def test_step_slider_changes_the_equation_and_the_figures():
    at = run()
    at.slider(key="fw_step").set_value(5).run()
    no_exception(at)
    m5, latex5, curves5 = metrics(at), at.latex[1].value, charts(at)["fw_curves"]
    at.slider(key="fw_step").set_value(30).run()
    no_exception(at)
    m30, latex30, curves30 = metrics(at), at.latex[1].value, charts(at)["fw_curves"]
    assert m5["ᾱₜ"] != m30["ᾱₜ"] and m5["noise std"] != m30["noise std"]
    assert "x_{5}" in latex5 and "x_{30}" in latex30
    mark = lambda spec: [t["x"] for t in spec["data"] if t["name"] == "current step"][0]   # noqa: E731
    assert list(mark(curves5)) == [5] and list(mark(curves30)) == [30]
    slider = charts(at)["fw_hero"]["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "30"
    # the schedule summary does not depend on the step
    assert m5["noise std at T"] == m30["noise std at T"]


def test_presets_set_the_controls_and_image_ddpm_ends_in_noise():
    at = run()
    at.selectbox(key="fw_preset").set_value("image-DDPM (linear 1e-4..0.02, T=1000)").run()
    no_exception(at)
    assert at.session_state["fw_T"] == 1000 and at.session_state["fw_kind"] == "linear_scaled"
    assert float(metrics(at)["noise std at T"]) > 0.99
    assert len(charts(at)["fw_hero"]["frames"]) <= 42                       # frames are subsampled
    at.selectbox(key="fw_preset").set_value("diffrec amazon-book (tuned)").run()
    no_exception(at)
    assert at.session_state["fw_T"] == 5 and float(metrics(at)["noise std at T"]) < 0.01
    assert at.slider(key="fw_step").value <= 5                              # the step follows the new T


def test_changing_the_noise_scale_changes_only_the_coefficients():
    at = run(fw_step=10)
    no_exception(at)
    y1 = hero_y(at, "not interacted")
    at.select_slider(key="fw_scale").set_value(0.5).run()
    no_exception(at)
    y2 = hero_y(at, "not interacted")
    assert not np.allclose(y1, y2)
    # x0 = 0 there, so x_t = std_t * eps: the same eps, only the factor changed
    ratio = y2 / y1
    assert np.allclose(ratio, ratio[0], rtol=1e-3) and ratio[0] > 1
    assert any("Edited from the preset" in c.value for c in at.caption)
    # seed changes the draw; t = 0 does not depend on it
    at.slider(key="fw_step").set_value(0).run()
    a = hero_y(at, "not interacted")
    at.session_state["seed"] = 5
    at.run()
    assert np.array_equal(a, hero_y(at, "not interacted"))


def test_invalid_schedule_is_reported_not_raised():
    at = run()
    at.select_slider(key="fw_min").set_value(0.5).run()        # min > max for linear-var
    no_exception(at)
    assert messages(at, "error") and "not valid" in messages(at, "error")[0]
    assert not charts(at)


def test_bad_stored_values_are_clamped():
    at = run(fw_T=5000, fw_step=9999)
    no_exception(at)
    assert at.session_state["fw_T"] == 1000
    assert at.slider(key="fw_step").value <= 1000


def test_a_user_with_an_empty_history(monkeypatch, fresh_caches):
    from views import _common as C
    real = C.get_split("sample")
    u = 3
    fake = masked_split(real, u, rows=("train", "train_noise", "train_order"))
    monkeypatch.setattr(C, "get_split", lambda name: fake)
    at = run(user=u)
    no_exception(at)
    assert "no training interactions" in texts(at)
