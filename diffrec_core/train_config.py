"""The training protocol's settings, declared once: every method trained by :func:`diffrec_core.train.fit` (and
the Lab's chunked run) has a config that inherits :class:`TrainConfig`.

Why inheritance rather than a nested field: a method config stays one flat dataclass, so ``--set epochs=3``,
presets, checkpoint metadata (``config.json``), the Lab's settings list and ``config_from_dict`` keep reading
the same flat keys. A method whose faithful default differs (DiffuRec's ``mask_seen``, DiffKG's
``eval_every``) redeclares that one field with its own default and a comment saying why; the field keeps its
place and meaning.

The rerankers (DCDR and its baselines) train on logged sessions with their own loop (``fit_lists``, selection on
validation loss) and do not take these settings.

This module imports nothing from the package, so method modules and :mod:`diffrec_core.train` can both use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

TEST_SELECTION = "test (authors' protocol)"     # DiffKG's Main.py keeps the best test epoch: reproduction only


@dataclass
class TrainConfig:
    """When to validate, what to keep, when to stop, and how the ranking is scored (docs/methods.md §2.1 for
    the DiffRec family, §3.4 for the leave-one-out sequence methods). ``train.Protocol`` reads the first group
    and checks the switches' values; ``train.evaluate`` reads the second."""

    # --- the protocol: validate every few epochs, keep the best validation epoch, stop without gains ---
    epochs: int = 40                    # at most this many training epochs (0: none; closed forms are fitted once)
    eval_every: int = 5                 # validate after every eval_every-th epoch (>= 1)
    patience: int = 15                  # stop when epoch - best_epoch >= patience (>= 1); the sample world's
    #                                     40-epoch CPU runs; the authors' loops use 20 (their presets set it)
    select_metric: str = "recall@20"    # the validation metric that picks the kept epoch (DiffRec family)
    # --- how the ranking is scored ---
    ks: List[int] = field(default_factory=lambda: [10, 20])  # cut-offs of Recall / NDCG / HR / Precision
    metric_denominator: str = "gt"      # 'gt': mean over users with held-out items | 'all': over every user
    #                                     (DiffRec's faithful denominator, quirk 7)
    mask_seen: bool = True              # history items are ranked below every other item (-inf)
    test_input: str = "train"           # the test pass reads 'train' (DiffRec faithful, quirk 6) | 'train+valid'
    # --- the authors'-protocol switches (train.Protocol; defaults keep this project's protocol) ---
    stop_check: str = "after_eval"      # 'after_eval': the patience gap is tested after an epoch and its validation
    #                                     | 'before_epoch' (DiffRec/main.py: before training the next epoch)
    eval_offset: int = 0                # validate after epoch e when e > offset and (e - offset) % eval_every == 0
    final_eval: bool = True             # also validate after the last epoch
    select_rule: str = "metric"         # 'metric': select_metric improves | 'any' (DiffuRec: any HR/NDCG@k does)
    select_on: str = "valid"            # 'valid' | 'last' (no selection: DreamRec) | TEST_SELECTION (DiffKG's
    #                                     best-test-epoch protocol: a labelled reproduction switch, never a default)
    eval_batch_mean: int = 0            # 0: mean over users | b: mean of per-batch means over b users (DiffuRec)
    eval_drop_last: int = 0             # 0: every user counts | b: only the whole batches of b users (DreamRec)


DEFAULTS = TrainConfig()


def train_settings(cfg) -> TrainConfig:
    """``cfg`` when it carries the protocol's settings; else the defaults above (a reranker's config, whose own
    loop ignores them). The one place a config without them gets values."""
    return cfg if isinstance(cfg, TrainConfig) else DEFAULTS
