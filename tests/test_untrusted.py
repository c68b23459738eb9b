"""The one home of the checks on outside bytes (diffrec_core.untrusted) and of the versioned NPZ files
(diffrec_core.versioned_npz): each refusal raises the caller's error with the caller's words, and nothing is
unpickled or inflated before the check."""
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from diffrec_core import untrusted, versioned_npz
from diffrec_core.errors import DiffRecError


class Refused(DiffRecError, ValueError):
    pass


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_pickles_and_binary_formats_are_named_by_their_first_bytes():
    for protocol in (2, 3, 4, 5):
        assert untrusted.is_pickle(pickle.dumps({"a": 1}, protocol=protocol))
    assert not untrusted.is_pickle(b"user,item\n1,2\n") and not untrusted.is_pickle(b"\x80")
    assert untrusted.binary_kind(pickle.dumps(1)) == "a Python pickle"
    assert untrusted.binary_kind(_zip({"a": b"x"})).startswith("a zip archive")
    assert untrusted.binary_kind(b"\x1f\x8b\x08rest") == "a gzip-compressed file"
    assert untrusted.binary_kind(b"1,2\n") is None
    with pytest.raises(Refused, match="^no pickles here$"):
        untrusted.check_not_pickle(pickle.dumps(1), Refused, "no pickles here")
    untrusted.check_not_pickle(b"1,2", Refused, "unused")


def test_size_checks_name_the_size_and_the_limit_and_keep_braces_in_names():
    with pytest.raises(Refused, match=r"^\{x\}\.csv is 2,000 bytes; the upload limit is 1,000 bytes\. Do this$"):
        untrusted.check_size(2000, 1000, Refused, "{x}.csv", "the upload limit", ". Do this")
    with pytest.raises(Refused, match=r"the file is 3\.0 MB; the limit is 1\.0 MB"):
        untrusted.check_size(3 * 2 ** 20, 2 ** 20, Refused, "the file")
    untrusted.check_size(1000, 1000, Refused, "at the limit")
    untrusted.check_size(10 ** 12, None, Refused, "no limit")


def test_zip_entries_refuse_bombs_crowds_pickles_and_non_zips():
    kw = dict(not_zip="not a zip", max_unpacked=2 ** 20, unpacked_what="the upload")
    with pytest.raises(Refused, match="^not a zip$"):
        untrusted.zip_entries(b"plain text", Refused, **kw)
    with pytest.raises(Refused, match=r"the upload unpacks to 5 MB; the limit is 1 MB"):
        untrusted.zip_entries(_zip({"big": b"\x00" * (5 * 2 ** 20)}), Refused, **kw)   # read from the directory
    with pytest.raises(Refused, match="the zip holds 5 entries; three at most"):
        untrusted.zip_entries(_zip({f"f{i}": b"" for i in range(5)}), Refused, max_entries=3,
                              entries_note="three at most", **kw)
    torch_like = _zip({"archive/data.pkl": b"\x80\x04N.", "archive/version": b"3"})
    with pytest.raises(Refused, match="^pickled$"):
        untrusted.zip_entries(torch_like, Refused, pickles="pickled", **kw)
    assert len(untrusted.zip_entries(torch_like, Refused, **kw)) == 2       # the caller did not ask
    infos = untrusted.zip_entries(_zip({"run/model.safetensors": b"w", "run/": b"", "config.json": b"{}"}),
                                  Refused, **kw)
    assert untrusted.member_names(infos) == {"model.safetensors": "run/model.safetensors",
                                             "config.json": "config.json"}


def test_versioned_npz_round_trip_is_deterministic_and_never_unpickles():
    arrays = {"a": np.arange(6).reshape(2, 3), "b": np.linspace(0, 1, 4, dtype=np.float32)}
    odd = versioned_npz.read(versioned_npz.write({"schema": "x", "when": {1, 2}}, arrays), Refused, "no")[0]
    assert odd["when"] == "{1, 2}"                                       # what JSON cannot hold is written as text
    again = versioned_npz.write({"schema": "x", "version": 1}, arrays)
    assert again == versioned_npz.write({"schema": "x", "version": 1}, arrays)          # a pure function
    header, back = versioned_npz.read(again, Refused, "not an x file")
    assert header == {"schema": "x", "version": 1} and set(back) == {"a", "b"}
    np.testing.assert_array_equal(back["a"], arrays["a"])
    assert back["b"].dtype == np.float32
    with pytest.raises(Refused, match="^not an x file: "):
        versioned_npz.read(b"not an npz", Refused, "not an x file")
    obj = io.BytesIO()
    np.savez(obj, __header__=np.frombuffer(json.dumps({"schema": "x"}).encode(), dtype=np.uint8),
             a=np.array([object()], dtype=object))
    with pytest.raises(Refused, match="object array"):
        versioned_npz.read(obj.getvalue(), Refused, "not an x file")
    listed = io.BytesIO()
    np.savez(listed, __header__=np.frombuffer(b"[1, 2]", dtype=np.uint8))
    with pytest.raises(Refused, match="header is not a JSON object"):
        versioned_npz.read(listed.getvalue(), Refused, "not an x file")
