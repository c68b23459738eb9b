"""AppTest of the Lab page: it renders; a training run progresses epoch by epoch with live curves, can be stopped,
and leaves a model for the session; and every bad input (malformed, oversized or wrongly encoded upload, corrupted,
mismatched or pickled checkpoint, trajectory file of another version) gives a clear message while the app keeps
running."""
from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from test_pages_app import charts, messages, metrics, no_exception, page, texts  # noqa: F401

from diffrec_core import lab_train as L
from diffrec_core.upload import MAX_UPLOAD_BYTES, load_upload


def run_page(**state):
    at = page("lab")
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def uploader(at, key):
    return next(u for u in at.get("file_uploader") if u.proto.id.endswith(key))


def still_running(at):
    """The app is alive after a bad input: no exception, and the Train button is still there."""
    no_exception(at)
    assert at.button(key="lab_train").proto.label == "Train"


def train(at, max_reruns=40):
    at.button(key="lab_train").click().run()
    no_exception(at)
    n = 0
    while any(b.key == "lab_stop" for b in at.button) and n < max_reruns:
        at.run()
        no_exception(at)
        n += 1
    return n


def test_page_renders_with_three_tabs_and_the_sample_report():
    at = run_page()
    no_exception(at)
    assert at.title[0].value.startswith("Lab")
    assert [t.label for t in at.tabs] == ["Train", "Data", "Load files"]
    m = metrics(at)
    assert m["users"] == "1,000" and m["items"] == "500"
    assert "activity" in " ".join(charts(at)) or "lab_activity" in charts(at)
    assert at.selectbox(key="lab_method").value == "diffrec"
    assert "lab_loss" not in charts(at)                                    # nothing trained yet


def test_training_progresses_with_live_curves_and_is_kept_for_the_session():
    import torch

    threads = torch.get_num_threads()
    at = run_page(lab_method="diffrec")
    at.number_input(key="lab_ep_diffrec_sample").set_value(2)
    at.number_input(key="lab_ev_diffrec_sample").set_value(1)
    at.run()
    at.button(key="lab_train").click().run()
    no_exception(at)
    first = charts(at)["lab_loss"]["data"][0]["x"]
    assert len(first) >= 1                                                 # the first chunk trained an epoch
    train_rest = 0
    while any(b.key == "lab_stop" for b in at.button) and train_rest < 20:
        at.run()
        train_rest += 1
    no_exception(at)
    c = charts(at)
    loss = c["lab_loss"]["data"][0]
    assert list(loss["x"]) == [1, 2] and np.all(np.isfinite(np.asarray(loss["y"], dtype=float)))
    sel = next(t for t in c["lab_metrics"]["data"] if "(selects the epoch)" in t["name"])
    assert list(sel["x"]) == [1, 2] and max(np.asarray(sel["y"], dtype=float)) > 0
    m = metrics(at)
    assert float(m["validation recall@20"]) == pytest.approx(max(np.asarray(sel["y"], dtype=float)), abs=1e-4)
    assert float(m["test recall@20"]) > 0
    assert "Done (epoch limit)" in texts(at)
    assert torch.get_num_threads() == threads               # the chunks' one training thread is the chunks' only
    labels = [b.proto.label for b in at.get("download_button")]
    from ui.export import kaleido_status
    assert "checkpoint (zip)" in labels
    assert {"PNG", "SVG"} <= set(labels) or not kaleido_status()[0]         # every chart's export popover
    radio = at.radio(key="lab_active")
    assert len(radio.options) == 2 and radio.value is None                 # pretrained by default
    radio.set_value(at.session_state["lab_current"]).run()
    no_exception(at)
    from views import _lab_state                                           # what other pages query
    assert at.session_state["lab_active"] == at.session_state["lab_current"]
    assert _lab_state.L.RUNS.get(at.session_state["lab_active"]).obj.method == "diffrec"


def test_stop_button_ends_the_run_between_epochs():
    at = run_page(lab_method="diffrec")
    at.number_input(key="lab_ep_diffrec_sample").set_value(200)
    at.number_input(key="lab_ev_diffrec_sample").set_value(1)
    at.run()
    at.button(key="lab_train").click().run()
    assert any(b.key == "lab_stop" for b in at.button)
    at.button(key="lab_stop").click().run()
    no_exception(at)
    if any(b.key == "lab_stop" for b in at.button):                       # the stop lands at the next chunk
        at.run()
    assert not any(b.key == "lab_stop" for b in at.button)
    t = texts(at)
    assert "stopped by user after epoch" in t
    epochs = charts(at)["lab_loss"]["data"][0]["x"]
    assert 1 <= len(epochs) < 200


def test_closed_form_method_and_a_method_that_cannot_train_here():
    at = run_page(lab_method="pop")
    assert train(at) == 0
    assert "closed form" in texts(at) and float(metrics(at)["validation recall@20"]) > 0
    at.selectbox(key="lab_method").set_value("diffkg").run()
    no_exception(at)
    assert not at.button(key="lab_train").disabled                         # the sample world has a KG


CSV = "user,item,timestamp\n" + "\n".join(f"{u},{(u * 5 + j) % 40},{1000000000 + 3600 * j}"
                                           for u in range(60) for j in range(8)) + "\n"


def test_upload_then_train_on_it():
    at = run_page()
    at.session_state["lab_tab"] = "Data"
    uploader(at, "lab_upload").set_value(("mine.csv", CSV.encode(), "text/csv")).run()
    no_exception(at)
    assert any("mine.csv loaded" in s for s in messages(at, "success"))
    picked = at.selectbox(key="lab_dataset")
    assert picked.value != "sample" and "mine.csv" in picked.format_func(picked.value)   # the Train tab shows it
    at.button(key="lab_use_upload").click().run()
    no_exception(at)
    assert at.get("tab_container")[0].proto.tab_container.default_tab_index == 0          # and opens on Train
    assert metrics(at)["users"] == "60" and metrics(at)["items"] == "40"
    at.selectbox(key="lab_method").set_value("ease").run()
    train(at)
    assert any("EASE on mine.csv" in o for o in at.radio(key="lab_active").options)
    assert float(metrics(at)["validation recall@20"]) >= 0 and "closed form" in texts(at)
    at.selectbox(key="lab_method").set_value("diffkg").run()
    no_exception(at)
    assert at.button(key="lab_train").disabled
    assert any("knowledge graph" in i for i in messages(at, "info"))


@pytest.mark.parametrize("name,data,expect", [
    ("bad.csv", b"user,item\n1,2\n1\n2,3\n", "bad.csv line 3: expected 2 fields"),
    ("big.csv", b"1,2\n" * (MAX_UPLOAD_BYTES // 4 + 1), "the upload limit is 50.0 MB"),
    ("enc.csv", b"user,item\n1,\x81\x02\n2,\x90\n", "unknown text encoding"),
    ("u16.csv", "user,item\n1,2\n".encode("utf-16"), "UTF-16"),
    ("data.pkl", pickle.dumps({"user": [1, 2]}), "never unpickles"),
], ids=["malformed", "oversized", "unknown-encoding", "utf16", "pickle"])
def test_bad_uploads_give_a_clear_message(name, data, expect):
    at = run_page()
    uploader(at, "lab_upload").set_value((name, data, "text/csv")).run()
    still_running(at)
    errs = messages(at, "error")
    assert len(errs) == 1 and expect in errs[0] and errs[0].startswith(f"{name} cannot be used")
    assert metrics(at)["users"] == "1,000"                                  # still on the sample world


def small_checkpoint(method="pop") -> bytes:
    up = load_upload("tiny.csv", CSV.encode())
    data = L.LabData(name="tiny.csv", log=up.log, report=up.report, spec="upload")
    run = L.LabRun(method, data)
    while not run.done:
        run.step()
    return L.checkpoint_zip(run)


def sample_checkpoint() -> bytes:
    run = L.LabRun("pop", L.LabData.sample())
    run.step()
    return L.checkpoint_zip(run)


def _rezip(raw: bytes, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    change(files)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    return buf.getvalue()


def _corrupt(files):
    w = bytearray(files["model.safetensors"])
    w[-8:] = b"\xff" * 8
    files["model.safetensors"] = bytes(w)


def _bump_version(files):
    meta = json.loads(files["config.json"])
    meta["version"] = 7
    files["config.json"] = json.dumps(meta).encode()


class _Evil:
    def __reduce__(self):
        import os
        return (os.getcwd, ())


@pytest.mark.parametrize("case,expect", [
    ("mismatched", "60 users x 40 items"),
    ("corrupted", "checksum differs"),
    ("truncated", "not a zip|damaged"),
    ("version", "version 7 is not supported"),
    ("pickle", "Python pickle"),
    ("torch", "holds a pickle"),
])
def test_bad_checkpoints_give_a_clear_message(case, expect):
    import re
    import torch

    if case == "pickle":
        raw = pickle.dumps(_Evil())
    elif case == "torch":
        buf = io.BytesIO()
        torch.save({"w": torch.zeros(2)}, buf)
        raw = buf.getvalue()
    elif case == "mismatched":
        raw = small_checkpoint()
    else:
        good = sample_checkpoint()
        raw = {"corrupted": lambda: _rezip(good, _corrupt), "truncated": lambda: good[: len(good) // 2],
               "version": lambda: _rezip(good, _bump_version)}[case]()
    at = run_page()
    uploader(at, "lab_ckpt_up").set_value(("model.zip", raw, "application/zip")).run()
    still_running(at)
    errs = messages(at, "error")
    assert len(errs) == 1 and errs[0].startswith("model.zip cannot be loaded") and re.search(expect, errs[0]), errs


def test_a_good_checkpoint_becomes_a_model_of_the_session():
    at = run_page()
    uploader(at, "lab_ckpt_up").set_value(("pop.zip", sample_checkpoint(), "application/zip")).run()
    no_exception(at)
    assert any("Loaded TopPop" in s or "Loaded" in s for s in messages(at, "success"))
    assert len(at.radio(key="lab_active").options) == 2


def _traj_npz(version=1) -> bytes:
    from diffrec_core.pipeline import load_pretrained

    split = L.LabData.sample().split()
    t = load_pretrained("diffrec", split).trajectory(split, [0, 1], k=5)
    if version == 1:
        return t.to_npz_bytes()
    z = dict(np.load(io.BytesIO(t.to_npz_bytes()), allow_pickle=False))
    head = json.loads(bytes(z["__header__"]).decode())
    head["version"] = version
    z["__header__"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **z)
    return buf.getvalue()


def test_trajectory_file_is_shown_or_refused():
    at = run_page()
    uploader(at, "lab_traj_up").set_value(("old.npz", _traj_npz(version=2), "application/octet-stream")).run()
    still_running(at)
    errs = messages(at, "error")
    assert len(errs) == 1 and "schema version 2 is not supported" in errs[0]
    uploader(at, "lab_traj_up").set_value(("t.npz", _traj_npz(), "application/octet-stream")).run()
    no_exception(at)
    assert not messages(at, "error")
    assert any("10 steps × 2 user(s) × 500" in s for s in messages(at, "success"))
    spec = charts(at)["lab_traj_fig"]
    last = np.asarray(spec["data"][0]["y"], dtype=float)
    at.slider(key="lab_traj_step").set_value(1).run()
    first = np.asarray(charts(at)["lab_traj_fig"]["data"][0]["y"], dtype=float)
    assert last.shape == first.shape == (500,) and not np.allclose(first, last)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"CSV", "GIF", "NPZ"} <= set(labels)


def test_ml100k_is_offered_only_where_recbole_provides_it(tmp_path, monkeypatch):
    from diffrec_core import upload

    at = run_page()
    if upload.recbole_ml100k() is None:                # RecBole is not installed here: not offered
        assert not any("ML-100K" in o for o in at.selectbox(key="lab_dataset").options)
        assert "pip install --no-deps recbole==1.2.1" in texts(at)
    folder = tmp_path / "ml-100k"                       # a stand-in for RecBole's package data, same file layout
    folder.mkdir()
    rows = "\n".join(f"{u}\t{(u * 3 + j) % 15}\t{880000000 + j}" for u in range(1, 21) for j in range(6))
    (folder / "ml-100k.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n" + rows + "\n")
    (folder / "ml-100k.link").write_text("item_id:token\tentity_id:token\n" +
                                         "\n".join(f"{i}\tm.{i}" for i in range(15)) + "\n")
    (folder / "ml-100k.kg").write_text("head_id:token\trelation_id:token\ttail_id:token\n" +
                                       "\n".join(f"m.{i}\tgenre\tg.{i % 3}" for i in range(15)) + "\n")
    monkeypatch.setattr(upload, "recbole_ml100k", lambda: folder)
    at = run_page()
    options = at.selectbox(key="lab_dataset").options
    assert any("ML-100K" in o for o in options)
    at.selectbox(key="lab_dataset").set_value("ml-100k").run()
    no_exception(at)
    assert metrics(at)["users"] == "20" and "knowledge graph of 15 triples" in texts(at)
    at.selectbox(key="lab_method").set_value("diffkg").run()
    assert not at.button(key="lab_train").disabled


@pytest.fixture
def deferred(monkeypatch):
    """{file name: the callable a download button defers} - so a test can "click" a download and check the file."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    seen = {}
    real = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        seen[file_name] = data_callable
        return real(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return seen


def test_downloads_of_a_trained_model_are_real_files(deferred):
    import pandas as pd

    at = run_page(lab_method="multvae", user=7)
    at.number_input(key="lab_ep_multvae_sample").set_value(2)
    at.number_input(key="lab_ev_multvae_sample").set_value(1)
    at.run()
    train(at)
    zname = next(n for n in deferred if n.endswith(".zip"))
    assert zname == "multvae_sample_world_seed1.zip"
    back = L.read_checkpoint_zip(deferred[zname](), L.LabData.sample())      # the download loads back
    assert back.method == "multvae" and [h["epoch"] for h in back.history] == [1.0, 2.0]
    assert float(metrics(at)["validation recall@20"]) == pytest.approx(back.valid["recall@20"], abs=1e-4)
    csv = pd.read_csv(io.BytesIO(deferred["multvae_user7.csv"]()))
    assert set(csv.user) == {7} and len(csv) == 500                      # a baseline: one step over 500 items
    from ui.export import load_trajectory
    traj = load_trajectory(deferred["multvae_user7.npz"]())
    assert traj.users.tolist() == [7] and traj.method == "multvae"
    assert deferred["multvae_user7.gif"]()[:6] == b"GIF89a"


def test_a_chosen_lab_model_is_named_above_every_page_title_and_the_radio_says_where():
    """With a Lab model chosen, each page's line above its title says whether that page shows it; the Lab's radio
    names the pages that can."""
    import torch

    from test_url_state import app_on
    from views import _lab_state

    torch.set_num_threads(1)
    run = L.LabRun("diffrec", L.LabData.sample(), seed=3, epochs=1, eval_every=1)
    while not run.done:
        run.step()
    rid = L.RUNS.put(run, "run", "diffrec")
    at = app_on("reverse")
    at.session_state["lab_runs"] = [rid]
    at.session_state["lab_active"] = rid
    at.session_state["method"] = "diffrec"
    at.run()
    no_exception(at)
    lines = [m.value for m in at.markdown if "Lab model" in m.value]
    assert lines == [f":violet-badge[:material/science: Lab model: {run.label()}]"]
    for other in ("compare", "forward"):
        at.switch_page(f"views/{other}.py").run()
        no_exception(at)
        lines = [m.value for m in at.markdown if "Lab model" in m.value]
        assert len(lines) == 1 and "this page shows the pretrained models" in lines[0]
        assert "shown on Reverse denoising" in lines[0]
    at.switch_page("views/lab.py").run()
    no_exception(at)
    radio = at.radio(key="lab_active")
    assert "Reverse denoising" in radio.label and "every page" not in radio.label
    assert list(_lab_state.MODEL_PAGES.values()) == ["Reverse denoising"]
