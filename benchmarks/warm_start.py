"""First visit of each page, with and without the app's background warm-up (views/_common.warm_caches).

    python benchmarks/warm_start.py                  # every page, about 3-5 minutes on a loaded 2-core machine
    python benchmarks/warm_start.py --pages reverse home

Each page runs twice, each time in a fresh Python process (a fresh server process holds no cache): *cold*, the
page's first ``AppTest.run()``; *warmed*, the same after ``warm_caches()`` has finished (what a visitor meets once
the warm-up thread that app.py starts has done its work), with the warm-up's own time printed beside it. Times are
wall seconds of the page run alone (streamlit's import is made before the clock starts). A page's own
``st.cache_*`` functions (those defined in the page file) are outside the warm-up's reach; their cost remains in
the warmed figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from streamlit.testing.v1 import AppTest
warm = None
if {warm!r}:
    from views import _common as C
    t = time.perf_counter(); C.warm_caches(); warm = time.perf_counter() - t
t = time.perf_counter()
at = AppTest.from_file({path!r}, default_timeout=300).run()
print("@@" + json.dumps({{"seconds": time.perf_counter() - t, "warm_up": warm,
                         "exceptions": [e.message for e in at.exception]}}))
"""


def first_visit(page: str, warm: bool) -> dict:
    code = _CHILD.format(repo=str(REPO), path=str(REPO / "views" / f"{page}.py"), warm=warm)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=900)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("@@")), None)
    return json.loads(line[2:]) if line else {"error": (r.stderr or r.stdout)[-400:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", nargs="*", help="pages of views/ (default: every page file)")
    ap.add_argument("--json", metavar="OUT", help="also write the figures to OUT")
    a = ap.parse_args(argv)
    pages = a.pages or sorted(p.stem for p in (REPO / "views").glob("*.py") if not p.stem.startswith("_")
                              and p.stem not in ("page_params", "url_state"))
    print(f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print("| page | first visit, cold (s) | first visit after warm-up (s) | warm-up (s) |\n|---|---|---|---|")
    rows = {}
    for page in pages:
        cold, warm = first_visit(page, False), first_visit(page, True)
        rows[page] = {"cold": cold, "warmed": warm}
        if "error" in cold or "error" in warm:
            print(f"| {page} | error: {(cold.get('error') or warm.get('error'))[-120:]!r} | | |")
            continue
        print(f"| {page} | {cold['seconds']:.2f} | {warm['seconds']:.2f} | {warm['warm_up']:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
