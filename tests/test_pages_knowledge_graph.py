"""AppTest of the Knowledge-graph page (DiffKG)."""
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_pages_app import charts, fresh_caches, messages, metrics, no_exception, page, texts  # noqa: F401
from ui import knowledge_graph as kgviews

REPO = Path(__file__).resolve().parents[1]
HAVE_MODEL = (REPO / "pretrained" / "diffkg" / "model.safetensors").exists()
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="run `python -m diffrec_core pretrain --methods diffkg`")


def run(**state):
    at = page("knowledge_graph")
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


@needs_model
def test_page_runs_with_every_view_and_downloads():
    at = run()
    no_exception(at)
    assert at.title[0].value == "Knowledge graph · DiffKG"
    c = charts(at)
    assert {"kg_subgraph", "kg_row", "kg_truth"} <= set(c)
    assert len(at.latex) == 3 and "c_1" in at.latex[0].value and "top" in at.latex[1].value   # row: general only
    labels = [b.proto.label for b in at.get("download_button") if "__export" not in b.proto.id]
    assert labels == ["row trajectory (CSV)", "row trajectory (NPZ)", "denoised KG (CSV)"]
    t = texts(at)
    assert "injected wrong" in t and "random" in t and "2,701 triples" in t
    assert "faithful_bug = False" in t and "Selected on validation" in t
    # one unit: the equation counts the same triples as the truth table; the edges are explained once
    rebuilt_n = [r for r in at.dataframe if "triples kept" in r.value.columns][0].value["triples kept"].tolist()
    live = at.latex[2].value
    assert r"\text{triples}" in live and "edges" not in live
    assert f"{rebuilt_n[0]:,}".replace(",", "{,}") in live and f"{rebuilt_n[1]:,}".replace(",", "{,}") in live
    assert "Counting: a triple" in t and "directed edges" in t
    assert kgviews.STAGE_LABELS["denoised"] in "".join(r.value["KG"].tolist()[1] for r in at.dataframe
                                                 if "triples kept" in r.value.columns)
    m = metrics(at)
    assert "wrong triples removed by the rebuild" in m and m["wrong triples removed by the rebuild"].endswith("%")
    assert not [w for w in at.slider if w.key == "kg_step"]                    # one scrubber: the figure's
    row = stepper(c["kg_row"])
    assert row["names"] == [f"step {i}" for i in range(1, 6)] and row["active"] == 4   # opens on the rebuild's x̂0
    # wrong triples are marked in the subgraph (the default item has one)
    names = [tr.get("name") for tr in c["kg_subgraph"]["data"]]
    assert "injected wrong triple" in names
    assert "injected wrong neighbour" in [tr.get("name") for tr in c["kg_row"]["data"]]


def stepper(spec) -> dict:
    """The stepper figure's frames (name -> list of (trace name, yaxis, frame data)) and its opening frame."""
    tr = spec["data"]
    frames = {f["name"]: [(tr[j].get("name"), tr[j].get("yaxis"), d) for j, d in zip(f["traces"], f["data"])]
              for f in spec["frames"]}
    return {"frames": frames, "names": [f["name"] for f in spec["frames"]],
            "active": spec["layout"]["sliders"][0]["active"]}


@needs_model
def test_every_step_is_a_frame_of_the_row_and_a_link_sets_the_opening_step():
    at = run()
    no_exception(at)
    row = stepper(charts(at)["kg_row"])
    first, last = row["frames"]["step 1"], row["frames"]["step 5"]
    y1 = [d["y"] for n, ax, d in first if n == "true neighbour" and ax == "y"][0]
    y5 = [d["y"] for n, ax, d in last if n == "true neighbour" and ax == "y"][0]
    assert not np.allclose(np.asarray(y1, float), np.asarray(y5, float))     # x̂0 moves with the step
    num1 = [d["text"][0] for n, _, d in first if n == "numbers"][0]
    num5 = [d["text"][0] for n, _, d in last if n == "numbers"][0]
    assert "reverse step 1 of 5" in num1 and "x<sub>4</sub>" in num1 and "x<sub>0</sub> =" in num5
    at = run(_kg_step_value=2)
    no_exception(at)
    assert stepper(charts(at)["kg_row"])["active"] == 1


@needs_model
def test_noising_first_user_centre_second_hop_and_other_controls():
    at = run(kg_tprime=3, kg_noise=True)
    no_exception(at)
    numbers = [d["text"][0] for n, _, d in stepper(charts(at)["kg_row"])["frames"]["step 1"] if n == "numbers"][0]
    assert "·ε" in numbers                                                     # σ̃ₜ·ε: the sampling noise
    at.radio(key="kg_center").set_value("user").run()
    no_exception(at)
    sub = charts(at)["kg_subgraph"]
    assert any(t.get("name") == "user" for t in sub["data"]) and "newest" in sub["layout"]["title"]["text"]
    at.radio(key="kg_center").set_value("item").run()
    at.toggle(key="kg_hop").set_value(True).run()
    no_exception(at)
    at.radio(key="kg_scope").set_value("whole trajectory").run()
    at.select_slider(key="kg_k").set_value(20).run()
    no_exception(at)
    assert "top-20" in texts(at)
    # another row: one of the item's neighbours
    before = charts(at)["kg_row"]
    at.selectbox(key="kg_entity").select_index(1).run()
    no_exception(at)
    assert at.session_state["kg_entity"] != at.session_state["kg_item"]
    assert charts(at)["kg_row"] != before


@needs_model
def test_t_prime_larger_than_T_is_clamped_and_clean_reverse_with_zero():
    at = run(kg_tprime=99)
    no_exception(at)
    assert at.slider(key="kg_tprime").value == 5 and any("outside" in w for w in messages(at, "warning"))
    at = run(kg_reverse="from_T_prime", kg_tprime=0)
    no_exception(at)
    assert any("nothing to denoise" in i for i in messages(at, "info"))
    assert at.slider(key="kg_tprime").value == 0


@needs_model
def test_warm_rerun_is_fast():
    at = run()
    at.run()
    t0 = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t0
    no_exception(at)
    assert dt < 1.5, dt        # ~0.2 s measured on an idle core; AppTest adds its own overhead


def test_missing_checkpoint_is_a_clear_message(monkeypatch, tmp_path, fresh_caches):
    from views import _loaders as L
    monkeypatch.setattr(L, "pretrained_root", lambda: str(tmp_path))
    at = run()
    no_exception(at)
    w = " ".join(messages(at, "warning"))
    assert "no pretrained checkpoint for **diffkg**" in w and "pretrain --methods diffkg" in w


def test_data_without_a_kg(monkeypatch, fresh_caches):
    from views import _loaders as L
    split = L.get_split("sample")
    monkeypatch.setattr(L, "get_split", lambda name: dataclasses.replace(split, kg=None))
    at = run()
    no_exception(at)
    assert any("no knowledge graph" in i for i in messages(at, "info"))


def test_page_never_imports_umap():
    import subprocess
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from streamlit.testing.v1 import AppTest\n"
            "at = AppTest.from_file(%r, default_timeout=300).run()\n"
            "assert not at.exception, at.exception\n"
            "print('umap' in sys.modules)\n") % (str(REPO), str(REPO / "views" / "knowledge_graph.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
