"""Data: containers, the generated sample world, loaders for real formats, and splits.

``load_dataset("sample")`` gives the shipped sample world; ``load_dataset(path)`` reads MovieLens, RecBole atomic
files, the DiffRec / DiffuRec releases or a plain CSV. ``make_split`` turns the log into train / valid / test.
"""
from .dataset import DataFormatError, InteractionLog, Split, csr_from_pairs
from .loaders import load_dataset, load_rerank_sessions
from .splits import make_split, sequences, split_chrono, split_leave_one_out, split_shipped

__all__ = [
    "DataFormatError", "InteractionLog", "Split", "csr_from_pairs",
    "load_dataset", "load_rerank_sessions",
    "best_list", "generate_world", "list_utility", "load_world", "relevance", "response_probs", "write_sample_world",
    "make_split", "sequences", "split_chrono", "split_leave_one_out", "split_shipped",
]
_SAMPLE_WORLD = {"best_list", "generate_world", "list_utility", "load_world", "relevance", "response_probs",
                 "write_sample_world"}


def __getattr__(name):
    # Imported lazily: the generator is only needed to write or read the world itself.
    if name in _SAMPLE_WORLD:
        from . import sample_world
        return getattr(sample_world, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
