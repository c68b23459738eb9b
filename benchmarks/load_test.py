"""Load test: one app server, N concurrent sessions stepping through the reverse page, on loopback.

    python benchmarks/load_test.py                       # 20 sessions for 60 s (about 1.5 min with the start)
    python benchmarks/load_test.py --sessions 5 --duration 20 --json runs/load_test.json

What it does. It starts one ``python -m streamlit run app.py`` (headless, 127.0.0.1, a free port, file watcher
off) and polls ``/_stcore/health``. Then N clients connect to ``/_stcore/stream`` and speak Streamlit's own
websocket protocol (the protobuf ``BackMsg`` / ``ForwardMsg`` of the installed Streamlit), as the browser does: each
opens the reverse page (``page_name="reverse"``), waits for the run to finish, then repeatedly moves the
``reverse step`` slider to another step, sending the slider's new value with the slider's fragment id (so, as in
the browser, only the stepping fragment reruns), and waits for the ``rv_vectors`` figure of the new step. Between
moves a client "thinks" for ``--think`` seconds (a student clicking, not a script hammering). All loops are
bounded in count (``--max-moves``) and time (``--duration``; every wait has ``--timeout``). First, one session
alone steps for ``--baseline`` seconds on the same server (this also warms its caches): the floor that the p95
under load is compared with, measured in the same run, since this machine's other work inflates every time.

Why websocket clients and not 20 browser pages: this machine has 2 shared CPU cores, and 20 headless chromium
pages (one renderer process each, Plotly redrawing four figures per step) would measure the browsers' CPU
contention, not the server. The clients here exercise exactly the server side of a browser session (same
messages, same fragment reruns, same figure payloads); what they leave out is the browser's own drawing time
(measured separately for one browser by ``benchmarks/app_speed.py``).

Figures printed: sessions that connected, moves done, errors (timeouts, disconnects, app exceptions shown on the
page), the latency from a slider move to the updated figure (p50 / p95 / max), the server's resident memory (RSS
of the server process from /proc, sampled every 0.25 s: at start, after the first page views, peak, end), and the
load average (on a shared machine every wall time is inflated by whatever else runs).
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
                elif et == "slider" and el.slider.id.endswith("-rv_step"):
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

    async def run(self):
        import websockets
        from streamlit.proto.BackMsg_pb2 import BackMsg

        st = self.stats
        try:
            async with websockets.connect(self.url, subprotocols=["streamlit"], max_size=2 ** 26,
                                          open_timeout=self.args.timeout) as ws:
                st["connected"] += 1
                back = BackMsg()
                back.rerun_script.query_string = ""
                back.rerun_script.page_name = "reverse"
                t0 = time.monotonic()
                await ws.send(back.SerializeToString())
                first = await self._run_until_finished(ws, "rv_vectors", t0)
                if first is None or self.slider is None:
                    raise RuntimeError("the reverse page did not draw its step slider and figure")
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
                        self.errors.append(f"moved to step {target}, the page shows step {self.slider[4]}")
                    else:
                        st["latency_s"].append(lat)
                        st["moves"] += 1
                    await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.args.think)
        except (OSError, asyncio.TimeoutError, TimeoutError, RuntimeError) as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        except Exception as e:                              # noqa: BLE001 - a websocket close, a bad frame
            self.errors.append(f"{type(e).__name__}: {e}")
        st["errors"].extend(f"session {self.idx}: {e}" for e in self.errors)


async def drive(args, port: int, pid: int, sessions: int) -> dict:
    stats = {"connected": 0, "moves": 0, "latency_s": [], "first_view_s": [], "errors": [], "rss_mb": []}
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    stop = asyncio.Event()

    async def sample():
        while not stop.is_set():                            # ends with the sessions (bounded by them)
            stats["rss_mb"].append((time.monotonic(), rss_mb(pid)))
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
    ap.add_argument("--baseline", type=float, default=15.0,
                    help="first, one session alone for this many seconds (the floor the load is compared with); "
                         "0 = skip")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        import websockets  # noqa: F401
    except ImportError:
        print("needs the `websockets` package (it comes with the dev requirements)")
        return 2

    port = free_port()
    logdir = Path(tempfile.mkdtemp(prefix="diffrec_load_"))
    log = logdir / "streamlit.log"
    load0 = os.getloadavg()
    proc = start_server(port, log)
    try:
        health_s = wait_healthy(proc, f"http://127.0.0.1:{port}")
        rss_idle = rss_mb(proc.pid)
        base = None
        if args.baseline > 0:           # the floor: one session alone on the same (then warm) server
            one = argparse.Namespace(**{**vars(args), "duration": args.baseline})
            base = asyncio.run(drive(one, port, proc.pid, 1))
        rss_start, cpu0 = rss_mb(proc.pid), cpu_s(proc.pid)
        stats = asyncio.run(drive(args, port, proc.pid, args.sessions))
        rss_end, cpu1 = rss_mb(proc.pid), cpu_s(proc.pid)
        alive = proc.poll() is None
    except Exception as e:                                  # noqa: BLE001 - report, with the server's log
        print(f"load test failed: {e}\n--- server log ---\n{log.read_text(errors='replace')[-3000:]}")
        return 1
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    load1 = os.getloadavg()
    lat = stats["latency_s"]
    rss = [r for _, r in stats["rss_mb"]]
    first_views = stats["first_view_s"]
    out = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "sessions": args.sessions, "duration_s": args.duration, "think_s": args.think,
        "connected": stats["connected"], "moves": stats["moves"], "errors": len(stats["errors"]),
        "error_samples": stats["errors"][:10],
        "move_to_figure_ms": {"p50": 1000 * percentile(lat, 0.5), "p95": 1000 * percentile(lat, 0.95),
                              "max": 1000 * max(lat) if lat else float("nan"), "n": len(lat)},
        "first_view_s": {"p50": percentile(first_views, 0.5), "max": max(first_views) if first_views else None},
        "server_rss_mb": {"idle": rss_idle,
                          "peak_baseline": max((r for _, r in base["rss_mb"]), default=None) if base else None,
                          "start": rss_start, "peak": max(rss) if rss else None, "end": rss_end,
                          "samples": len(rss)},
        "server_cpu_s": cpu1 - cpu0,
        "baseline_one_session_ms": None if base is None else {
            "p50": 1000 * percentile(base["latency_s"], 0.5), "p95": 1000 * percentile(base["latency_s"], 0.95),
            "n": len(base["latency_s"]), "errors": len(base["errors"])},
        "server_alive_at_end": alive, "health_s": health_s, "wall_s": stats["wall_s"],
        "loadavg_before": load0, "loadavg_after": load1, "cpus": os.cpu_count(),
    }
    print(f"load test: {args.sessions} websocket sessions × {args.duration:.0f} s on the reverse page "
          f"(think {args.think:.1f} s), server healthy after {health_s:.1f} s")
    print(f"  connected {out['connected']}/{args.sessions}, moves {out['moves']} "
          f"({out['moves'] / max(stats['wall_s'], 1e-9):.1f} per second), errors {out['errors']}, "
          f"server alive at the end: {alive}")
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
    r = out["server_rss_mb"]
    print(f"  server RSS: {r['idle']:.0f} MiB idle after start, "
          + (f"{r['peak_baseline']:.0f} MiB peak with one session, " if r["peak_baseline"] else "")
          + f"{r['start']:.0f} MiB before the load, peak {r['peak']:.0f} MiB under load, {r['end']:.0f} MiB at the "
          f"end ({r['samples']} samples)")
    print(f"  server CPU time during the test: {out['server_cpu_s']:.1f} s over {stats['wall_s']:.0f} s of wall "
          f"time ({out['server_cpu_s'] / max(stats['wall_s'], 1e-9):.2f} cores busy on average)")
    print(f"  load average before {load0[0]:.2f}, after {load1[0]:.2f} on {os.cpu_count()} CPUs")
    for e in out["error_samples"]:
        print("  error:", e)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if out["errors"] == 0 and out["connected"] == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
