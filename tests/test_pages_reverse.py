"""AppTest of the reverse-denoising page (DiffRec, T-DiffRec, L-DiffRec)."""
from pathlib import Path

import numpy as np
import pytest

from test_pages_app import (charts, fresh_caches, masked_split, messages, metrics, no_exception,  # noqa: F401
                            page, texts)

REPO = Path(__file__).resolve().parents[1]


def run(**state):
    """The page on the faithful model unless ``rv_model`` says otherwise (the teaching one: tests/test_teaching.py)."""
    at = page("reverse")
    for k, v in {"rv_model": "faithful", **state}.items():
        at.session_state[k] = v
    return at.run()


def bottom_y(spec, name="interacted"):
    return next(np.asarray(t["y"], dtype=float) for t in spec["data"] if t["name"] == name and t.get("yaxis") == "y")


def frame_of(spec, n: int) -> dict:
    """The stepper figure's frame of reverse step n (1-based)."""
    return next(f for f in spec["frames"] if f["name"] == f"step {n}")


def numbers(spec, frame=None) -> str:
    """The per-step numbers at the top of the stepper figure (the figure's data, or a frame's)."""
    traces = spec["data"] if frame is None else frame["data"]
    return traces[-1]["text"][0]


def test_page_runs_with_one_stepper_figure_and_downloads():
    at = run()
    no_exception(at)
    c = charts(at)
    assert {"rv_vectors", "rv_demotion"} <= set(c) and "rv_bump" not in c and "rv_metrics" not in c
    spec = c["rv_vectors"]
    S = 10
    assert [f["name"] for f in spec["frames"]] == [f"step {n}" for n in range(1, S + 1)]   # one frame per step
    slider = spec["layout"]["sliders"][0]
    assert len(slider["steps"]) == S and slider["active"] == S - 1                        # opens on the result
    assert all(st["method"] == "animate" for st in slider["steps"])
    play = spec["layout"]["updatemenus"][0]["buttons"][0]
    assert play["method"] == "animate" and play["args"][0] is None and play["args"][1]["fromcurrent"] is True
    assert not at.get("slider") or "rv_step" not in [s.key for s in at.slider]            # no server-side step
    assert not [b for b in at.button if b.key in ("rv_play", "rv_prev", "rv_next")]
    assert len(at.latex) == 1 and "c_1" in at.latex[0].value                               # the general form
    labels = [b.proto.label for b in at.get("download_button") if "__export" not in b.proto.id]
    assert labels == ["trajectory (CSV)", "trajectory (NPZ)"]
    t = texts(at)
    assert "in your browser" in t and "Recall@10" in t and "10 reverse steps recorded, one frame each" in t
    assert t.count("Steps are counted as the chain runs") == 1 and "t = 11 − n" in t      # explained once
    top = numbers(spec)
    assert top.startswith("<b>reverse step 10 of 10</b>") and "Recall@10 = " in top and "held-out" in top


def test_each_frame_carries_its_steps_vectors_cursor_and_numbers():
    at = run()
    spec = charts(at)["rv_vectors"]
    f2, f9 = frame_of(spec, 2), frame_of(spec, 9)
    assert len(f2["traces"]) == len(f2["data"])
    assert numbers(spec, f2).startswith("<b>reverse step 2 of 10</b>") and "x<sub>8</sub> = " in numbers(spec, f2)
    assert numbers(spec, f9).startswith("<b>reverse step 9 of 10</b>")
    # the x̂0 strip (bottom panel, axis y) differs between the steps; the cursors move to the step
    bottom = [i for i, t in enumerate(spec["data"]) if t.get("yaxis") == "y" and t.get("name") == "interacted"][0]
    pos = f2["traces"].index(bottom)
    assert not np.allclose(np.asarray(f2["data"][pos]["y"], float), np.asarray(f9["data"][pos]["y"], float))
    cursors = [i for i, t in enumerate(spec["data"]) if t.get("name") == "current step"]
    assert {spec["data"][i]["xaxis"] for i in cursors} == {"x3", "x4"}                   # bump and metrics panels
    for i in cursors:
        assert list(f9["data"][f9["traces"].index(i)]["x"]) == [9, 9]
    # the per-step numbers equal the equation module's coefficients for that step
    from ui.equations import posterior_coefs
    from views import _common as C
    traj = C.get_trajectory("diffrec", "sample", C.default_user("sample"), 0, 0, False, "all_T", 10,
                            C.pretrained_root())
    co = posterior_coefs(traj.betas, traj.alphas_cumprod)
    from ui.fmt import num
    k = int(traj.steps[1])
    assert f"= {num(co['c1'][k], 4)}·x̂" in numbers(spec, f2)


def test_a_link_step_sets_the_opening_frame():
    at = run(_rv_step_value=3)
    no_exception(at)
    spec = charts(at)["rv_vectors"]
    assert spec["layout"]["sliders"][0]["active"] == 2
    assert numbers(spec).startswith("<b>reverse step 3 of 10")
    assert "It opens on reverse step 3" in texts(at)


def test_scope_switch_changes_the_axis_range_and_the_frames():
    at = run(_rv_step_value=1)
    spec = charts(at)["rv_vectors"]
    per = spec["layout"]["yaxis2"]["range"]
    assert "layout" in spec["frames"][0]                       # 'per step': each frame brings its own range
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["redraw"] is True
    at.radio(key="rv_scope").set_value("whole trajectory").run()
    no_exception(at)
    spec = charts(at)["rv_vectors"]
    whole = spec["layout"]["yaxis2"]["range"]
    assert whole != per and whole[0] <= per[0] and whole[1] >= per[1]
    assert not any("layout" in f for f in spec["frames"])     # one range: data-only frames, no redraw
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["redraw"] is False


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
    assert len(charts(at)["rv_vectors"]["frames"]) == 4            # only T' reverse steps


def test_generation_from_noise_with_sampling_noise():
    at = run(rv_tprime=10, rv_noise=True)
    no_exception(at)
    spec = charts(at)["rv_vectors"]
    assert "·ε" in numbers(spec, frame_of(spec, 1)) and "·ε" not in numbers(spec, frame_of(spec, 10))
    assert r"\tilde\sigma_t" in at.latex[0].value
    assert "T′ = 10" in "\n".join(c.value for c in at.caption)


def test_other_controls(fresh_caches):
    at = run()
    at.select_slider(key="rv_k").set_value(20).run()
    no_exception(at)
    assert "top-20" in texts(at) and "Recall@20" in numbers(charts(at)["rv_vectors"])
    at.radio(key="rv_heldout").set_value("test").run()
    no_exception(at)


def test_a_user_with_no_held_out_items(monkeypatch, fresh_caches):
    from views import _loaders as L
    u = 5
    fake = masked_split(L.get_split("sample"), u, rows=("valid", "test"))
    monkeypatch.setattr(L, "get_split", lambda name: fake)
    at = run(user=u)
    no_exception(at)
    t = texts(at)
    assert "no held-out items" in t
    ann = charts(at)["rv_vectors"]["layout"].get("annotations", [])
    assert any("undefined" in a["text"] for a in ann)


def test_a_user_with_an_empty_history(monkeypatch, fresh_caches):
    from views import _loaders as L
    u = 6
    fake = masked_split(L.get_split("sample"), u, rows=("train", "train_noise", "train_order"))
    monkeypatch.setattr(L, "get_split", lambda name: fake)
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
    assert {"rv_vectors", "rv_clusters", "rv_latent"} <= set(c)
    assert "rv_demotion" in c           # decoded item scores before masking (raw_scores) show the demotion
    bars = [t for t in c["rv_vectors"]["data"] if t["type"] == "bar"]
    assert len(bars) == 1 and len(bars[0]["y"]) == model.ae.latent
    assert "clusters" in texts(at) and r"\hat z_0" in at.latex[0].value
    frame = c["rv_vectors"]["frames"][0]
    assert frame["data"][0]["type"] == "bar" and len(frame["data"][0]["y"]) == model.ae.latent
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


def test_the_flat_line_lesson_is_said_where_the_data_shows_it():
    """The faithful model's Recall is flat over the reverse steps for the demo user: the page says what that means,
    computed from this run (ui.reverse.one_shot_lesson); the sentence is absent where the run gives none."""
    at = run()
    no_exception(at)
    lesson = [i.value for i in at.info if "at every one of the" in i.value]
    assert len(lesson) == 1, "the faithful model's flat Recall line is explained once"
    assert lesson[0].startswith("Recall@10 is ")
    assert "one-shot denoising autoencoder" in lesson[0] or "swaps" in lesson[0]
