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


def numbers(spec, frame=None) -> str:
    traces = spec["data"] if frame is None else frame["data"]
    return traces[-1]["text"][0]


def frame_of(spec, t: int) -> dict:
    return next(f for f in spec["frames"] if f["name"] == f"t={t}")


def test_page_runs_with_one_stepper_figure():
    at = run()
    no_exception(at)
    c = charts(at)
    assert set(c) == {"fw_hero", "fw_noise_T"}                 # curves and histogram live in the stepper figure
    hero = c["fw_hero"]
    T = at.session_state["fw_T"]
    assert [f["name"] for f in hero["frames"]] == [f"t={t}" for t in range(T + 1)]     # T = 40: every step
    assert hero["layout"]["updatemenus"][0]["buttons"][0]["method"] == "animate"
    assert {t.get("xaxis") for t in hero["data"]} >= {"x", "x2", "x3", "x4", "x5"}
    assert "fw_step" not in [s.key for s in at.slider]          # one scrubber: the figure's
    assert len(at.latex) == 1 and "q(x_t" in at.latex[0].value
    assert "noise std at T" in metrics(at)
    assert "seed 0" in texts(at)                               # the shared noise draw is said on screen
    assert numbers(hero).startswith(f"<b>t = {T} of {T}</b>")


def test_every_frame_moves_the_vector_the_curve_markers_the_histogram_and_the_numbers():
    at = run()
    hero = charts(at)["fw_hero"]
    f5, f30 = frame_of(hero, 5), frame_of(hero, 30)
    assert "x<sub>5</sub> = " in numbers(hero, f5) and "x<sub>30</sub> = " in numbers(hero, f30)
    from diffrec_core.diffusion import PRESETS, GaussianDiffusion
    from ui import schedule
    from ui.fmt import num
    table = GaussianDiffusion(PRESETS["diffrec ml-1m (tuned)"]).schedule_table()
    v = schedule.terms_at(table, 30)
    assert f"x<sub>30</sub> = {num(v['sqrt_alpha_bar'], 5)}·x<sub>0</sub> + {num(v['noise_std'])}·ε" in \
        numbers(hero, f30)
    marks = [i for i, t in enumerate(hero["data"]) if t.get("name") == "current step" and t.get("mode") == "markers"]
    assert len(marks) == 3                                     # ᾱ, noise std, SNR panels
    for i in marks:
        assert list(f30["data"][f30["traces"].index(i)]["x"]) == [30]
    bars = [i for i, t in enumerate(hero["data"]) if t.get("type") == "bar"]
    assert len(bars) == 2
    h5 = np.asarray(f5["data"][f5["traces"].index(bars[0])]["y"], float)
    h30 = np.asarray(f30["data"][f30["traces"].index(bars[0])]["y"], float)
    assert abs(h5.sum() - 100) < 1e-3 and abs(h30.sum() - 100) < 1e-3 and not np.allclose(h5, h30)


def test_a_link_step_sets_the_opening_frame():
    at = run(_fw_step_value=12)
    no_exception(at)
    hero = charts(at)["fw_hero"]
    slider = hero["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "12"
    assert numbers(hero).startswith("<b>t = 12 of 40</b>") and "It opens on t = 12" in texts(at)


def test_presets_set_the_controls_and_image_ddpm_ends_in_noise():
    at = run()
    at.selectbox(key="fw_preset").set_value("image-DDPM (linear 1e-4..0.02, T=1000)").run()
    no_exception(at)
    assert at.session_state["fw_T"] == 1000 and at.session_state["fw_kind"] == "linear_scaled"
    assert float(metrics(at)["noise std at T"]) > 0.99
    from ui.stepper import MAX_FRAMES
    frames = charts(at)["fw_hero"]["frames"]
    assert len(frames) <= MAX_FRAMES and frames[0]["name"] == "t=0" and frames[-1]["name"] == "t=1000"
    assert "holds 100 of them" in texts(at)                                 # the cap is said on screen
    at.selectbox(key="fw_preset").set_value("diffrec amazon-book (tuned)").run()
    no_exception(at)
    assert at.session_state["fw_T"] == 5 and float(metrics(at)["noise std at T"]) < 0.01
    assert charts(at)["fw_hero"]["frames"][-1]["name"] == "t=5"             # the step follows the new T
    assert at.session_state["_fw_step_value"] <= 5


def test_changing_the_noise_scale_changes_only_the_coefficients():
    at = run(_fw_step_value=10)
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
    at.session_state["_fw_step_value"] = 0
    at.run()
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
    at = run(fw_T=5000, _fw_step_value=9999)
    no_exception(at)
    assert at.session_state["fw_T"] == 1000
    assert at.session_state["_fw_step_value"] == 1000


def test_a_user_with_an_empty_history(monkeypatch, fresh_caches):
    from views import _loaders as L
    real = L.get_split("sample")
    u = 3
    fake = masked_split(real, u, rows=("train", "train_noise", "train_order"))
    monkeypatch.setattr(L, "get_split", lambda name: fake)
    at = run(user=u)
    no_exception(at)
    assert "no training interactions" in texts(at)
