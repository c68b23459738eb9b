"""What a comparison compares under: the protocols (one per group, never ranked across groups), what a method needs of
the data to apply, the preset it runs with, the order the runs are made in, and the names of a row's status.
The harness is ``compare.py`` (docs/methods.md §3.4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np

from . import registry
from .data.dataset import InteractionLog

SCHEMA = "diffrec-compare"
VERSION = 1
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "hr@10", "hr@20")
COSTS = ("train_seconds", "infer_ms_per_user")
SIMPLE = ("pop", "itemknn", "ease", "multvae")   # closed-form or one-network baselines: "simple" in the verdict

# what became of a row (status()): a not-run row is never listed as not applicable
RAN, NOT_APPLICABLE, NOT_RUN, FAILED = "ran", "not applicable", "not run (budget)", "failed"
NOT_RUN_REASON = "not run (the time budget ran out, or a stop was asked, before its turn)"


@dataclass(frozen=True)
class Protocol:
    key: str
    label: str        # one line for tables and headings
    short: str        # the protocol's name inside the verdict's sentence
    primary: str      # the metric the verdict ranks by: the one each group selects on (docs/methods.md §3.4)
    detail: str


PROTOCOLS: Dict[str, Protocol] = {
    "chrono": Protocol("chrono", "per-user chronological 80/10/10", "chronological split", "recall@20",
                       "each user's oldest 80 % of interactions train, the next 10 % validate, the newest 10 % test; "
                       "full ranking over all items with seen items masked; selection on validation Recall@20"),
    "shipped": Protocol("shipped", "the data set's own split", "its own released split", "recall@20",
                        "the split the release ships (e.g. DiffRec's ML-1M files); full ranking with seen items "
                        "masked; selection on validation Recall@20"),
    "leave_one_out": Protocol("leave_one_out", "leave-one-out (last item test, second-to-last valid)",
                              "leave-one-out", "ndcg@10",
                              "each user's last item tests and the one before it validates; full ranking over real "
                              "items; selection on validation NDCG@10; one target, so Recall@K equals HR@K"),
}


def protocol_of(key: str) -> Protocol:
    return PROTOCOLS.get(key) or Protocol(key, key, key, "recall@20", key)


# ------------------------------------------------------------------------------------------------ applicability
@dataclass(frozen=True)
class DataInfo:
    """What applicability depends on: a knowledge graph, and a real time order (timestamps or sequence
    positions, not merely the order of lines in a file)."""
    name: str
    has_kg: bool
    time_order: bool
    time_note: str = ""


def data_info(log: InteractionLog) -> DataInfo:
    note = str(log.meta.get("timestamp", ""))
    ts = log.events["timestamp"].to_numpy() if "timestamp" in log.events else None
    if note.startswith("file order"):
        real = False
    elif ts is None or not len(ts):
        real, note = False, "no timestamps"
    elif np.array_equal(np.sort(ts), np.arange(len(ts))):   # a CSV without a time column: ts = line number
        real, note = False, "no timestamps (file order)"
    else:
        real, note = True, note or "timestamps"
    return DataInfo(log.name, log.kg is not None and len(log.kg) > 0, real, note)


def applicability(method: str, info: DataInfo) -> tuple:
    """(applies, reason). The reason of a non-applicable method says what the data lacks."""
    needs = registry.get(method).needs
    if "lists" in needs:
        return False, ("reranks logged recommendation lists (a different task): compared on the Reranking page, "
                       "not in this table")
    if "kg" in needs and not info.has_kg:
        return False, f"needs a knowledge graph; {info.name} has none"
    if "sequences" in needs and not info.time_order:
        return False, (f"needs interaction sequences in time order; {info.name} has {info.time_note or 'none'}, so "
                       f"a next-item protocol would be meaningless")
    return True, ""


def protocol_for(method: str, base_how: str) -> str:
    """Leave-one-out for sequence methods, else the data set's main split ('chrono' or 'shipped')."""
    return "leave_one_out" if "sequences" in registry.get(method).needs else base_how


def pick_preset(method: str, data_name: str) -> str:
    """The preset named after the data set where a method has one (e.g. 'ml-1m' for diffrec_ml-1m_clean,
    'beauty' for the DiffuRec Beauty release), else the small 'sample' configuration."""
    low = data_name.lower()
    named = [p for p in registry.get(method).presets if p != "sample" and p.lower() in low]
    return max(named, key=len) if named else "sample"


def closed_form(method: str) -> bool:
    """A method whose fit is ``prepare()`` alone (its config's default ``epochs`` is 0: TopPop, ItemKNN, EASE)."""
    f = getattr(registry.get(method).config_cls, "__dataclass_fields__", {}).get("epochs")
    return f is not None and f.default == 0


def run_order(methods: Sequence[str]) -> List[str]:
    """The order the runs are made in: closed-form baselines first, then the other simple baselines (one small
    network), then every other method in the order given. Under one shared deadline (``should_stop``) a slow method
    placed first would use the time of the near-instant ones after it; placed last, it only loses its own turn."""
    def rank(m: str) -> int:
        return 0 if closed_form(m) else 1 if m in SIMPLE else 2
    return sorted(methods, key=rank)      # stable: the given order within each rank


def default_methods() -> List[str]:
    """Every registered method, diffusion first (registry order), then baselines."""
    specs = registry.specs()
    return [s.name for s in specs if s.kind == "diffusion"] + [s.name for s in specs if s.kind != "diffusion"]
