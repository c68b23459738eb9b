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
