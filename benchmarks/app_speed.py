"""How fast the classroom app feels, measured on this machine: cold start, warm reruns, and no umap on page views.

    python benchmarks/app_speed.py                         # everything (about 1-2 minutes on a loaded 2-core machine)
    python benchmarks/app_speed.py --json runs/app_speed.json
    python benchmarks/app_speed.py --skip-browser          # only the AppTest parts (no chromium needed)
    python benchmarks/app_speed.py --skip-apptest --cold-runs 1    # only the browser parts

(a) *Cold start*: a fresh ``streamlit run app.py``; the time from ``/_stcore/health`` answering to the Home page
    rendered in Debian's chromium (Playwright): its title, then its figure drawn by Plotly. The browser is launched
    before the server so that its own start-up is not counted. Repeated ``--cold-runs`` times with a fresh server.
    A second load in a new browser session against the now warm server is shown for contrast.
(b) *Warm reruns*: per page, ``AppTest.from_file("views/<page>.py")`` run once to warm, then the time of
    ``.run()`` after a change of the page's main widget, median over ``--reps`` changes (AppTest reruns the whole
    page; in the browser a widget inside an ``st.fragment`` reruns only the fragment, so these are upper bounds of
    the server time; stepping itself is not a server run any more). In the browser: a scrub of the Forward and
    Reverse stepper figures (a client-side ``Plotly.animate`` to one frame, as their slider does), timed with
    ``performance.now()`` from the call to the next paint, p50 / p95 over ``--moves`` one-frame moves, and the
    websocket messages those moves caused (none expected).
(c) *No umap on page views*: every page run by AppTest in a fresh Python process; ``'umap' in sys.modules``
    afterwards must be false for the forward and reverse pages (design.md: umap-learn costs 5 s to import).

Targets: the first page within 5 s of healthy; any page's warm rerun under 300 ms of server time. The load average
is printed next to every section: on a 2-core machine shared with other work every wall time is inflated.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VIEWS = REPO / "views"
CHROMIUM = os.environ.get("DIFFREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST_PAGE_TARGET_S = 5.0
WARM_RERUN_TARGET_MS = 300.0
NO_UMAP_PAGES = ("forward", "reverse")
HOME_TITLE = "Diffusion models in recommender systems"

# per page: (what is changed, how) - the page's main widget; "user" is the shared sidebar's user (home has no widget)
CHANGES = {
    "home": [("sidebar user", "state", "user", [1, 2, 3])],
    "forward": [("preset", "selectbox", "fw_preset", ["sample world (small CPU)", "diffrec ml-1m (tuned)"])],
    "reverse": [("top-K", "select_slider", "rv_k", "all"),
                ("axis range", "radio", "rv_scope", "all")],
    "compare": [("metric", "radio", "cmp_metric", "all")],
    "knowledge_graph": [("T′ slider (rebuilds the row's frames)", "slider", "kg_tprime", "spread")],
}


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


def pages() -> list:
    return sorted(p.stem for p in VIEWS.glob("*.py") if not p.stem.startswith("_"))


def pct(values, q: float) -> float:
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)]


# ------------------------------------------------------------------------------------------------ (c) umap
_CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from streamlit.testing.v1 import AppTest
t = time.perf_counter()
at = AppTest.from_file({path!r}, default_timeout=300).run()
dt = time.perf_counter() - t
print("@@" + json.dumps({{"seconds": dt, "umap": "umap" in sys.modules, "numba": "numba" in sys.modules,
                         "torch": "torch" in sys.modules, "exceptions": [e.message for e in at.exception]}}))
"""


def fresh_process_runs(names) -> dict:
    out = {}
    for name in names:
        code = _CHILD.format(repo=str(REPO), path=str(VIEWS / f"{name}.py"))
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("@@")), None)
        if line is None:
            out[name] = {"error": (r.stderr or r.stdout)[-800:], "process_seconds": wall}
        else:
            out[name] = dict(json.loads(line[2:]), process_seconds=wall)
    return out


# ------------------------------------------------------------------------------------------------ (b) AppTest
def _values(widget, spec):
    if spec == "spread":
        lo, hi = int(widget.min), int(widget.max)
        return sorted({lo, (lo + hi) // 2, hi, lo + 1, hi - 1})
    if spec == "all":
        return list(widget.options)
    return list(spec)


def warm_reruns(names, reps: int) -> list:
    sys.path.insert(0, str(REPO))
    from streamlit.testing.v1 import AppTest

    rows = []
    for name in names:
        for label, kind, key, spec in CHANGES.get(name, [("(rerun, no widget change)", "none", None, None)]):
            at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=300)
            at.run()
            if at.exception:
                rows.append({"page": name, "change": label, "error": at.exception[0].message})
                continue
            if kind == "none":
                values = [None]
            elif kind == "state":
                values = list(spec)
            else:
                try:
                    widget = getattr(at, kind)(key=key)
                except KeyError:
                    rows.append({"page": name, "change": label, "error": f"no {kind} with key {key!r} on the page"})
                    continue
                values = _values(widget, spec)
                if widget.value in values and len(values) > 1:   # every timed run is a real change
                    values.remove(widget.value)
                    values.append(widget.value)

            def change(v):
                if kind == "state":
                    at.session_state[key] = v
                elif kind != "none":
                    getattr(at, kind)(key=key).set_value(v)

            for v in values:                  # warm-up: every value once (caches filled)
                change(v)
                at.run()
            times, shown = [], []
            for i in range(max(reps, len(values))):
                v = values[i % len(values)]
                change(v)
                t = time.perf_counter()
                at.run()
                times.append(1000 * (time.perf_counter() - t))
                shown.append(v)
            err = at.exception[0].message if at.exception else None
            rows.append({"page": name, "change": label, "widget": key, "values": [str(v) for v in shown],
                         "ms": times, "median_ms": statistics.median(times), "max_ms": max(times), "error": err})
    return rows


def post_script_gc(options=()) -> dict:
    """What Streamlit's ``runner.postScriptGC`` costs: ``gc.collect(2)`` in this process, the pages loaded (a real
    server calls it after every script and fragment run; AppTest's runner does not). Median of 5."""
    import gc

    enabled = True
    cfg = REPO / ".streamlit" / "config.toml"
    if cfg.exists():
        try:
            import tomllib
            enabled = bool(tomllib.loads(cfg.read_text()).get("runner", {}).get("postScriptGC", True))
        except (ImportError, ValueError):
            pass
    for kv in options:
        if kv.split("=", 1)[0] == "runner.postScriptGC":
            enabled = kv.split("=", 1)[1].strip().lower() in ("true", "1", "yes")
    walls, cpus = [], []
    for _ in range(5):
        w, c = time.perf_counter(), time.process_time()
        gc.collect(2)
        walls.append(1000 * (time.perf_counter() - w))
        cpus.append(1000 * (time.process_time() - c))
    return {"enabled": enabled, "wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus),
            "tracked_objects": len(gc.get_objects())}


# ------------------------------------------------------------------------------------------------ browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# runs ``streamlit run`` in this process after wrapping ScriptRunner._run_script (a private method: where a
# Streamlit version lacks it, the server runs untimed) so that the server logs the wall and thread-CPU time of every
# script or fragment run, Streamlit's post-script gc.collect included
_LAUNCHER = r"""
import sys, time
try:
    from streamlit.runtime.scriptrunner import script_runner as _sr
    _orig = _sr.ScriptRunner._run_script
    def _timed(self, *a, **k):
        w, c = time.perf_counter(), time.thread_time()
        try:
            return _orig(self, *a, **k)
        finally:
            print(f"@@run {1000 * (time.perf_counter() - w):.1f} {1000 * (time.thread_time() - c):.1f}",
                  file=sys.stderr, flush=True)
    _sr.ScriptRunner._run_script = _timed
except Exception as e:  # noqa: BLE001
    print(f"@@untimed {e!r}", file=sys.stderr, flush=True)
from streamlit.web import cli
sys.argv = ["streamlit"] + sys.argv[1:]
sys.exit(cli.main())
"""


class Server:
    def __init__(self, options=()):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="app_speed_", suffix=".log", delete=False)
        extra = [a for kv in options for a in ("--" + kv.split("=", 1)[0], kv.split("=", 1)[1])]
        cmd = [sys.executable, "-c", _LAUNCHER, "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port),
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *extra]
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)

    def runs(self) -> list:
        """[(wall ms, thread-CPU ms)] of every script / fragment run so far."""
        text = Path(self.log.name).read_text(errors="replace")
        return [tuple(float(v) for v in ln.split()[1:3]) for ln in text.splitlines() if ln.startswith("@@run ")]

    def wait_healthy(self, deadline_s: float = 90.0, tries: int = 900) -> float:
        for _ in range(tries):
            if self.proc.poll() is not None or time.perf_counter() - self.t_start > deadline_s:
                break
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return time.perf_counter()
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy: {Path(self.log.name).read_text()[-2000:]}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        os.unlink(self.log.name)


def _descendants(root: int) -> dict:
    """{pid: comm} of every live descendant process of ``root`` (Linux /proc; empty elsewhere)."""
    children, comm = {}, {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            st = (d / "stat").read_text()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
        comm[int(d.name)] = name
    out, todo = {}, [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out[c] = comm.get(c, "")
            todo.append(c)
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 where /proc is absent or the process is gone)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _cpu_split(server_pid: int) -> tuple:
    """(server CPU s, browser CPU s): the streamlit process, and every chromium process below this one."""
    browser = sum(_cpu_s(p) for p, c in _descendants(os.getpid()).items() if "chrom" in c.lower())
    return _cpu_s(server_pid), browser


# in every page, before any of its scripts: the arrival time of each websocket message, and the first time the
# Home title, a Plotly chart and a drawn trace of the Home figure are in the DOM (performance.now(), ms)
_INIT = r"""
(() => {
  const Orig = window.WebSocket;
  window.__wsIn = [];
  function Hooked(...a) {
    const ws = new Orig(...a);
    ws.addEventListener('message', () => window.__wsIn.push(performance.now()));
    return ws;
  }
  Hooked.prototype = Orig.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Hooked[k] = Orig[k];
  window.WebSocket = Hooked;
  window.__marks = {};
  const probes = {title: () => Array.from(document.querySelectorAll('h1')).some(h => h.textContent.includes(TITLE)),
                  chart: () => !!document.querySelector('.js-plotly-plot'),
                  figure: () => !!document.querySelector('.st-key-home_hero .js-plotly-plot .main-svg .trace')};
  const obs = new MutationObserver(() => {
    const now = performance.now();
    for (const [k, f] of Object.entries(probes)) if (!(k in window.__marks) && f()) window.__marks[k] = now;
    if (Object.keys(window.__marks).length === 3) obs.disconnect();
  });
  document.addEventListener('DOMContentLoaded', () => obs.observe(document.body, {childList: true, subtree: true}));
})();
""".replace("TITLE", json.dumps(HOME_TITLE))

# resolves once no websocket message has arrived for `quiet` ms (the script run is over), with the messages' times
_SETTLED = """([since, quiet]) => new Promise(resolve => {
  (function poll() {
    const msgs = window.__wsIn.filter(t => t >= since), last = msgs.length ? msgs[msgs.length - 1] : since;
    if (performance.now() - last > quiet) resolve(msgs); else setTimeout(poll, 50);
  })();
})"""


def _new_page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script(_INIT)
    return ctx, ctx.new_page()


def _home_loaded(page, t_ref: float, timeout_ms: float = 120_000) -> dict:
    """Times (s after t_ref, wall clock of this process) at which the Home page shows its title and its figure."""
    page.get_by_role("heading", name=HOME_TITLE).wait_for(timeout=timeout_ms)
    title = time.perf_counter() - t_ref
    page.locator(".st-key-home_hero .js-plotly-plot .main-svg .trace").first.wait_for(state="attached",
                                                                                       timeout=timeout_ms)
    figure = time.perf_counter() - t_ref
    return {"title_s": title, "figure_s": figure}


def _page_timeline(page) -> dict:
    """In-page times (s after the navigation started): DOM ready, websocket messages, marks, Plotly's JS chunk."""
    msgs = page.evaluate(_SETTLED, [0, 1500])
    t = page.evaluate("""() => {
      const nav = performance.getEntriesByType('navigation')[0] || {};
      const js = performance.getEntriesByType('resource').find(r => r.name.includes('PlotlyChart')) || {};
      return {dom: nav.domContentLoadedEventEnd, js_start: js.startTime, js_end: js.responseEnd,
              js_bytes: js.encodedBodySize, marks: window.__marks};
    }""")
    sec = lambda v: None if v is None else v / 1000   # noqa: E731
    m = t["marks"] or {}
    return {"dom_ready": sec(t["dom"]), "first_message": sec(msgs[0]) if msgs else None,
            "last_message": sec(msgs[-1]) if msgs else None, "messages": len(msgs),
            "title": sec(m.get("title")), "chart_mounted": sec(m.get("chart")), "figure": sec(m.get("figure")),
            "plotly_js_requested": sec(t["js_start"]), "plotly_js_loaded": sec(t["js_end"]),
            "plotly_js_mb": (t["js_bytes"] or 0) / 1e6}


# one scrub as the figure's slider makes it, in the page: Plotly.animate to a frame (no transition), then two
# animation frames so that the browser has painted the new step; ms from the call to the paint
_SCRUB = """async ([key, name, redraw]) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  const t0 = performance.now();
  await Plotly.animate(gd, [name],
                       {mode: 'immediate', frame: {duration: 0, redraw: redraw}, transition: {duration: 0}});
  const done = performance.now();
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return {animate_ms: done - t0, paint_ms: performance.now() - t0, current: gd._fullLayout._currentFrame};
}"""
_FRAMES = """key => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  const b = gd.layout.updatemenus[0].buttons[0].args[1];
  return {names: gd._transitionData._frames.map(f => f.name), redraw: b.frame.redraw,
          points: gd._transitionData._frames[0].data.reduce((n, t) => { const v = t.y || t.x || [];
            return n + (v.bdata ? atob(v.bdata).length / ({f8: 8, i2: 2, u1: 1, i1: 1}[v.dtype] || 4) : v.length || 0);
          }, 0)}; }"""
# (page link, chart key, label) of the stepper figures measured
SCRUBS = [("/reverse?rv_scope=per+step", "rv_vectors", "reverse, 'per step' ranges (redraw per frame)"),
          ("/reverse?rv_scope=whole+trajectory", "rv_vectors", "reverse, whole-trajectory ranges (data-only frames)"),
          ("/forward?fw_preset=image-DDPM+%28linear+1e-4..0.02%2C+T%3D1000%29", "fw_hero",
           "forward, image-DDPM T = 1000 (capped frames)"),
          ("/embeddings", "em_reverse", "embeddings, DiffuRec's reverse run on the item map (data-only frames)"),
          ("/knowledge_graph", "kg_row", "knowledge graph row, 'per step' ranges (redraw per frame)")]


def scrub_runs(browser, server, moves: int) -> list:
    """Per stepper figure: ms from Plotly.animate to the painted frame, p50 / p95 over ``moves`` one-frame moves
    (back and forth over the frames), and the websocket messages the moves caused (0 expected)."""
    rows = []
    for link, key, label in SCRUBS:
        ctx, page = _new_page(browser)
        page.goto(server.url + link)
        page.locator(f".st-key-{key} .js-plotly-plot .main-svg .trace").first.wait_for(state="attached",
                                                                                     timeout=120_000)
        page.evaluate(_SETTLED, [0, 1000])
        info = page.evaluate(_FRAMES, key)
        names = info["names"]
        msgs0 = len(page.evaluate("window.__wsIn"))
        cpu0 = _cpu_split(server.proc.pid)
        times, paint = [], []
        i, d = len(names) - 1, -1
        for _ in range(moves):
            if not 0 <= i + d < len(names):
                d = -d
            i += d
            r = page.evaluate(_SCRUB, [key, names[i], bool(info["redraw"])])
            times.append(r["animate_ms"])
            paint.append(r["paint_ms"])
        cpu1 = _cpu_split(server.proc.pid)
        rows.append({"page": label, "frames": len(names), "points_per_frame": info["points"],
                     "redraw": info["redraw"], "moves": moves,
                     "paint_p50_ms": pct(paint, 50), "paint_p95_ms": pct(paint, 95),
                     "animate_p50_ms": pct(times, 50), "server_messages": len(page.evaluate("window.__wsIn")) - msgs0,
                     "cpu_server_ms": 1000 * (cpu1[0] - cpu0[0]), "cpu_browser_ms": 1000 * (cpu1[1] - cpu0[1])})
        ctx.close()
    return rows


def browser_runs(cold_runs: int, moves: int, options=(), play_runs: int = 20) -> dict:
    from playwright.sync_api import sync_playwright

    import app_stepping

    out = {"cold": [], "warm_load": None, "scrub": None, "first_visits": None, "play": None}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            server = None
            for _ in range(cold_runs):
                ctx, page = _new_page(browser)
                server = Server(options)
                healthy = server.wait_healthy()
                cpu0 = _cpu_split(server.proc.pid)
                rec = {"server_start_to_healthy_s": healthy - server.t_start, "load_start": load()}
                page.goto(server.url + "/", wait_until="commit")
                rec["goto_after_healthy_s"] = time.perf_counter() - healthy
                rec.update(_home_loaded(page, healthy))
                cpu1 = _cpu_split(server.proc.pid)
                rec["cpu_server_s"], rec["cpu_browser_s"] = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
                rec["in_page"] = _page_timeline(page)
                runs = server.runs()
                rec["server_first_run_ms"] = runs[0] if runs else None
                out["cold"].append(rec)
                ctx.close()
                if len(out["cold"]) < cold_runs:
                    server.stop()
            try:
                # the same Home page in a new browser session, server now warm (the page's caches are filled)
                ctx, page = _new_page(browser)
                cpu0 = _cpu_split(server.proc.pid)
                t = time.perf_counter()
                page.goto(server.url + "/", wait_until="commit")
                out["warm_load"] = _home_loaded(page, t)
                cpu1 = _cpu_split(server.proc.pid)
                out["warm_load"].update(cpu_server_s=cpu1[0] - cpu0[0], cpu_browser_s=cpu1[1] - cpu0[1],
                                        in_page=_page_timeline(page))
                ctx.close()

                # every page's first visit, once the server's warm-up thread is done (server CPU idle)
                out["warm_up_wait_s"] = app_stepping.wait_idle(lambda: _cpu_s(server.proc.pid))
                out["first_visits"] = app_stepping.first_visits(lambda: _new_page(browser), server.url)
                # the stepper figures: a scrub is a client-side Plotly.animate to one frame; timed to the next paint
                out["scrub"] = scrub_runs(browser, server, moves)
                if play_runs > 0:
                    out["play"] = app_stepping.play_runs(lambda: _new_page(browser), server.url, play_runs)
            finally:
                server.stop()
        finally:
            browser.close()
    return out


# ------------------------------------------------------------------------------------------------ report
def verdict(ok) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(res: dict) -> str:
    opts = ", ".join(res.get("server_options") or []) or "none"
    L = ["", f"## App speed on {res['machine']['cpus']} CPU(s), {res['machine']['platform']}", "",
         f"server options added to `streamlit run` for the browser runs: {opts}", "",
         f"load average (1/5/15 min): start {res['load']['start']}, after AppTest {res['load'].get('apptest', '-')}, "
         f"end {res['load']['end']}", "",
         "| measurement | value | target | verdict |", "|---|---|---|---|"]
    br = res.get("browser")
    med = lambda rows, k: statistics.median(r[k] for r in rows if r.get(k) is not None) \
        if any(r.get(k) is not None for r in rows) else float("nan")   # noqa: E731
    if br and br.get("cold"):
        cold = br["cold"]
        fig = [c["figure_s"] for c in cold]
        detail = ", ".join(f"{c['figure_s']:.2f}" for c in cold)
        L.append(f"| (a) healthy → Home figure drawn, cold server, median of {len(cold)} ({detail} s) | "
                 f"{statistics.median(fig):.2f} s | ≤ {FIRST_PAGE_TARGET_S:.0f} s | "
                 f"{verdict(max(fig) <= FIRST_PAGE_TARGET_S)} |")
        ip = [c["in_page"] for c in cold]
        L.append("| (a) … in the page (median, s after navigation): DOM ready / first server message / Home title / "
                 "Plotly JS requested / loaded / chart mounted / figure drawn / last server message | "
                 + " / ".join(f"{med(ip, k):.2f}" for k in ("dom_ready", "first_message", "title",
                                                             "plotly_js_requested", "plotly_js_loaded",
                                                             "chart_mounted", "figure", "last_message"))
                 + f" (Plotly JS {med(ip, 'plotly_js_mb'):.1f} MB) | | |")
        L.append(f"| (a) … CPU used from healthy to figure: server / chromium (median) | "
                 f"{med(cold, 'cpu_server_s'):.2f} / "
                 f"{med(cold, 'cpu_browser_s'):.2f} CPU-s | | |")
        first = [c["server_first_run_ms"][0] / 1000 for c in cold if c.get("server_first_run_ms")]
        if first:
            L.append(f"| (a) … the server's first run (app.py + Home, imports included), median | "
                     f"{statistics.median(first):.2f} s | | |")
        L.append(f"| (a) server start → healthy (median) | {med(cold, 'server_start_to_healthy_s'):.2f} s | | |")
        if br.get("warm_load"):
            w = br["warm_load"]
            L.append(f"| (a') Home in a new browser session, warm server: title / figure; CPU server / chromium | "
                     f"{w['title_s']:.2f} / {w['figure_s']:.2f} s; {w['cpu_server_s']:.2f} / {w['cpu_browser_s']:.2f}"
                     f" CPU-s | | |")
    elif res.get("browser_skipped"):
        L.append(f"| (a) first page in a real browser | skipped: {res['browser_skipped']} | ≤ 5 s | n/a |")
    for r in res.get("apptest", []):
        if r.get("error") and "median_ms" not in r:
            L.append(f"| (b) {r['page']} · {r['change']}: AppTest rerun | error: {r['error'][:80]} | < 300 ms "
                     f"| FAIL |")
            continue
        ok = r["median_ms"] < WARM_RERUN_TARGET_MS and not r.get("error")
        L.append(f"| (b) {r['page']} · {r['change']}: warm AppTest rerun (whole page, no post-script GC), median of "
                 f"{len(r['ms'])} (max) | {r['median_ms']:.0f} ms ({r['max_ms']:.0f}) | < {WARM_RERUN_TARGET_MS:.0f} ms"
                 f" | {verdict(ok)} |")
    g = res.get("gc")
    if g:
        L.append(f"| (b) Streamlit's post-script gc.collect(2), the measured pages loaded "
                 f"({g['tracked_objects']:,} objects; "
                 f"a real server runs it after every run when runner.postScriptGC is on — here "
                 f"{'on' if g['enabled'] else 'off'}; AppTest never): wall / CPU | {g['wall_ms']:.0f} / "
                 f"{g['cpu_ms']:.0f} ms | | |")
    for r in (br or {}).get("scrub") or []:
        L.append(f"| (b) scrub → frame painted in the browser, {r['page']}: {r['frames']} frames × "
                 f"{r['points_per_frame']} values, p50 / p95 of {r['moves']} (server messages; CPU server / "
                 f"chromium) | {r['paint_p50_ms']:.0f} / {r['paint_p95_ms']:.0f} ms ({r['server_messages']}; "
                 f"{r['cpu_server_ms']:.0f} / {r['cpu_browser_ms']:.0f} CPU-ms) | no server message | "
                 f"{verdict(r['server_messages'] == 0)} |")
    for r in (br or {}).get("play") or []:
        L.append(f"| (b) ▶ play reaches the last step, {r['page']} ({r['frames']} frames): runs that arrived of "
                 f"{r['runs']} ({r['after_manual_step']} after a manual step; seconds per run median / max; server "
                 f"messages) | {r['reached_last']} / {r['runs']} ({r['median_s']:.1f} / {r['max_s']:.1f} s; "
                 f"{r['server_messages']}) | all, no server message | "
                 f"{verdict(r['reached_last'] == r['runs'] and r['server_messages'] == 0)} |")
    visits = (br or {}).get("first_visits") or []
    if visits:
        ok = [v for v in visits if "error" not in v]
        L.append(f"| (a'') first visit of every page after the warm-up ({(br or {}).get('warm_up_wait_s', 0):.0f} s "
                 "waited for an idle server): key element drawn / run settled, s | "
                 + "; ".join(f"{v['page']} {v['key_element_s']:.1f} / {v['settled_s']:.1f}" for v in ok)
                 + "".join(f"; {v['page']}: {v['error']}" for v in visits if "error" in v) + " | | |")
    for name, r in res.get("fresh", {}).items():
        if "error" in r:
            L.append(f"| (c) {name}: fresh process | error: {r['error'][-80:]!r} | | FAIL |")
            continue
        must = name in NO_UMAP_PAGES
        ok = (not r["umap"]) if must else None
        L.append(f"| (c) {name}: umap imported after a page view in a fresh process | "
                 f"{'yes' if r['umap'] else 'no'} (numba: {'yes' if r['numba'] else 'no'}; first run "
                 f"{r['seconds']:.2f} s incl. imports) | {'no' if must else '-'} | {verdict(ok)} |")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="timed AppTest reruns per page and widget (median; >= 5)")
    ap.add_argument("--moves", type=int, default=18,
                    help="scrub moves per stepper figure in the browser (p50/p95; >= 10)")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold-server starts measured (fresh server each)")
    ap.add_argument("--play-runs", type=int, default=20,
                    help="presses of ▶ per stepper figure, all but the first after a manual step (0: none)")
    ap.add_argument("--skip-apptest", action="store_true", help="only the browser measurements")
    ap.add_argument("--pages", nargs="*", help="pages of views/ (default: every page file)")
    ap.add_argument("--skip-browser", action="store_true", help="no chromium: only the AppTest measurements")
    ap.add_argument("--server-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="a streamlit config option for the browser runs' server, e.g. runner.postScriptGC=false")
    ap.add_argument("--json", metavar="OUT", help="also write every figure to OUT")
    a = ap.parse_args(argv)
    names = a.pages or pages()
    res = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
           "load": {"start": load()}, "pages": names}
    print(f"load average at start: {res['load']['start']}  ({os.cpu_count()} CPUs)", file=sys.stderr)

    if not a.skip_apptest:
        print("(c) each page in a fresh process ...", file=sys.stderr)
        res["fresh"] = fresh_process_runs(names)
        print("(b) warm AppTest reruns ...", file=sys.stderr)
        res["apptest"] = warm_reruns(names, max(5, a.reps))
        res["gc"] = post_script_gc(a.server_opt)
    res["server_options"] = a.server_opt
    res["load"]["apptest"] = load()
    if a.skip_browser:
        res["browser_skipped"] = "--skip-browser"
    elif not os.access(CHROMIUM, os.X_OK):
        res["browser_skipped"] = f"no chromium at {CHROMIUM}"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            res["browser_skipped"] = "Playwright for Python is not installed"
    if "browser_skipped" not in res:
        print("(a, b) real browser ...", file=sys.stderr)
        res["browser"] = browser_runs(max(1, a.cold_runs), max(10, a.moves), a.server_opt, max(0, a.play_runs))
    res["load"]["end"] = load()
    print(report(res))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
        print(f"\nwritten: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
