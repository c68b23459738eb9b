"""Read every supported data format into one ``InteractionLog``.

``load_dataset(spec)`` accepts ``"sample"`` (the shipped sample world) or a path:

* ``u.data`` - MovieLens-100K: tab-separated ``user item rating timestamp``, 1-based ids (+ ``u.item`` beside it
  for titles and genres);
* ``ratings.dat`` - MovieLens-1M/10M: ``user::item::rating::timestamp`` (+ ``movies.dat``);
* a folder or ``*.inter`` file - RecBole atomic files with a typed header (``user_id:token ...``); ``.item`` gives
  titles and genres, ``.kg`` + ``.link`` the knowledge graph;
* a folder with ``train_list.npy`` - the DiffRec authors' release: ``{train,valid,test}_list.npy`` ``[N, 2]``
  (+ optional ``item_emb.npy``); it ships its split (``events['split']``), timestamps = file order;
* a CSV with header ``user,item,position,split`` - the DiffuRec release (leave-one-out split shipped);
* any other ``*.csv`` / ``*.tsv`` - plain ``user,item[,timestamp]``; the header is optional, ids may be strings;
* a folder with ``world.json`` - a generated sample world (``sample_world.write_sample_world``).

Conventions, and why:

* **Ids** are remapped to contiguous 0-based ints in sorted order of the original ids (numerically when they are
  all integers), so 1-based MovieLens ids and string ids work the same; ``meta['user_ids']`` / ``meta['item_ids']``
  hold the original id of every index. Only items that occur in the interactions are kept (RecBole's ``.item``
  may list more). The DiffuRec release uses items 1..N with 0 as padding: they become 0..N-1 (``item - 1``), and
  the padding row is the method's business, not the data's.
* **Implicit feedback:** every rating is kept as an interaction (the DiffRec family binarises all ratings of its
  benchmark sets the same way); pass ``min_rating`` to keep only ratings >= it. The rating stays in
  ``events['rating']``.
* **Duplicates:** a repeated (user, item) pair keeps its earliest event (a binary matrix cannot hold both);
  the number dropped is in ``meta['dropped_duplicates']``.
* **Knowledge graphs** have items as entities ``0..n_items-1`` and the other entities after them (the DiffKG
  convention), relation names mapped to ints (``meta['relation_names']``).
* **Errors** are ``DataFormatError`` naming the file, the 1-based line and what was expected. Files larger than
  ``max_bytes`` are refused before reading (pass ``max_bytes=None`` to lift the cap).
"""
from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from .dataset import DataFormatError, InteractionLog
from .splits import chrono_order
from ..paths import SAMPLE_DATA

MAX_BYTES = 200 * 1024 ** 2

_USER_NAMES = {"user", "user_id", "userid", "uid", "u", "user_id:token", "visitorid", "customer_id"}
_ITEM_NAMES = {"item", "item_id", "itemid", "iid", "i", "movieid", "movie_id", "item_id:token", "product_id", "asin"}
_TIME_NAMES = {"timestamp", "time", "ts", "datetime", "date", "timestamp:float"}


# ------------------------------------------------------------------------------------------------ low-level reading
def _check_size(paths: Sequence[Path], max_bytes: Optional[int]):
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


def _first_line(path: Path) -> str:
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


def _table(path: Path, sep: str, *, n_fields=None, header: bool = False, str_cols=(), extra_ok: bool = False,
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


def _numeric(col: pd.Series, line_no: np.ndarray, path: Path, what: str, integer: bool = True) -> np.ndarray:
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


def _ids(col: pd.Series, line_no: np.ndarray, path: Path, what: str) -> np.ndarray:
    """A column of (string) ids, stripped; an empty id raises with its line number."""
    bad = col.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path.name} line {line_no[k]}: expected a {what}, got ''")
    return col.astype(str).str.strip().str.strip('"').to_numpy(dtype=object)


def _timestamps(col: pd.Series, line_no, path) -> np.ndarray:
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


def _remap(values: np.ndarray):
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


def _build_log(name, users_raw, items_raw, timestamp, path: Path, *, rating=None, min_rating=None, split=None,
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
        cols["user"], meta["user_ids"] = _remap(cols["user"])
    if remap_items:
        cols["item"], meta["item_ids"] = _remap(cols["item"])
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


# ------------------------------------------------------------------------------------------------------ the formats
def _load_movielens(path: Path, min_rating, max_bytes) -> InteractionLog:
    sep = "\t" if path.name == "u.data" else "::"
    _check_size([path], max_bytes)
    _, df, ln = _table(path, sep, n_fields=4)
    users = _numeric(df[0], ln, path, "user id")
    items = _numeric(df[1], ln, path, "item id")
    rating = _numeric(df[2], ln, path, "rating", integer=False)
    ts = _numeric(df[3], ln, path, "timestamp")
    log = _build_log(path.parent.name or path.stem, users, items, ts, path, rating=rating, min_rating=min_rating)
    _movielens_items(log, path, max_bytes)
    return log


def _movielens_items(log: InteractionLog, path: Path, max_bytes):
    """Titles and genres from ``u.item`` / ``movies.dat`` beside the ratings, when present."""
    ids = np.asarray(log.meta["item_ids"]).astype(np.int64)
    f100k, f1m = path.parent / "u.item", path.parent / "movies.dat"
    if path.name == "u.data" and f100k.exists():
        _check_size([f100k], max_bytes)
        _, df, ln = _table(f100k, "|", n_fields=24, str_cols=range(24))
        genre_names = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                       "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                       "Sci-Fi", "Thriller", "War", "Western"]
        flags = df.iloc[:, 5:24].to_numpy() == "1"
        genres = ["|".join(g for g, f in zip(genre_names, row, strict=True) if f) for row in flags]
        table = pd.DataFrame({"title": df[1].to_numpy(), "genres": genres},
                             index=_numeric(df[0], ln, f100k, "movie id"))
    elif path.name == "ratings.dat" and f1m.exists():
        _check_size([f1m], max_bytes)
        _, df, ln = _table(f1m, "::", n_fields=3, str_cols=(1, 2))
        table = pd.DataFrame({"title": df[1].to_numpy(), "genres": df[2].to_numpy()},
                             index=_numeric(df[0], ln, f1m, "movie id"))
    else:
        return
    table = table[~table.index.duplicated()].reindex(ids)
    table["title"] = table["title"].fillna(pd.Series([f"item {i}" for i in ids], index=ids))
    table["genres"] = table["genres"].fillna("")
    table["genre"] = table["genres"].str.split("|").str[0]
    log.items = table.reset_index(drop=True)


def _recbole_table(path: Path, max_bytes, notes: Optional[list] = None):
    """A RecBole atomic file: tab-separated, header ``name:type``; returns (names, types, DataFrame, lines)."""
    _check_size([path], max_bytes)
    # Every field but a float stays text: RecBole tokens are names, even when they look like numbers.
    head, df, ln = _table(path, "\t", header=True, extra_ok=True, notes=notes,
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


def _find(names, preferred, prefix, path, what):
    for n in preferred:
        if n in names:
            return n
    for n in names:
        if n.lower().startswith(prefix):
            return n
    raise DataFormatError(f"{path.name} line 1: expected a {what} field (e.g. '{preferred[0]}'), got {names}")


def _load_recbole(path: Path, min_rating, max_bytes) -> InteractionLog:
    if path.is_dir():
        inters = sorted(path.glob("*.inter"))
        if not inters:
            raise DataFormatError(f"{path}: no .inter file in this folder")
        path = inters[0]
    notes: list = []
    names, types, df, ln = _recbole_table(path, max_bytes, notes)
    u_col = _find(names, ["user_id"], "user", path, "user id")
    i_col = _find(names, ["item_id"], "item", path, "item id")
    ts = (_timestamps(df["timestamp"], ln, path) if "timestamp" in names else np.arange(len(df)))
    rating = _numeric(df["rating"], ln, path, "rating", integer=False) if "rating" in names else None
    log = _build_log(path.stem, _ids(df[u_col], ln, path, "user id"), _ids(df[i_col], ln, path, "item id"), ts,
                     path, rating=rating,
                     min_rating=min_rating)
    item_tokens = np.asarray(log.meta["item_ids"]).astype(str)
    index = pd.Index(item_tokens)
    f_item = path.with_suffix(".item")
    if f_item.exists():
        inames, _, idf, _ = _recbole_table(f_item, max_bytes, notes)
        key = _find(inames, [i_col], "item", f_item, "item id")
        idf = idf.drop_duplicates(key).set_index(key).reindex(index)
        title_col = next((c for c in ["movie_title", "title", "name"] if c in inames), None)
        titles = idf[title_col] if title_col else pd.Series(np.nan, index=index)
        genres = idf["class"] if "class" in inames else (idf["genre"] if "genre" in inames else None)
        items = pd.DataFrame({"title": titles.fillna(pd.Series("item " + index, index=index)).to_numpy()})
        if genres is not None:
            g = genres.fillna("").str.split().str.join("|")
            items["genres"] = g.to_numpy()
            items["genre"] = g.str.split("|").str[0].to_numpy()
        for extra in ["release_year", "year"]:
            if extra in inames:
                items[extra] = idf[extra].to_numpy()
        log.items = items
    f_kg, f_link = path.with_suffix(".kg"), path.with_suffix(".link")
    if f_kg.exists() and f_link.exists():
        _recbole_kg(log, f_kg, f_link, index, max_bytes, notes)
    log.meta["warnings"] = notes
    log.meta["files"] = [str(p) for p in [path, f_item, f_kg, f_link] if p.exists()]
    return log


class KGWarning(UserWarning):
    """A knowledge-graph row was skipped or an item has no entity; loading went on (see ``meta['kg_warnings']``)."""


def _kg_note(log: InteractionLog, notes: list, what: str) -> None:
    """Keep the KG's skip notes in ``meta['kg_warnings']`` and raise one summarising :class:`KGWarning`."""
    if not notes:
        return
    log.meta["kg_warnings"] = notes
    warnings.warn(f"{what}: " + "; ".join(notes[:5]) + (f"; and {len(notes) - 5} more" if len(notes) > 5 else ""),
                  KGWarning, stacklevel=4)


def _skip_empty(df: pd.DataFrame, cols, line_no: np.ndarray, path: Path, notes: list, what: str):
    """Drop rows with an empty field in ``cols`` (a row that can be skipped), noting each skipped line."""
    bad = df[list(cols)].isna().any(axis=1).to_numpy()
    if bad.any():
        lines = line_no[bad]
        shown = ", ".join(str(int(v)) for v in lines[:10]) + (" …" if len(lines) > 10 else "")
        notes.append(f"{path.name}: {int(bad.sum())} {what} with an empty field skipped (line {shown})")
    return df[~bad].reset_index(drop=True), line_no[~bad]


def _recbole_kg(log: InteractionLog, f_kg: Path, f_link: Path, item_index: pd.Index, max_bytes, notes: list):
    """Map a RecBole KG so that item i is entity i and other entities follow (sorted by their token).

    Malformed input: a file without head / relation / tail (or item / entity) columns, or a line with the wrong
    number of fields, is a ``DataFormatError`` naming the file and line; so is a link file that links none of the
    items. Rows that can be skipped are skipped with a :class:`KGWarning` (listed in ``meta['kg_warnings']``):
    triples or links with an empty field, an item linked to several entities (the first link wins), an entity
    linked to several items (the first wins). Items without an entity link stay items with no KG edges
    (``meta['unlinked_items']`` counts them).
    """
    kg_notes: list = []
    lnames, _, link, lln = _recbole_table(f_link, max_bytes, notes)
    li = _find(lnames, ["item_id"], "item", f_link, "item id")
    le = _find(lnames, ["entity_id"], "entity", f_link, "entity id")
    link, lln = _skip_empty(link, [li, le], lln, f_link, kg_notes, "link(s)")
    knames, _, kg, kln = _recbole_table(f_kg, max_bytes, notes)
    h = _find(knames, ["head_id"], "head", f_kg, "head entity")
    r = _find(knames, ["relation_id"], "relation", f_kg, "relation")
    t = _find(knames, ["tail_id"], "tail", f_kg, "tail entity")
    kg, kln = _skip_empty(kg, [h, r, t], kln, f_kg, kg_notes, "triple(s)")
    if not len(kg):
        raise DataFormatError(f"{f_kg.name}: no usable triple (every line has an empty head, relation or tail)")
    item_of = item_index.get_indexer(_ids(link[li], lln, f_link, "item id").astype(str))
    link = pd.DataFrame({"entity": _ids(link[le], lln, f_link, "entity id").astype(str), "item": item_of,
                         "line": lln})
    link = link[link["item"] >= 0]                       # items that are not in the interactions are ignored
    if not len(link):
        raise DataFormatError(f"{f_link.name}: none of the {len(item_index)} items of the interactions has an entity "
                              f"link, so the knowledge graph cannot be attached to the items (expected lines "
                              f"'item_id<TAB>entity_id' naming items of the .inter file)")
    for col, other in (("entity", "item"), ("item", "entity")):
        dup = link.duplicated(col).to_numpy()
        if dup.any():
            lines = ", ".join(str(int(v)) for v in link["line"].to_numpy()[dup][:10])
            kg_notes.append(f"{f_link.name}: {int(dup.sum())} {col}(s) linked to a second {other}; the first link "
                            f"wins (line {lines}{' …' if dup.sum() > 10 else ''})")
            link = link[~dup]
    unlinked = len(item_index) - len(link)       # normal in real data (ML-100K: 84 of 1,682): no warning
    ent_item = pd.Series(link["item"].to_numpy(), index=link["entity"].to_numpy())
    heads, tails = _ids(kg[h], kln, f_kg, "head entity"), _ids(kg[t], kln, f_kg, "tail entity")
    ents = pd.unique(np.concatenate([heads, tails]))  # hash-based: setdiff1d on strings is slow
    others = np.sort(ents[~pd.Index(ents).isin(ent_item.index)].astype(str)).astype(object)
    n = log.n_items
    ent_id = pd.concat([ent_item, pd.Series(np.arange(n, n + len(others)), index=others)])
    rel_names, rel = np.unique(_ids(kg[r], kln, f_kg, "relation").astype(str), return_inverse=True)
    log.kg = pd.DataFrame({"head": ent_id.reindex(heads).to_numpy(np.int64), "relation": rel.astype(np.int64),
                           "tail": ent_id.reindex(tails).to_numpy(np.int64)})
    titles = log.items["title"].tolist() if log.items is not None else [f"item {i}" for i in item_index]
    log.entity_names = titles + others.tolist()
    item_entity = pd.Series(link["entity"].to_numpy(), index=link["item"].to_numpy()).reindex(np.arange(n))
    log.meta.update(relation_names=rel_names.tolist(), n_entities=n + len(others), linked_items=int(len(link)),
                    entity_ids=item_entity.where(item_entity.notna(), None).tolist() + others.tolist(),
                    entity_types=["item"] * n + ["entity"] * len(others), unlinked_items=int(unlinked))
    _kg_note(log, kg_notes, f"{f_kg.parent.name}: knowledge graph loaded with notes")


def _sample_kg(folder: Path, relations: list, n_entities: int, log_meta: dict) -> pd.DataFrame:
    """The sample world's ``kg.csv`` (head, relation name, tail, is_wrong), checked: missing columns, an unknown
    relation, or an entity id that is not an integer in 0..n_entities-1 raise a ``DataFormatError`` naming the
    line; rows with an empty field are skipped with a :class:`KGWarning`."""
    path = folder / "kg.csv"
    kg = pd.read_csv(path, dtype={"relation": str}, keep_default_na=False, na_values=[""])
    missing = [c for c in ("head", "relation", "tail") if c not in kg.columns]
    if missing:
        raise DataFormatError(f"{path.name} line 1: expected columns head, relation, tail[, is_wrong], "
                              f"got {list(kg.columns)}")
    line_no = np.arange(len(kg)) + 2
    notes: list = []
    kg, line_no = _skip_empty(kg, ["head", "relation", "tail"], line_no, path, notes, "triple(s)")
    codes = pd.Categorical(kg["relation"].astype(str).str.strip(), categories=relations).codes.astype(np.int64)
    if (codes < 0).any():
        k = int(np.argmax(codes < 0))
        raise DataFormatError(f"{path.name} line {line_no[k]}: unknown relation {kg['relation'].iloc[k]!r}; "
                              f"the world's relations are {relations}")
    kg["relation"] = codes
    for col in ("head", "tail"):
        v = _numeric(kg[col], line_no, path, f"{col} entity id")
        bad = (v < 0) | (v >= n_entities)
        if bad.any():
            k = int(np.argmax(bad))
            raise DataFormatError(f"{path.name} line {line_no[k]}: {col} entity {v[k]} is not one of the "
                                  f"{n_entities} entities of entities.csv")
        kg[col] = v
    if "is_wrong" in kg:
        kg["is_wrong"] = pd.to_numeric(kg["is_wrong"], errors="coerce").fillna(0).astype(np.int64)
    if notes:
        log_meta["kg_warnings"] = notes
        warnings.warn(f"{path.name}: " + "; ".join(notes), KGWarning, stacklevel=3)
    return kg


def _load_diffrec(folder: Path, max_bytes) -> InteractionLog:
    """The DiffRec release: ``{train,valid,test}_list.npy`` of (user, item), 0-based, grouped by user."""
    files = [folder / f"{s}_list.npy" for s in ("train", "valid", "test")]
    present = [f for f in files if f.exists()]
    _check_size([f for f in files + [folder / "item_emb.npy"] if f.exists()], max_bytes)
    parts, splits = [], []
    for f in present:
        try:
            a = np.load(f, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - numpy raises several types for a broken file
            raise DataFormatError(f"{f.name}: not a readable .npy array ({exc})") from exc
        if a.ndim != 2 or a.shape[1] != 2 or a.dtype.kind not in "iu":
            raise DataFormatError(f"{f.name}: expected an integer array of shape [N, 2] (user, item), "
                                  f"got {a.dtype} {list(a.shape)}")
        if len(a) and a.min() < 0:
            k = int(np.argmax((a < 0).any(1)))
            raise DataFormatError(f"{f.name} row {k + 1}: expected non-negative ids, got {a[k].tolist()}")
        parts.append(a.astype(np.int64))
        splits.append(np.full(len(a), f.name.split("_")[0]))
    if not present or files[0] not in present:
        raise DataFormatError(f"{folder}: expected train_list.npy (and valid_list.npy, test_list.npy)")
    a = np.concatenate(parts)
    if not len(a):
        raise DataFormatError(f"{files[0].name}: the file has no interactions")
    # Ids are already 0-based and contiguous in the release; keep them as they are so item_emb rows line up.
    log = _build_log(folder.name, a[:, 0], a[:, 1], np.arange(len(a)), files[0], split=np.concatenate(splits),
                     remap_users=False, remap_items=False)
    log.meta["timestamp"] = "file order (train, then valid, then test)"
    f_emb = folder / "item_emb.npy"
    if f_emb.exists():
        emb = np.load(f_emb, allow_pickle=False)
        if emb.ndim != 2 or emb.shape[0] < log.n_items:
            raise DataFormatError(f"{f_emb.name}: expected a float array [n_items={log.n_items}, d], "
                                  f"got {emb.dtype} {list(emb.shape)}")
        log.n_items = max(log.n_items, emb.shape[0])
        log.item_emb = emb.astype(np.float32)
    return log


def _load_diffurec(path: Path, max_bytes) -> InteractionLog:
    """The DiffuRec release: ``user,item,position,split`` with items 1..N (0 = padding), leave-one-out split."""
    _check_size([path], max_bytes)
    head, df, ln = _table(path, ",", header=True)
    df.columns = head
    users = _numeric(df["user"], ln, path, "user id")
    items = _numeric(df["item"], ln, path, "item id")
    pos = _numeric(df["position"], ln, path, "position")
    split = df["split"].astype(str).str.strip().to_numpy()
    bad = ~np.isin(split, ["train", "valid", "test"])
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path.name} line {ln[k]}: expected split train, valid or test, got {split[k]!r}")
    log = _build_log(path.parent.name, users, items, pos, path, split=split)
    log.meta["timestamp"] = "position in the user's sequence"
    log.meta["item_id_note"] = "original ids 1..N (0 = padding) became 0..N-1; meta['item_ids'] maps back"
    return log


def _load_plain_csv(path: Path, min_rating, max_bytes) -> InteractionLog:
    """``user,item[,timestamp]``; a header (naming user and item columns) is optional; ids may be strings."""
    _check_size([path], max_bytes)
    first = _first_line(path)
    if not first:
        raise DataFormatError(f"{path.name}: the file is empty")
    sep = "\t" if ("\t" in first and "," not in first) else ","
    fields = [f.strip().strip('"').lower() for f in first.split(sep)]
    has_header = fields[0] in _USER_NAMES or (len(fields) > 1 and fields[1] in _ITEM_NAMES)
    if has_header:
        id_cols = [k for k, f in enumerate(fields) if f in _USER_NAMES | _ITEM_NAMES]
        head, df, ln = _table(path, sep, header=True, str_cols=id_cols)
        low = [h.strip().strip('"').lower() for h in head]
        df.columns = low
        u = next((c for c in low if c in _USER_NAMES), None)
        i = next((c for c in low if c in _ITEM_NAMES), None)
        if u is None or i is None:
            raise DataFormatError(f"{path.name} line 1: expected a header naming a user and an item column "
                                  f"(e.g. 'user,item,timestamp'), got {head}")
        t = next((c for c in low if c in _TIME_NAMES), None)
        r = "rating" if "rating" in low else None
    else:
        _, df, ln = _table(path, sep, n_fields={2, 3}, str_cols=(0, 1))
        df.columns = ["user", "item", "timestamp"][: df.shape[1]]
        u, i, t, r = "user", "item", ("timestamp" if df.shape[1] == 3 else None), None
    ts = _timestamps(df[t], ln, path) if t else np.arange(len(df))
    rating = _numeric(df[r], ln, path, "rating", integer=False) if r else None
    log = _build_log(path.stem, _ids(df[u], ln, path, "user id"), _ids(df[i], ln, path, "item id"), ts, path,
                     rating=rating, min_rating=min_rating)
    log.meta["header"] = bool(has_header)
    return log


def _load_sample(folder: Path, max_bytes) -> InteractionLog:
    """A generated sample world, with its side information and ground-truth flags."""
    need = ["interactions.csv", "items.csv", "kg.csv", "entities.csv", "users.csv"]
    missing = [n for n in need if not (folder / n).exists()]
    if missing:
        raise DataFormatError(f"{folder}: not a sample world, missing {missing} "
                              f"(regenerate with python -m diffrec_core sample-world)")
    _check_size([folder / n for n in need], max_bytes)
    ev = pd.read_csv(folder / "interactions.csv", dtype={"user": np.int64, "item": np.int64,
                                                         "timestamp": np.int64, "is_noise": np.int8})
    items = pd.read_csv(folder / "items.csv").set_index("item").sort_index()
    users = pd.read_csv(folder / "users.csv").set_index("user").sort_index()
    ents = pd.read_csv(folder / "entities.csv")
    world_path = folder / "world.json"
    relations = (json.loads(world_path.read_text())["relations"] if world_path.exists()
                 else sorted(pd.read_csv(folder / "kg.csv", usecols=["relation"], dtype=str)["relation"]
                             .dropna().str.strip().unique().tolist()))
    kg_meta: dict = {}
    kg = _sample_kg(folder, relations, len(ents), kg_meta)
    items.index.name = None
    users.index.name = None
    return InteractionLog(
        name="sample", events=ev, n_users=len(users), n_items=len(items), items=items, users=users, kg=kg,
        entity_names=ents["name"].tolist(),
        meta={"source": str(folder), "relation_names": relations, "n_entities": int(len(ents)),
              "entity_types": ents["type"].tolist(), "world_json": str(world_path),
              "ground_truth": {"events.is_noise": "injected noise (never give to a model)",
                               "kg.is_wrong": "injected wrong triple (never give to a model)"}, **kg_meta})


RERANK_FILE = "rerank_sessions.csv"
RERANK_COLUMNS = ("session", "user", "item", "cand_rank", "position", "click")   # required; like, shown, genre optional
MAX_RERANK_ID = 2 ** 24     # integer ids without remapping (a sample-world folder) index arrays: keep them small


def load_rerank_sessions(root=None, max_bytes: Optional[int] = MAX_BYTES, remap_ids: bool = False) -> pd.DataFrame:
    """Logged reranking sessions in long format (one row per session x candidate), read and checked.

    ``root``: a folder holding ``rerank_sessions.csv`` (default: the sample world's) or the CSV file itself. The
    header names the columns (any order; other columns are ignored):

    * ``session``, ``user``, ``item`` - ids (with ``remap_ids`` any strings or integers, else integers >= 0);
    * ``cand_rank`` - the candidate's 0-based rank by the upstream ranker (its top L is the ranker's list);
    * ``position`` - 1-based position in the logged (shown) list; -1 or 0 for a candidate that was not shown;
    * ``click`` - 0/1; ``like`` - 0/1, optional (0 when absent); ``shown`` - 0/1, optional (must agree with
      ``position``); ``genre`` - optional, the item's category (any text, one per item).

    Every session has one user, the same number n of candidates with ``cand_rank`` exactly 0..n-1, distinct
    items, the same number L >= 2 of shown candidates at positions exactly 1..L, and no response on a candidate
    that was not shown. A violation raises ``DataFormatError`` naming the file's line. Sessions are renumbered
    0..S-1 in the order of their ids (numerically when all are integers); with ``remap_ids`` users and items
    are renumbered the same way (``df.attrs['user_ids']`` / ``['item_ids']`` hold the original ids), so string
    ids and sparse ids work. ``df.attrs['session_ids']`` holds the original session ids.
    """
    path = Path(root).expanduser() if root is not None else SAMPLE_DATA
    f = path / RERANK_FILE if path.is_dir() else path
    if not f.exists():
        raise FileNotFoundError(f"{f}: no reranking sessions here (a CSV of logged sessions, or a folder holding "
                                f"{RERANK_FILE})")
    _check_size([f], max_bytes)
    first = _first_line(f)
    if not first:
        raise DataFormatError(f"{f.name}: the file is empty")
    names = [c.strip().strip('"').lower() for c in first.split(",")]
    missing = [c for c in RERANK_COLUMNS if c not in names]
    if missing:
        raise DataFormatError(f"{f.name} line 1: expected a header naming the columns {', '.join(RERANK_COLUMNS)} "
                              f"(like, shown, genre optional); missing {', '.join(missing)}")
    if len(set(names)) != len(names):
        raise DataFormatError(f"{f.name} line 1: a column name repeats: {first.strip()}")
    text = {"genre"} | ({"session", "user", "item"} if remap_ids else set())
    _, df, ln = _table(f, ",", header=True, str_cols=[k for k, c in enumerate(names) if c in text])
    df.columns = names

    def fail(k, msg):
        raise DataFormatError(f"{f.name} line {ln[k]}: {msg}")

    cols = {c: _numeric(df[c], ln, f, c) for c in ("cand_rank", "position", "click")}
    cols["like"] = _numeric(df["like"], ln, f, "like") if "like" in df else np.zeros(len(df), np.int64)
    for c in ("click", "like"):
        bad = (cols[c] != 0) & (cols[c] != 1)
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"{c} must be 0 or 1, got {cols[c][k]}")
    attrs = {"source": str(f)}
    for c, what in (("session", "session id"), ("user", "user id"), ("item", "item id")):
        if remap_ids:
            cols[c], attrs[f"{c}_ids"] = _remap(_ids(df[c], ln, f, what))
        else:
            v = _numeric(df[c], ln, f, what)
            bad = (v < 0) | (v >= MAX_RERANK_ID)
            if bad.any():
                k = int(np.argmax(bad))
                fail(k, f"expected a 0-based integer {what} below {MAX_RERANK_ID:,}, got {v[k]}")
            if c == "session":
                cols[c], attrs["session_ids"] = _remap(v)
            else:
                cols[c] = v
    s, sid = cols["session"], attrs["session_ids"]
    first_row = np.unique(s, return_index=True)[1]           # the first row of every session (codes 0..S-1)

    def per_session(counts, what):
        """The one count every session must share."""
        bad = counts != counts[0]
        if bad.any():
            j = int(np.argmax(bad))
            fail(first_row[j], f"session {sid[j]} has {counts[j]} {what}, session {sid[0]} has {counts[0]}: every "
                               f"session needs the same number")
        return int(counts[0])

    n = per_session(np.bincount(s, minlength=len(sid)), "candidates")
    r = cols["cand_rank"]
    for bad, msg in (((r < 0) | (r >= n), f"cand_rank must be 0..{n - 1} (each session has {n} candidates)"),
                     (pd.Series(s * n + np.clip(r, 0, n - 1)).duplicated().to_numpy(), "this cand_rank repeats "
                                                                                      "within its session")):
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"session {sid[s[k]]}: {msg}, got {r[k]}")
    u = cols["user"]
    bad = u != u[first_row[s]]
    if bad.any():
        k = int(np.argmax(bad))
        fail(k, f"session {sid[s[k]]} has rows for two users ({df['user'].iloc[first_row[s[k]]]} and "
                f"{df['user'].iloc[k]}); a session is one user's request")
    bad = pd.Series(s * np.int64(int(cols["item"].max()) + 1) + cols["item"]).duplicated().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        fail(k, f"session {sid[s[k]]}: item {df['item'].iloc[k]} is a candidate twice")
    pos = cols["position"]
    shown = pos > 0
    L = per_session(np.bincount(s[shown], minlength=len(sid)), "shown candidates (position > 0)")
    if L < 2:
        raise DataFormatError(f"{f.name}: every session shows {L} candidate(s); a list to rerank needs at least 2 "
                              "(position 1..L for the shown candidates, -1 for the others)")
    for bad, msg in ((shown & (pos > L), f"position must be 1..{L} (each session shows {L} candidates) or -1"),
                     (shown & pd.Series(s * (L + 1) + np.clip(pos, 0, L)).duplicated().to_numpy(),
                      "this position repeats within its session")):
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"session {sid[s[k]]}: {msg}, got {pos[k]}")
    if "shown" in df:
        sh = _numeric(df["shown"], ln, f, "shown")
        bad = sh != shown
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"shown is {sh[k]} but position is {pos[k]} (shown = 1 exactly when position >= 1)")
    for c in ("click", "like"):
        bad = ~shown & (cols[c] != 0)
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"{c} = 1 on a candidate that was not shown (position {pos[k]})")
    out = pd.DataFrame({"session": s, "user": u, "cand_rank": r, "position": np.where(shown, pos, -1),
                        "item": cols["item"], "shown": shown.astype(np.int64), "click": cols["click"],
                        "like": cols["like"]})
    if "genre" in df:
        g = df["genre"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        items = cols["item"]
        _, first = np.unique(items, return_index=True)
        ref = np.empty(int(items.max()) + 1, dtype=object)
        ref[items[first]] = g[first]                         # the genre of each item's first row
        bad = g != ref[items]
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"item {df['item'].iloc[k]} has two genres ({ref[items[k]]!r} and {g[k]!r}); an item has one")
        out["genre"] = g
    out.attrs.update(attrs)
    return out


# --------------------------------------------------------------------------------------------------- entry point
def load_dataset(spec: str, root=None, *, min_rating: Optional[float] = None,
                 max_bytes: Optional[int] = MAX_BYTES) -> InteractionLog:
    """Load ``"sample"`` or a path in any supported format (see the module docstring) as an InteractionLog.

    ``root``: for ``"sample"``, the folder holding the sample world (default: the repository's ``sample_data/``);
    otherwise the folder that a relative ``spec`` is resolved against. ``min_rating`` applies to formats with
    ratings (MovieLens, RecBole, a CSV with a ``rating`` column); the DiffRec / DiffuRec releases are already
    implicit. ``max_bytes`` caps each file's size (None: no cap).
    """
    spec = str(spec)
    if spec == "sample":
        folder = Path(root) if root is not None else SAMPLE_DATA
        return _load_sample(folder, max_bytes)
    path = Path(spec).expanduser()
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (data sets are never downloaded silently)")
    if path.is_dir():
        if (path / "train_list.npy").exists():
            return _load_diffrec(path, max_bytes)
        if (path / "world.json").exists() and (path / "interactions.csv").exists():
            return _load_sample(path, max_bytes)
        if any(path.glob("*.inter")):
            return _load_recbole(path, min_rating, max_bytes)
        for name in ["ratings.dat", "u.data"]:
            if (path / name).exists():
                return _load_movielens(path / name, min_rating, max_bytes)
        if (path / "interactions.csv").exists():
            return load_dataset(str(path / "interactions.csv"), min_rating=min_rating, max_bytes=max_bytes)
        raise DataFormatError(f"{path}: no known data files here (expected *.inter, *_list.npy, ratings.dat, "
                              f"u.data or interactions.csv)")
    if path.name in ("u.data", "ratings.dat"):
        return _load_movielens(path, min_rating, max_bytes)
    if path.suffix == ".inter":
        return _load_recbole(path, min_rating, max_bytes)
    if path.suffix == ".npy":
        return _load_diffrec(path.parent, max_bytes)
    if path.suffix in (".csv", ".tsv", ".txt"):
        _check_size([path], max_bytes)
        first = _first_line(path)
        if [f.strip() for f in first.split(",")] == ["user", "item", "position", "split"]:
            return _load_diffurec(path, max_bytes)
        return _load_plain_csv(path, min_rating, max_bytes)
    raise DataFormatError(f"{path.name}: unknown format (expected u.data, ratings.dat, *.inter, *_list.npy "
                          f"or a CSV of user,item[,timestamp])")
