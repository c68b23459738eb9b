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

The shared low-level reading is ``read_table.py``, knowledge-graph files ``kg_files.py``, logged reranking
sessions ``rerank_sessions.py``; every name callers used from here still imports from here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .dataset import DataFormatError, InteractionLog
from ..paths import SAMPLE_DATA
from .kg_files import KGWarning, recbole_kg, sample_kg  # noqa: F401 - KGWarning importable from here, as before
from .read_table import (MAX_BYTES, ITEM_NAMES, TIME_NAMES, USER_NAMES, build_log, check_file_sizes, find_column,
                         first_line, id_column, numeric_column, read_table, recbole_table, timestamp_column)
from .rerank_sessions import (  # noqa: F401 - importable from here, as before
    MAX_RERANK_ID, RERANK_COLUMNS, RERANK_FILE, load_rerank_sessions)


# ------------------------------------------------------------------------------------------------------ the formats
def _load_movielens(path: Path, min_rating, max_bytes) -> InteractionLog:
    sep = "\t" if path.name == "u.data" else "::"
    check_file_sizes([path], max_bytes)
    _, df, ln = read_table(path, sep, n_fields=4)
    users = numeric_column(df[0], ln, path, "user id")
    items = numeric_column(df[1], ln, path, "item id")
    rating = numeric_column(df[2], ln, path, "rating", integer=False)
    ts = numeric_column(df[3], ln, path, "timestamp")
    log = build_log(path.parent.name or path.stem, users, items, ts, path, rating=rating, min_rating=min_rating)
    _movielens_items(log, path, max_bytes)
    return log


def _movielens_items(log: InteractionLog, path: Path, max_bytes):
    """Titles and genres from ``u.item`` / ``movies.dat`` beside the ratings, when present."""
    ids = np.asarray(log.meta["item_ids"]).astype(np.int64)
    f100k, f1m = path.parent / "u.item", path.parent / "movies.dat"
    if path.name == "u.data" and f100k.exists():
        check_file_sizes([f100k], max_bytes)
        _, df, ln = read_table(f100k, "|", n_fields=24, str_cols=range(24))
        genre_names = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                       "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                       "Sci-Fi", "Thriller", "War", "Western"]
        flags = df.iloc[:, 5:24].to_numpy() == "1"
        genres = ["|".join(g for g, f in zip(genre_names, row, strict=True) if f) for row in flags]
        table = pd.DataFrame({"title": df[1].to_numpy(), "genres": genres},
                             index=numeric_column(df[0], ln, f100k, "movie id"))
    elif path.name == "ratings.dat" and f1m.exists():
        check_file_sizes([f1m], max_bytes)
        _, df, ln = read_table(f1m, "::", n_fields=3, str_cols=(1, 2))
        table = pd.DataFrame({"title": df[1].to_numpy(), "genres": df[2].to_numpy()},
                             index=numeric_column(df[0], ln, f1m, "movie id"))
    else:
        return
    table = table[~table.index.duplicated()].reindex(ids)
    table["title"] = table["title"].fillna(pd.Series([f"item {i}" for i in ids], index=ids))
    table["genres"] = table["genres"].fillna("")
    table["genre"] = table["genres"].str.split("|").str[0]
    log.items = table.reset_index(drop=True)


def _load_recbole(path: Path, min_rating, max_bytes) -> InteractionLog:
    if path.is_dir():
        inters = sorted(path.glob("*.inter"))
        if not inters:
            raise DataFormatError(f"{path}: no .inter file in this folder")
        path = inters[0]
    notes: list = []
    names, types, df, ln = recbole_table(path, max_bytes, notes)
    u_col = find_column(names, ["user_id"], "user", path, "user id")
    i_col = find_column(names, ["item_id"], "item", path, "item id")
    ts = (timestamp_column(df["timestamp"], ln, path) if "timestamp" in names else np.arange(len(df)))
    rating = numeric_column(df["rating"], ln, path, "rating", integer=False) if "rating" in names else None
    log = build_log(path.stem, id_column(df[u_col], ln, path, "user id"), id_column(df[i_col], ln, path, "item id"), ts,
                     path, rating=rating,
                     min_rating=min_rating)
    item_tokens = np.asarray(log.meta["item_ids"]).astype(str)
    index = pd.Index(item_tokens)
    f_item = path.with_suffix(".item")
    if f_item.exists():
        inames, _, idf, _ = recbole_table(f_item, max_bytes, notes)
        key = find_column(inames, [i_col], "item", f_item, "item id")
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
        recbole_kg(log, f_kg, f_link, index, max_bytes, notes)
    log.meta["warnings"] = notes
    log.meta["files"] = [str(p) for p in [path, f_item, f_kg, f_link] if p.exists()]
    return log


def _load_diffrec(folder: Path, max_bytes) -> InteractionLog:
    """The DiffRec release: ``{train,valid,test}_list.npy`` of (user, item), 0-based, grouped by user."""
    files = [folder / f"{s}_list.npy" for s in ("train", "valid", "test")]
    present = [f for f in files if f.exists()]
    check_file_sizes([f for f in files + [folder / "item_emb.npy"] if f.exists()], max_bytes)
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
    log = build_log(folder.name, a[:, 0], a[:, 1], np.arange(len(a)), files[0], split=np.concatenate(splits),
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
    check_file_sizes([path], max_bytes)
    head, df, ln = read_table(path, ",", header=True)
    df.columns = head
    users = numeric_column(df["user"], ln, path, "user id")
    items = numeric_column(df["item"], ln, path, "item id")
    pos = numeric_column(df["position"], ln, path, "position")
    split = df["split"].astype(str).str.strip().to_numpy()
    bad = ~np.isin(split, ["train", "valid", "test"])
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{path.name} line {ln[k]}: expected split train, valid or test, got {split[k]!r}")
    log = build_log(path.parent.name, users, items, pos, path, split=split)
    log.meta["timestamp"] = "position in the user's sequence"
    log.meta["item_id_note"] = "original ids 1..N (0 = padding) became 0..N-1; meta['item_ids'] maps back"
    return log


def _load_plain_csv(path: Path, min_rating, max_bytes) -> InteractionLog:
    """``user,item[,timestamp]``; a header (naming user and item columns) is optional; ids may be strings."""
    check_file_sizes([path], max_bytes)
    first = first_line(path)
    if not first:
        raise DataFormatError(f"{path.name}: the file is empty")
    sep = "\t" if ("\t" in first and "," not in first) else ","
    fields = [f.strip().strip('"').lower() for f in first.split(sep)]
    has_header = fields[0] in USER_NAMES or (len(fields) > 1 and fields[1] in ITEM_NAMES)
    if has_header:
        id_cols = [k for k, f in enumerate(fields) if f in USER_NAMES | ITEM_NAMES]
        head, df, ln = read_table(path, sep, header=True, str_cols=id_cols)
        low = [h.strip().strip('"').lower() for h in head]
        df.columns = low
        u = next((c for c in low if c in USER_NAMES), None)
        i = next((c for c in low if c in ITEM_NAMES), None)
        if u is None or i is None:
            raise DataFormatError(f"{path.name} line 1: expected a header naming a user and an item column "
                                  f"(e.g. 'user,item,timestamp'), got {head}")
        t = next((c for c in low if c in TIME_NAMES), None)
        r = "rating" if "rating" in low else None
    else:
        _, df, ln = read_table(path, sep, n_fields={2, 3}, str_cols=(0, 1))
        df.columns = ["user", "item", "timestamp"][: df.shape[1]]
        u, i, t, r = "user", "item", ("timestamp" if df.shape[1] == 3 else None), None
    ts = timestamp_column(df[t], ln, path) if t else np.arange(len(df))
    rating = numeric_column(df[r], ln, path, "rating", integer=False) if r else None
    log = build_log(path.stem, id_column(df[u], ln, path, "user id"), id_column(df[i], ln, path, "item id"), ts, path,
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
    check_file_sizes([folder / n for n in need], max_bytes)
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
    kg = sample_kg(folder, relations, len(ents), kg_meta)
    items.index.name = None
    users.index.name = None
    return InteractionLog(
        name="sample", events=ev, n_users=len(users), n_items=len(items), items=items, users=users, kg=kg,
        entity_names=ents["name"].tolist(),
        meta={"source": str(folder), "relation_names": relations, "n_entities": int(len(ents)),
              "entity_types": ents["type"].tolist(), "world_json": str(world_path),
              "ground_truth": {"events.is_noise": "injected noise (never give to a model)",
                               "kg.is_wrong": "injected wrong triple (never give to a model)"}, **kg_meta})


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
        check_file_sizes([path], max_bytes)
        first = first_line(path)
        if [f.strip() for f in first.split(",")] == ["user", "item", "position", "split"]:
            return _load_diffurec(path, max_bytes)
        return _load_plain_csv(path, min_rating, max_bytes)
    raise DataFormatError(f"{path.name}: unknown format (expected u.data, ratings.dat, *.inter, *_list.npy "
                          f"or a CSV of user,item[,timestamp])")
