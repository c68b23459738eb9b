"""Client-side stepping: several panels in ONE Plotly figure whose frames hold every (capped) step, scrubbed and
played in the browser by a Plotly slider and play / pause buttons, so that stepping never waits for the server.

Why one figure: Plotly animates only within a figure; linked views in separate charts would need a server rerun per
step (design.md: client-side frames when the views can be precomputed). The pieces here are generic:

* :func:`place` puts an existing figure (its traces, axes, paper-anchored annotations and shapes) into a box of a
  larger figure, renumbering its axes, so the one-step builders (``ui.reverse.vectors_figure`` …) are reused as
  the panels of the stepper;
* :func:`controls` builds the slider and the play / pause buttons: play continues from the current frame and runs
  to the last one (at the last frame it restarts from the first, Plotly's ``fromcurrent`` rule);
* :func:`text_panel` is a scatter text trace on hidden axes: the per-step numbers live in it, because Plotly
  animates trace data without a redraw while layout annotations change only on a full redraw;
* :func:`frame_index` caps the number of frames.

Frames update trace data only (``redraw=False``, a few ms per step). A frame that also changes an axis range (the
'per step' range of the reverse page) needs ``redraw=True``, a full redraw per step; callers pass it.
"""
from __future__ import annotations

import re
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

MAX_FRAMES = 100            # frames per stepper figure: frames × points stays small (≤ 100 × ~1,000 values)
_AX = re.compile(r"^([xy])(\d*)( domain)?$")


def frame_index(n: int, max_frames: int = MAX_FRAMES, include: Iterable[int] = ()) -> np.ndarray:
    """At most ``max_frames`` indices of 0..n-1, evenly spaced, always with the first, the last and ``include``."""
    n = int(n)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    inc = sorted({int(i) for i in include if 0 <= int(i) < n})
    k = max(2, min(int(max_frames) - len(inc), n))
    s = set(np.round(np.linspace(0, n - 1, k)).astype(int).tolist()) | {0, n - 1} | set(inc)
    return np.array(sorted(s), dtype=np.int64)


def _renumber(ref: Optional[str], offset: int) -> Optional[str]:
    """'x' -> 'x{1+offset}', 'y2 domain' -> 'y{2+offset} domain'; 'paper' and None unchanged."""
    if not isinstance(ref, str):
        return ref
    m = _AX.match(ref)
    if not m:
        return ref
    n = (int(m.group(2)) if m.group(2) else 1) + offset
    return f"{m.group(1)}{'' if n == 1 else n}{m.group(3) or ''}"


def _scale(v, lo: float, hi: float):
    return lo + float(v) * (hi - lo) if isinstance(v, (int, float)) else v


def place(fig, box: Tuple[float, float, float, float], offset: int) -> dict:
    """A figure's content moved into ``box`` = (x0, x1, y0, y1) of a larger figure's paper, its axes renumbered
    by ``offset`` (x -> x{1+offset} …). Returns ``{"data", "axes", "annotations", "shapes"}`` (plain dicts)."""
    d = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    bx0, bx1, by0, by1 = box
    data = []
    for tr in d.get("data", []):
        tr = dict(tr)
        tr["xaxis"] = _renumber(tr.get("xaxis", "x"), offset)
        tr["yaxis"] = _renumber(tr.get("yaxis", "y"), offset)
        data.append(tr)
    lay = d.get("layout", {}) or {}
    axes = {}
    for key, ax in lay.items():
        m = re.match(r"^([xy])axis(\d*)$", key)
        if not m:
            continue
        n = (int(m.group(2)) if m.group(2) else 1) + offset
        ax = dict(ax)
        lo, hi = (bx0, bx1) if m.group(1) == "x" else (by0, by1)
        a, b = ax.get("domain", [0, 1])
        ax["domain"] = [round(_scale(a, lo, hi), 6), round(_scale(b, lo, hi), 6)]
        for k in ("anchor", "matches", "overlaying", "scaleanchor"):
            if k in ax:
                ax[k] = _renumber(ax[k], offset)
        axes[f"{m.group(1)}axis{'' if n == 1 else n}"] = ax
    # axes the figure used without declaring them still need a domain inside the box
    for tr in data:
        for ref, lo, hi in ((tr["xaxis"], bx0, bx1), (tr["yaxis"], by0, by1)):
            name = f"{ref[0]}axis{ref[1:]}"
            axes.setdefault(name, {"domain": [lo, hi]})
    for name, ax in axes.items():                     # anchor each axis to its partner inside the box
        if "anchor" not in ax:
            other = "y" if name[0] == "x" else "x"
            ax["anchor"] = f"{other}{name[5:]}"

    def moved(item: dict, keys_x=("x",), keys_y=("y",)) -> dict:
        item = dict(item)
        for ref, keys, lo, hi in (("xref", keys_x, bx0, bx1), ("yref", keys_y, by0, by1)):
            r = item.get(ref, "paper")
            if r == "paper" or r is None:
                for k in keys:
                    if k in item:
                        item[k] = _scale(item[k], lo, hi)
                item[ref] = "paper"
            else:
                item[ref] = _renumber(r, offset)
        return item

    annotations = [moved(a) for a in lay.get("annotations", []) or []]
    shapes = [moved(s, ("x0", "x1"), ("y0", "y1")) for s in lay.get("shapes", []) or []]
    return {"data": data, "axes": axes, "annotations": annotations, "shapes": shapes}


def text_panel(text: str, axis_n: int, box: Tuple[float, float, float, float], size: int = 16) -> tuple:
    """(trace, axes) of a text block at the top-left of ``box`` on its own hidden axes (number ``axis_n``). Its
    ``text`` is what frames update: Plotly changes trace data without a redraw, layout annotations only with one."""
    xa, ya = f"x{axis_n}", f"y{axis_n}"
    trace = dict(type="scatter", mode="text", x=[0.0], y=[1.0], text=[text], textposition="bottom right",
                 textfont=dict(size=size, color="#222"), hoverinfo="skip", showlegend=False, cliponaxis=False,
                 xaxis=xa, yaxis=ya, name="numbers")
    hidden = dict(visible=False, fixedrange=True, range=[0, 1])
    axes = {f"xaxis{axis_n}": dict(hidden, domain=[box[0], box[1]], anchor=ya),
            f"yaxis{axis_n}": dict(hidden, domain=[box[2], box[3]], anchor=xa)}
    return trace, axes


def cursor(x: float, y: Sequence[float], xaxis: str, yaxis: str, name: str = "current step") -> dict:
    """A vertical line at ``x`` spanning ``y`` = (lo, hi) as a trace (frames move traces without a redraw)."""
    return dict(type="scatter", mode="lines", x=[x, x], y=list(y), xaxis=xaxis, yaxis=yaxis, name=name,
                showlegend=False, hoverinfo="skip", line=dict(color="#000000", width=2, dash="dot"))


def play_duration(n_frames: int) -> int:
    """Milliseconds per frame when playing: a whole run takes 6-10 s (≥ 100 ms a frame, ≤ 600 ms)."""
    return int(max(100, min(600, 6000 / max(int(n_frames), 1))))


def controls(names: Sequence[str], labels: Sequence[str], active: int, prefix: str, duration: int,
             redraw: bool = False, transition: int = 0, y: float = 1.0, font_size: int = 15) -> tuple:
    """(updatemenus, sliders): a Plotly slider over the frames ``names`` and ▶ play / ❚❚ pause buttons at the top
    of the figure. Play continues from the current frame to the last (from the first when at the last); the slider
    jumps to a frame. Everything runs in the browser."""
    step_args = dict(mode="immediate", frame=dict(duration=0, redraw=bool(redraw)), transition=dict(duration=0))
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=int(duration), redraw=bool(redraw)), fromcurrent=True,
                                 transition=dict(duration=int(transition), easing="linear"), mode="immediate")])
    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                    transition=dict(duration=0))])
    menu = dict(type="buttons", direction="left", showactive=False, x=0, y=y, xanchor="left", yanchor="bottom",
                pad=dict(t=0, b=22, r=10), font=dict(size=font_size), buttons=[play, pause])
    slider = dict(active=int(active), x=0.25, len=0.75, y=y, xanchor="left", yanchor="bottom", pad=dict(t=0, b=10),
                  currentvalue=dict(prefix=prefix, font=dict(size=font_size + 1), xanchor="left", offset=8),
                  font=dict(size=font_size - 2), transition=dict(duration=0),
                  steps=[dict(label=str(lab), method="animate", args=[[n], step_args])
                         for n, lab in zip(names, labels)])
    return [menu], [slider]


def build(data: List[dict], frames: List[dict], layout: dict) -> go.Figure:
    return go.Figure(data=data, layout=layout, frames=frames)


# Plotly's ❚❚ pause is an 'immediate' animate call, which interrupts the running play animation by rejecting its
# promise without a reason; the play button's own handler never catches that promise, so the browser reports an
# unhandled rejection "undefined" on every pause. This page script marks exactly those rejections as handled: a
# rejection without a reason within 1 s after a Plotly figure reported an interrupted animation. Any other
# rejection still reaches the console.
PAUSE_SCRIPT = """<script>(() => {
  if (window.__diffrecPause) return;
  window.__diffrecPause = true;
  let interrupted = -1e9;
  const hook = gd => { if (gd.__pauseHook || !gd.on) return; gd.__pauseHook = true;
                       gd.on('plotly_animationinterrupted', () => { interrupted = performance.now(); }); };
  const scan = () => document.querySelectorAll('.js-plotly-plot').forEach(hook);
  new MutationObserver(scan).observe(document.body, {childList: true, subtree: true});
  scan();
  window.addEventListener('unhandledrejection', e => {
    if (e.reason === undefined && performance.now() - interrupted < 1000) e.preventDefault();
  });
})();</script>"""
