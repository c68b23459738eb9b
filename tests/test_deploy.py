"""deploy/: the nginx config that run_replicas.sh writes is valid for nginx and proxies websockets with sticky
sessions; bad arguments are refused; and (slow) two real replicas behind nginx keep a browser on one replica."""
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "run_replicas.sh"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx)")


def run(args, tmp_path, **env):
    e = dict(os.environ, RUN_DIR=str(tmp_path / "run"), **env)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=e, timeout=60)


@pytest.mark.parametrize("args, message", [
    (["0"], "N must be a number"),
    (["two"], "N must be a number"),
    (["2", "80"], "ports must be 1024..65535"),
    (["2", "8601"], "one of the replicas' ports"),
])
def test_bad_arguments_are_refused_before_anything_starts(args, message, tmp_path):
    r = run(args, tmp_path)
    assert r.returncode == 2 and message in r.stderr
    assert not (tmp_path / "run" / "replicas.pids").exists()


@needs_nginx
def test_check_writes_a_config_nginx_accepts(tmp_path):
    r = run(["--check", "3", "9001"], tmp_path, BASE_PORT="8701")
    assert r.returncode == 0, r.stderr
    conf = (tmp_path / "run" / "nginx.conf").read_text()
    assert not any("@" in line.split("#")[0] for line in conf.splitlines())      # every field filled
    servers = [line.strip() for line in conf.splitlines() if line.strip().startswith("server 127.0.0.1:")]
    assert servers == ["server 127.0.0.1:8701;", "server 127.0.0.1:8702;", "server 127.0.0.1:8703;"]
    assert "listen 127.0.0.1:9001;" in conf
    # websockets: HTTP/1.1 and the Upgrade handshake; Host with its port (Streamlit's origin check)
    for line in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                 "proxy_set_header Connection $connection_upgrade;", "proxy_set_header Host $http_host;"):
        assert line in conf
    # sticky: a consistent hash of the cookie (or, for a new browser, of a fresh id that the cookie then carries)
    assert "hash $sticky_key consistent;" in conf and "diffrec_replica=$sticky_key" in conf
    assert not (tmp_path / "run" / "replicas.pids").exists()        # --check starts nothing


def _free_ports(n):
    """A first port of n consecutive free loopback ports: the load test's own search (bounded tries)."""
    import sys
    sys.path.insert(0, str(REPO / "benchmarks"))
    from load_test import free_base_port
    try:
        return free_base_port(n)
    except RuntimeError:
        pytest.skip("no free loopback ports")


def _get(url, cookie=None):
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
        jar = [c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or []]
        return r.headers.get("X-Replica"), "; ".join(jar)


@needs_nginx
@pytest.mark.slow
def test_two_replicas_behind_nginx_keep_each_browser_on_one_replica(tmp_path):
    websockets_sync = pytest.importorskip("websockets.sync.client")
    base = _free_ports(3)                       # the front on the third of three consecutive free ports
    front = base + 2
    run_dir, pids = tmp_path / "run", []
    proc = subprocess.Popen(["bash", str(SCRIPT), "2", str(front)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, RUN_DIR=str(run_dir), BASE_PORT=str(base)))
    try:
        for _ in range(480):                    # bounded: 120 s
            if (run_dir / "ready").exists() or proc.poll() is not None:
                break
            time.sleep(0.25)
        assert (run_dir / "ready").exists(), proc.stdout.read1().decode() if proc.poll() is not None else "not ready"
        url = f"http://127.0.0.1:{front}/"
        first = [_get(url) for _ in range(20)]  # 20 new browsers: spread over both replicas
        assert {r for r, _ in first} == {f"127.0.0.1:{base}", f"127.0.0.1:{base + 1}"}
        for replica, cookie in first[:4]:       # a browser with its cookie always reaches its replica
            assert "diffrec_replica=" in cookie
            assert all(_get(url, cookie)[0] == replica for _ in range(5))
            with websockets_sync.connect(f"ws://127.0.0.1:{front}/_stcore/stream", subprotocols=["streamlit"],
                                         additional_headers={"Cookie": cookie}, open_timeout=10) as ws:
                assert ws.response.headers.get("X-Replica") == replica
        pids = [int(line.split()[1]) for line in (run_dir / "replicas.pids").read_text().splitlines()]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for pid in pids:                            # the script stopped what it started
        assert not Path(f"/proc/{pid}").exists() or b"streamlit" not in Path(f"/proc/{pid}/cmdline").read_bytes()
