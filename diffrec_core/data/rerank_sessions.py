"""Logged reranking sessions (``rerank_sessions.csv``): read, checked and returned in long format, one row per
session x candidate (the Reranking page's and DCDR's data)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .dataset import DataFormatError
from ..paths import SAMPLE_DATA
from .read_table import MAX_BYTES, check_file_sizes, first_line, id_column, numeric_column, read_table, remap_to_index


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
    check_file_sizes([f], max_bytes)
    first = first_line(f)
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
    _, df, ln = read_table(f, ",", header=True, str_cols=[k for k, c in enumerate(names) if c in text])
    df.columns = names

    def fail(k, msg):
        raise DataFormatError(f"{f.name} line {ln[k]}: {msg}")

    cols = {c: numeric_column(df[c], ln, f, c) for c in ("cand_rank", "position", "click")}
    cols["like"] = numeric_column(df["like"], ln, f, "like") if "like" in df else np.zeros(len(df), np.int64)
    for c in ("click", "like"):
        bad = (cols[c] != 0) & (cols[c] != 1)
        if bad.any():
            k = int(np.argmax(bad))
            fail(k, f"{c} must be 0 or 1, got {cols[c][k]}")
    attrs = {"source": str(f)}
    for c, what in (("session", "session id"), ("user", "user id"), ("item", "item id")):
        if remap_ids:
            cols[c], attrs[f"{c}_ids"] = remap_to_index(id_column(df[c], ln, f, what))
        else:
            v = numeric_column(df[c], ln, f, what)
            bad = (v < 0) | (v >= MAX_RERANK_ID)
            if bad.any():
                k = int(np.argmax(bad))
                fail(k, f"expected a 0-based integer {what} below {MAX_RERANK_ID:,}, got {v[k]}")
            if c == "session":
                cols[c], attrs["session_ids"] = remap_to_index(v)
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
        sh = numeric_column(df["shown"], ln, f, "shown")
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
