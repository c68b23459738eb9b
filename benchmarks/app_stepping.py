"""Browser measurements of the stepper pages and of first page visits, used by ``benchmarks/app_speed.py``.

* :func:`play_runs` - per stepper figure (Forward, Reverse, Embeddings, Knowledge graph): ``runs`` presses of ▶,
  the first from the opening frame (the last step: Plotly restarts at the first), every later one after a manual
  step to a random frame (the figure's own slider action, ``Plotly.animate`` to one frame); a run counts when the
  figure reaches the last frame and stops there. The websocket messages of all runs are counted (none expected:
  stepping never asks the server).
* :func:`first_visits` - every registered page opened once in a new browser session on a server whose warm-up
  thread has finished: seconds from the navigation to the page's key element (``ui/presentation.KEY_ELEMENTS``)
  drawn and the script run settled.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ui.presentation import KEY_ELEMENTS  # noqa: E402

# (page link, chart key, label) of the stepper figures whose play is checked
STEPPERS = [("/forward", "fw_hero", "forward"), ("/reverse", "rv_vectors", "reverse"),
            ("/embeddings", "em_reverse", "embeddings"), ("/knowledge_graph", "kg_row", "knowledge graph")]

_STATE = """key => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd._fullLayout || !gd._transitionData) return null;
  return {frames: gd._transitionData._frames.map(f => f.name), current: gd._fullLayout._currentFrame || null,
          redraw: gd.layout.updatemenus[0].buttons[0].args[1].frame.redraw,
          animating: !!gd._transitionData._animationRaf || (gd._transitionData._frameQueue || []).length > 0}; }"""
_GOTO = """([key, name, redraw]) => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return Plotly.animate(gd, [name], {mode: 'immediate', frame: {duration: 0, redraw: redraw},
                                     transition: {duration: 0}}).then(() => gd._fullLayout._currentFrame); }"""


def _drawn(page, key: str, timeout_ms: float = 120_000) -> None:
    page.locator(f".st-key-{key} .js-plotly-plot .main-svg .trace").first.wait_for(state="attached",
                                                                                 timeout=timeout_ms)


def play_runs(new_page, server_url: str, runs: int = 20, seed: int = 0) -> list:
    """One row per stepper figure: runs, runs that reached the last step, seconds per run (median, max), and the
    websocket messages the runs caused. ``new_page()`` returns (context, page) with the message hook installed."""
    rng = random.Random(seed)
    rows = []
    for link, key, label in STEPPERS:
        ctx, page = new_page()
        page.goto(server_url + link)
        _drawn(page, key)
        page.wait_for_timeout(1500)
        st = page.evaluate(_STATE, key)
        names, redraw = st["frames"], bool(st["redraw"])
        msgs0 = len(page.evaluate("window.__wsIn"))
        ok, secs, manual = 0, [], 0
        for r in range(runs):
            if r > 0:                                   # a manual step first: anywhere but the last frame
                page.evaluate(_GOTO, [key, names[rng.randrange(len(names) - 1)], redraw])
                manual += 1
            t = time.perf_counter()
            page.locator(f".st-key-{key} .js-plotly-plot .updatemenu-button", has_text="play").first.click()
            try:
                page.wait_for_function(f"([k, n]) => {{ const s = ({_STATE})(k); return s && s.current === n && "
                                       "!s.animating; }", arg=[key, names[-1]], timeout=len(names) * 1000 + 15_000)
                ok += 1
            except Exception:  # noqa: BLE001 - a run that does not arrive is counted, not raised
                pass
            secs.append(time.perf_counter() - t)
        secs.sort()
        rows.append({"page": label, "frames": len(names), "runs": runs, "after_manual_step": manual,
                     "reached_last": ok, "median_s": secs[len(secs) // 2], "max_s": secs[-1],
                     "server_messages": len(page.evaluate("window.__wsIn")) - msgs0})
        ctx.close()
    return rows


def wait_idle(pid_cpu, quiet_s: float = 3.0, deadline_s: float = 240.0) -> float:
    """Wait until the server process used (almost) no CPU for ``quiet_s`` (its warm-up thread is done); returns the
    seconds waited. ``pid_cpu()`` returns the server's CPU seconds so far."""
    t0 = time.perf_counter()
    last, since = pid_cpu(), time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        time.sleep(0.5)
        now = pid_cpu()
        if now - last > 0.05:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet_s:
            break
    return time.perf_counter() - t0


def first_visits(new_page, server_url: str) -> list:
    """Every page's first visit on the warmed-up server: seconds to its key element drawn and the run settled."""
    rows = []
    for path, sel in KEY_ELEMENTS.items():
        ctx, page = new_page()
        t = time.perf_counter()
        page.goto(f"{server_url}/{path}", wait_until="commit")
        try:
            page.locator(sel).first.wait_for(state="visible", timeout=120_000)
            if page.locator(f"{sel} .js-plotly-plot").count():
                page.locator(f"{sel} .js-plotly-plot .main-svg .trace").first.wait_for(state="attached",
                                                                                      timeout=120_000)
            shown = time.perf_counter() - t
            page.get_by_test_id("stStatusWidget").wait_for(state="detached", timeout=120_000)
            rows.append({"page": path or "home", "key_element_s": shown, "settled_s": time.perf_counter() - t})
        except Exception as e:  # noqa: BLE001 - reported in the table
            rows.append({"page": path or "home", "error": repr(e)[:120]})
        ctx.close()
    return rows
