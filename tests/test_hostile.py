"""Hostile input: every file, link and command-line value a user controls, generated here (nothing large is
committed), each refused with the project's own exception type and a message that names what is wrong - and
nothing is allocated, unpickled or hung on before the check. Uploads (diffrec_core.upload), checkpoints
(diffrec_core.checkpoint and the Lab's zips), trajectory files (ui.export), the Lab's budget (diffrec_core.limits),
every page's links (views/url_state.py) and the command line (diffrec_core.__main__.main)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import struct
import time
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from diffrec_core import checkpoint, limits
from diffrec_core import lab_train as L
from diffrec_core.checkpoint import CheckpointError
from diffrec_core.pipeline import instantiate, make_config
from diffrec_core.upload import UploadError, load_upload, safe_name

from toy import toy_split

SPLIT = toy_split()
GOOD = "".join(f"{u},{(u * 7 + j) % 30}\n" for u in range(40) for j in range(5))     # 40 users x 30 items


def _torch_save() -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)                  # a zip holding data.pkl
    return buf.getvalue()


def _object_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.array([{"x": 1}], dtype=object))
    return buf.getvalue()


def _zip(files: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return buf.getvalue()


def _rows(fmt) -> bytes:
    return "".join(fmt(u, (u * 7 + j) % 30, j) for u in range(40) for j in range(5)).encode()


# ------------------------------------------------------------------------------------------------ uploads
ZIP_MSG = r"is a zip archive \(a PyTorch \.pt/\.pth checkpoint is one too\), not a text file of interactions"
BAD_UPLOADS = {
    "empty": ("e.csv", b"", r"^e\.csv is empty$"),
    "header-only": ("h.csv", b"user,item,timestamp\n", r"h\.csv: the file has a header line but no data lines"),
    "binary": ("b.csv", bytes(range(256)) * 8, r"b\.csv looks like a binary file \(it holds NUL bytes\)"),
    "utf16-bom": ("u.csv", GOOD.encode("utf-16"), r"u\.csv is UTF-16/UTF-32 encoded \(it starts with a byte order"),
    "utf16-no-bom": ("u.csv", GOOD.encode("utf-16-le"), r"u\.csv looks like UTF-16 text without a byte order mark"),
    "nul-bytes": ("n.csv", GOOD.encode()[:50] + b"\x00" + GOOD.encode()[50:], r"n\.csv looks like a binary file"),
    "nan-timestamps": ("t.csv", b"user,item,timestamp\n" + _rows(lambda u, i, j: f"{u},{i},nan\n"),
                       r"t\.csv line 2: expected a timestamp \(number or date\), got 'nan'"),
    "inf-timestamps": ("t.csv", b"user,item,timestamp\n" + _rows(lambda u, i, j: f"{u},{i},inf\n"),
                       r"t\.csv: some timestamps are not finite numbers of at most 64 bits"),
    "1e30-timestamps": ("t.csv", b"user,item,timestamp\n" + _rows(lambda u, i, j: f"{u},{i},{10 ** 30}\n"),
                        r"t\.csv: some timestamps are not finite numbers of at most 64 bits"),
    "zip-bomb": ("bomb.zip", _zip({"a.csv": b"0" * (20 * 2 ** 20)}), r"bomb\.zip " + ZIP_MSG),
    "nested-archive": ("n.zip", _zip({"inner.zip": _zip({"a.csv": GOOD})}), r"n\.zip " + ZIP_MSG),
    "torch-save-as-csv": ("m.csv", _torch_save(), r"m\.csv " + ZIP_MSG),
    "torch-save-as-npz": ("m.npz", _torch_save(), r"m\.npz " + ZIP_MSG),
    "torch-save-as-safetensors": ("m.safetensors", _torch_save(), r"m\.safetensors " + ZIP_MSG),
    "object-npz-as-csv": ("o.csv", _object_npz(), r"o\.csv " + ZIP_MSG),
    "object-npz-as-zip": ("o.zip", _object_npz(), r"o\.zip " + ZIP_MSG),
    "safetensors-as-csv": ("s.csv", st_save({"a": torch.zeros(3)}), r"s\.csv looks like a binary file"),
    "safetensors-header-2^63": ("s.safetensors", struct.pack("<Q", 2 ** 63) + b"{}",
                                r"s\.safetensors looks like UTF-16 text without a byte order mark"),
    "gzip": ("g.csv", b"\x1f\x8b\x08\x00" + b"\x00" * 20, r"g\.csv is a gzip-compressed file"),
    "items-beyond-lab": ("wide.csv", "".join(f"0,{i}\n1,{i}\n" for i in range(20_001)).encode(),
                         r"wide\.csv has 20,001 items; the Lab trains on at most 20,000 items"),
    "cells-beyond-lab": ("cells.csv", "".join(f"{i % 3000},{i}\n{(i + 1) % 3000},{i}\n"
                                              for i in range(17_000)).encode(),
                         r"cells\.csv has 51,000,000 users x items; the Lab trains on at most 50,000,000"),
}


@pytest.mark.parametrize("name,raw,pattern", list(BAD_UPLOADS.values()), ids=list(BAD_UPLOADS))
def test_bad_uploads_are_refused_with_a_message(name, raw, pattern):
    with pytest.raises(UploadError, match=pattern):
        load_upload(name, raw)


@pytest.mark.parametrize("case,name,raw,users,items", [
    ("latin-1", "l.csv", ("user,item\n" + "".join(f"Andr\xe9{u},caf\xe9{(u * 3 + j) % 9}\n" for u in range(8)
                                                  for j in range(3))).encode("latin-1"), 8, 9),
    ("formula-first-cell", "f.csv", ('=HYPERLINK("http://x"),1\n' + GOOD).encode(), 41, 30),
    ("negative-ids", "neg.csv", "".join(f"{-u},{-((u * 7 + j) % 30)}\n" for u in range(1, 41)
                                        for j in range(5)).encode(), 40, 30),
    ("float-ids", "fl.csv", _rows(lambda u, i, j: f"{u}.5,{i}.25\n"), 40, 30),
    ("2^63-ids", "big.csv", _rows(lambda u, i, j: f"{2 ** 63 + u},{i}\n"), 40, 30),
    ("date-timestamps", "d.csv", b"user,item,timestamp\n" + _rows(lambda u, i, j: f"{u},{i},2020-01-0{j + 1}\n"),
     40, 30),
])
def test_odd_but_valid_uploads_load_as_opaque_ids(case, name, raw, users, items):
    """Ids are tokens (renumbered in order), never parsed as numbers: negative, fractional, 2^63 and formula ids
    load as they are; Latin-1 is read as MovieLens' own files are."""
    up = load_upload(name, raw)
    assert (up.report["users"], up.report["items"]) == (users, items)
    if case == "latin-1":
        assert up.encoding == "latin-1" and "café0" in up.log.meta["item_ids"]
    if case == "date-timestamps":
        assert up.report["time_span_text"] == "2020-01-01 … 2020-01-05"


@pytest.mark.parametrize("client,shown", [
    ("<img src=x onerror=alert(1)>.csv", "_img src_x onerror_alert(1)_.csv"),
    ("![a](http://e.example).csv", "e.example).csv"),          # a '/' ends the path: only its last part
    ("..\\..\\secret[x]`y`.csv", "secret_x__y_.csv"),
    ("a\x00b\x1bc.csv", "a_b_c.csv"),
    ("x" * 300 + ".csv", "x" * 60 + "…" + "x" * 15 + ".csv"),
])
def test_client_file_names_reach_pages_without_markup(client, shown):
    assert safe_name(client) == shown
    up = load_upload(client, GOOD.encode())
    assert up.log.meta["source"] == f"upload: {shown}"
    assert not set("<>[]`\x00\x1b") & set(up.log.meta["source"])


def test_formula_titles_are_defused_in_the_trajectory_csv():
    from ui import export as ex

    model = instantiate("pop", make_config("pop"), SPLIT.n_users, SPLIT.n_items)
    model.prepare(SPLIT)
    titles = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "plain"] + [f"t{i}" for i in range(SPLIT.n_items - 5)]
    text = ex.trajectory_csv(model.trajectory(SPLIT, [0], k=5), item_titles=titles).decode()
    cells = {line.split(",")[4] for line in text.splitlines()[1:6]}
    assert {"'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "plain"} <= cells


# ------------------------------------------------------------------------------------------------ checkpoints
def _parts(method="diffrec", **cfg):
    m = instantiate(method, make_config(method, "", cfg), SPLIT.n_users, SPLIT.n_items)
    state = {k: v.detach().contiguous().clone() for k, v in m.state_dict().items()}
    return state, json.loads(checkpoint.to_bytes(m, "toy")[1])


def _bytes(state, meta, sha=True):
    w = st_save({k: v.contiguous() for k, v in state.items()})
    if sha:
        meta = {**meta, "weights_sha256": hashlib.sha256(w).hexdigest()}
    return w, json.dumps(meta).encode()


def _edit_state(fn):
    def go():
        state, meta = _parts()
        fn(state)
        return _bytes(state, meta)
    return go


def _edit_meta(fn, method="diffrec"):
    def go():
        state, meta = _parts(method)
        fn(meta)
        return _bytes(state, meta)
    return go


def _set(d, path, v):
    for k in path[:-1]:
        d = d.setdefault(k, {})
    d[path[-1]] = v


def _first(state):
    return next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)


def _raw_weights(w_fn):
    def go():
        _, meta = _parts()
        meta.pop("weights_sha256")
        return w_fn(), json.dumps(meta).encode()
    return go


LAB_WEIGHTS = r"DiffRecConfig with 1,000 users x 500 items has 231 MB of weights; the Lab limit is 100 MB"
BAD_CHECKPOINTS = {
    "huge-dims": (_edit_meta(lambda m: _set(m, ["config", "dims"], [10 ** 7])),
                  r"DiffRecConfig with 120 users x 60 items has 4,997 MB of weights; the checkpoint limit is 512 MB"),
    "huge-steps": (_edit_meta(lambda m: _set(m, ["config", "steps"], 10 ** 8)),
                   r"DiffRecConfig\.steps = 100,000,000 is above the limit of 1,000 diffusion steps"),
    "huge-ddim-steps": (_edit_meta(lambda m: _set(m, ["config", "ddim_steps"], 10 ** 9), "diffurec"),
                        r"ddim_steps = 1,000,000,000 is above the limit"),
    "huge-n-items": (_edit_meta(lambda m: m.update(n_items=10 ** 9)), r"1,000,000,000 items: the checkpoint limit"),
    "n-users-not-int": (_edit_meta(lambda m: m.update(n_users="1e400")), r"n_users must be an integer"),
    "negative-lr": (_edit_meta(lambda m: _set(m, ["config", "lr"], -1.0)), r"DiffRecConfig\.lr must be >= 0"),
    "nan-weights": (_edit_state(lambda s: s[_first(s)].view(-1)[::7].fill_(float("nan"))),
                    r"the weights hold non-finite values \(NaN or inf"),
    "inf-weights": (_edit_state(lambda s: s[_first(s)].view(-1)[0:1].fill_(float("inf"))),
                    r"non-finite values .*: 1$"),
    "half-tensor": (_edit_state(lambda s: s.update({_first(s): s[_first(s)].half()})),
                    r"weight dtypes do not fit the model: .* is F16, the model needs F32"),
    "int8-tensor": (_edit_state(lambda s: s.update({_first(s): s[_first(s)].to(torch.int8)})), r"is I8, the model"),
    "float64-tensor": (_edit_state(lambda s: s.update({_first(s): s[_first(s)].double()})), r"is F64, the model"),
    "missing-tensor": (_edit_state(lambda s: s.pop(_first(s))), r"weights do not fit diffrec: missing \['"),
    "extra-tensor": (_edit_state(lambda s: s.update(evil=torch.zeros(3))), r"unexpected \['evil'\]"),
    "checksum-mismatch": (lambda: (lambda w, c: (w[:-4] + b"\x00\x00\x00\x00", c))(*_bytes(*_parts())),
                          r"checksum differs"),
    "safetensors-header-2^63": (_raw_weights(lambda: struct.pack("<Q", 2 ** 63) + b"{}" * 10),
                                r"its header claims 9,223,372,036,854,775,808 bytes"),
    "torch-save-as-safetensors": (_raw_weights(_torch_save), r"model\.safetensors is not a readable safetensors"),
    "object-npz-as-safetensors": (_raw_weights(_object_npz), r"model\.safetensors is not a readable safetensors"),
    "long-history": (_edit_meta(lambda m: _set(m, ["lab", "history"], [{"epoch": i, "loss": 1.0}
                                                                      for i in range(10_000)])),
                     r"lab\.history has 10,000 entries; the limit is 1,000"),
    "120-digit-seed": (_edit_meta(lambda m: _set(m, ["lab", "seed"], 10 ** 119)),
                       r"lab\.seed is a 120-digit number; numbers are limited to 64 bits"),
    "negative-seed": (_edit_meta(lambda m: _set(m, ["lab", "seed"], -5)),
                      r"lab\.seed must be an integer from 0 to 2\^63 - 1, got -5"),
    "nan-in-history": (_edit_meta(lambda m: _set(m, ["lab", "history"], [{"epoch": 1, "loss": float("nan")}])),
                       r"lab\.history\[0\]\.loss is nan \(numbers must be finite\)"),
    "markup-history-key": (_edit_meta(lambda m: _set(m, ["lab", "history"], [{"epoch": 1, "<a href=x>y</a>": 1}])),
                           r"lab\.history\[0\] has a key that is not a plain name"),
    "long-data-name": (_edit_meta(lambda m: m.update(data="x" * 10_000)),
                       r"data is a text of 10,000 characters; the limit is 200"),
    "control-chars-in-name": (_edit_meta(lambda m: m.update(data="a\x1b[31mb")), r"data holds control characters"),
    "config-not-object": (_edit_meta(lambda m: m.update(config=[1, 2])), r"'config' is not an object"),
    "deep-json": (lambda: (b"", b"[" * 100_000 + b"]" * 100_000), r"config\.json is not valid JSON"),
    "huge-config-json": (lambda: (b"", b" " * (checkpoint.MAX_CONFIG_BYTES + 1)), r"config\.json is 4\.2 MB"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_refused_before_allocating(case):
    make, pattern = BAD_CHECKPOINTS[case]
    w, c = make()
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=pattern):
        checkpoint.from_bytes(w, c, SPLIT.n_users, SPLIT.n_items if case != "huge-n-items" else None)
    assert time.perf_counter() - t0 < 5.0, "a check that should come before building took seconds"


def test_a_good_checkpoint_still_round_trips_with_its_lab_metadata():
    state, meta = _parts()
    meta["lab"] = {"seed": 2 ** 31 - 1, "preset": "ml-1m_noisy", "history": [{"epoch": 1, "loss": 0.5,
                                                                            "valid_recall@20": 0.1}]}
    model, back = checkpoint.from_bytes(*_bytes(state, meta), SPLIT.n_users, SPLIT.n_items)
    assert back["lab"]["seed"] == 2 ** 31 - 1
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_a_checkpoint_directory_is_size_checked_before_reading(tmp_path, monkeypatch):
    d = checkpoint.save(instantiate("pop", make_config("pop"), SPLIT.n_users, SPLIT.n_items), tmp_path / "ck")
    monkeypatch.setattr(checkpoint, "MAX_CONFIG_BYTES", 10)
    with pytest.raises(CheckpointError, match=r"config\.json is 0 MB; the limit is 0 MB"):
        checkpoint.load(d)


# ------------------------------------------------------------------------------------------------ Lab zips
@pytest.fixture(scope="module")
def sample():
    return L.LabData.sample()


def _diffrec_files(sample, **cfg):
    m = instantiate("diffrec", make_config("diffrec", "", cfg), 1000, 500)
    w, c = checkpoint.to_bytes(m, "sample")
    return {"model.safetensors": w, "config.json": c}


BAD_ZIPS = {
    "zip-bomb": (lambda s: _zip({"config.json": b"{" + b" " * (150 * 2 ** 20), "model.safetensors": b""}),
                 r"the checkpoint unpacks to 150 MB; the limit is 100 MB"),
    "many-entries": (lambda s: _zip({f"f{i}.txt": b"" for i in range(40)}), r"the zip holds 40 entries"),
    "nested-archive": (lambda s: _zip({"model.safetensors": _zip({"model.safetensors": b"x"}),
                                       "config.json": _diffrec_files(s)["config.json"]}),
                       r"checksum differs"),
    "torch-pickle-inside": (lambda s: _zip({"archive/data.pkl": b"\x80\x04N.", "config.json": b"{}"}),
                            r"this zip holds a pickle"),
    "beyond-lab-weights": (lambda s: _zip(_lab_meta(s, dims=[60_000])),
                           LAB_WEIGHTS),
    "beyond-lab-pass-work": (lambda s: _zip(_lab_meta(s, dims=[20_000], steps=1000)),
                             r"one evaluation pass would be .* the Lab limit is 4e\+12"),
}


def _lab_meta(sample, **cfg):
    """A checkpoint zip whose config.json describes a model beyond the Lab's budget (weights never built)."""
    files = _diffrec_files(sample)
    meta = json.loads(files["config.json"])
    meta["config"].update(cfg)
    meta.pop("weights_sha256")
    files["config.json"] = json.dumps(meta).encode()
    return files


@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_bad_lab_checkpoint_zips(case, sample):
    make, pattern = BAD_ZIPS[case]
    with pytest.raises(L.LabError, match=pattern):
        L.read_checkpoint_zip(make(sample), sample)


# ------------------------------------------------------------------------------------------------ Lab budget
@pytest.mark.parametrize("kwargs,pattern", [
    (dict(overrides={"dims": "[60000]"}), LAB_WEIGHTS),
    (dict(overrides={"steps": "5000"}), r"DiffRecConfig\.steps = 5,000 is above the limit of 1,000"),
    (dict(overrides={"lr": "-0.1"}), r"DiffRecConfig\.lr must be >= 0, got -0\.1"),
    (dict(overrides={"batch_size": "0"}), r"DiffRecConfig\.batch_size must be >= 1, got 0"),
    (dict(overrides={"dropout": "1.5"}), r"DiffRecConfig\.dropout must be in \[0, 1\), got 1\.5"),
    (dict(epochs=10 ** 6), r"epochs = 1000000: the Lab trains 0 to 500 epochs"),
])
def test_lab_refuses_runs_beyond_its_budget_before_training(kwargs, pattern, sample):
    t0 = time.perf_counter()
    with pytest.raises(L.LabError, match=pattern):
        L.LabRun("diffrec", sample, **kwargs)
    assert time.perf_counter() - t0 < 5.0


def test_every_shipped_preset_fits_the_lab_on_ml1m_shapes():
    """The budget is derived from the largest presets: every Lab method's every preset fits at ML-1M's shape."""
    from diffrec_core import registry

    for m in L.lab_methods():
        spec = registry.get(m)
        for p in list(spec.presets) or ["sample"]:
            cfg = make_config(m, p if p in spec.presets else "")
            limits.check_model(spec.model_cls, cfg, 6040, 3706, limits.LAB)


# ------------------------------------------------------------------------------------------------ trajectories
def _good_traj() -> bytes:
    model = instantiate("pop", make_config("pop"), SPLIT.n_users, SPLIT.n_items)
    model.prepare(SPLIT)
    return model.trajectory(SPLIT, [0], k=5).to_npz_bytes()


def _traj_edit(fn):
    def go():
        z = dict(np.load(io.BytesIO(_good_traj()), allow_pickle=False))
        fn(z)
        buf = io.BytesIO()
        np.savez(buf, **z)
        return buf.getvalue()
    return go


BAD_TRAJECTORIES = {
    "pickle": (lambda: b"\x80\x04N.", r"this file is a Python pickle"),
    "torch-save": (_torch_save, r"not a trajectory file"),
    "object-array": (_object_npz, r"not a trajectory file"),
    "text": (lambda: GOOD.encode(), r"not a trajectory file: expected the NPZ"),
    "zip-bomb": (lambda: _zip({"states.npy": b"\x00" * (20 * 2 ** 20)}),
                 r"the trajectory unpacks to 20 MB; the limit is 8"),
    "missing-array": (_traj_edit(lambda z: z.pop("x0_hat")), r"trajectory file lacks arrays: x0_hat"),
}


@pytest.mark.parametrize("case", list(BAD_TRAJECTORIES))
def test_bad_trajectory_files(case):
    from diffrec_core.trajectory import TrajectoryFormatError
    from ui import export as ex

    make, pattern = BAD_TRAJECTORIES[case]
    with pytest.raises(TrajectoryFormatError, match=pattern):
        ex.load_trajectory(make(), max_bytes=2 ** 20 if case == "zip-bomb" else ex.MAX_TRAJECTORY_BYTES)


# ------------------------------------------------------------------------------------------------ command line
@pytest.mark.parametrize("args,line", [
    (["--set", "steps=0"], "error: T must be >= 1, got 0"),
    (["--set", "noise_scale=-1"], "error: noise scale must be >= 0"),
    (["--set", "noise_min=0.02", "noise_max=0.01"], "error: linear_var needs noise_min < noise_max"),
    (["--set", "lr=-1"], "error: DiffRecConfig.lr must be >= 0, got -1.0"),
    (["--epochs", "-1"], "error: --epochs must be >= 0, got -1"),
    (["--set", "epochs=-3"], "error: DiffRecConfig.epochs must be >= 0, got -3"),
    (["--device", "tpu9"], "error: unknown device 'tpu9'; use cpu, cuda, cuda:N or auto"),
])
def test_cli_refuses_bad_settings_with_one_line(args, line):
    from diffrec_core.__main__ import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["train", "--method", "diffrec", "--data", "sample", "--quiet"] + args)
    lines = err.getvalue().strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(line), lines


def test_cli_evaluate_refuses_a_checkpoint_beyond_the_budget(tmp_path):
    from diffrec_core.__main__ import main

    d = checkpoint.save(instantiate("diffrec", make_config("diffrec"), 1000, 500), tmp_path / "ck", "sample")
    meta = json.loads((d / "config.json").read_text())
    meta["config"]["dims"] = [10 ** 6]
    (d / "config.json").write_text(json.dumps(meta))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["evaluate", "--checkpoint", str(d), "--data", "sample", "--device", "cpu"])
    lines = err.getvalue().strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "of weights; the checkpoint limit is 512 MB" in lines[0], lines


# ------------------------------------------------------------------------------------------------ links
def _pages():
    from views import page_params as PP

    files = {"knowledge graph": "knowledge_graph"}
    return [(files.get(k, k), sorted(v)) for k, v in PP.PAGE_PARAMS.items()]


@pytest.mark.parametrize("bad", ["abc", "2.5", "9" * 40, "`[x](http://e)`"], ids=["text", "fraction", "huge",
                                                                                   "markup"])
@pytest.mark.parametrize("page,keys", _pages(), ids=[p for p, _ in _pages()])
def test_every_bad_link_value_is_named_with_its_fallback(page, keys, bad):
    """One notice per link names every bad parameter, its value (shortened, no markup) and the value in effect."""
    from test_pages_app import no_exception
    from test_url_state import app_on, toasts
    from views.url_state import shown

    query = {k: bad for k in keys + ["user", "seed"]}
    at = app_on(page, **query)
    no_exception(at)
    note = toasts(at)
    for k in query:
        v = at.query_params.get(k)
        accepted = v is not None and v == bad
        if accepted:
            continue                                    # a value valid for this parameter (e.g. a fraction)
        assert f"`{k}={shown(bad)}` is not" in note, (k, note)
        rest = note.split(f"`{k}={shown(bad)}` is not", 1)[1].split("`", 1)[0]
        expect = f"using {v}." if v is not None else "ignored."
        assert expect in rest, (k, v, rest)
    assert "](" not in note.replace("`", "") or "?[x](http://e)?" in note   # markup only inside a code span


# ------------------------------------------------------------------------------------------------ sessions
def test_one_sessions_uploads_and_runs_are_invisible_to_another():
    from test_pages_app import messages, no_exception, page

    a = page("lab").run()
    up = next(u for u in a.get("file_uploader") if u.proto.id.endswith("lab_upload"))
    up.set_value(("mine.csv", GOOD.encode(), "text/csv")).run()
    assert any("mine.csv loaded" in s for s in messages(a, "success"))
    did = a.session_state["lab_upload_result"]["id"]
    run = L.LabRun("pop", L.LabData.sample())
    run.step()
    rid = L.RUNS.put(run, "run", "pop")
    a.session_state["lab_runs"] = [rid]
    a.run()
    assert len(a.radio(key="lab_active").options) == 2                    # A sees its run
    b = page("lab")
    b.session_state["lab_dataset"] = did                                 # B knows A's ids (a leaked link)
    b.session_state["lab_active"] = rid
    b.session_state["lab_current"] = rid
    b.run()
    no_exception(b)
    assert all("mine.csv" not in o for o in b.selectbox(key="lab_dataset").options)
    assert b.selectbox(key="lab_dataset").value == "sample"
    assert not [r for r in b.get("radio") if r.key == "lab_active"]       # no models of this session
    from views import _lab_state                                         # noqa: F401 (B's view of the store)
    assert L.DATASETS.get(did) is not None and L.RUNS.get(rid) is not None   # still held for A
