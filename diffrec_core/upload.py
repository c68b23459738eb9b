"""Validate and load an interactions file that a user uploads (the Lab's Data page), never trusting its bytes.

The app receives a file name and its bytes, not a path. This module checks what a browser upload can get wrong
*before* any parser sees it, then hands the file to the same loaders the command line uses
(``diffrec_core.data.loaders``), so an upload and ``--data PATH`` read a format identically:

1. **Size** - refused above ``max_bytes`` before decoding (a classroom server must not parse a 2 GB file).
2. **What the bytes are** - a pickle, a zip/gzip archive, a PyTorch checkpoint or any other binary file is named
   as such and refused; it is never unpickled or unpacked.
3. **Encoding** - UTF-8 (a BOM is dropped), else Latin-1 (MovieLens' ``movies.dat`` is Latin-1) provided the text
   holds no control characters, else a clear "unknown encoding" error. UTF-16/32 are recognised by their byte
   order mark or their NUL bytes and refused with how to convert them. The text is re-encoded as UTF-8.
4. **Format** - from the file name (``u.data``, ``ratings.dat``, ``*.inter``, ``*.csv``/``.tsv``/``.txt``) or, for
   another name, from the first line. Malformed rows raise the loaders' error, which names the line and what was
   expected; messages name the user's file, never a temporary path.

The result is an :class:`~diffrec_core.data.dataset.InteractionLog` plus a report (users, items, interactions,
density, time span) and notes (duplicates dropped, the encoding used, users too short to be evaluated).
"""
from __future__ import annotations

import importlib.util
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from . import limits, untrusted
from .data.dataset import DataFormatError, InteractionLog
from .data.loaders import load_dataset
from .errors import DiffRecError

MAX_UPLOAD_BYTES = 50 * 1024 ** 2       # 50 MB: ML-1M's ratings.dat is 24 MB
FORMATS = {
    "movielens-100k": "MovieLens u.data (user TAB item TAB rating TAB timestamp)",
    "movielens-1m": "MovieLens ratings.dat (user::item::rating::timestamp)",
    "recbole": "RecBole atomic .inter (typed header such as user_id:token item_id:token ...)",
    "csv": "CSV user,item[,timestamp] (header optional; tabs also accepted)",
}
# the file name each format is written under, so that the loaders' name-based detection picks the right reader
_CANONICAL = {"movielens-100k": "u.data", "movielens-1m": "ratings.dat", "recbole": "upload.inter",
              "csv": "upload.csv"}


class UploadError(DiffRecError, ValueError):
    """An uploaded file cannot be used; the message says what is wrong and, where possible, how to fix it."""


@dataclass
class Upload:
    """A validated, loaded upload: the log, its report and the notes worth showing."""

    log: InteractionLog
    report: dict
    fmt: str
    encoding: str
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ bytes and text
def decode(raw: bytes, name: str = "the file") -> tuple[str, str]:
    """(text, encoding) of an uploaded file, or :class:`UploadError` saying what the bytes are instead."""
    if not raw.strip():
        raise UploadError(f"{name} is empty")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or raw.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise UploadError(f"{name} is UTF-16/UTF-32 encoded (it starts with a byte order mark); save it as UTF-8 "
                          f"(e.g. `iconv -f UTF-16 -t UTF-8`) and upload it again")
    untrusted.check_not_pickle(raw, UploadError, f"{name} is a Python pickle. This app never unpickles uploaded "
                               f"files (a pickle can run code); upload the interactions as text (CSV "
                               f"user,item[,timestamp])")
    what = untrusted.binary_kind(raw)
    if what:
        raise UploadError(f"{name} is {what}, not a text file of interactions; unpack or export it as text "
                          f"(CSV user,item[,timestamp], u.data, ratings.dat or a RecBole .inter file)")
    head = raw[:65536]
    if b"\x00" in head:
        odd = head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
        what = "UTF-16 text without a byte order mark" if odd else "a binary file"
        raise UploadError(f"{name} looks like {what} (it holds NUL bytes), not UTF-8 or Latin-1 text; save the "
                          f"interactions as UTF-8 text and upload again")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        utf8_error = e
    text = raw.decode("latin-1")            # never fails: every byte is a Latin-1 character
    controls = [c for c in set(text) if (ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0]
    if controls:
        line = text.count("\n", 0, utf8_error.start) + 1
        raise UploadError(f"{name}: unknown text encoding - line {line} is not UTF-8 (byte "
                          f"0x{raw[utf8_error.start]:02x}) and the file holds control characters "
                          f"({', '.join(repr(c) for c in sorted(controls)[:3])}), so it is not Latin-1 either. "
                          f"Save it as UTF-8 and upload again")
    return text, "latin-1"


def sniff_format(name: str, text: str) -> str:
    """The format of an upload: by its file name where that is decisive, else by its first non-blank line."""
    low = name.lower()
    base = Path(low).name
    if base == "u.data":
        return "movielens-100k"
    if base.endswith(".dat") and "::" in text[:4096]:
        return "movielens-1m"
    if base.endswith(".inter"):
        return "recbole"
    if base.endswith((".csv", ".tsv")):
        return "csv"
    first = next((ln for ln in text[:65536].splitlines() if ln.strip()), "")
    if "::" in first:
        return "movielens-1m"
    if ":token" in first or ":float" in first:
        return "recbole"
    fields = first.split("\t")
    if len(fields) == 4 and all(f.strip().lstrip("-").replace(".", "", 1).isdigit() for f in fields):
        return "movielens-100k"
    return "csv"


# ------------------------------------------------------------------------------------------------ loading
_UNSAFE = re.compile(r"[^\w .()+\-]")


def safe_name(name) -> str:
    """The client's file name as shown on pages and in messages: its last path part only, every character other
    than letters, digits, space and ``. ( ) + - _`` replaced by ``_`` (no Markdown, HTML or control characters
    reach a page), at most 80 characters."""
    base = Path(str(name or "upload").replace("\\", "/")).name or "upload"
    base = _UNSAFE.sub("_", base).strip() or "upload"
    return base if len(base) <= 80 else base[:60] + "…" + base[-19:]


def check_lab_size(log: InteractionLog, name: str) -> None:
    """The Lab's data budget (``limits.LAB``, ``limits.LAB_MAX_CELLS``): users, items and users x items."""
    b = limits.LAB
    for what, n, cap in (("users", log.n_users, b.max_users), ("items", log.n_items, b.max_items),
                         ("users x items", log.n_users * log.n_items, limits.LAB_MAX_CELLS)):
        if n > cap:
            raise UploadError(f"{name} has {n:,} {what}; the Lab trains on at most {cap:,} {what} (a shared "
                              f"server's memory and time budget). Train on it from the command line: "
                              f"`python -m diffrec_core train --method diffrec --data PATH`")


def load_upload(name: str, raw: bytes, max_bytes: Optional[int] = MAX_UPLOAD_BYTES,
                min_rating: Optional[float] = None, fmt: Optional[str] = None) -> Upload:
    """Validate and load an uploaded interactions file. Raises :class:`UploadError` with a message for the user."""
    name = safe_name(name)                                    # never a path, markup or control characters
    untrusted.check_size(len(raw), max_bytes, UploadError, name, "the upload limit",
                         ". Train on larger data from the command line: "
                         "`python -m diffrec_core train --method diffrec --data PATH`")
    text, encoding = decode(raw, name)
    fmt = fmt or sniff_format(name, text)
    if fmt not in FORMATS:
        raise UploadError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="diffrec_upload_") as tmp:
        path = Path(tmp) / _CANONICAL[fmt]
        path.write_text(text, encoding="utf-8", newline="")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                log = load_dataset(str(path), max_bytes=None, min_rating=min_rating)
        except (DataFormatError, ValueError, KeyError, IndexError) as e:
            msg = str(e).replace(str(path), name).replace(str(tmp), "")
            msg = msg.replace(_CANONICAL[fmt], name, 1) if msg.startswith(_CANONICAL[fmt]) else msg
            raise UploadError(f"{msg} (read as {FORMATS[fmt]})") from e
        except (OverflowError, MemoryError, RecursionError, UnicodeError) as e:   # not seen in fuzzing; defensive
            raise UploadError(f"{name} could not be read as {FORMATS[fmt]}: {type(e).__name__}: {e}") from e
    ts = log.events["timestamp"].to_numpy() if "timestamp" in log.events else np.zeros(0, np.int64)
    if ts.dtype.kind == "i" and len(ts) and int(ts.min()) == np.iinfo(ts.dtype).min:      # what a cast makes of inf
        raise UploadError(f"{name}: some timestamps are not finite numbers of at most 64 bits (inf, NaN or beyond "
                          f"±9.2e18); use seconds since 1970 or dates (read as {FORMATS[fmt]})")
    caught = [w for w in caught if "encountered in cast" not in str(w.message)]
    log.name = Path(name).stem or "upload"
    log.meta["source"] = f"upload: {name}"
    notes = [f"read as {FORMATS[fmt]}, encoding {encoding}"]
    if encoding == "latin-1":
        notes.append("the file is not UTF-8; it was read as Latin-1 (as MovieLens' own files are)")
    notes += [str(w.message) for w in caught][:5]
    report = summarize(log)
    if report["interactions"] < 3 or log.n_users < 2 or log.n_items < 2:
        raise UploadError(f"{name} holds {report['interactions']} interactions of {log.n_users} user(s) and "
                          f"{log.n_items} item(s): too few to split into train / validation / test")
    check_lab_size(log, name)
    if report["users_under_3"]:
        notes.append(f"{report['users_under_3']} of {log.n_users} users have fewer than 3 interactions: they train "
                     f"but cannot all be validated and tested (the per-user 80/10/10 split keeps at least one "
                     f"training item)")
    if report["dropped_duplicates"]:
        notes.append(f"{report['dropped_duplicates']} repeated (user, item) pairs were dropped (the earliest kept)")
    return Upload(log=log, report=report, fmt=fmt, encoding=encoding, notes=notes)


def _when(ts: int) -> str:
    """Epoch seconds as a date where they plausibly are (1990..2100), else the raw number."""
    if 631152000 <= ts <= 4102444800:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
    return str(ts)


def _spread(counts: np.ndarray) -> dict:
    if not len(counts):
        return {"min": 0, "median": 0.0, "max": 0}
    return {"min": int(counts.min()), "median": float(np.median(counts)), "max": int(counts.max())}


def summarize(log: InteractionLog) -> dict:
    """Users, items, interactions, density, time span and per-user / per-item activity of a loaded log."""
    ev = log.events
    per_user = np.bincount(ev["user"].to_numpy(np.int64), minlength=log.n_users)
    per_item = np.bincount(ev["item"].to_numpy(np.int64), minlength=log.n_items)
    rep = {
        "name": log.name, "users": int(log.n_users), "items": int(log.n_items), "interactions": int(len(ev)),
        "density": float(log.density),
        "per_user": _spread(per_user), "per_item": _spread(per_item),
        "users_under_3": int((per_user < 3).sum()),
        "dropped_duplicates": int(log.meta.get("dropped_duplicates", 0)),
        "ratings": "rating" in ev,
        "kg_triples": int(len(log.kg)) if log.kg is not None else 0,
    }
    ts = ev["timestamp"].to_numpy(np.int64) if "timestamp" in ev else np.zeros(0, np.int64)
    # loaders use the row number as time where a file has no timestamps: 0, 1, 2, ... in file order
    file_order = len(ts) > 0 and ts[0] == 0 and bool(np.all(np.diff(ts) > 0)) and \
        int(ts[-1]) < len(ts) + rep["dropped_duplicates"]
    has_time = len(ts) > 0 and not file_order
    if has_time:
        lo, hi = int(ev["timestamp"].min()), int(ev["timestamp"].max())
        rep["time_span"] = [lo, hi]
        rep["time_span_text"] = f"{_when(lo)} … {_when(hi)}"
    else:
        rep["time_span"] = None
        rep["time_span_text"] = "no timestamps (file order is used as time)"
    return rep


# ------------------------------------------------------------------------------------------------ ML-100K (RecBole)
def recbole_ml100k() -> Optional[Path]:
    """The ML-100K atomic files that RecBole's wheel ships (with a knowledge graph), or None.

    Found with ``importlib.util.find_spec`` so that RecBole is never imported (its import pulls dependencies that
    are never installed here: ``pip install --no-deps recbole==1.2.1``).
    """
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").exists():
            return folder
    return None
