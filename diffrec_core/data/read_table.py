"""The low-level reading every data loader shares (``loaders.py``): file-size caps before reading, the text and its
encoding, delimited tables read with the 1-based line of every row, id / number / timestamp columns checked with
a message that names the file, the line and what was expected, ids remapped to 0-based indices, and the
``InteractionLog`` built from the columns (duplicates, ratings, the shipped split)."""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from .dataset import DataFormatError, InteractionLog
from .splits import chrono_order

MAX_BYTES = 200 * 1024 ** 2

USER_NAMES = {"user", "user_id", "userid", "uid", "u", "user_id:token", "visitorid", "customer_id"}
ITEM_NAMES = {"item", "item_id", "itemid", "iid", "i", "movieid", "movie_id", "item_id:token", "product_id", "asin"}
TIME_NAMES = {"timestamp", "time", "ts", "datetime", "date", "timestamp:float"}


# ------------------------------------------------------------------------------------------------ low-level reading
def check_file_sizes(paths: Sequence[Path], max_bytes: Optional[int]):
    if max_bytes is None:
        return
    for p in paths:
        size = p.stat().st_size
        if size > max_bytes:
            raise DataFormatError(
                f"{p.name}: the file is {size / 2**20:.1f} MB, above the max_bytes limit of "
                f"{max_bytes / 2**20:.1f} MB; pass max_bytes=None (or a larger value) to load it anyway")


def _read_text(path: Path) -> tuple[bytes, str]:
    """The file's bytes with ``\\r\\n`` normalised, and its encoding (UTF-8, else Latin-1 as in MovieLens .dat)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
    return raw.replace(b"\r\n", b"\n"), encoding


def first_line(path: Path) -> str:
    """The first non-blank line, reading only the start of the file (format sniffing)."""
    with open(path, "rb") as fh:
        head = fh.read(65536).decode("utf-8-sig", errors="replace")
    return next((ln.rstrip("\r") for ln in head.split("\n") if ln.strip()), "")


def _sep_name(sep: str) -> str:
    return {"\t": "tabs", ",": "commas", "::": "'::'", "|": "'|'"}.get(sep, repr(sep))


def _line_fields(data: bytes, sep1: bytes):
    """Vectorised line scan: start offset, length and field count of every line (no Python loop over lines)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    if len(data) and data[-1:] != b"\n":
        nl = np.r_[nl, len(data)]          # last line without a final newline
    starts = np.r_[0, nl[:-1] + 1] if len(nl) else np.zeros(0, np.int64)
    fields = np.bincount(np.searchsorted(nl, np.flatnonzero(arr == sep1[0])), minlength=len(nl))[: len(nl)] + 1
    return starts, nl - starts, fields


def read_table(path: Path, sep: str, *, n_fields=None, header: bool = False, str_cols=(), extra_ok: bool = False,
           notes: Optional[list] = None):
    """Parse a delimited text file, checking every line's field count first (so errors can name the line).

    Returns ``(header_fields or None, DataFrame, 1-based line number of each row)``. Columns are parsed by pandas
    (numbers where they look like numbers) except the positions in ``str_cols`` (or ``str_cols(header)``), which
    stay strings; empty fields are NaN. Blank lines are skipped; a line with the wrong number of fields raises
    ``DataFormatError``. ``n_fields`` may be an int or a set of allowed counts; with ``header`` the count comes
    from the header line. ``extra_ok`` drops fields beyond the header's (RecBole reads only the header's columns,
    and its own test data has such a line); each such line is reported in ``notes``.
    """
    data, encoding = _read_text(path)
    sep1 = sep.encode() if len(sep) == 1 else b"\x1f"
    if len(sep) > 1:
        data = data.replace(sep.encode(), sep1)
    starts, lengths, counts = _line_fields(data, sep1)
    line_no = np.flatnonzero(lengths > 0) + 1
    starts, lengths, counts = starts[lengths > 0], lengths[lengths > 0], counts[lengths > 0]
    if not len(line_no):
        raise DataFormatError(f"{path.name}: the file is empty")
    head = None
    if header:
        head = [h.strip() for h in data[starts[0]:starts[0] + lengths[0]].decode(encoding).split(sep1.decode())]
        n_fields = len(head)
        body_start = starts[1] if len(starts) > 1 else len(data)
        starts, counts, line_no = starts[1:], counts[1:], line_no[1:]
        if not len(line_no):
            raise DataFormatError(f"{path.name}: the file has a header line but no data lines")
    else:
        body_start = starts[0]
    if extra_ok and header and (counts > n_fields).any():   # rare: rebuild the body with those lines cut
        lines = data[body_start:].split(b"\n")
        long = np.flatnonzero(counts > n_fields)
        nonblank = [k for k, ln in enumerate(lines) if ln]
        for k in long:
            j = nonblank[k]
            lines[j] = sep1.join(lines[j].split(sep1)[:n_fields])
        if notes is not None:
            notes += [f"{path.name} line {line_no[k]}: {counts[k] - n_fields} extra field(s) ignored"
                      for k in long[:10]]
        data, body_start = b"\n".join(lines), 0
        counts = np.minimum(counts, n_fields)
    allowed = {n_fields} if isinstance(n_fields, int) else set(n_fields or {int(counts[0])})
    bad = ~np.isin(counts, sorted(allowed))
    if bad.any():
        k = int(np.argmax(bad))
        want = " or ".join(str(n) for n in sorted(allowed))
        raise DataFormatError(f"{path.name} line {line_no[k]}: expected {want} fields separated by "
                              f"{_sep_name(sep)}, got {counts[k]}")
    if len(allowed) > 1 and (counts != counts[0]).any():
        k = int(np.argmax(counts != counts[0]))
        raise DataFormatError(f"{path.name} line {line_no[k]}: expected {counts[0]} fields like line "
                              f"{line_no[0]}, got {counts[k]}")
    cols = str_cols(head) if callable(str_cols) else str_cols
    df = pd.read_csv(io.BytesIO(data[body_start:]), sep=sep1.decode(), header=None, encoding=encoding,
                     dtype={k: str for k in cols}, engine="c", quoting=csv.QUOTE_NONE, keep_default_na=False,
                     na_values=[""], skip_blank_lines=True)
    if len(df) != len(line_no):  # cannot happen unless the scan and pandas disagree; never return shifted rows
        raise DataFormatError(f"{path.name}: parsed {len(df)} rows but found {len(line_no)} data lines")
    return head, df, line_no


def _bad_value(col: pd.Series, k: int) -> str:
    x = col.iloc[k]
    return repr("" if pd.isna(x) else str(x))


def numeric_column(col: pd.Series, line_no: np.ndarray, path: Path, what: str, integer: bool = True) -> np.ndarray:
    """A column as numbers; the first bad value raises with its line number."""
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(dtype=np.float64)
    else:  # pandas left it as text: something in it is not a number
        v = pd.to_numeric(col.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        v = np.where(col.isna().to_numpy(), np.nan, v)
    bad = ~np.isfinite(v)
    if integer:
        bad |= np.floor(np.where(bad, 0, v)) != np.where(bad, 0, v)
    if bad.any():
        k = int(np.argmax(bad))
        kind = "an integer" if integer else "a number"
        raise DataFormatError(f"{path.name} line {line_no[k]}: expected {kind} {what}, got {_bad_value(col, k)}")
    return v.astype(np.int64) if integer else v


def id_column(col: pd.Series, line_no: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A column of (string) ids, stripped; an empty id raises with its line number."""
    bad = col.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path.name} line {line_no[k]}: expected a {what}, got ''")
    return col.astype(str).str.strip().str.strip('"').to_numpy(dtype=object)


def timestamp_column(col: pd.Series, line_no, path) -> np.ndarray:
    """Numeric timestamps (seconds; floats rounded) or date strings (converted to epoch seconds)."""
    if pd.api.types.is_numeric_dtype(col) and col.notna().all():
        return np.round(col.to_numpy(dtype=np.float64)).astype(np.int64)
    text = col.astype(str).str.strip()
    v = pd.to_numeric(text, errors="coerce")
    if v.notna().all():
        return np.round(v.to_numpy(dtype=np.float64)).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": mixed formats are allowed
        dt = pd.to_datetime(text, errors="coerce", utc=True)
    if dt.notna().all() and col.notna().all():
        return ((dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    k = int(np.argmax((v.isna() & dt.isna()).to_numpy() | col.isna().to_numpy()))
    raise DataFormatError(f"{path.name} line {line_no[k]}: expected a timestamp (number or date), "
                          f"got {_bad_value(col, k)}")


def remap_to_index(values: np.ndarray):
    """Original ids -> contiguous 0-based codes in sorted order (numeric order when all ids are integers)."""
    values = np.asarray(values)
    if values.dtype.kind in "OUS":
        num = pd.to_numeric(pd.Series(values), errors="coerce")
        if num.notna().all() and (num == np.floor(num)).all():
            ints = num.to_numpy(dtype=np.int64)
            _, codes = np.unique(ints, return_inverse=True)
            _, first = np.unique(codes, return_index=True)  # keep the original spelling ("007") of each id
            return codes.astype(np.int64), values[first]
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), uniq


def build_log(name, users_raw, items_raw, timestamp, path: Path, *, rating=None, min_rating=None, split=None,
               remap_users=True, remap_items=True) -> InteractionLog:
    """Filter, remap ids, drop duplicate pairs (keeping the earliest) and wrap in an InteractionLog."""
    users_raw, items_raw = np.asarray(users_raw), np.asarray(items_raw)
    timestamp = np.asarray(timestamp, dtype=np.int64)
    keep = np.ones(len(users_raw), dtype=bool)
    if min_rating is not None:
        if rating is None:
            raise DataFormatError(f"{path.name}: min_rating was given but the data has no ratings")
        keep &= np.asarray(rating) >= min_rating
    if not keep.any():
        raise DataFormatError(f"{path.name}: no interactions left (min_rating={min_rating})")
    cols = {"user": users_raw[keep], "item": items_raw[keep], "timestamp": timestamp[keep]}
    if rating is not None:
        cols["rating"] = np.asarray(rating, dtype=np.float64)[keep]
    if split is not None:
        cols["split"] = np.asarray(split)[keep]
    meta = {"source": str(path)}
    if remap_users:
        cols["user"], meta["user_ids"] = remap_to_index(cols["user"])
    if remap_items:
        cols["item"], meta["item_ids"] = remap_to_index(cols["item"])
    users, items = np.asarray(cols["user"], np.int64), np.asarray(cols["item"], np.int64)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    order = chrono_order(users, cols["timestamp"])
    dup = pd.Series(users[order] * np.int64(n_items) + items[order]).duplicated().to_numpy()
    keep = np.ones(len(users), dtype=bool)
    keep[order[dup]] = False                      # a repeat of an earlier (user, item) event
    meta["dropped_duplicates"] = int(dup.sum())
    ev = pd.DataFrame(cols)
    ev = ev[keep].reset_index(drop=True) if dup.any() else ev
    return InteractionLog(name=name, events=ev, n_users=n_users, n_items=n_items, meta=meta)


def recbole_table(path: Path, max_bytes, notes: Optional[list] = None):
    """A RecBole atomic file: tab-separated, header ``name:type``; returns (names, types, DataFrame, lines)."""
    check_file_sizes([path], max_bytes)
    # Every field but a float stays text: RecBole tokens are names, even when they look like numbers.
    head, df, ln = read_table(path, "\t", header=True, extra_ok=True, notes=notes,
                          str_cols=lambda head: [k for k, h in enumerate(head) if not h.endswith(":float")])
    names, types = [], []
    for k, h in enumerate(head):
        if ":" not in h:
            raise DataFormatError(f"{path.name} line 1: expected a typed RecBole header field like 'user_id:token', "
                                  f"got {h!r} (field {k + 1})")
        n, t = h.rsplit(":", 1)
        names.append(n)
        types.append(t)
    df.columns = names
    return names, types, df, ln


def find_column(names, preferred, prefix, path, what):
    for n in preferred:
        if n in names:
            return n
    for n in names:
        if n.lower().startswith(prefix):
            return n
    raise DataFormatError(f"{path.name} line 1: expected a {what} field (e.g. '{preferred[0]}'), got {names}")
