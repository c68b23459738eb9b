"""Load test: one app server, N concurrent sessions stepping through the reverse page, on loopback.

    python benchmarks/load_test.py                       # 20 sessions for 60 s (about 1.5 min with the start)
    python benchmarks/load_test.py --sessions 5 --duration 20 --json runs/load_test.json
    python benchmarks/load_test.py --replicas 2 --sessions 60     # through nginx in front of 2 replicas

With ``--replicas N`` it starts ``deploy/run_replicas.sh`` instead (N Streamlit replicas on loopback ports, nginx in
front with cookie-sticky sessions; needs nginx) and drives the sessions through the front: each session first
loads the page (``GET /``) and keeps the sticky cookie nginx sets, as a browser does, then opens its websocket with
that cookie. The front's ``X-Replica`` header says which replica answered; a websocket that lands on another
replica than its page is counted as an error (a broken sticky session). Figures per replica: its sessions and
its RSS (idle, before the load, peak, end). At the end the script stops everything it started.

What it does. It starts one ``python -m streamlit run app.py`` (headless, 127.0.0.1, a free port, file watcher
off) and polls ``/_stcore/health``. Then N clients connect to ``/_stcore/stream`` and speak Streamlit's own
websocket protocol (the protobuf ``BackMsg`` / ``ForwardMsg`` of the installed Streamlit), as the browser does: each
opens the reverse page (``page_name="reverse"``), waits for the run to finish, then repeatedly moves the page's
``T′`` slider (``--widget``, key ``rv_tprime``: how far the history is noised before denoising) to another value and
waits for the ``rv_vectors`` figure of the new run. Stepping through a run's steps happens in the browser (the
figure holds every step as a frame) and sends nothing to the server; a change of a run setting is what reruns
the page on the server: a new (cached per setting, shared by sessions) trajectory and a new stepper figure. A
widget inside a fragment is sent with its fragment id, as the browser does, so only that fragment reruns. Between
moves a client "thinks" for ``--think`` seconds (a student clicking, not a script hammering). All loops are
bounded in count (``--max-moves``) and time (``--duration``; every wait has ``--timeout``). First, one session
alone steps for ``--baseline`` seconds on the same server (this also warms its caches): the floor that the p95
under load is compared with, measured in the same run, since this machine's other work inflates every time.

Why websocket clients and not 20 browser pages: this machine has 2 shared CPU cores, and 20 headless chromium
pages (one renderer process each, Plotly redrawing four figures per step) would measure the browsers' CPU
contention, not the server. The clients here exercise exactly the server side of a browser session (same
messages, same reruns, same figure payloads); what they leave out is the browser's own drawing time
(measured separately for one browser by ``benchmarks/app_speed.py``).

Figures printed: sessions that connected, moves done, errors (timeouts, disconnects, app exceptions shown on the
page), the latency from a slider move to the updated figure (p50 / p95 / max), the server's resident memory (RSS
of the server process from /proc, sampled every 0.25 s: at start, after the first page views, peak, end), and the
load average (on a shared machine every wall time is inflated by whatever else runs).

Every loop is bounded (sessions by --max-moves and --duration, waits by --timeout, the start by a deadline), and
the script stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
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

HEALTH_DEADLINE_S = 90.0
REPLICAS_DEADLINE_S = 240.0      # N replicas start one after another's imports on a shared 2-core machine
STICKY_COOKIE = "diffrec_replica"     # deploy/nginx.conf.template


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (VmRSS from /proc; 0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def start_server(port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))


def free_base_port(n: int) -> int:
    """A first port of ``n`` consecutive free loopback ports (bounded tries)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - n)
        try:
            socks = []
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports found")


def start_replicas(n: int, port: int, run_dir: Path, log: Path) -> subprocess.Popen:
    """deploy/run_replicas.sh: n replicas and nginx on ``port`` (loopback only)."""
    env = dict(os.environ, RUN_DIR=str(run_dir), BASE_PORT=str(free_base_port(n)), LISTEN="127.0.0.1",
               PYTHON=sys.executable, HEALTH_WAIT_S=str(int(REPLICAS_DEADLINE_S)), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        return subprocess.Popen(["bash", str(REPO / "deploy" / "run_replicas.sh"), str(n), str(port)], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def replica_pids(run_dir: Path) -> dict:
    """{"127.0.0.1:port": pid} of the replicas run_replicas.sh started."""
    out = {}
    for line in (run_dir / "replicas.pids").read_text().splitlines():
        if line.strip():
            port, pid = line.split()
            out[f"127.0.0.1:{port}"] = int(pid)
    return out


def wait_ready(proc: subprocess.Popen, run_dir: Path) -> float:
    t0 = time.monotonic()
    for _ in range(int((REPLICAS_DEADLINE_S + 30) / 0.25)):      # bounded
        if (run_dir / "ready").exists():
            return time.monotonic() - t0
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    raise RuntimeError("the replicas and nginx did not become ready")


def stop(proc: subprocess.Popen, leftovers=()) -> None:
    """Stop a process started here (run_replicas.sh stops its own children on SIGTERM); then any of the
    ``leftovers`` (pids it started) still alive, by pid."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    for pid in leftovers:           # only a process that is still one of ours (a pid is never reused blindly)
        try:
            if b"streamlit" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, 15)
        except OSError:
            pass


def wait_healthy(proc: subprocess.Popen, base: str) -> float:
    t0 = time.monotonic()
    for _ in range(int(HEALTH_DEADLINE_S / 0.25)):             # bounded: at most HEALTH_DEADLINE_S
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not become healthy within {HEALTH_DEADLINE_S:.0f} s")


def percentile(xs, q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ------------------------------------------------------------------------------------------------ one session
class Session:
    """One simulated browser session on the reverse page."""

    def __init__(self, idx: int, url: str, args, stats: dict):
        self.idx, self.url, self.args, self.stats = idx, url, args, stats
        self.replica = None         # through the front: the replica that served the page
        self.rng = random.Random(1000 + idx)
        self.slider = None          # (widget id, fragment id, min, max, value)
        self.errors: list = []

    async def _run_until_finished(self, ws, want_chart: str | None, t_send: float):
        """Read ForwardMsgs until this run finishes; returns the time the wanted chart arrived (or None)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        got = None
        deadline = time.monotonic() + self.args.timeout
        while True:                                          # bounded by the deadline below
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no script_finished within {self.args.timeout} s")
            raw = await asyncio.wait_for(ws.recv(), timeout=left)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "delta":
                d = msg.delta
                if d.WhichOneof("type") != "new_element":
                    continue
                el = d.new_element
                et = el.WhichOneof("type")
                if et == "exception":
                    self.errors.append("app exception: " + el.exception.message[:200])
                elif et == "slider" and el.slider.id.endswith("-" + self.args.widget):
                    s = el.slider
                    self.slider = (s.id, d.fragment_id, int(s.min), int(s.max),
                                   int(s.value[0]) if s.value else int(s.default[0]))
                elif et == "plotly_chart" and want_chart and el.plotly_chart.id.endswith("-" + want_chart):
                    if got is None:
                        got = time.monotonic() - t_send
            elif kind == "script_finished":
                return got
            elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
                self.errors.append("script compilation exception")
                return got

    def _load_page(self) -> dict:
        """GET / through the front, as a browser's first request: the sticky cookie nginx sets and the replica
        that answered (X-Replica). Returns the headers for the websocket."""
        page = "http" + self.url[2:].split("/_stcore/")[0] + "/"
        with urllib.request.urlopen(page, timeout=self.args.timeout) as r:
            r.read()
            self.replica = r.headers.get("X-Replica")
            cookies = [c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or []]
        mine = [c for c in cookies if c.startswith(STICKY_COOKIE + "=")]
        if not mine or not self.replica:
            raise RuntimeError("the front set no sticky cookie or no X-Replica header")
        return {"Cookie": "; ".join(cookies)}

    async def run(self):
        import websockets
        from streamlit.proto.BackMsg_pb2 import BackMsg

        st = self.stats
        try:
            headers = await asyncio.to_thread(self._load_page) if self.args.replicas else None
            async with websockets.connect(self.url, subprotocols=["streamlit"], max_size=2 ** 26,
                                          open_timeout=self.args.timeout, additional_headers=headers) as ws:
                if self.args.replicas:
                    on = ws.response.headers.get("X-Replica")
                    if on != self.replica:
                        raise RuntimeError(f"sticky session broken: page from {self.replica}, websocket on {on}")
                    st["replica_sessions"][self.replica] = st["replica_sessions"].get(self.replica, 0) + 1
                st["connected"] += 1
                back = BackMsg()
                back.rerun_script.query_string = ""
                back.rerun_script.page_name = "reverse"
                t0 = time.monotonic()
                await ws.send(back.SerializeToString())
                first = await self._run_until_finished(ws, "rv_vectors", t0)
                if first is None or self.slider is None:
                    raise RuntimeError(f"the reverse page did not draw its {self.args.widget} slider and its "
                                       f"figure")
                st["first_view_s"].append(first)
                t_end = time.monotonic() + self.args.duration  # each session steps for --duration seconds
                for _ in range(self.args.max_moves):         # bounded in count ...
                    if time.monotonic() >= t_end:             # ... and in time
                        break
                    wid, frag, lo, hi, cur = self.slider
                    target = self.rng.choice([v for v in range(lo, hi + 1) if v != cur] or [cur])
                    msg = BackMsg()
                    cs = msg.rerun_script
                    cs.page_name = "reverse"
                    cs.fragment_id = frag
                    ws_ = cs.widget_states.widgets.add()
                    ws_.id = wid
                    ws_.double_array_value.data.append(float(target))
                    t_send = time.monotonic()
                    await ws.send(msg.SerializeToString())
                    lat = await self._run_until_finished(ws, "rv_vectors", t_send)
                    if lat is None:
                        self.errors.append("a move finished without a new figure")
                    elif self.slider[4] != target:
                        self.errors.append(f"moved {self.args.widget} to {target}, the page shows {self.slider[4]}")
                    else:
                        st["latency_s"].append(lat)
                        st["moves"] += 1
                    await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.args.think)
        except (OSError, asyncio.TimeoutError, TimeoutError, RuntimeError) as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        except Exception as e:                              # noqa: BLE001 - a websocket close, a bad frame
            self.errors.append(f"{type(e).__name__}: {e}")
        st["errors"].extend(f"session {self.idx}: {e}" for e in self.errors)


async def drive(args, port: int, pids: dict, sessions: int) -> dict:
    """``pids``: {label: pid} of the server processes whose RSS is sampled (one server, or every replica)."""
    stats = {"connected": 0, "moves": 0, "latency_s": [], "first_view_s": [], "errors": [],
             "rss_mb": {k: [] for k in pids}, "replica_sessions": {}}
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():                            # ends with the sessions (bounded by them)
            for k, pid in pids.items():
                stats["rss_mb"][k].append((time.monotonic(), rss_mb(pid)))
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.25)
            except asyncio.TimeoutError:
                pass

    sampler = asyncio.create_task(sample())
    t_start = time.monotonic()
    tasks = []
    for i in range(sessions):                               # staggered arrival over --ramp seconds
        tasks.append(asyncio.create_task(Session(i, url, args, stats).run()))
        await asyncio.sleep(args.ramp / max(sessions, 1))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.ramp + args.timeout + args.duration + 2 * args.timeout)
    stop.set()
    await sampler
    stats["wall_s"] = time.monotonic() - t_start
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of stepping per session")
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between a session's moves (s)")
    ap.add_argument("--ramp", type=float, default=5.0, help="sessions arrive spread over this many seconds")
    ap.add_argument("--timeout", type=float, default=60.0, help="longest wait for one page run (s)")
    ap.add_argument("--max-moves", type=int, default=1000, help="most moves per session")
    ap.add_argument("--widget", default="rv_tprime", help="key of the reverse page's integer slider each move sets")
    ap.add_argument("--baseline", type=float, default=15.0,
                    help="first, one session alone for this many seconds (the floor the load is compared with); "
                         "0 = skip")
    ap.add_argument("--replicas", type=int, default=0, metavar="N",
                    help="N >= 1: start deploy/run_replicas.sh (N replicas, nginx in front) and drive the sessions "
                         "through nginx; 0 (default): one server, no proxy")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.replicas < 0 or args.sessions < 1:
        ap.error("--replicas must be >= 0 and --sessions >= 1")
    try:
        import websockets  # noqa: F401
    except ImportError:
        print("needs the `websockets` package (it comes with the dev requirements)")
        return 2

    port = free_port()
    logdir = Path(tempfile.mkdtemp(prefix="diffrec_load_"))
    log = logdir / ("run_replicas.log" if args.replicas else "streamlit.log")
    load0 = os.getloadavg()
    pids: dict = {}
    if args.replicas:
        proc = start_replicas(args.replicas, port, logdir, log)
    else:
        proc = start_server(port, log)
    try:
        if args.replicas:
            health_s = wait_ready(proc, logdir)
            pids = replica_pids(logdir)
        else:
            health_s = wait_healthy(proc, f"http://127.0.0.1:{port}")
            pids = {"server": proc.pid}
        rss_idle = {k: rss_mb(pid) for k, pid in pids.items()}
        base = None
        if args.baseline > 0:           # the floor: one session alone on the same (then warm) server
            one = argparse.Namespace(**{**vars(args), "duration": args.baseline})
            base = asyncio.run(drive(one, port, pids, 1))
        rss_start = {k: rss_mb(pid) for k, pid in pids.items()}
        cpu0 = sum(cpu_s(pid) for pid in pids.values())
        stats = asyncio.run(drive(args, port, pids, args.sessions))
        rss_end = {k: rss_mb(pid) for k, pid in pids.items()}
        cpu1 = sum(cpu_s(pid) for pid in pids.values())
        alive = proc.poll() is None and all(rss_mb(pid) > 0 for pid in pids.values())
    except Exception as e:                                  # noqa: BLE001 - report, with the server's log
        more = "".join(f"\n--- {f.name} ---\n{f.read_text(errors='replace')[-1500:]}"
                       for f in sorted(logdir.glob("replica-*.log")) + sorted(logdir.glob("error.log")))
        print(f"load test failed: {e}\n--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}{more}")
        return 1
    finally:
        stop(proc, pids.values() if args.replicas else ())
    load1 = os.getloadavg()
    lat = stats["latency_s"]
    first_views = stats["first_view_s"]

    def memory(k):
        rss = [r for _, r in stats["rss_mb"][k]]
        return {"idle": rss_idle[k],
                "peak_baseline": max((r for _, r in base["rss_mb"][k]), default=None) if base else None,
                "start": rss_start[k], "peak": max(rss) if rss else None, "end": rss_end[k], "samples": len(rss)}

    out = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "sessions": args.sessions, "duration_s": args.duration, "think_s": args.think, "replicas": args.replicas,
        "connected": stats["connected"], "moves": stats["moves"], "errors": len(stats["errors"]),
        "error_samples": stats["errors"][:10],
        "move_to_figure_ms": {"p50": 1000 * percentile(lat, 0.5), "p95": 1000 * percentile(lat, 0.95),
                              "max": 1000 * max(lat) if lat else float("nan"), "n": len(lat)},
        "first_view_s": {"p50": percentile(first_views, 0.5), "max": max(first_views) if first_views else None},
        ("replica_rss_mb" if args.replicas else "server_rss_mb"):
            {k: memory(k) for k in pids} if args.replicas else memory("server"),
        "replica_sessions": stats["replica_sessions"] if args.replicas else None,
        "server_cpu_s": cpu1 - cpu0,
        "baseline_one_session_ms": None if base is None else {
            "p50": 1000 * percentile(base["latency_s"], 0.5), "p95": 1000 * percentile(base["latency_s"], 0.95),
            "n": len(base["latency_s"]), "errors": len(base["errors"])},
        "server_alive_at_end": alive, "health_s": health_s, "wall_s": stats["wall_s"],
        "loadavg_before": load0, "loadavg_after": load1, "cpus": os.cpu_count(),
    }
    where = (f"nginx in front of {args.replicas} replicas (sticky cookie), all ready after {health_s:.1f} s"
             if args.replicas else f"server healthy after {health_s:.1f} s")
    print(f"load test: {args.sessions} websocket sessions × {args.duration:.0f} s on the reverse page "
          f"(think {args.think:.1f} s), {where}")
    print(f"  connected {out['connected']}/{args.sessions}, moves {out['moves']} "
          f"({out['moves'] / max(stats['wall_s'], 1e-9):.1f} per second), errors {out['errors']}, "
          f"{'all replicas' if args.replicas else 'server'} alive at the end: {alive}")
    m = out["move_to_figure_ms"]
    print(f"  slider move -> updated figure: p50 {m['p50']:.0f} ms, p95 {m['p95']:.0f} ms, max {m['max']:.0f} ms "
          f"over {m['n']} moves")
    if first_views:
        print(f"  first page view of each session: median {statistics.median(first_views):.2f} s, "
              f"max {max(first_views):.2f} s")
    b = out["baseline_one_session_ms"]
    if b:
        print(f"  floor, one session alone on the warm server before: p50 {b['p50']:.0f} ms, p95 {b['p95']:.0f} ms "
              f"over {b['n']} moves ({b['errors']} errors) -> under load p95 is {m['p95'] / b['p95']:.1f}x the floor")
    for k in pids:
        r = memory(k)
        who = f"replica {k} ({out['replica_sessions'].get(k, 0)} sessions)" if args.replicas else "server"
        print(f"  {who} RSS: {r['idle']:.0f} MiB idle after start, "
              + (f"{r['peak_baseline']:.0f} MiB peak with one session, " if r["peak_baseline"] else "")
              + f"{r['start']:.0f} MiB before the load, peak {r['peak']:.0f} MiB under load, {r['end']:.0f} MiB at "
              f"the end ({r['samples']} samples)")
    print(f"  {'replicas' if args.replicas else 'server'} CPU time during the test: {out['server_cpu_s']:.1f} s over "
          f"{stats['wall_s']:.0f} s of wall time ({out['server_cpu_s'] / max(stats['wall_s'], 1e-9):.2f} cores busy "
          f"on average)")
    print(f"  load average before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} CPUs")
    for e in out["error_samples"]:
        print("  error:", e)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if out["errors"] == 0 and out["connected"] == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
