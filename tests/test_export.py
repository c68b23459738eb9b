"""Exports: trajectory CSV / NPZ (and the NPZ read back, with every way a file can be wrong), GIFs with Pillow,
PNG / SVG through kaleido with the system Chromium (skipped where there is none), and the page helper."""
from __future__ import annotations

import io
import json
import pickle
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from diffrec_core.trajectory import Trajectory, TrajectoryFormatError
from ui import export as E


def make_traj(S=4, B=2, D=7, K=3, seed=0) -> Trajectory:
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=(S, B, D)).astype(np.float32)
    scores = x0.copy()
    scores[:, :, 0] = -np.inf                                        # item 0 is in every user's history
    topk = np.argsort(-scores, axis=-1)[..., :K].astype(np.int64)
    return Trajectory(method="toy", steps=np.arange(S)[::-1].copy(),
                      states=rng.normal(size=(S, B, D)).astype(np.float32),
                      x0_hat=x0, final=x0[-1], users=np.array([3, 8][:B]), betas=np.linspace(1e-4, 0.02, S),
                      alphas_cumprod=np.cumprod(1 - np.linspace(1e-4, 0.02, S)), scores=scores, topk=topk,
                      final_scores=scores[-1], final_topk=topk[-1], meta={"sampler": "toy"})


# ------------------------------------------------------------------------------------------------ CSV / NPZ
def test_trajectory_csv_has_one_row_per_user_step_item_and_the_ranks():
    t = make_traj()
    df = pd.read_csv(io.BytesIO(E.trajectory_csv(t, item_titles=[f"film {i}" for i in range(7)])))
    assert len(df) == 2 * 4 * 7
    assert list(df.columns) == ["user", "reverse_step", "t", "item", "title", "x_t", "x0_hat", "score", "rank"]
    one = df[(df.user == 8) & (df.reverse_step == 3)].sort_values("item")
    np.testing.assert_allclose(one.x0_hat.to_numpy(), t.x0_hat[2, 1], rtol=1e-5)
    ranked = one.dropna(subset=["rank"]).sort_values("rank")
    assert ranked.item.tolist() == t.topk[2, 1].tolist() and ranked["rank"].tolist() == [1, 2, 3]
    assert np.isnan(one.score.iloc[0]) and one.title.iloc[6] == "film 6"
    assert (df[df.reverse_step == 1].t == 4).all()                 # steps[0] = k = 3: the state x_4 (t = k + 1)


def test_every_page_writes_the_one_csv_schema():
    """Reverse / KG pages (one row) and the Lab (all rows) write the same columns from the same core writer."""
    from diffrec_core import trajectory_io

    t = make_traj()
    one = pd.read_csv(io.BytesIO(trajectory_io.to_csv(t, [1])))
    every = pd.read_csv(io.BytesIO(E.trajectory_csv(t)))
    assert list(one.columns) == list(every.columns) == list(trajectory_io.CSV_COLUMNS)
    pd.testing.assert_frame_equal(one, every[every.user == 8].reset_index(drop=True))
    assert one.title.isna().all()                                   # no titles given: the column stays, empty
    titled = pd.read_csv(io.BytesIO(trajectory_io.to_csv(t, [0], ["a, b", "=x"])))
    assert titled.title.iloc[0] == "a, b" and titled.title.iloc[1] == "'=x" and titled.title.iloc[2:7].isna().all()


def test_npz_round_trip():
    t = make_traj()
    back = E.load_trajectory(E.trajectory_npz(t))
    for k in ("steps", "states", "x0_hat", "final", "users", "topk", "scores"):
        np.testing.assert_array_equal(getattr(back, k), getattr(t, k))
    assert back.method == "toy" and back.meta == {"sampler": "toy"}
    assert E.trajectory_summary(back) == {"method": "toy", "steps": 4, "users": 2, "dims": 7, "T": 4,
                                          "schema_version": 1, "top_k": 3, "items": 7, "sampler": "toy"}


def _npz(header: dict, **arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def _arrays(t: Trajectory) -> dict:
    return {k: getattr(t, k) for k in Trajectory._ARRAYS if getattr(t, k) is not None}


def test_bad_trajectory_files_give_clear_errors():
    t = make_traj()
    good = _arrays(t)
    head = {"schema": "diffrec-trajectory", "version": 1, "method": "toy", "meta": {}}
    with pytest.raises(TrajectoryFormatError, match="version 2 is not supported"):
        E.load_trajectory(_npz({**head, "version": 2}, **good))
    with pytest.raises(TrajectoryFormatError, match="no 'diffrec-trajectory' schema"):
        E.load_trajectory(_npz({**head, "schema": "other"}, **good))
    with pytest.raises(TrajectoryFormatError, match="lacks arrays: x0_hat"):
        E.load_trajectory(_npz(head, **{k: v for k, v in good.items() if k != "x0_hat"}))
    with pytest.raises(TrajectoryFormatError, match="x0_hat .* differs from states"):
        E.load_trajectory(_npz(head, **{**good, "x0_hat": good["x0_hat"][:, :1]}))
    with pytest.raises(TrajectoryFormatError, match="steps should hold integers"):
        E.load_trajectory(_npz(head, **{**good, "steps": good["steps"].astype(float)}))
    with pytest.raises(TrajectoryFormatError, match="pickle"):
        E.load_trajectory(pickle.dumps(t))
    with pytest.raises(TrajectoryFormatError, match="not a trajectory file"):
        E.load_trajectory(b"step,k,item\n0,1,2\n")
    raw = E.trajectory_npz(t)
    with pytest.raises(TrajectoryFormatError):
        E.load_trajectory(raw[:-40])                                                # truncated / corrupted
    with pytest.raises(TrajectoryFormatError, match="limit"):
        E.load_trajectory(raw, max_bytes=100)
    obj = io.BytesIO()                                                              # an object array: never unpickled
    np.savez(obj, __header__=np.frombuffer(json.dumps(head).encode(), dtype=np.uint8),
             **{**good, "steps": np.array([object()] * 4, dtype=object)})
    with pytest.raises(TrajectoryFormatError, match="not a trajectory file"):
        E.load_trajectory(obj.getvalue())


# ------------------------------------------------------------------------------------------------ GIF
def _frames(gif: bytes) -> list:
    im = Image.open(io.BytesIO(gif))
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(np.asarray(im.convert("RGB")))
    return out


def test_gif_from_arrays_and_images():
    arrays = [np.outer(np.arange(20), np.ones(30)) * k for k in (1, 2, 3)]
    fr = _frames(E.gif_bytes(arrays, duration_ms=100))
    assert len(fr) == 3 and fr[0].shape == (20, 30, 3)
    rgb = [np.full((10, 12, 3), c, np.uint8) for c in (0, 128, 255)]
    fr = _frames(E.gif_bytes(rgb + [Image.new("RGB", (24, 20), "red")]))
    assert len(fr) == 4 and fr[3].shape == (10, 12, 3) and fr[1][0, 0, 0] == 128       # resized to the first
    with pytest.raises(E.ExportError, match="no frames"):
        E.gif_bytes([])
    with pytest.raises(E.ExportError, match="capped"):
        E.gif_bytes([np.zeros((2, 2))] * (E.MAX_GIF_FRAMES + 1))
    with pytest.raises(E.ExportError, match="shape"):
        E.gif_bytes([np.zeros((2, 2, 2, 2))])


def test_trajectory_gif_has_a_frame_per_step_and_they_differ():
    t = make_traj(S=5, D=40)
    fr = _frames(E.trajectory_gif(t, row=1, size=(300, 160)))
    assert len(fr) == 5 and fr[0].shape == (160, 300, 3)
    assert all(not np.array_equal(fr[i], fr[i + 1]) for i in range(4))
    orange = np.array([0xE6, 0x9F, 0x00])
    assert (np.abs(fr[0].astype(int) - orange).sum(-1) < 30).any()                    # the top-K is drawn


# ------------------------------------------------------------------------------------------------ PNG / SVG
def test_kaleido_status_explains_what_is_missing(monkeypatch):
    E._probe.cache_clear()
    monkeypatch.setitem(sys.modules, "kaleido", None)                                # import kaleido -> ImportError
    ok, why = E.kaleido_status()
    assert not ok and "kaleido" in why and "camera icon" in why
    with pytest.raises(E.ExportError, match="kaleido"):
        E.figure_to_image(go.Figure(), "png")
    E._probe.cache_clear()
    monkeypatch.delitem(sys.modules, "kaleido")
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    ok, why = E.kaleido_status()
    E._probe.cache_clear()
    if "kaleido" in sys.modules or _has_kaleido():
        assert not ok and "Chromium" in why


def test_a_failed_export_is_remembered(monkeypatch, kaleido_ok):
    import plotly.io as pio

    def boom(*a, **k):
        raise RuntimeError("browser crashed")

    monkeypatch.setattr(pio, "to_image", boom)
    monkeypatch.setattr(E, "_FAILED", [])
    with pytest.raises(E.ExportError, match="browser crashed"):
        E.figure_to_image(go.Figure(), "png")
    ok, why = E.kaleido_status()
    assert not ok and "failed on this server" in why


def _has_kaleido() -> bool:
    import importlib.util
    return importlib.util.find_spec("kaleido") is not None


@pytest.fixture(scope="module")
def kaleido_ok():
    E._probe.cache_clear()
    ok, why = E.kaleido_status()
    if not ok:
        pytest.skip(why)
    return why


def test_png_svg_and_plotly_frames_gif(kaleido_ok):
    fig = go.Figure(go.Bar(x=[0, 1, 2], y=[1, 3, 2]), layout=dict(width=320, height=200),
                    frames=[go.Frame(data=[go.Bar(x=[0, 1, 2], y=[v, 1, 1])]) for v in (0.5, 2.5, 4.0)])
    png = E.figure_to_image(fig, "png", scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(png)).size == (320, 200)
    svg = E.figure_to_image(fig, "svg").decode()
    assert svg.startswith("<svg") and "</svg>" in svg
    fr = _frames(E.gif_from_plotly_frames(fig, width=240, height=160))
    assert len(fr) == 3 and fr[0].shape == (160, 240, 3)
    assert not np.array_equal(fr[0], fr[2])                                           # the bars moved
    with pytest.raises(E.ExportError, match="format"):
        E.figure_to_image(fig, "jpeg")


def test_export_buttons_helper_offers_files_or_says_why(monkeypatch):
    from streamlit.testing.v1 import AppTest

    def app():
        import plotly.graph_objects as go
        from views._export import export_buttons
        export_buttons(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), "my figure", key="f")

    monkeypatch.setattr(E, "kaleido_status", lambda: (True, "/usr/bin/chromium"))
    at = AppTest.from_function(app).run()
    assert not at.exception
    assert [b.proto.label for b in at.get("download_button")] == ["PNG", "SVG"]
    monkeypatch.setattr(E, "kaleido_status", lambda: (True, "/usr/bin/chromium"))

    def animated():
        import plotly.graph_objects as go
        from views._export import export_buttons
        export_buttons(go.Figure(go.Bar(y=[1]), frames=[go.Frame(data=[go.Bar(y=[v])]) for v in (1, 2)]), "anim")

    at = AppTest.from_function(animated).run()
    assert [b.proto.label for b in at.get("download_button")] == ["PNG", "SVG", "GIF"]
    monkeypatch.setattr(E, "kaleido_status", lambda: (False, "no browser here; use the camera icon"))
    at = AppTest.from_function(app).run()
    assert not at.exception and not at.get("download_button")
    assert "no browser here" in at.caption[0].value


# ------------------------------------------------------------------------------------------------ slide-ready
def _stepper():
    """A two-trace stepper whose frames update only trace 1 (as the pages' steppers do), with a slider."""
    from ui.stepper import controls

    names = [f"step {n}" for n in (1, 2, 3)]
    menus, sliders = controls(names, ["1", "2", "3"], 2, "reverse step ", 300)
    fig = go.Figure([go.Scatter(x=[0, 1], y=[5, 5], name="fixed"), go.Scatter(x=[0, 1], y=[0, 0], name="moving")],
                    layout=dict(title=dict(text="x̂0 over the items"), updatemenus=menus, sliders=sliders,
                                margin=dict(t=100), height=300),
                    frames=[go.Frame(name=n, data=[go.Scatter(y=[v, v])], traces=[1])
                            for n, v in zip(names, (1, 2, 3))])
    return fig


def test_exported_images_carry_a_title_and_no_slider_strip():
    fig = _stepper()
    g = E.titled(fig, "DiffRec · user 44 · reverse step 3 of 3")
    assert g.layout.title.text.startswith("DiffRec · user 44 · reverse step 3 of 3")
    assert "x̂0 over the items" in g.layout.title.text                         # the figure's own title, under it
    assert not g.layout.sliders and not g.layout.updatemenus and g.layout.margin.t < fig.layout.margin.t
    assert fig.layout.sliders and fig.layout.title.text == "x̂0 over the items"  # the page's figure is untouched
    assert not E.titled(go.Figure(), None).layout.title.text


def test_every_gif_frame_is_labelled_with_its_step_and_moves_its_own_trace():
    fig = _stepper()
    assert E.frame_labels(fig) == {f"step {n}": f"reverse step {n} of 3" for n in (1, 2, 3)}
    frames = E.slide_frames(fig, "DiffRec · user 44")
    assert [f.layout.title.text.split("<br>")[0] for f in frames] == [
        f"DiffRec · user 44 · reverse step {n} of 3" for n in (1, 2, 3)]
    assert [list(f.data[1].y) for f in frames] == [[1, 1], [2, 2], [3, 3]]         # the frame's trace, trace 1
    assert all(list(f.data[0].y) == [5, 5] for f in frames) and not any(f.layout.sliders for f in frames)
    fw = go.Figure(go.Bar(y=[1]), frames=[go.Frame(name="t=40", data=[go.Bar(y=[2])])])
    from ui.stepper import controls
    fw.update_layout(sliders=controls(["t=40"], ["40"], 0, "t = ", 300)[1])
    assert E.frame_labels(fw) == {"t=40": "t = 40"}                          # the Forward page's numbering


def test_the_pages_title_their_exports(monkeypatch):
    """Reverse and Forward pass method, user and step to every export of their key figure; the figures caption is
    the Download popover's story (the camera icon only where the server cannot render)."""
    from test_pages_app import page
    from views import _export

    seen = {}
    monkeypatch.setattr(_export, "export_buttons", lambda fig, name, key=None, title=None, **kw:
                        seen.__setitem__(key, title))
    at = page("reverse").run()
    assert not at.exception
    assert seen["rv_vectors__export"].endswith("· reverse step 10 of 10") and "user " in seen["rv_vectors__export"]
    assert not any("camera" in c.value for c in at.caption) or not E.kaleido_status()[0]
    at = page("forward").run()
    assert not at.exception and seen["fw_hero__export"].startswith("Forward noising · user ")
    monkeypatch.setattr(E, "kaleido_status", lambda: (False, "no browser here; use the camera icon"))
    assert "camera icon" in _export.figures_note()
    monkeypatch.setattr(E, "kaleido_status", lambda: (True, "/usr/bin/chromium"))
    assert "Download button" in _export.figures_note() and "camera" not in _export.figures_note()
