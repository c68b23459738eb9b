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
* Trajectories: CSV (one row per user, step and item) and the versioned NPZ of :mod:`diffrec_core.trajectory`.
  :func:`load_trajectory` reads such an NPZ back and checks it against the schema below.

Trajectory file schema (``diffrec-trajectory``, version 1; :data:`diffrec_core.trajectory.SCHEMA_VERSION`): an NPZ
(``numpy.savez_compressed``, no object arrays, loaded with ``allow_pickle=False``) holding ``__header__`` - UTF-8 JSON
``{"schema": "diffrec-trajectory", "version": 1, "method": str, "meta": {...}}`` as uint8 bytes - and the arrays
``steps (S,)`` int, ``states (S,B,D)``, ``x0_hat (S,B,D)``, ``final (B,D)``, ``users (B,)`` int, ``betas (T,)``,
``alphas_cumprod (T,)``, and optionally ``scores / raw_scores (S,B,I)``, ``topk (S,B,K)`` int,
``final_scores (B,I)``, ``final_topk (B,K)`` int.

Everything here is pure (no Streamlit: the ui layer never imports it); the download buttons every page can put
under a figure are ``views/_export.py: export_buttons(fig, name)``.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
import zipfile
from functools import lru_cache
from typing import Iterable, Optional, Sequence

import numpy as np

from diffrec_core.trajectory import SCHEMA_VERSION, Trajectory, TrajectoryFormatError
from diffrec_core.errors import DiffRecError

MAX_TRAJECTORY_BYTES = 64 * 1024 ** 2
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


def gif_from_plotly_frames(fig, duration_ms: int = 400, width: int = 800, height: int = 450) -> bytes:
    """A figure with client-side animation frames as a GIF: each frame applied to the figure, rendered, animated."""
    import plotly.graph_objects as go

    if not fig.frames:
        raise ExportError("the figure has no animation frames")
    base = fig.to_dict()
    base.pop("frames", None)
    base.get("layout", {}).pop("updatemenus", None)
    base.get("layout", {}).pop("sliders", None)
    figs = []
    for fr in fig.frames:
        g = go.Figure(base)
        if fr.data:
            g.update(data=[dict(t.to_plotly_json()) for t in fr.data])
        if fr.layout:
            g.update_layout(fr.layout)
        figs.append(g)
    return gif_from_figures(figs, duration_ms, width, height)


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
def _cell(text) -> str:
    """A text cell that a spreadsheet will not run: one starting with = + - @ or a tab / carriage return (a
    formula, e.g. from an uploaded file's titles) gets a leading apostrophe."""
    t = str(text)
    return "'" + t if t[:1] in ("=", "+", "-", "@", "\t", "\r") else t


def trajectory_csv(traj: Trajectory, rows: Optional[Sequence[int]] = None, item_titles=None) -> bytes:
    """One CSV row per (user, step, dimension): user, step_index, k, item, title, x_k, x0_hat, score, rank
    (1-based rank in that step's top-K, empty if not in it). Vectorised (no loop over items)."""
    import pandas as pd

    S, B, D = traj.states.shape
    rows = list(range(B)) if rows is None else [int(r) for r in rows]
    parts = []
    for r in rows:
        item = np.tile(np.arange(D), S)
        df = {"user": np.full(S * D, int(traj.users[r])), "step_index": np.repeat(np.arange(S), D),
              "k": np.repeat(traj.steps.astype(np.int64), D), "item": item}
        if item_titles is not None and len(item_titles) >= D:
            titles = np.asarray([_cell(t) for t in list(item_titles)[:D]], dtype=object)
            df["title"] = titles[item]
        df["x_k"] = traj.states[:, r, :].reshape(-1)
        df["x0_hat"] = traj.x0_hat[:, r, :].reshape(-1)
        if traj.scores is not None and traj.scores.shape[-1] == D:
            sc = traj.scores[:, r, :].reshape(-1).astype(float)
            df["score"] = np.where(np.isfinite(sc), sc, np.nan)
        rank = np.zeros((S, D), dtype=np.int64)
        if traj.topk is not None and traj.topk.shape[-1] and int(traj.topk[:, r].max(initial=-1)) < D:
            K = traj.topk.shape[-1]
            np.put_along_axis(rank, traj.topk[:, r, :].astype(np.int64), np.arange(1, K + 1)[None].repeat(S, 0), 1)
        frame = pd.DataFrame(df)
        frame["rank"] = pd.Series(rank.reshape(-1)).replace(0, pd.NA).astype("Int64")
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    return out.to_csv(index=False, float_format="%.6g").encode()


def trajectory_npz(traj: Trajectory) -> bytes:
    """The versioned NPZ (schema in the module docstring); :func:`load_trajectory` reads it back."""
    return traj.to_npz_bytes()


def load_trajectory(raw: bytes, max_bytes: int = MAX_TRAJECTORY_BYTES) -> Trajectory:
    """Read a trajectory file for viewing, checking it against the schema; raises :class:`TrajectoryFormatError`
    with a message for the user (too large, a pickle, not an NPZ, another schema or version, missing or
    inconsistent arrays). Never unpickles."""
    if len(raw) > max_bytes:
        raise TrajectoryFormatError(f"the file is {len(raw) / 2**20:.1f} MB; the limit for a trajectory is "
                                    f"{max_bytes / 2**20:.0f} MB")
    if len(raw) >= 2 and raw[0] == 0x80 and raw[1] in (2, 3, 4, 5):
        raise TrajectoryFormatError("this file is a Python pickle; the app never unpickles uploads (a pickle can run "
                                    "code). Upload the trajectory NPZ that a page's 'trajectory (NPZ)' button saves")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise TrajectoryFormatError("not a trajectory file: expected the NPZ (a zip of .npy arrays) that a page's "
                                    "'trajectory (NPZ)' button saves")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            total = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as e:
        raise TrajectoryFormatError(f"the trajectory file is damaged: {e}") from e
    if total > 8 * max_bytes:
        raise TrajectoryFormatError(f"the trajectory unpacks to {total / 2**20:.0f} MB; the limit is "
                                    f"{8 * max_bytes / 2**20:.0f} MB")
    try:
        traj = Trajectory.from_npz_bytes(raw)         # schema name, version, required arrays
    except TrajectoryFormatError:
        raise
    except ValueError as e:                           # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        if "allow_pickle" in str(e):
            raise TrajectoryFormatError("not a trajectory file: it holds an object array (pickled Python objects), "
                                        "which this app never loads") from e
        raise TrajectoryFormatError(f"the trajectory file is damaged: {e}") from e
    except Exception as e:  # noqa: BLE001 - zlib / zipfile / EOF errors of a damaged member
        raise TrajectoryFormatError(f"the trajectory file is damaged: {type(e).__name__}: {e}") from e
    _check_shapes(traj)
    return traj


def _check_shapes(t: Trajectory) -> None:
    def bad(msg):
        raise TrajectoryFormatError(f"inconsistent trajectory arrays: {msg}")

    if t.states.ndim != 3:
        bad(f"states must be (steps, users, dims), got shape {t.states.shape}")
    S, B, D = t.states.shape
    if t.x0_hat.shape != t.states.shape:
        bad(f"x0_hat {t.x0_hat.shape} differs from states {t.states.shape}")
    if t.steps.shape != (S,):
        bad(f"steps {t.steps.shape} should be ({S},)")
    if t.users.shape != (B,):
        bad(f"users {t.users.shape} should be ({B},)")
    if t.final.ndim != 2 or t.final.shape[0] != B:
        bad(f"final {t.final.shape} should have {B} rows")
    if t.betas.shape != t.alphas_cumprod.shape or t.betas.ndim != 1:
        bad(f"betas {t.betas.shape} and alphas_cumprod {t.alphas_cumprod.shape} should be equal 1-D arrays")
    for name in ("scores", "raw_scores"):
        a = getattr(t, name)
        if a is not None and (a.ndim != 3 or a.shape[:2] != (S, B)):
            bad(f"{name} {a.shape} should be ({S}, {B}, items)")
    if t.topk is not None and (t.topk.ndim != 3 or t.topk.shape[:2] != (S, B) or t.topk.dtype.kind not in "iu"):
        bad(f"topk {t.topk.shape} {t.topk.dtype} should be integer ({S}, {B}, K)")
    for name in ("steps", "users"):
        if getattr(t, name).dtype.kind not in "iu":
            bad(f"{name} should hold integers, got {getattr(t, name).dtype}")
    for name in ("states", "x0_hat"):
        if getattr(t, name).dtype.kind != "f":
            bad(f"{name} should hold floats, got {getattr(t, name).dtype}")


def trajectory_summary(t: Trajectory) -> dict:
    """What a loaded trajectory holds, for a caption."""
    S, B, D = t.states.shape
    return {"method": t.method, "steps": S, "users": B, "dims": D, "T": t.T, "schema_version": SCHEMA_VERSION,
            "top_k": int(t.topk.shape[-1]) if t.topk is not None else 0,
            "items": int(t.scores.shape[-1]) if t.scores is not None else D,
            "sampler": str(t.meta.get("sampler", "")) if isinstance(t.meta, dict) else ""}
