"""Real-browser tests: the app served by ``streamlit run`` and driven in Debian's chromium through Playwright.

AppTest renders one page at a time in-process; these tests check what only a browser shows: the page registry and
sidebar navigation, the websocket round trip of a widget change, and Plotly actually redrawing a figure.

    python -m pytest -m browser                 # only these (about a minute on a loaded 2-core machine)
    DIFFREC_NO_BROWSER=1 python -m pytest        # skip them (as on a machine without chromium or Playwright)

They skip with a reason where Playwright for Python or ``/usr/bin/chromium`` is absent (``DIFFREC_CHROMIUM=PATH``
points at another chromium binary); a browser is never downloaded. On a failure the page's screenshot and the
tail of the server's log are kept under ``test-artifacts/`` (git-ignored).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:         # the tests skip (see _why_no_browser)
    expect = None

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("DIFFREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HEALTH_TRIES, HEALTH_DEADLINE_S = 240, 60.0     # polls of /_stcore/health, every 0.25 s, at most 60 s in all
FIRST_LOAD_MS = 45_000      # the first page of a cold server imports torch and loads the models
LOAD_MS = 30_000            # a page of a warm server, in a new browser session
RERUN_MS = 15_000           # a widget change: one rerun on the server and a Plotly redraw

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def _why_no_browser():
    if os.environ.get("DIFFREC_NO_BROWSER", "").strip() not in ("", "0"):
        return "DIFFREC_NO_BROWSER is set"
    if expect is None:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium; Playwright never downloads one here)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no server log)"


@pytest.fixture(scope="module")
def server():
    """A fresh ``streamlit run app.py`` on a free port (cwd = the repository), healthy before the tests start."""
    why = _why_no_browser()
    if why:
        pytest.skip(why)
    port = _free_port()
    logdir = Path(tempfile.mkdtemp(prefix="diffrec_browser_"))
    log = logdir / "streamlit.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # the file watcher is off: other people editing the tree during a run must not trigger "source changed"
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port),
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        start, healthy = time.monotonic(), False
        for _ in range(HEALTH_TRIES):
            if proc.poll() is not None or time.monotonic() - start > HEALTH_DEADLINE_S:
                break
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    healthy = r.status == 200 and r.read().strip() == b"ok"
            except (urllib.error.URLError, OSError):
                pass
            if healthy:
                break
            time.sleep(0.25)
        if not healthy:
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "still not healthy"
            pytest.fail(f"streamlit server {state} after {time.monotonic() - start:.1f} s:\n{_log_tail(log)}")
        yield {"url": base, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(logdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server, request):
    """A new browser session (context) per test; on a failure its screenshot and the server log are kept."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(RERUN_MS)
    pg = context.new_page()
    errors: list = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    console: list = []
    pg.on("console", lambda m: console.append(f"{m.text} ({m.location.get('url', '')})") if m.type == "error" else None)
    pg.console_errors = console
    failed_before = request.session.testsfailed
    yield pg
    # the call phase's report is logged before teardown, so a failure of this test is counted by now
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", request.node.name)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as e:      # noqa: BLE001 - a screenshot must never hide the real failure
            (ARTIFACTS / f"{name}.screenshot-error.txt").write_text(repr(e))
        (ARTIFACTS / f"{name}.server.log").write_text(_log_tail(server["log"], 20000))
        if errors:
            (ARTIFACTS / f"{name}.page-errors.txt").write_text("\n".join(errors))
        print(f"\nbrowser artefacts of {request.node.name}: {ARTIFACTS / name}.png (+ .server.log)")
    context.close()


# ------------------------------------------------------------------------------------------------ helpers
def chart(pg, key: str):
    """The Plotly chart drawn with ``key=`` (Streamlit gives its container the class ``st-key-<key>``)."""
    return pg.locator(f".st-key-{key} .js-plotly-plot")


def wait_for_chart(pg, key: str, timeout: float = LOAD_MS) -> None:
    """Wait until Plotly has drawn the chart: its SVG holds at least one trace."""
    expect(chart(pg, key).locator(".main-svg .trace").first).to_be_attached(timeout=timeout)
    expect(chart(pg, key)).to_be_visible(timeout=timeout)


_SIGNATURE = """key => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd) return null;
  const svg = gd.querySelector('.main-svg');              // traces, axes, annotations (not the hover layer)
  return svg ? svg.innerHTML : null;
}"""


def signature(pg, key: str) -> str:
    sig = pg.evaluate(_SIGNATURE, key)
    assert sig, f"chart {key} has no SVG"
    return sig


def wait_until_redrawn(pg, key: str, before: str, timeout: float = RERUN_MS) -> None:
    """Wait until the chart's SVG differs from ``before`` (Plotly redrew it with new data)."""
    pg.wait_for_function(f"([key, before]) => {{ const s = ({_SIGNATURE})(key); return s !== null && s !== before; }}",
                         arg=[key, before], timeout=timeout)


def no_app_exception(pg) -> None:
    expect(pg.get_by_test_id("stException")).to_have_count(0)


# ------------------------------------------------------------------------------------------------ tests
def test_home_page_opens_with_its_title_and_figure(page, server):
    page.goto(server["url"] + "/")
    expect(page.get_by_role("heading", name="Diffusion models in recommender systems")).to_be_visible(
        timeout=FIRST_LOAD_MS)
    wait_for_chart(page, "home_hero", timeout=FIRST_LOAD_MS)
    nav = page.get_by_test_id("stSidebarNav")
    for title in ("Home", "Forward noising", "Reverse denoising"):
        expect(nav.get_by_role("link", name=title)).to_be_visible()
    no_app_exception(page)
    assert not page.errors, page.errors


# the stepper figures (ui/stepper.py): their frame names, the current frame, the per-step numbers on screen
_STEPPER = """key => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd._fullLayout || !gd._transitionData) return null;
  const texts = [...gd.querySelectorAll('.scatterlayer .trace:last-child .textpoint text')].map(t => t.textContent);
  return {frames: gd._transitionData._frames.map(f => f.name), current: gd._fullLayout._currentFrame || null,
          active: gd._fullLayout.sliders[0].active, numbers: texts.join(' | '),
          animating: !!gd._transitionData._animationRaf || (gd._transitionData._frameQueue || []).length > 0}; }"""

# a step as the figure's own slider makes it (Plotly.animate to one frame, no transition), in the browser only
_GOTO = """([key, name, redraw]) => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return Plotly.animate(gd, [name], {mode: 'immediate', frame: {duration: 0, redraw: redraw},
                                     transition: {duration: 0}}).then(() => gd._fullLayout._currentFrame); }"""


def stepper(pg, key: str) -> dict:
    st = pg.evaluate(_STEPPER, key)
    assert st, f"chart {key} is not a drawn stepper figure"
    return st


def press_play(pg, key: str) -> None:
    """Click the figure's ▶ play button (Plotly's updatemenu, drawn in the SVG)."""
    chart(pg, key).locator(".updatemenu-button", has_text="play").first.click()


def wait_for_frame(pg, key: str, name: str, timeout: float = RERUN_MS) -> None:
    pg.wait_for_function(f"([k, n]) => {{ const s = ({_STEPPER})(k); return s && s.current === n && !s.animating; }}",
                         arg=[key, name], timeout=timeout)


def server_messages(pg) -> int:
    """Websocket messages the page has received so far (the hook is installed by ``count_messages``)."""
    return pg.evaluate("() => window.__wsIn === undefined ? -1 : window.__wsIn")


def count_messages(context) -> None:
    """Count the messages from the Streamlit server in every page of ``context`` (before any of its scripts)."""
    context.add_init_script("""(() => { const Orig = window.WebSocket; window.__wsIn = 0;
      function Hooked(...a) { const ws = new Orig(...a); ws.addEventListener('message', () => window.__wsIn++);
                              return ws; }
      Hooked.prototype = Orig.prototype;
      for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Hooked[k] = Orig[k];
      window.WebSocket = Hooked; })();""")


def test_reverse_page_plays_to_the_last_step_in_the_browser_also_after_a_manual_scrub(page, server):
    count_messages(page.context)
    page.goto(server["url"] + "/")
    expect(page.get_by_role("heading", name="Diffusion models in recommender systems")).to_be_visible(
        timeout=FIRST_LOAD_MS)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Reverse denoising").click()   # as a user would
    expect(page).to_have_url(re.compile(r"/reverse/?(\?.*)?$"), timeout=LOAD_MS)
    expect(page.get_by_role("heading", name=re.compile(r"^Reverse denoising · "))).to_be_visible(timeout=LOAD_MS)
    for key in ("rv_vectors", "rv_demotion"):
        wait_for_chart(page, key)
    _settle(page)
    no_app_exception(page)
    expect(page.get_by_role("slider", name="reverse step")).to_have_count(0)      # one scrubber: the figure's
    st0 = stepper(page, "rv_vectors")
    names = st0["frames"]
    n = len(names)
    assert n >= 3 and names[-1] == f"step {n}", names
    assert st0["active"] == n - 1 and f"step {n} of {n}" in st0["numbers"]       # opens on the result

    quiet = server_messages(page)
    # 1. play from the opening frame (the last): Plotly restarts at step 1 and must reach the last step
    press_play(page, "rv_vectors")
    page.wait_for_function(f"k => ({_STEPPER})(k).current !== null", arg="rv_vectors", timeout=RERUN_MS)
    wait_for_frame(page, "rv_vectors", names[-1], timeout=n * 2000 + RERUN_MS)
    st1 = stepper(page, "rv_vectors")
    assert f"step {n} of {n}" in st1["numbers"] and st1["active"] == n - 1

    # 2. a manual scrub (click on the slider's rail at the third step), then play: again to the very end
    rail = chart(page, "rv_vectors").locator(".slider-rail-touch-rect").first
    box = rail.bounding_box()
    page.mouse.click(box["x"] + box["width"] * (2 / (n - 1)), box["y"] + box["height"] / 2)
    wait_for_frame(page, "rv_vectors", "step 3")
    assert "step 3 of" in stepper(page, "rv_vectors")["numbers"]
    press_play(page, "rv_vectors")
    wait_for_frame(page, "rv_vectors", names[-1], timeout=n * 2000 + RERUN_MS)
    assert f"step {n} of {n}" in stepper(page, "rv_vectors")["numbers"]

    assert not page.errors, page.errors
    # 3. pause stops it where it is (and nothing else moves it afterwards), with no error in the console (Plotly's
    # interrupted play promise is marked handled by ui/stepper.PAUSE_SCRIPT)
    page.evaluate(_GOTO, ["rv_vectors", "step 1", True])
    press_play(page, "rv_vectors")
    page.wait_for_function(f"k => ({_STEPPER})(k).current === 'step 2'", arg="rv_vectors", timeout=RERUN_MS)
    chart(page, "rv_vectors").locator(".updatemenu-button", has_text="pause").first.click()
    held = stepper(page, "rv_vectors")["current"]
    page.wait_for_timeout(1500)
    assert stepper(page, "rv_vectors")["current"] == held and held != names[-1]
    assert server_messages(page) == quiet, "stepping sent messages to the server"    # all of it in the browser
    no_app_exception(page)
    assert not page.errors, page.errors
    assert not page.console_errors, page.console_errors


@pytest.mark.parametrize("path, key, slider, last", [
    ("embeddings", "em_reverse", "reverse step", ".st-key-em_side"),
    ("knowledge_graph", "kg_row", "reverse step", ".st-key-kg_csv_kg")])
def test_embeddings_and_kg_step_in_the_browser_play_reaches_the_end_after_a_scrub(page, server, path, key, slider,
                                                                                  last):
    """The Embeddings and Knowledge-graph steppers: no server step slider; a scrub and ▶ run in the browser (no
    websocket message) and play reaches the last step, also after a manual step; pause leaves no error."""
    count_messages(page.context)
    page.goto(f"{server['url']}/{path}")
    wait_for_chart(page, key)
    expect(page.locator(last)).to_be_attached(timeout=FIRST_LOAD_MS)       # the page's last section is drawn
    _settle(page)
    no_app_exception(page)
    expect(page.get_by_test_id("stMain").get_by_role("slider", name=slider)).to_have_count(0)
    st0 = stepper(page, key)
    names = st0["frames"]
    n = len(names)
    assert n >= 3 and st0["active"] == n - 1 and f"step {n} of {n}" in st0["numbers"]
    quiet = _quiet(page)
    before = signature(page, key)
    assert page.evaluate(_GOTO, [key, "step 2", True]) == "step 2"
    assert "step 2 of" in stepper(page, key)["numbers"] and signature(page, key) != before
    press_play(page, key)
    wait_for_frame(page, key, names[-1], timeout=n * 1000 + RERUN_MS)
    assert f"step {n} of {n}" in stepper(page, key)["numbers"]
    page.evaluate(_GOTO, [key, "step 1", True])
    press_play(page, key)
    page.wait_for_function(f"k => ({_STEPPER})(k).current !== 'step 1'", arg=key, timeout=RERUN_MS)
    chart(page, key).locator(".updatemenu-button", has_text="pause").first.click()
    page.wait_for_timeout(500)
    assert server_messages(page) == quiet, "stepping sent messages to the server"
    assert not page.errors, page.errors
    assert not [e for e in page.console_errors if not _deep_link_probe(e)], page.console_errors


def _quiet(pg, for_ms: int = 2000, timeout_ms: int = LOAD_MS) -> int:
    """The websocket message count once no message has arrived for ``for_ms`` (the page's script run, with its
    later sections and spinners, is over)."""
    t0, last, n = time.monotonic(), time.monotonic(), server_messages(pg)
    while time.monotonic() - t0 < timeout_ms / 1000:
        pg.wait_for_timeout(250)
        m = server_messages(pg)
        if m != n:
            n, last = m, time.monotonic()
        elif time.monotonic() - last >= for_ms / 1000:
            break
    return n


def _deep_link_probe(message: str) -> bool:
    """Streamlit's frontend, opened on a page's own address (/embeddings), first tries that path as the app's base
    URL (/embeddings/_stcore/health, /host-config) and gets a 404 before it falls back to the root: its console
    error, not the app's."""
    return "404" in message and "/_stcore/" in message


def test_forward_page_one_scrubber_drives_every_panel_and_a_preset_rebuilds_the_frames(page, server):
    page.goto(server["url"] + "/forward")                       # a deep link works too
    expect(page.get_by_role("heading", name="Forward noising", exact=True)).to_be_visible(timeout=LOAD_MS)
    wait_for_chart(page, "fw_hero")
    _settle(page)
    no_app_exception(page)
    expect(page.get_by_role("slider", name=re.compile("^step t"))).to_have_count(0)   # no second step control
    st0 = stepper(page, "fw_hero")
    T = int(st0["frames"][-1].split("=")[1])
    assert f"t = {T} of {T}" in st0["numbers"]
    before = signature(page, "fw_hero")
    assert page.evaluate(_GOTO, ["fw_hero", "t=0", False]) == "t=0"
    st1 = stepper(page, "fw_hero")
    assert f"t = 0 of {T}" in st1["numbers"] and st1["active"] == 0                # the slider follows
    assert signature(page, "fw_hero") != before                                      # vector, bars, markers moved
    press_play(page, "fw_hero")
    wait_for_frame(page, "fw_hero", st0["frames"][-1], timeout=len(st0["frames"]) * 1000 + RERUN_MS)
    assert f"t = {T} of {T}" in stepper(page, "fw_hero")["numbers"]

    # another preset: a new schedule with another T, so the server rebuilds the figure's frames
    preset = page.get_by_role("combobox", name="Preset")
    current = preset.input_value()
    target = "image-DDPM (linear 1e-4..0.02, T=1000)" if "image" not in current else "visible noise (teaching)"
    preset.click()
    page.get_by_role("option", name=target).click()
    expect(preset).to_have_value(target, timeout=RERUN_MS)
    page.wait_for_function(f"([k, n]) => {{ const s = ({_STEPPER})(k); return s && s.frames.length !== n; }}",
                           arg=["fw_hero", len(st0["frames"])], timeout=RERUN_MS)
    frames = stepper(page, "fw_hero")["frames"]
    assert len(frames) <= 100 and frames[0] == "t=0"
    no_app_exception(page)
    assert not page.errors, page.errors


_X_RANGE = """key => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return gd && gd._fullLayout ? gd._fullLayout.xaxis.range.slice() : null; }"""


def test_reverse_page_zoom_survives_a_step_change(page, server):
    """design.md: 'Keep zoom with uirevision and keyed charts'. A step is a client-side frame now, so the zoom
    into the item strips survives it (no rerun, no remount)."""
    page.goto(server["url"] + "/reverse?rv_scope=whole+trajectory")
    wait_for_chart(page, "rv_vectors", timeout=LOAD_MS)
    _settle(page)
    plot = chart(page, "rv_vectors")
    plot.scroll_into_view_if_needed()
    full = page.evaluate(_X_RANGE, "rv_vectors")
    box = plot.locator(".xy .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 0.3 * box["width"], y0 + 0.3 * box["height"], steps=8)
    page.mouse.up()
    page.wait_for_function(f"([k, r]) => JSON.stringify(({_X_RANGE})(k)) !== JSON.stringify(r)",
                           arg=["rv_vectors", full], timeout=RERUN_MS)
    zoomed = page.evaluate(_X_RANGE, "rv_vectors")
    page.evaluate(_GOTO, ["rv_vectors", "step 2", False])
    wait_for_frame(page, "rv_vectors", "step 2")
    assert page.evaluate(_X_RANGE, "rv_vectors") == pytest.approx(zoomed), "the zoom was reset by the step change"


# ------------------------------------------------------------------------------------------------ every page
def _registered_pages() -> list:
    """app.py's PAGES rows whose file exists: (key, file, title), read without running Streamlit."""
    import ast

    tree = ast.parse((REPO / "app.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PAGES")
    return [(key, path, title) for _, key, path, title, _ in ast.literal_eval(node.value) if (REPO / path).exists()]


_VIEW = """() => { const m = document.querySelector('[data-testid="stMain"]');
  if (!m) return null;
  return m.innerText + [...m.querySelectorAll('.js-plotly-plot .main-svg')].map(s => s.innerHTML).join('|'); }"""

# the main control of each page whose controls are known: (how to find it, key to press); other pages get the
# generic check (their first slider, else they only have to open cleanly)
_MAIN = {"knowledge graph": ("T′: noise the row first", "End"), "reranking": ("show step", "Home")}


def _settle(pg) -> None:
    """Wait until the app's script run has finished (the 'Running…' status widget is gone)."""
    expect(pg.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=LOAD_MS)


def test_every_registered_page_opens_and_its_main_control_changes_the_view(page, server):
    """Opens every page of app.py's registry through the sidebar, as a user would, and uses its main control."""
    page.goto(server["url"] + "/")
    expect(page.get_by_role("heading", name="Diffusion models in recommender systems")).to_be_visible(
        timeout=FIRST_LOAD_MS)
    wait_for_chart(page, "home_hero", timeout=FIRST_LOAD_MS)
    # Home: its main control is the sidebar's user (the picture is that user's)
    before = page.evaluate(_VIEW)
    user = page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="User")
    user.fill(str((int(user.input_value()) + 1) % 1000))
    user.press("Enter")
    page.wait_for_function(f"b => ({_VIEW})() !== b", arg=before, timeout=RERUN_MS)
    no_app_exception(page)
    nav = page.get_by_test_id("stSidebarNav")
    tried = []
    for key, _path, title in _registered_pages():
        if key in ("home", "forward", "reverse"):         # their controls have their own tests above
            continue
        old_title = page.locator("h1").first.inner_text()
        nav.get_by_role("link", name=title).click()
        expect(page.locator("h1").first).not_to_have_text(old_title, timeout=LOAD_MS)   # the new page is drawn
        label, press = _MAIN.get(key, (None, "End"))
        main = page.get_by_test_id("stMain")
        if label:
            expect(main.get_by_role("slider", name=label)).to_be_visible(timeout=LOAD_MS)
        _settle(page)
        no_app_exception(page)
        slider = main.get_by_role("slider", name=label) if label else main.get_by_role("slider")
        if slider.count() == 0:
            tried.append((key, "opened"))
            continue
        slider = slider.first
        slider.scroll_into_view_if_needed()
        start = slider.input_value()                    # Streamlit's slider is an <input type=range>
        if start == slider.get_attribute("max" if press == "End" else "min"):
            press = "Home" if press == "End" else "End"
        if slider.get_attribute("min") == slider.get_attribute("max"):
            tried.append((key, "one-value slider"))
            continue
        before = page.evaluate(_VIEW)
        slider.focus()
        slider.press(press)
        expect(slider).not_to_have_value(start)
        page.wait_for_function(f"b => ({_VIEW})() !== b", arg=before, timeout=RERUN_MS)
        _settle(page)
        no_app_exception(page)
        tried.append((key, "slider moved, view changed"))
    print("pages:", tried)
    assert {"knowledge graph", "reranking"} <= {k for k, _ in tried} or len(tried) >= 3
    assert not page.errors, page.errors


def test_a_shared_link_reproduces_the_view_and_opens_on_its_step(page, server):
    """URL state in a real browser: a link opens the reverse page on its step, in presentation mode; a setting
    rewrites the address and keeps the opening step; a bad link gives a notice."""
    page.goto(server["url"] + "/reverse?user=5&rv_step=2&present=1")
    wait_for_chart(page, "rv_vectors", timeout=LOAD_MS)
    _settle(page)
    st0 = stepper(page, "rv_vectors")
    assert st0["active"] == 1 and "step 2 of" in st0["numbers"]
    expect(page.get_by_test_id("stSidebar").get_by_role("spinbutton", name="User")).to_have_value("5")
    expect(page.get_by_role("radiogroup", name="reverse steps")).to_have_count(0)     # advanced: hidden
    size = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert size > 17, size                                                          # the projector's CSS
    expect(page).to_have_url(re.compile(r"rv_step=2"))
    # a setting: the server rebuilds the frames (top-20 now), the link keeps its step and presentation mode
    page.get_by_role("slider", name="top-K").focus()
    page.get_by_role("slider", name="top-K").press("End")
    expect(page).to_have_url(re.compile(r"rv_k=20"), timeout=RERUN_MS)
    page.wait_for_function(f"k => (({_STEPPER})(k) || {{numbers: ''}}).numbers.includes('Recall@20')",
                           arg="rv_vectors", timeout=RERUN_MS)
    assert stepper(page, "rv_vectors")["active"] == 1
    expect(page).to_have_url(re.compile(r"present=1"))
    expect(page).to_have_url(re.compile(r"rv_step=2"))
    # a bad link: a notice, the defaults, no exception
    page.goto(server["url"] + "/reverse?rv_tprime=zebra")
    expect(page.get_by_text(re.compile(r"rv_tprime=zebra"))).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_role("slider", name=re.compile("^T′"))).to_have_value("0")
    no_app_exception(page)
    assert not page.errors, page.errors


def test_a_tour_link_shows_its_banner_and_next_leads_to_the_next_stop(page, server):
    page.goto(server["url"] + "/")
    expect(page.get_by_role("heading", name="Diffusion models in recommender systems")).to_be_visible(
        timeout=FIRST_LOAD_MS)
    start = page.get_by_role("link", name=re.compile(r"Start the tour"))
    expect(start).to_be_visible(timeout=LOAD_MS)
    start.click()
    banner = page.locator(".st-key-tour_banner")
    expect(banner).to_contain_text(re.compile(r"stop 1 / \d+"), timeout=LOAD_MS)
    banner.get_by_role("link", name=re.compile(r"^next ▶")).click()
    expect(page).to_have_url(re.compile(r"/forward\?.*tour=2"), timeout=LOAD_MS)
    expect(banner).to_contain_text(re.compile(r"stop 2 / \d+"), timeout=LOAD_MS)
    expect(banner.get_by_role("link", name=re.compile(r"^◀ previous"))).to_be_visible()
    wait_for_chart(page, "fw_hero")
    no_app_exception(page)
    assert not page.errors, page.errors
