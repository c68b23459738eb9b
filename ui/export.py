"""Exports: every figure as PNG / SVG, every animation as a GIF, every trajectory as CSV / NPZ, and a trajectory
file loaded back for viewing.

* PNG / SVG go through kaleido (v1), which drives a Chromium-based browser that is already installed - Debian's
  ``/usr/bin/chromium`` here; kaleido never downloads one on its own. Its "sync server" keeps one headless browser
  open for the life of the process, so only the first export pays the browser start (about 2-4 s; later ones about
  0.2 s). Calls go through one lock: the sync server's queues pair requests and answers in order, which concurrent
  Streamlit sessions would interleave. Where kaleido or a browser is missing, :func:`kaleido_status` says so in a
  sentence and the pages fall back to Plotly's own camera button (PNG, in the browser).
* GIFs are assembled with Pillow from any list of images: rendered Plotly frames (needs kaleido), NumPy arrays, or
  :func:`trajectory_gif`, which draws a trajectory's x̂0 per step with Pillow alone (no browser needed).
* Trajectories: the one CSV (one row per user, reverse step and item) and the versioned NPZ, both written in the
  core; :func:`load_trajectory` reads such an NPZ back, checked. Both schemas are documented in
  ``diffrec_core/trajectory_io.py``.

Everything here is pure (no Streamlit: the ui layer never imports it); the download buttons every page can put
under a figure are ``views/_export.py: export_buttons(fig, name)``.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from functools import lru_cache
from typing import Iterable, Optional, Sequence

import numpy as np

from diffrec_core import trajectory_io
from diffrec_core.errors import DiffRecError
from diffrec_core.trajectory import Trajectory, TrajectoryFormatError  # noqa: F401 - re-exported for the pages

MAX_TRAJECTORY_BYTES = trajectory_io.MAX_TRAJECTORY_BYTES
MAX_GIF_FRAMES = 200
_KALEIDO_LOCK = threading.Lock()


class ExportError(DiffRecError, RuntimeError):
    """An export cannot be made here; the message says why and what to use instead."""


# ------------------------------------------------------------------------------------------------ PNG / SVG
_FAILED: list = []          # the reason the last export failed, once one has: later pages say so up front


def kaleido_status() -> tuple:
    """``(True, browser path)`` where static export can work, else ``(False, why)``. Cheap: imports and a path
    lookup, no browser start (that happens on the first export); after an export failed, its reason."""
    if _FAILED:
        return False, _FAILED[-1]
    return _probe()


@lru_cache(maxsize=1)
def _probe() -> tuple:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False, ("Static PNG/SVG export needs the kaleido package (`pip install -r requirements.txt`); "
                       "meanwhile use the camera icon in the chart's toolbar (PNG).")
    path = os.environ.get("BROWSER_PATH")
    if not path:
        try:
            from choreographer.browsers.chromium import Chromium
            path = Chromium.find_browser(skip_local=False)
        except Exception:  # noqa: BLE001 - a kaleido/choreographer version without this helper
            import shutil
            path = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome",
                                                                  "chrome")) if p), None)
    if not path or not os.access(path, os.X_OK):
        return False, ("Static PNG/SVG export needs a Chromium-based browser on the server, and none was found "
                       "(Debian: `apt-get install chromium`; or set BROWSER_PATH). Use the camera icon in the "
                       "chart's toolbar (PNG) meanwhile.")
    return True, path


def figure_to_image(fig, fmt: str = "png", width: Optional[int] = None, height: Optional[int] = None,
                    scale: float = 2.0) -> bytes:
    """A Plotly figure as PNG or SVG bytes (kaleido with the system Chromium). Raises :class:`ExportError`."""
    fmt = fmt.lower()
    if fmt not in ("png", "svg"):
        raise ExportError(f"unknown image format {fmt!r}; expected png or svg")
    ok, why = kaleido_status()
    if not ok:
        raise ExportError(why)
    import kaleido
    import plotly.io as pio

    os.environ.setdefault("BROWSER_PATH", why)
    with _KALEIDO_LOCK:
        try:
            kaleido.start_sync_server(silence_warnings=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")        # "kopts ignored when using a server": we pass none
                w = width or (fig.layout.width if fig.layout.width else 900)
                h = height or (fig.layout.height if fig.layout.height else 500)
                return pio.to_image(fig, format=fmt, width=int(w), height=int(h),
                                    scale=scale if fmt == "png" else 1)
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - browser crashes surface as several exception types
            why = (f"The {fmt.upper()} export failed on this server ({type(e).__name__}: {e}); use the camera icon "
                   f"in the chart's toolbar instead.")
            _FAILED.append(why)
            raise ExportError(why) from e


# ------------------------------------------------------------------------------------------------ GIF
def _to_image(frame, size=None, vrange=None):
    from PIL import Image

    if isinstance(frame, Image.Image):
        img = frame
    else:
        a = np.asarray(frame)
        if a.ndim == 2:                                  # a 2-D array: grey levels over the animation's range
            lo, hi = vrange if vrange is not None else (float(np.nanmin(a)), float(np.nanmax(a)))
            a = np.nan_to_num((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a, dtype=float)) * 255
            img = Image.fromarray(a.astype(np.uint8), "L")
        elif a.ndim == 3 and a.shape[2] in (3, 4):
            if a.dtype != np.uint8:
                a = np.clip(a * (255 if a.max() <= 1 else 1), 0, 255).astype(np.uint8)
            img = Image.fromarray(a, "RGBA" if a.shape[2] == 4 else "RGB")
        else:
            raise ExportError(f"a GIF frame must be an image or an array (H,W) / (H,W,3|4), got shape {a.shape}")
    img = img.convert("RGB")
    if size is not None and img.size != size:
        img = img.resize(size)
    return img


def gif_bytes(frames: Iterable, duration_ms: int = 400, loop: int = 0) -> bytes:
    """An animated GIF from images or arrays (all resized to the first frame's size). 2-D arrays share one grey
    scale over all frames, so a value keeps its shade from frame to frame. (Pillow merges identical consecutive
    frames into one longer frame.)"""
    frames = list(frames)
    if not frames:
        raise ExportError("no frames to animate")
    if len(frames) > MAX_GIF_FRAMES:
        raise ExportError(f"{len(frames)} frames; a GIF is capped at {MAX_GIF_FRAMES} frames")
    flat = [np.asarray(f, dtype=float) for f in frames if not hasattr(f, "convert") and np.ndim(f) == 2]
    vrange = (min(float(np.nanmin(a)) for a in flat), max(float(np.nanmax(a)) for a in flat)) if flat else None
    first = _to_image(frames[0], vrange=vrange)
    rest = [_to_image(f, first.size, vrange) for f in frames[1:]]
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=rest, duration=int(duration_ms), loop=loop,
               optimize=False, disposal=2)
    return buf.getvalue()


def gif_from_figures(figs: Sequence, duration_ms: int = 400, width: int = 800, height: int = 450) -> bytes:
    """Render each Plotly figure (kaleido) and animate them."""
    from PIL import Image

    imgs = [Image.open(io.BytesIO(figure_to_image(f, "png", width, height, scale=1))) for f in figs]
    return gif_bytes(imgs, duration_ms)


TITLE_MARGIN = 70           # px above the plot for a slide title (the slider's strip is dropped on export)


def titled(fig, title: Optional[str]):
    """A copy of ``fig`` for a slide: ``title`` (what, whom, which step) on top, the figure's own title, if any,
    under it in smaller type. The in-browser controls (slider, play buttons) are dropped with the room they took,
    so an exported image has no blank strip. ``title`` None: only the controls go."""
    import plotly.graph_objects as go

    g = go.Figure(fig)
    g.layout.sliders, g.layout.updatemenus = (), ()
    had = fig.layout.sliders or fig.layout.updatemenus
    own = fig.layout.title.text if fig.layout.title and fig.layout.title.text else ""
    if title:
        text = str(title) + (f"<br><sup>{own}</sup>" if own else "")
        g.update_layout(title=dict(text=text, x=0.01, xanchor="left", y=0.99, yanchor="top", font=dict(size=20)))
    if title or had:
        g.update_layout(margin=dict(t=TITLE_MARGIN + (24 if own and title else 0)))
    return g


def frame_labels(fig) -> dict:
    """Frame name -> the label its slider shows ('reverse step 3 of 10', 't = 40'), so every frame of
    a GIF says which step it is in the page's own numbering; frame names where there is no slider."""
    names = [fr.name for fr in (fig.frames or ())]
    sl = fig.layout.sliders[0] if fig.layout.sliders else None
    if sl is None:
        return {n: str(n) for n in names}
    prefix = (sl.currentvalue.prefix or "") if sl.currentvalue else ""
    out = {}
    for st in sl.steps:
        target = st.args[0][0] if st.args and st.args[0] else None
        if target is not None:
            out[str(target)] = f"{prefix}{st.label}".strip()
    last = f" of {sl.steps[-1].label}" if sl.steps and prefix.strip().endswith("step") else ""   # 'step n of S'
    return {n: out.get(str(n), str(n)) + last for n in names}


def gif_from_plotly_frames(fig, duration_ms: int = 400, width: Optional[int] = None, height: Optional[int] = None,
                           title: Optional[str] = None) -> bytes:
    """A figure with client-side animation frames as a GIF: each frame applied to the figure, rendered, animated.
    Every frame carries ``title`` and its own step (:func:`frame_labels`); the slider strip is not drawn."""
    figs = slide_frames(fig, title)
    width = int(width or fig.layout.width or 900)               # the figure's own shape, not a squashed one
    height = int(height or fig.layout.height or 500)
    return gif_from_figures(figs, duration_ms, width, height)


def slide_frames(fig, title: Optional[str] = None) -> list:
    """Each animation frame of ``fig`` applied to it as a figure of its own, titled with ``title`` and the frame's
    step (:func:`frame_labels`), without the slider and play buttons: the images a GIF is made of."""
    import plotly.graph_objects as go

    if not fig.frames:
        raise ExportError("the figure has no animation frames")
    labels = frame_labels(fig)
    base = fig.to_dict()
    base.pop("frames", None)
    base.get("layout", {}).pop("updatemenus", None)
    base.get("layout", {}).pop("sliders", None)
    figs = []
    for fr in fig.frames:
        g = go.Figure(base)
        if fr.data:
            targets = list(fr.traces) if fr.traces else list(range(len(fr.data)))   # a frame names its traces
            for idx, t in zip(targets, fr.data):
                g.data[int(idx)].update(t.to_plotly_json())
        if fr.layout:
            g.update_layout(fr.layout)
        label = labels.get(fr.name, str(fr.name))
        figs.append(titled(g, f"{title} · {label}" if title else label))
    return figs


def _palette_bar(draw, x0, y0, x1, y1, color):
    draw.rectangle([x0, min(y0, y1), x1, max(y0, y1)], fill=color)


def trajectory_gif(traj: Trajectory, row: int = 0, duration_ms: int = 500, size=(720, 360),
                   which: str = "x0_hat") -> bytes:
    """One frame per recorded step: the user's ``x0_hat`` (or ``states``) over the D dimensions as bars, drawn
    with Pillow alone (works without a browser). One y range for all frames, so bar heights compare across steps;
    the step's top-K is orange, the user's own (masked) history blue, every other item grey (the app's roles)."""
    from PIL import Image, ImageDraw

    arr = np.asarray(getattr(traj, which))[:, row, :].astype(float)
    S, D = arr.shape
    if S > MAX_GIF_FRAMES:
        raise ExportError(f"{S} steps; a GIF is capped at {MAX_GIF_FRAMES} frames")
    lo, hi = min(0.0, float(np.nanmin(arr))), max(0.0, float(np.nanmax(arr)))
    hi = hi if hi > lo else lo + 1.0
    W, H = size
    left, right, top, bottom = 50, 10, 34, 24
    pw, ph = W - left - right, H - top - bottom

    def y(v):
        return top + ph * (1 - (v - lo) / (hi - lo))

    from PIL import ImageFont

    try:
        font = ImageFont.load_default(size=14)
    except TypeError:                                   # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    masked = traj.scores if (traj.scores is not None and traj.scores.shape[-1] == D) else None
    topk = traj.topk if (traj.topk is not None and which == "x0_hat" and
                         traj.scores is not None and traj.scores.shape[-1] == D) else None
    frames = []
    for s in range(S):
        img = Image.new("RGB", (W, H), "white")
        d = ImageDraw.Draw(img)
        d.line([left, y(0), W - right, y(0)], fill="#666666")
        hot = set(int(i) for i in topk[s, row]) if topk is not None else set()
        seen = ~np.isfinite(masked[s, row]) if masked is not None else np.zeros(D, bool)
        bw = pw / D
        for i in range(D):
            v = arr[s, i]
            if np.isfinite(v) and v != 0:
                _palette_bar(d, left + i * bw, y(0), left + (i + 1) * bw - (bw > 3), y(v),
                             "#E69F00" if i in hot else ("#0072B2" if seen[i] else "#9A9A9A"))
        d.text((left, 8), f"{traj.method} · user {int(traj.users[row])} · step {s + 1}/{S} (k = {int(traj.steps[s])})"
                          f" · {which} · orange: top-K, blue: the user's history", fill="black", font=font)
        d.text((4, top - 4), f"{hi:.3g}", fill="#333333", font=font)
        d.text((4, H - bottom - 10), f"{lo:.3g}", fill="#333333", font=font)
        d.text((left, H - bottom + 4), f"dimension 0 … {D - 1}", fill="#333333", font=font)
        frames.append(img)
    return gif_bytes(frames, duration_ms)


# ------------------------------------------------------------------------------------------------ trajectories
def trajectory_csv(traj: Trajectory, rows: Optional[Sequence[int]] = None, item_titles=None) -> bytes:
    """The one trajectory CSV (columns ``trajectory_io.CSV_COLUMNS``: user, reverse_step, t, item, title, x_t,
    x0_hat, score, rank), for the users at ``rows`` (default all)."""
    return trajectory_io.to_csv(traj, rows, item_titles)


def trajectory_npz(traj: Trajectory) -> bytes:
    """The versioned NPZ (schema in ``diffrec_core/trajectory_io.py``); :func:`load_trajectory` reads it back."""
    return traj.to_npz_bytes()


def load_trajectory(raw: bytes, max_bytes: int = MAX_TRAJECTORY_BYTES) -> Trajectory:
    """A trajectory file from outside, checked (``trajectory_io.read_npz``): raises :class:`TrajectoryFormatError`
    with a message for the user. Never unpickles."""
    return trajectory_io.read_npz(raw, max_bytes)


trajectory_summary = trajectory_io.summary       # what a loaded trajectory holds, for a caption

