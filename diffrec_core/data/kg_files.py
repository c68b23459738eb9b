"""Knowledge graphs from files (``loaders.py``): a RecBole ``.kg`` + ``.link`` pair mapped so that item i is
entity i and the other entities follow, the sample world's KG, and the notes of the rows skipped on the way
(:class:`KGWarning`)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import DataFormatError, InteractionLog
from .read_table import find_column, id_column, numeric_column, recbole_table


class KGWarning(UserWarning):
    """A knowledge-graph row was skipped or an item has no entity; loading went on (see ``meta['kg_warnings']``)."""


def kg_note(log: InteractionLog, notes: list, what: str) -> None:
    """Keep the KG's skip notes in ``meta['kg_warnings']`` and raise one summarising :class:`KGWarning`."""
    if not notes:
        return
    log.meta["kg_warnings"] = notes
    warnings.warn(f"{what}: " + "; ".join(notes[:5]) + (f"; and {len(notes) - 5} more" if len(notes) > 5 else ""),
                  KGWarning, stacklevel=4)


def skip_empty_rows(df: pd.DataFrame, cols, line_no: np.ndarray, path: Path, notes: list, what: str):
    """Drop rows with an empty field in ``cols`` (a row that can be skipped), noting each skipped line."""
    bad = df[list(cols)].isna().any(axis=1).to_numpy()
    if bad.any():
        lines = line_no[bad]
        shown = ", ".join(str(int(v)) for v in lines[:10]) + (" …" if len(lines) > 10 else "")
        notes.append(f"{path.name}: {int(bad.sum())} {what} with an empty field skipped (line {shown})")
    return df[~bad].reset_index(drop=True), line_no[~bad]


def recbole_kg(log: InteractionLog, f_kg: Path, f_link: Path, item_index: pd.Index, max_bytes, notes: list):
    """Map a RecBole KG so that item i is entity i and other entities follow (sorted by their token).

    Malformed input: a file without head / relation / tail (or item / entity) columns, or a line with the wrong
    number of fields, is a ``DataFormatError`` naming the file and line; so is a link file that links none of the
    items. Rows that can be skipped are skipped with a :class:`KGWarning` (listed in ``meta['kg_warnings']``):
    triples or links with an empty field, an item linked to several entities (the first link wins), an entity
    linked to several items (the first wins). Items without an entity link stay items with no KG edges
    (``meta['unlinked_items']`` counts them).
    """
    kg_notes: list = []
    lnames, _, link, lln = recbole_table(f_link, max_bytes, notes)
    li = find_column(lnames, ["item_id"], "item", f_link, "item id")
    le = find_column(lnames, ["entity_id"], "entity", f_link, "entity id")
    link, lln = skip_empty_rows(link, [li, le], lln, f_link, kg_notes, "link(s)")
    knames, _, kg, kln = recbole_table(f_kg, max_bytes, notes)
    h = find_column(knames, ["head_id"], "head", f_kg, "head entity")
    r = find_column(knames, ["relation_id"], "relation", f_kg, "relation")
    t = find_column(knames, ["tail_id"], "tail", f_kg, "tail entity")
    kg, kln = skip_empty_rows(kg, [h, r, t], kln, f_kg, kg_notes, "triple(s)")
    if not len(kg):
        raise DataFormatError(f"{f_kg.name}: no usable triple (every line has an empty head, relation or tail)")
    item_of = item_index.get_indexer(id_column(link[li], lln, f_link, "item id").astype(str))
    link = pd.DataFrame({"entity": id_column(link[le], lln, f_link, "entity id").astype(str), "item": item_of,
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
    heads, tails = id_column(kg[h], kln, f_kg, "head entity"), id_column(kg[t], kln, f_kg, "tail entity")
    ents = pd.unique(np.concatenate([heads, tails]))  # hash-based: setdiff1d on strings is slow
    others = np.sort(ents[~pd.Index(ents).isin(ent_item.index)].astype(str)).astype(object)
    n = log.n_items
    ent_id = pd.concat([ent_item, pd.Series(np.arange(n, n + len(others)), index=others)])
    rel_names, rel = np.unique(id_column(kg[r], kln, f_kg, "relation").astype(str), return_inverse=True)
    log.kg = pd.DataFrame({"head": ent_id.reindex(heads).to_numpy(np.int64), "relation": rel.astype(np.int64),
                           "tail": ent_id.reindex(tails).to_numpy(np.int64)})
    titles = log.items["title"].tolist() if log.items is not None else [f"item {i}" for i in item_index]
    log.entity_names = titles + others.tolist()
    item_entity = pd.Series(link["entity"].to_numpy(), index=link["item"].to_numpy()).reindex(np.arange(n))
    log.meta.update(relation_names=rel_names.tolist(), n_entities=n + len(others), linked_items=int(len(link)),
                    entity_ids=item_entity.where(item_entity.notna(), None).tolist() + others.tolist(),
                    entity_types=["item"] * n + ["entity"] * len(others), unlinked_items=int(unlinked))
    kg_note(log, kg_notes, f"{f_kg.parent.name}: knowledge graph loaded with notes")


def sample_kg(folder: Path, relations: list, n_entities: int, log_meta: dict) -> pd.DataFrame:
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
    kg, line_no = skip_empty_rows(kg, ["head", "relation", "tail"], line_no, path, notes, "triple(s)")
    codes = pd.Categorical(kg["relation"].astype(str).str.strip(), categories=relations).codes.astype(np.int64)
    if (codes < 0).any():
        k = int(np.argmax(codes < 0))
        raise DataFormatError(f"{path.name} line {line_no[k]}: unknown relation {kg['relation'].iloc[k]!r}; "
                              f"the world's relations are {relations}")
    kg["relation"] = codes
    for col in ("head", "tail"):
        v = numeric_column(kg[col], line_no, path, f"{col} entity id")
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
