"""How fast the classroom app feels, measured on this machine: cold start, warm reruns, and no umap on page views.

    python benchmarks/app_speed.py                         # everything (about 1-2 minutes on a loaded 2-core machine)
    python benchmarks/app_speed.py --json runs/app_speed.json
    python benchmarks/app_speed.py --skip-browser          # only the AppTest parts (no chromium needed)

(a) *Cold start*: a fresh ``streamlit run app.py``; the time from ``/_stcore/health`` answering to the Home page
    rendered in Debian's chromium (Playwright): its title, then its figure drawn by Plotly. The browser is launched
    before the server so that its own start-up is not counted. Repeated ``--cold-runs`` times with a fresh server.
    A second load in a new browser session against the now warm server is shown for contrast.
(b) *Warm reruns*: per page, ``AppTest.from_file("views/<page>.py")`` run once to warm, then the time of
    ``.run()`` after a change of the page's main widget, median over ``--reps`` changes (AppTest reruns the whole
    page; in the browser a widget inside an ``st.fragment`` reruns only the fragment, so these are upper bounds of
    the server time). In the browser: the time from a key press on the reverse page's step slider to its figures
    redrawn with the new step, p50 / p95 over ``--moves`` single-step moves.
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
    "forward": [("step slider", "slider", "fw_step", "spread"),
                ("preset", "selectbox", "fw_preset", ["sample world (small CPU)", "diffrec ml-1m (tuned)"])],
    "reverse": [("step slider", "slider", "rv_step", "spread"),
                ("axis range", "radio", "rv_scope", "all")],
    "compare": [("metric", "radio", "cmp_metric", "all")],
    "knowledge_graph": [("step slider", "slider", "kg_step", "spread")],
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

_SIG = """(key) => { const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  const svg = gd && gd.querySelector('.main-svg'); return svg ? svg.innerHTML : null; }"""

# installed before a key press: records, per chart, the first animation frame at which its SVG differs from before
_WATCH = """([keys, sigSrc, capRe, timeoutMs]) => {
  const sig = eval(sigSrc), before = {}, seen = {};
  for (const k of keys) before[k] = sig(k);
  const re = new RegExp(capRe);
  const t0 = performance.now();
  window.__t0 = t0;
  window.__watch = new Promise(resolve => {
    function tick() {
      const now = performance.now();
      for (const k of keys) {
        if (k in seen) continue;
        const s = sig(k);
        if (s !== null && s !== before[k]) seen[k] = now - t0;
      }
      if (!('caption' in seen) && Array.from(document.querySelectorAll('[data-testid=stMarkdownContainer] p'))
            .some(p => re.test(p.textContent))) seen.caption = now - t0;
      if (Object.keys(seen).length === keys.length + 1 || now - t0 > timeoutMs) resolve(seen);
      else requestAnimationFrame(tick);
    }
    requestAnimationFrame(tick);
  });
}"""

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


def browser_runs(cold_runs: int, moves: int, options=()) -> dict:
    from playwright.sync_api import sync_playwright

    out = {"cold": [], "warm_load": None, "slider": None}
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

                # the reverse page: key presses on the step slider, time until the figures show the new step
                ctx, page = _new_page(browser)
                page.goto(server.url + "/reverse")
                keys = ["rv_vectors", "rv_bump", "rv_metrics"]
                for k in keys:
                    page.locator(f".st-key-{k} .js-plotly-plot .main-svg .trace").first.wait_for(
                        state="attached", timeout=120_000)
                page.evaluate(_SETTLED, [0, 1000])
                slider = page.get_by_role("slider", name="reverse step")
                n = int(slider.get_attribute("max"))
                value = int(slider.get_attribute("value"))
                slider.focus()
                sig_cost = page.evaluate(f"() => {{ const s = {_SIG}; const t = performance.now(); "
                                         f"for (const k of {json.dumps(keys)}) s(k); return performance.now() - t; }}")
                runs_before = len(server.runs())
                recs, direction = [], -1 if value > 1 else 1
                for _ in range(moves):
                    if not 1 <= value + direction <= n:
                        direction = -direction
                    value += direction
                    cpu0 = _cpu_split(server.proc.pid)
                    page.evaluate(_WATCH, [keys, _SIG, f"^At step {value} of {n}\\b", 20_000])
                    slider.press("ArrowLeft" if direction < 0 else "ArrowRight")
                    seen = page.evaluate("window.__watch")
                    page.get_by_test_id("stMarkdown").locator(
                        "strong", has_text=f"Reverse step · t = {n + 1 - value}").wait_for(timeout=20_000)
                    t0 = page.evaluate("window.__t0")
                    msgs = [m - t0 for m in page.evaluate(_SETTLED, [t0, 400])]
                    cpu1 = _cpu_split(server.proc.pid)
                    missing = [k for k in keys + ["caption"] if k not in seen]
                    recs.append({"step": value, "figure_ms": seen.get("rv_vectors"),
                                 "all_ms": None if missing else max(seen.values()), "missing": missing,
                                 "first_message_ms": msgs[0] if msgs else None,
                                 "last_message_ms": msgs[-1] if msgs else None, "messages": len(msgs),
                                 "cpu_server_ms": 1000 * (cpu1[0] - cpu0[0]),
                                 "cpu_browser_ms": 1000 * (cpu1[1] - cpu0[1])})
                runs = server.runs()[runs_before:]
                fig = [r["figure_ms"] for r in recs if r["figure_ms"] is not None]
                allv = [r["all_ms"] for r in recs if r["all_ms"] is not None]
                last = [r["last_message_ms"] for r in recs if r["last_message_ms"] is not None]
                first = [r["first_message_ms"] for r in recs if r["first_message_ms"] is not None]
                p = lambda v, q: pct(v, q) if v else None   # noqa: E731
                out["slider"] = {"moves": recs, "signature_cost_ms": sig_cost,
                                 "figure_p50_ms": p(fig, 50), "figure_p95_ms": p(fig, 95),
                                 "all_p50_ms": p(allv, 50), "all_p95_ms": p(allv, 95),
                                 "first_message_p50_ms": p(first, 50), "last_message_p50_ms": p(last, 50),
                                 "last_message_p95_ms": p(last, 95),
                                 "cpu_server_p50_ms": statistics.median(r["cpu_server_ms"] for r in recs),
                                 "cpu_browser_p50_ms": statistics.median(r["cpu_browser_ms"] for r in recs),
                                 "incomplete": sum(1 for r in recs if r["missing"]),
                                 "server_runs": runs,
                                 "server_run_wall_p50_ms": p([r[0] for r in runs], 50),
                                 "server_run_wall_p95_ms": p([r[0] for r in runs], 95),
                                 "server_run_cpu_p50_ms": p([r[1] for r in runs], 50)}
                ctx.close()
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
    if br and br.get("slider"):
        sl = br["slider"]
        n = len(sl["moves"])
        L.append(f"| (b) reverse · key press → step figure redrawn, browser, p50 / p95 of {n} | "
                 f"{sl['figure_p50_ms']:.0f} / {sl['figure_p95_ms']:.0f} ms | | |")
        if sl["all_p50_ms"] is not None:
            L.append(f"| (b) reverse · key press → caption + all 3 step charts redrawn, p50 / p95 | "
                     f"{sl['all_p50_ms']:.0f} / {sl['all_p95_ms']:.0f} ms | | |")
        if sl["last_message_p50_ms"] is not None:
            L.append(f"| (b) reverse · key press → first / last server message (p50; last p95) | "
                     f"{sl['first_message_p50_ms']:.0f} / {sl['last_message_p50_ms']:.0f} ms "
                     f"({sl['last_message_p95_ms']:.0f}) | | |")
        if sl.get("server_run_wall_p50_ms") is not None:
            runs = sl["server_runs"]
            gc_on = (res.get("gc") or {}).get("enabled", True)
            L.append(f"| (b) reverse · real server, step-slider fragment run "
                     f"{'incl. post-script GC' if gc_on else '(post-script GC off)'}: wall p50 / p95 "
                     f"of {len(runs)} (thread CPU p50) | {sl['server_run_wall_p50_ms']:.0f} / "
                     f"{sl['server_run_wall_p95_ms']:.0f} ms ({sl['server_run_cpu_p50_ms']:.0f}) | "
                     f"< {WARM_RERUN_TARGET_MS:.0f} ms | "
                     f"{verdict(sl['server_run_wall_p50_ms'] < WARM_RERUN_TARGET_MS)} |")
        L.append(f"| (b) reverse · CPU per move: server / chromium (median) | {sl['cpu_server_p50_ms']:.0f} / "
                 f"{sl['cpu_browser_p50_ms']:.0f} CPU-ms | | |")
        if sl["incomplete"]:
            L.append(f"| (b) reverse · moves where a view did not change within 20 s | {sl['incomplete']} | 0 "
                     f"| FAIL |")
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
    ap.add_argument("--moves", type=int, default=18, help="slider moves in the browser (p50/p95; >= 10)")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold-server starts measured (fresh server each)")
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
        res["browser"] = browser_runs(max(1, a.cold_runs), max(10, a.moves), a.server_opt)
    res["load"]["end"] = load()
    print(report(res))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
        print(f"\nwritten: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
