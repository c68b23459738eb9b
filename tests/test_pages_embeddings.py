"""AppTest of the Embeddings page (DiffuRec, DreamRec): renders, the main controls change the view, bad
user-built histories give clear messages, and no UMAP import on a view."""
import shutil
import sys
from pathlib import Path

import numpy as np

from test_pages_app import charts, fresh_caches, messages, metrics, no_exception, page, texts  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
ALL = {"em_map", "em_forward", "em_reverse", "em_multiples", "em_lambda", "em_side"}


def run(**state):
    at = page("embeddings")
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def trace(spec, name):
    return next(t for t in spec["data"] if t.get("name") == name)


def test_page_renders_every_section_without_importing_umap():
    had_umap = "umap" in sys.modules
    at = run()
    no_exception(at)
    assert at.title[0].value.startswith("Embeddings")
    assert ALL <= set(charts(at))
    assert len(at.latex) == 2            # the forward and the reverse step, general (their numbers: in the figures)
    labels = [b.proto.label for b in at.get("download_button") if "__export" not in b.proto.id]
    assert labels == ["trajectory (CSV)", "trajectory (NPZ)"]
    t = texts(at)
    assert "What a 2-D map can show" in t and "How this map was made: UMAP" in t
    assert "keeps the authors'" in t and "switches to" in t          # which quirks the pretrained models use
    assert "held-out next item" in t and "same x\\_T" in t
    if not had_umap:
        assert "umap" not in sys.modules


def test_map_kind_and_map_method_change_the_map():
    at = run()
    umap_x = np.concatenate([np.asarray(t["x"], float) for t in charts(at)["em_map"]["data"]])
    at.radio(key="em_kind").set_value("pca").run()
    no_exception(at)
    spec = charts(at)["em_map"]
    pca_x = np.concatenate([np.asarray(t["x"], float) for t in spec["data"]])
    assert pca_x.shape == umap_x.shape == (500,) and not np.allclose(pca_x, umap_x)
    assert "PC1" in spec["layout"]["xaxis"]["title"]["text"]
    assert "How this map was made: PCA" in texts(at)
    at.radio(key="em_map_method").set_value("dreamrec").run()
    no_exception(at)
    assert "DreamRec item embeddings" in charts(at)["em_map"]["layout"]["title"]["text"]
    at.radio(key="em_map_method").set_value("sasrec").run()
    no_exception(at)
    assert "SASRec" in charts(at)["em_map"]["layout"]["title"]["text"]


def test_forward_steps_in_the_browser_and_a_link_sets_the_opening_t():
    at = run()
    no_exception(at)
    assert not [s for s in at.slider if s.key == "em_t"]                    # one scrubber: the figure's
    sp = stepper(charts(at)["em_forward"])
    assert sp["names"] == [f"t={t}" for t in range(33)] and sp["names"][sp["active"]] == "t=16"    # T / 2
    early, late = sp["frames"]["t=2"], sp["frames"]["t=30"]
    cur = "x_t (size: cos to the item)"
    assert early[cur]["x"] != late[cur]["x"] and early[cur]["marker"]["size"] > late[cur]["marker"]["size"]
    assert "t = 2 of 32" in early["numbers"]["text"][0] and "x<sub>30</sub>" in late["numbers"]["text"][0]
    assert early["current step"]["x"] == [2, 2]                              # the survival curves' cursor
    at = run(_em_t_value=30)
    sp = stepper(charts(at)["em_forward"])
    assert sp["names"][sp["active"]] == "t=30"
    at.selectbox(key="em_item").set_value(123).run()
    no_exception(at)
    assert "the item (x_0)" in {t.get("name") for t in charts(at)["em_forward"]["data"]}


def stepper(spec) -> dict:
    """The stepper figure's frames (name -> {trace name: data}) and the slider's opening frame."""
    names = [t.get("name") for t in spec["data"]]
    frames = {f["name"]: {names[j]: d for j, d in zip(f["traces"], f["data"])} for f in spec["frames"]}
    return {"frames": frames, "names": [f["name"] for f in spec["frames"]],
            "active": spec["layout"]["sliders"][0]["active"]}


def test_reverse_stepper_every_step_in_the_browser_method_and_guidance_controls():
    at = run()
    no_exception(at)
    assert not [s for s in at.slider if s.key == "em_step"]                  # one scrubber: the figure's
    sp = stepper(charts(at)["em_reverse"])
    assert sp["names"] == [f"step {i}" for i in range(1, 33)] and sp["active"] == 31   # opens on the result
    first, last = sp["frames"]["step 1"], sp["frames"]["step 32"]
    assert first["current x̂0"]["x"] != last["current x̂0"]["x"]              # the step moves x̂0 ...
    assert "reverse step 1 of 32" in first["numbers"]["text"][0]               # ... and the numbers
    assert "reverse step 32 of 32" in trace(charts(at)["em_reverse"], "numbers")["text"][0]
    at = run(_em_step_value=3)                                                 # a link's step: the opening frame
    assert stepper(charts(at)["em_reverse"])["active"] == 2
    at.radio(key="em_method").set_value("dreamrec").run()
    no_exception(at)
    sp = stepper(charts(at)["em_reverse"])
    assert len(sp["names"]) <= 100 and {"step 1", "step 3", "step 100"} <= set(sp["names"])   # capped frames
    assert sp["names"][sp["active"]] == "step 3"                               # the link's step is kept
    assert "DreamRec · reverse step 3 of 100" in trace(charts(at)["em_reverse"], "numbers")["text"][0]
    before = charts(at)["em_multiples"]
    n_before = len(before["layout"]["annotations"])
    at.slider(key="em_w").set_value(5.0).run()
    no_exception(at)
    after = charts(at)["em_multiples"]
    assert len(after["layout"]["annotations"]) == n_before + 1             # the slider's w joins the panels
    assert any("w = 5 (slider)" in a["text"] for a in after["layout"]["annotations"])


def test_each_model_shows_only_its_own_knob_and_its_chance_level():
    at = run(em_method="diffurec")
    no_exception(at)
    keys = {w.key for w in list(at.slider) + list(at.select_slider)}
    assert "em_lam" in keys and "em_w" not in keys
    t = texts(at)
    assert "a random ranking gets 20/500 = 0.040" in t
    import json

    from ui import embeddings as emap
    results = json.loads((REPO / "pretrained" / "results.json").read_text())["methods"]
    for m in ("diffurec", "dreamrec"):                        # the sentences follow the recorded test metrics
        assert emap.chance_sentence(m, results[m]["test"], 500) in t
    at.radio(key="em_method").set_value("dreamrec").run()
    no_exception(at)
    keys = {w.key for w in list(at.slider) + list(at.select_slider)}
    assert "em_w" in keys and "em_lam" not in keys
    assert "How x\\_t was placed" in texts(at) or "How x_t was placed" in texts(at)


def test_lambda_slider_moves_the_marker_and_changes_diffurec():
    at = run()
    x_before = trace(charts(at)["em_reverse"], "x̂0 (prediction)")["x"]
    at.select_slider(key="em_lam").set_value(1.0).run()
    no_exception(at)
    c = charts(at)
    assert c["em_lambda"]["layout"]["shapes"][-1]["x0"] == 1.0
    assert not np.allclose(np.asarray(trace(c["em_reverse"], "x̂0 (prediction)")["x"], float),
                           np.asarray(x_before, float))
    assert "At δ = 1.00" in texts(at)


def test_built_history_with_unknown_and_duplicate_items_gives_clear_messages():
    at = run(em_source="build", em_build=[1, 2, 3], em_typed="2, no such film, 9999")
    no_exception(at)
    w = messages(at, "warning")
    assert any("unknown items ignored" in m and "'no such film'" in m and "'9999'" in m for m in w), w
    assert any("Repeated item kept once" in m for m in w), w
    assert ALL <= set(charts(at))                                           # the app keeps running
    assert "no held-out next item" in texts(at)


def test_empty_built_history_is_a_clear_message():
    at = run(em_source="build", em_build=[], em_typed="")
    no_exception(at)
    assert any("history is empty" in m for m in messages(at, "info"))
    c = charts(at)
    assert {"em_map", "em_forward"} <= set(c) and "em_reverse" not in c     # the earlier sections still show
    at.text_input(key="em_typed").set_value("nothing valid").run()
    no_exception(at)
    assert any("unknown item ignored" in m for m in messages(at, "warning"))
    assert any("history is empty" in m for m in messages(at, "info"))


def test_ddim_sampler_and_test_item():
    at = run()
    at.radio(key="em_sampler").set_value("ddim").run()
    no_exception(at)
    sp = stepper(charts(at)["em_reverse"])
    assert len(sp["names"]) == 8                                            # DiffuRec's ddim_steps
    assert "DDIM step (our addition)" in sp["frames"]["step 1"]["numbers"]["text"][0]
    at.radio(key="em_which").set_value("test").run()
    no_exception(at)
    assert "held-out next item" in texts(at)


def test_side_by_side_progress_slider():
    at = run()
    at.slider(key="em_sbs").set_value(50).run()
    no_exception(at)
    ann = [a["text"] for a in charts(at)["em_side"]["layout"]["annotations"]]
    assert "step 17 of 32" in ann[0] and "step 51 of 100" in ann[1]


def test_missing_map_falls_back_to_pca(monkeypatch, tmp_path, fresh_caches):
    from diffrec_core import pipeline
    for m in ("diffurec", "dreamrec", "sasrec"):
        shutil.copytree(REPO / "pretrained" / m, tmp_path / m, ignore=shutil.ignore_patterns("item_map.npz"))
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path)
    at = run()
    no_exception(at)
    assert any("no item map" in m and "PCA map computed now" in m for m in messages(at, "warning"))
    assert any("no UMAP layout" in m for m in messages(at, "info"))
    assert "PC1" in charts(at)["em_map"]["layout"]["xaxis"]["title"]["text"]


def test_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path, fresh_caches):
    from diffrec_core import pipeline
    monkeypatch.setattr(pipeline, "PRETRAINED", tmp_path)
    at = run()
    no_exception(at)
    w = messages(at, "warning")
    assert w and "no pretrained checkpoint for **diffurec**" in w[0]
    assert not charts(at)
