"""A list a user gives the Reranking page (typed ids or an uploaded CSV of item ids): parsed with size caps and checked
against the session's candidates, with a message for every problem (``rerank.py`` is the harness; these names
import from there too)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np


CSV_MAX_BYTES = 20_000               # an uploaded list of item ids is tiny; anything larger is refused
CSV_MAX_TOKENS = 200


# ------------------------------------------------------------------------------------------------ user input
@dataclass
class ListCheck:
    """The result of validating a user-given list: ``items`` (distinct item ids, kept order) and messages.
    ``ok`` is False when the list cannot be reranked (errors); warnings are fixed automatically."""

    items: List[int]
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _name(item: int, titles: Optional[Sequence[str]]) -> str:
    if titles is not None and 0 <= item < len(titles):
        return f"“{titles[item]}” ({item})"
    return str(item)


def validate_list(tokens: Sequence, candidates: Sequence[int], n_items: int, max_len: int,
                  titles: Optional[Sequence[str]] = None, min_len: int = 2) -> ListCheck:
    """Check a list of item ids given by a person (typed, uploaded or picked): ids must be integers of known
    items, from this request's candidate set, distinct (duplicates are dropped with a warning), at least
    ``min_len`` and at most ``max_len`` long."""
    errors, warnings = [], []
    if tokens is None or len(tokens) == 0:
        return ListCheck([], [f"The list is empty: add at least {min_len} items from the candidate set."])
    ids, bad = [], []
    for t in tokens:
        s = str(t).strip()
        try:
            v = float(s)
            if not np.isfinite(v) or v != int(v):
                raise ValueError
            ids.append(int(v))
        except (TypeError, ValueError, OverflowError):
            bad.append(s if len(s) <= 20 else s[:20] + "…")
    if bad:
        errors.append(f"Not item ids (whole numbers expected): {', '.join(repr(b) for b in bad[:8])}"
                      + (f" and {len(bad) - 8} more" if len(bad) > 8 else "") + ".")
    unknown = [i for i in ids if not 0 <= i < n_items]
    if unknown:
        errors.append(f"Unknown item ids (the catalogue has ids 0…{n_items - 1}): "
                      f"{', '.join(map(str, unknown[:8]))}" + (" …" if len(unknown) > 8 else "") + ".")
    cand = set(int(c) for c in candidates)
    outside = list(dict.fromkeys(i for i in ids if 0 <= i < n_items and i not in cand))
    if outside:
        errors.append("Not in this request's candidate set (a reranker only reorders or swaps in candidates): "
                      + ", ".join(_name(i, titles) for i in outside[:6]) + (" …" if len(outside) > 6 else "") + ".")
    seen, uniq, dups = set(), [], []
    for i in ids:
        if i in seen:
            dups.append(i)
        else:
            seen.add(i)
            uniq.append(i)
    if dups:
        warnings.append("Duplicates removed (a list shows each item once; the first position is kept): "
                        + ", ".join(_name(i, titles) for i in dict.fromkeys(dups)) + ".")
    if not errors:
        if len(uniq) < min_len:
            errors.append(f"A list of {len(uniq)} item has nothing to rerank: add at least {min_len} items."
                          if len(uniq) == 1 else f"The list is empty: add at least {min_len} items.")
        elif len(uniq) > max_len:
            errors.append(f"This list has {len(uniq)} items; the model supports at most {max_len} (the length of "
                          f"the logged lists it was trained on). Remove {len(uniq) - max_len}.")
    return ListCheck(uniq, errors, warnings)


def parse_item_csv(data: bytes, max_bytes: int = CSV_MAX_BYTES, max_tokens: int = CSV_MAX_TOKENS):
    """Read item ids from an uploaded CSV: a column named ``item`` (or ``item_id`` / ``id``) if the first row is a
    header, else every cell in reading order. Returns (tokens, error message or None); never raises."""
    if data is None or len(data) == 0:
        return [], "The file is empty."
    if len(data) > max_bytes:
        return [], (f"The file is {len(data):,} bytes; a list of item ids is tiny, so the limit is "
                    f"{max_bytes:,} bytes.")
    if b"\x00" in data:
        return [], "This is not a text CSV file (it contains binary data)."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], "The file is not UTF-8 text; save it as a plain CSV of item ids."
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as e:
        return [], f"The file is not a readable CSV: {e}."
    rows = [r for r in rows if any(c for c in r)]
    if not rows:
        return [], "The file holds no item ids."
    header = [c.lower() for c in rows[0]]
    col = next((header.index(h) for h in ("item", "item_id", "id") if h in header), None)
    if col is not None:
        tokens = [r[col] if col < len(r) else "" for r in rows[1:]]
        tokens = [t for t in tokens if t != ""]
    else:
        tokens = [c for r in rows for c in r if c != ""]
    if len(tokens) > max_tokens:
        return [], f"The file holds {len(tokens)} values; a list has at most a few dozen."
    if not tokens:
        return [], "The file has a header but no item ids under it."
    return tokens, None
