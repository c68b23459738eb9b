"""AppTest of the entry file: navigation, the shared sidebar, every page reachable; plus helpers the other
page tests import (chart lookup by key with Plotly's base64 arrays decoded, edge-case splits)."""
import base64
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT = 60


def page(name: str) -> AppTest:
    """A page file run on its own (the sidebar is not drawn; pages fall back to the sidebar's defaults)."""
    return AppTest.from_file(f"../views/{name}.py", default_timeout=TIMEOUT)


def _decode(obj):
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            shape = obj.get("shape")
            if isinstance(shape, str):
                shape = [int(v) for v in shape.split(",")]
            return arr.reshape(shape) if shape else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def charts(at) -> dict:
    """{chart key: decoded Plotly spec} of every st.plotly_chart on the page."""
    out = {}
    for el in at.get("plotly_chart"):
        key = el.proto.id.rsplit("-", 1)[-1]
        out[key] = _decode(json.loads(el.proto.spec))
    return out


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n" + "\n".join(c.value for c in at.caption)


def messages(at, kind: str) -> list:
    return [e.value for e in getattr(at, kind)]


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def masked_split(split, user: int, rows=("valid", "test")):
    """A copy of the split in which ``user``'s rows of the named matrices are empty."""
    keep = np.ones(split.n_users)
    keep[user] = 0
    D = sp.diags(keep)
    changes = {}
    for name in rows:
        m = getattr(split, name)
        if m is None:
            continue
        if name == "train_order":           # explicit zeros mean "position 0": drop only this user's entries
            lil = m.copy().tolil()
            lil.rows[user], lil.data[user] = [], []
            changes[name] = sp.csr_matrix(lil)
        else:
            mm = sp.csr_matrix(D @ m)
            mm.eliminate_zeros()
            changes[name] = mm
    return dataclasses.replace(split, **changes)


@pytest.fixture
def fresh_caches():
    import streamlit as st
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_app_runs_with_navigation_and_shared_sidebar():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    no_exception(at)
    for key in ("dataset", "method", "user", "seed"):
        assert key in at.session_state, key
    assert at.selectbox(key="method").options[:2] == ["DiffRec", "T-DiffRec"]
    assert at.title[0].value.startswith("Diffusion models")          # Home is the default page
    # the sidebar's user summary follows the user
    before = [c.value for c in at.sidebar.caption]
    at.number_input(key="user").set_value(7).run()
    no_exception(at)
    assert [c.value for c in at.sidebar.caption] != before


def test_every_registered_page_is_reachable():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    for path, title in (("views/forward.py", "Forward noising"), ("views/reverse.py", "Reverse denoising"),
                        ("views/compare.py", "Compare methods"), ("views/home.py", "Diffusion models")):
        at.switch_page(path).run()
        no_exception(at)
        assert at.title[0].value.startswith(title), (path, at.title[0].value)
        assert at.sidebar.number_input(key="user")                        # the shared sidebar is on every page


def test_sidebar_random_user_and_clamped_user():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["user"] = 10 ** 6                                    # a stale / bad value
    at.run()
    no_exception(at)
    assert at.number_input(key="user").value == 999
    at.button(key="random_user").click().run()
    no_exception(at)
    assert 0 <= at.number_input(key="user").value < 1000


def test_pages_never_import_umap():
    """umap-learn costs seconds to import and tens of seconds on a first fit (design.md): pages use precomputed
    maps only. Checked in a clean process, since other tests may import umap in this one."""
    import subprocess
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from streamlit.testing.v1 import AppTest\n"
            "for p in ('forward', 'reverse', 'embeddings'):\n"
            "    at = AppTest.from_file(%r + '/views/' + p + '.py', default_timeout=120).run()\n"
            "    assert not at.exception, at.exception\n"
            "print('umap' in sys.modules)\n") % (str(REPO), str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_page_settings_survive_a_round_trip_through_another_page():
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at.switch_page("views/forward.py").run()
    at.selectbox(key="fw_preset").set_value("visible noise (teaching)").run()
    at.session_state["_fw_step_value"] = 3                 # the step a link opens on (stepping is the figure's)
    at.run()
    at.switch_page("views/reverse.py").run()
    at.radio(key="rv_scope").set_value("whole trajectory").run()
    at.switch_page("views/forward.py").run()
    no_exception(at)
    assert at.selectbox(key="fw_preset").value == "visible noise (teaching)"
    slider = charts(at)["fw_hero"]["layout"]["sliders"][0]
    assert slider["steps"][slider["active"]]["label"] == "3" and at.number_input(key="fw_T").value == 10
    at.switch_page("views/reverse.py").run()
    assert at.radio(key="rv_scope").value == "whole trajectory"
