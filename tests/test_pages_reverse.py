"""AppTest of the reverse-denoising page (DiffRec, T-DiffRec, L-DiffRec)."""
from pathlib import Path

import numpy as np
import pytest

from test_pages_app import (charts, fresh_caches, masked_split, messages, metrics, no_exception,  # noqa: F401
                            page, texts)

REPO = Path(__file__).resolve().parents[1]


def run(**state):
    at = page("reverse")
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def bottom_y(spec, name="interacted"):
    return next(np.asarray(t["y"], dtype=float) for t in spec["data"] if t["name"] == name and t.get("yaxis") == "y")


def test_page_runs_with_linked_views_and_downloads():
    at = run()
    no_exception(at)
    c = charts(at)
    assert {"rv_vectors", "rv_bump", "rv_metrics", "rv_demotion"} <= set(c)
    assert len(at.latex) == 2 and "c_1" in at.latex[0].value
    assert at.slider(key="rv_step").value == at.slider(key="rv_step").max == 10     # starts at the result
    labels = [b.proto.label for b in at.get("download_button") if "__export" not in b.proto.id]
    assert labels == ["trajectory (CSV)", "trajectory (NPZ)"]
    t = texts(at)
    assert "of the top-10 items" in t and "held-out item" in t and "Recall@10" in t


def test_step_slider_buttons_change_equation_and_figures():
    at = run()
    at.slider(key="rv_step").set_value(2).run()
    no_exception(at)
    m2, v2, live2 = metrics(at), charts(at)["rv_vectors"], at.latex[1].value
    at.slider(key="rv_step").set_value(9).run()
    no_exception(at)
    m9, v9, live9 = metrics(at), charts(at)["rv_vectors"], at.latex[1].value
    assert m2["c₁"] != m9["c₁"] and m2["ᾱₜ"] != m9["ᾱₜ"]
    assert live2 != live9 and "x_{9}" in live2 and "x_{2}" in live9
    assert not np.allclose(bottom_y(v2), bottom_y(v9))
    bump = charts(at)["rv_bump"]
    assert bump["layout"]["shapes"][0]["x0"] == 9
    at.button(key="rv_prev").click().run()
    no_exception(at)
    assert at.slider(key="rv_step").value == 8
    at.button(key="rv_next").click().run()
    at.button(key="rv_next").click().run()
    at.button(key="rv_next").click().run()
    assert at.slider(key="rv_step").value == 10                    # stops at the last step


def test_scope_switch_changes_the_axis_range():
    at = run()
    at.slider(key="rv_step").set_value(1).run()
    per = charts(at)["rv_vectors"]["layout"]["yaxis2"]["range"]
    at.radio(key="rv_scope").set_value("whole trajectory").run()
    no_exception(at)
    whole = charts(at)["rv_vectors"]["layout"]["yaxis2"]["range"]
    assert whole != per and whole[0] <= per[0] and whole[1] >= per[1]


def test_play_toggles_and_restarts_from_the_first_step():
    at = run()
    assert at.slider(key="rv_step").value == 10
    at.button(key="rv_play").click().run()
    no_exception(at)
    assert at.session_state["rv_playing"] is True
    assert at.slider(key="rv_step").value <= 2                     # restarted (and possibly advanced one step)
    at.button(key="rv_play").click().run()
    assert at.session_state["rv_playing"] is False


def test_t_prime_larger_than_T_is_clamped_with_a_warning():
    at = run(rv_tprime=99)
    no_exception(at)
    assert at.slider(key="rv_tprime").value == 10
    assert any("cannot exceed T = 10" in w for w in messages(at, "warning"))


def test_clean_reverse_with_T_prime_zero_has_nothing_to_denoise():
    at = run()
    at.radio(key="rv_reverse").set_value("from_T_prime").run()
    no_exception(at)
    assert any("nothing to denoise" in i for i in messages(at, "info"))
    at.slider(key="rv_tprime").set_value(4).run()
    no_exception(at)
    assert at.slider(key="rv_step").max == 4                       # only T' reverse steps


def test_generation_from_noise_with_sampling_noise():
    at = run(rv_tprime=10, rv_noise=True)
    no_exception(at)
    assert "σ̃ₜ" in metrics(at)
    assert "T′ = 10" in "\n".join(c.value for c in at.caption)


def test_other_controls(fresh_caches):
    at = run()
    at.select_slider(key="rv_k").set_value(20).run()
    no_exception(at)
    assert "top-20" in texts(at)
    at.radio(key="rv_heldout").set_value("test").run()
    no_exception(at)


def test_a_user_with_no_held_out_items(monkeypatch, fresh_caches):
    from views import _common as C
    u = 5
    fake = masked_split(C.get_split("sample"), u, rows=("valid", "test"))
    monkeypatch.setattr(C, "get_split", lambda name: fake)
    at = run(user=u)
    no_exception(at)
    t = texts(at)
    assert "no held-out items" in t
    ann = charts(at)["rv_metrics"]["layout"].get("annotations", [])
    assert any("undefined" in a["text"] for a in ann)


def test_a_user_with_an_empty_history(monkeypatch, fresh_caches):
    from views import _common as C
    u = 6
    fake = masked_split(C.get_split("sample"), u, rows=("train", "train_noise", "train_order"))
    monkeypatch.setattr(C, "get_split", lambda name: fake)
    at = run(user=u)
    no_exception(at)
    assert any("no training history" in w for w in messages(at, "warning"))
    assert "no training interactions" in texts(at)


def test_tdiffrec_shows_the_time_weights():
    if not (REPO / "pretrained" / "tdiffrec" / "model.safetensors").exists():
        pytest.skip("no pretrained tdiffrec checkpoint")
    at = run(method="tdiffrec")
    no_exception(at)
    c = charts(at)
    assert "rv_weights" in c
    w = np.asarray(c["rv_weights"]["data"][0]["y"], dtype=float)
    assert len(w) > 0 and (np.diff(w) >= -1e-6).all()              # oldest -> newest: weights grow
    assert "T-DiffRec" in at.title[0].value


def test_a_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path, fresh_caches):
    from diffrec_core import pipeline
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path)        # an empty pretrained/ folder
    at = run(method="ldiffrec")
    no_exception(at)
    w = messages(at, "warning")
    assert w and "no pretrained checkpoint for **ldiffrec**" in w[0] and "pretrain" in w[0]
    assert not charts(at)


def test_ldiffrec_shows_clusters_and_the_latent_trajectory(monkeypatch, tmp_path, fresh_caches):
    """An untrained but clustered L-DiffRec written as a checkpoint: the page must read its latent record."""
    from diffrec_core import checkpoint, pipeline
    from views import _common as C
    split = C.get_split("sample")
    model = pipeline.build_model("ldiffrec", split)
    model.prepare(split)
    checkpoint.save(model, tmp_path / "ldiffrec", split.name)
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path)
    at = run(method="ldiffrec")
    no_exception(at)
    c = charts(at)
    assert {"rv_vectors", "rv_clusters", "rv_latent", "rv_bump", "rv_metrics"} <= set(c)
    assert "rv_demotion" in c           # decoded item scores before masking (raw_scores) show the demotion
    bars = [t for t in c["rv_vectors"]["data"] if t["type"] == "bar"]
    assert len(bars) == 1 and len(bars[0]["y"]) == model.ae.latent
    assert "clusters" in texts(at) and r"\hat z_0" in at.latex[0].value
    z = np.asarray(c["rv_latent"]["data"][0]["z"])
    assert z.shape == (10, model.ae.latent)


def test_a_broken_checkpoint_is_a_clear_message(monkeypatch, tmp_path, fresh_caches):
    from diffrec_core import pipeline
    (tmp_path / "diffrec").mkdir()
    (tmp_path / "diffrec" / "model.safetensors").write_bytes(b"not a checkpoint")
    (tmp_path / "diffrec" / "config.json").write_text("{}")
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path)
    at = run(method="diffrec")
    no_exception(at)
    assert any("could not be loaded" in w for w in messages(at, "warning"))
