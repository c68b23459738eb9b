"""Uploaded interactions files: every format, the report, and every way an upload can be wrong (size, bytes that
are not text, unknown encodings, malformed rows) - each a clear error that names the user's file and line."""
from __future__ import annotations

import gzip
import io
import pickle
import sys
import zipfile

import numpy as np
import pytest

from diffrec_core import upload as U
from diffrec_core.upload import UploadError, load_upload

CSV = "user,item,timestamp\n" + "\n".join(
    f"u{u},i{(u * 3 + j) % 9},{946684800 + 86400 * (u * 10 + j)}" for u in range(6) for j in range(4)) + "\n"


def test_csv_report_counts_and_time_span():
    up = load_upload("mine.csv", CSV.encode())
    r = up.report
    assert (r["users"], r["interactions"]) == (6, 24)
    assert r["items"] == len({(u * 3 + j) % 9 for u in range(6) for j in range(4)})
    assert r["density"] == pytest.approx(24 / (6 * r["items"]))
    assert r["time_span"] == [946684800, 946684800 + 86400 * 53]
    assert r["time_span_text"] == "2000-01-01 … 2000-02-23"
    assert r["per_user"] == {"min": 4, "median": 4.0, "max": 4}
    assert up.fmt == "csv" and up.encoding == "utf-8" and up.log.name == "mine"
    assert up.log.meta["source"] == "upload: mine.csv"


def test_formats_by_name_and_by_content():
    udata = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t302\t5\t881250950\n"
    assert load_upload("u.data", udata.encode()).fmt == "movielens-100k"
    assert load_upload("whatever", udata.encode()).fmt == "movielens-100k"          # sniffed: 4 numeric tab fields
    dat = "1::2::3::978300760\n1::3::3::978300761\n2::2::4::978300762\n"
    up = load_upload("ratings.dat", dat.encode())
    assert up.fmt == "movielens-1m" and up.report["ratings"] and up.report["interactions"] == 3
    assert load_upload("x.txt", b"1::2::3::9\n1::3::3::9\n2::2::4::9\n").fmt == "movielens-1m"   # by content
    with pytest.raises(UploadError, match=r"x\.csv line 1: expected 2 or 3 fields separated by commas, got 1"):
        load_upload("x.csv", b"1;2\n1;3\n2;2\n")          # by name a CSV: ';' is not a separator
    inter = "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t3\t4\n2\t2\t5\n"
    up = load_upload("a.inter", inter.encode())
    assert up.fmt == "recbole" and up.report["time_span"] == [3, 5]
    plain = load_upload("data.csv", b"1,2\n1,3\n2,2\n2,5\n")
    assert plain.report["time_span"] is None and "no timestamps" in plain.report["time_span_text"]


@pytest.mark.parametrize("name,text,pattern", [
    ("x.csv", "user,item\n1,2\n1\n2,3\n", r"x\.csv line 3: expected 2 fields separated by commas, got 1"),
    ("u.data", "1\t2\t3\t4\n1\t2\tfive\t4\n", r"u\.data line 2: expected a number rating, got 'five'"),
    ("r.dat", "1::2::3::97830\n1::3::3\n", r"r\.dat line 2: expected 4 fields separated by '::', got 3"),
    ("a.inter", "user_id\titem_id\n1\t2\n", r"a\.inter line 1: expected a typed RecBole header"),
    ("t.csv", "user,item,timestamp\n1,2,5\n1,3,yesterday-ish\n", r"t\.csv line 3: expected a timestamp"),
])
def test_malformed_rows_name_the_line_and_what_was_expected(name, text, pattern):
    with pytest.raises(UploadError, match=pattern) as e:
        load_upload(name, text.encode())
    assert "diffrec_upload_" not in str(e.value) and "/tmp" not in str(e.value)     # never a temporary path


def test_size_cap_is_checked_before_reading():
    with pytest.raises(UploadError, match="upload limit is 1,000 bytes"):
        load_upload("big.csv", b"1,2\n" * 1000, max_bytes=1000)
    assert load_upload("ok.csv", b"1,2\n1,3\n2,2\n", max_bytes=1000).report["interactions"] == 3


def test_encodings_utf8_bom_latin1_and_unknown():
    text = "user,item\nAnna,Amélie\nBo,Café\nBo,Amélie\n"
    assert load_upload("a.csv", b"\xef\xbb\xbf" + text.encode()).encoding == "utf-8"
    up = load_upload("a.csv", text.encode("latin-1"))
    assert up.encoding == "latin-1" and any("Latin-1" in n for n in up.notes)
    assert sorted(up.log.meta["item_ids"]) == ["Amélie", "Café"]                     # decoded, not mangled
    with pytest.raises(UploadError, match="UTF-16"):
        load_upload("a.csv", text.encode("utf-16"))                                     # with a BOM
    with pytest.raises(UploadError, match="UTF-16 text without a byte order mark"):
        load_upload("a.csv", text.encode("utf-16-le"))
    with pytest.raises(UploadError, match=r"unknown text encoding - line 2 is not UTF-8 \(byte 0x81\)"):
        load_upload("a.csv", b"user,item\n1,\x81\x02\n2,\x90\n")


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os
        return (os.mkdir, (self.path,))


def test_binary_files_are_named_and_never_opened(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(UploadError, match="pickle"):
        load_upload("data.csv", pickle.dumps(_Evil(str(target))))
    assert not target.exists()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ratings.csv", CSV)
    with pytest.raises(UploadError, match="zip archive"):
        load_upload("data.zip", buf.getvalue())
    with pytest.raises(UploadError, match="gzip"):
        load_upload("data.csv.gz", gzip.compress(CSV.encode()))
    with pytest.raises(UploadError, match="binary file"):
        load_upload("data.bin", bytes(range(256)) * 4)
    npy = io.BytesIO()
    np.save(npy, np.zeros((3, 2), np.int64))
    with pytest.raises(UploadError, match="NumPy"):
        load_upload("train_list.npy", npy.getvalue())


def test_empty_and_too_small_uploads():
    with pytest.raises(UploadError, match="empty"):
        load_upload("e.csv", b"  \n\n")
    with pytest.raises(UploadError, match="too few"):
        load_upload("one.csv", b"1,2\n")
    with pytest.raises(UploadError, match="unknown format"):
        load_upload("a.csv", b"1,2\n1,3\n", fmt="parquet")


def test_file_name_from_the_client_is_never_a_path():
    up = load_upload("../../etc/passwd.csv", b"1,2\n1,3\n2,2\n")
    assert up.log.name == "passwd" and up.log.meta["source"] == "upload: passwd.csv"


def test_recbole_ml100k_is_found_without_importing_recbole(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "recbole", raising=False)
    if U.recbole_ml100k() is None:                            # not installed here: a fake package proves the lookup
        folder = tmp_path / "recbole" / "dataset_example" / "ml-100k"
        folder.mkdir(parents=True)
        (tmp_path / "recbole" / "__init__.py").write_text("raise ImportError('recbole must not be imported')\n")
        (folder / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        assert U.recbole_ml100k() == folder
    assert "recbole" not in sys.modules
