"""Splits: proportions, chronology, minimum training history, train_order, shipped and leave-one-out, speed."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from diffrec_core.data import (InteractionLog, load_dataset, make_split, sequences, split_chrono,
                               split_leave_one_out, split_shipped)


def make_log(rows, n_users=None, n_items=None, **cols) -> InteractionLog:
    ev = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    for k, v in cols.items():
        ev[k] = v
    return InteractionLog(name="toy", events=ev, n_users=n_users or int(ev["user"].max()) + 1,
                          n_items=n_items or int(ev["item"].max()) + 1)


def dense(m):
    return np.asarray(m.todense())


def test_chrono_80_10_10_by_time_not_file_order():
    # user 0: 10 items given in reverse time order; the newest (item 0) must be the test item
    rows = [(0, i, 100 - i) for i in range(10)] + [(1, i, i) for i in range(10)]
    s = split_chrono(make_log(rows))
    assert (s.train.nnz, s.valid.nnz, s.test.nnz) == (16, 2, 2)
    assert dense(s.test)[0].nonzero()[0].tolist() == [0] and dense(s.valid)[0].nonzero()[0].tolist() == [1]
    assert dense(s.test)[1].nonzero()[0].tolist() == [9] and dense(s.valid)[1].nonzero()[0].tolist() == [8]
    # every training event is older than every valid/test event of the same user
    order = dense(s.train_order)
    assert order[0, 9] == 0 and order[0, 2] == 7      # oldest = position 0
    assert order[1, 0] == 0 and order[1, 7] == 7


def test_chrono_short_histories_keep_training_items():
    rows = [(0, 0, 1)] + [(1, 0, 1), (1, 1, 2)] + [(2, i, i) for i in range(5)]
    s = split_chrono(make_log(rows))
    assert dense(s.train).sum(1).tolist() == [1, 2, 3]
    assert dense(s.test).sum(1).tolist() == [0, 0, 1]     # round(0.5) = 1 test item, half up; round(0.2) = 0
    assert dense(s.valid).sum(1).tolist() == [0, 0, 1]
    # 40 % test and 40 % valid of 3 items would leave 1 training item; min_train=2 takes it back from valid first
    rows = [(0, i, i) for i in range(3)]
    s2 = split_chrono(make_log(rows), valid=0.4, test=0.4)
    assert (s2.train.nnz, s2.valid.nnz, s2.test.nnz) == (1, 1, 1)
    s3 = split_chrono(make_log(rows), valid=0.4, test=0.4, min_train=2)
    assert (s3.train.nnz, s3.valid.nnz, s3.test.nnz) == (2, 0, 1)
    s4 = split_chrono(make_log(rows), valid=0.4, test=0.4, min_train=5)
    assert (s4.train.nnz, s4.valid.nnz, s4.test.nnz) == (3, 0, 0)


def test_train_order_matches_train_pattern_and_breaks_ties_by_file_order():
    rows = [(0, 5, 7), (0, 3, 7), (0, 4, 7), (0, 1, 1)]
    s = split_chrono(make_log(rows, n_items=10), valid=0, test=0)
    assert s.train_order.nnz == s.train.nnz == 4        # explicit zero kept for the oldest item
    assert (s.train_order.indices == s.train.indices).all()
    order = dense(s.train_order)[0]
    assert [order[1], order[5], order[3], order[4]] == [0, 1, 2, 3]


def test_duplicates_keep_the_earliest_event():
    rows = [(0, 1, 5), (0, 2, 6), (0, 1, 9), (0, 3, 10)]
    s = split_chrono(make_log(rows), valid=0, test=0.34)
    assert s.train.nnz + s.test.nnz == 3
    assert dense(s.test)[0].nonzero()[0].tolist() == [3]


def test_shipped_and_auto():
    rows = [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 3), (1, 2, 4)]
    log = make_log(rows, split=["train", "train", "test", "train", "valid"])
    s = split_shipped(log)
    assert (s.train.nnz, s.valid.nnz, s.test.nnz) == (3, 1, 1)
    assert make_split(log).meta["how"] == "shipped"
    assert make_split(make_log(rows)).meta["how"] == "chrono"
    with pytest.raises(ValueError, match="ships no split"):
        split_shipped(make_log(rows))
    with pytest.raises(ValueError, match="unknown split"):
        make_split(log, how="random")
    bad = make_log(rows, split=["train", "train", "dev", "train", "valid"])
    with pytest.raises(ValueError, match="dev"):
        split_shipped(bad)


def test_leave_one_out():
    rows = [(0, i, 10 - i) for i in range(5)] + [(1, 0, 1), (1, 1, 2)] + [(2, 3, 1)]
    s = split_leave_one_out(make_log(rows))
    assert dense(s.test)[0].nonzero()[0].tolist() == [0]          # newest by time
    assert dense(s.valid)[0].nonzero()[0].tolist() == [1]
    assert dense(s.train).sum(1).tolist() == [3, 1, 1]
    assert dense(s.test).sum(1).tolist() == [1, 1, 0] and dense(s.valid).sum(1).tolist() == [1, 0, 0]
    assert make_split(make_log(rows), how="loo").meta["how"] == "leave_one_out"


def test_sequences_time_order():
    rows = [(1, 4, 2), (0, 3, 5), (1, 2, 1), (0, 1, 5), (1, 0, 3)]
    seqs = sequences(make_log(rows, n_users=3))
    assert [q.tolist() for q in seqs] == [[3, 1], [2, 4, 0], []]


def test_sample_world_split_carries_ground_truth_and_side_info():
    log = load_dataset("sample")
    s = make_split(log)
    assert s.meta["how"] == "chrono" and s.stats()["users"] == 1000
    # train_noise: only noisy training interactions, all of them inside train
    assert s.train_noise.nnz > 0 and (s.train_noise.multiply(s.train)).nnz == s.train_noise.nnz
    assert 0.07 < s.train_noise.nnz / s.train.nnz < 0.13
    assert len(s.item_titles) == len(s.item_genres) == 500
    assert (dense(s.train).sum(1) >= 1).all()
    # no pair in two parts
    assert s.train.multiply(s.test).nnz == 0 and s.train.multiply(s.valid).nnz == 0


def test_fast_on_ml1m_sized_logs():
    """570k events split in well under 2 s (vectorised: one sort and a few bincounts)."""
    rng = np.random.default_rng(0)
    n, n_users, n_items = 570_000, 6_000, 3_700
    ev = pd.DataFrame({"user": rng.integers(0, n_users, n), "item": rng.integers(0, n_items, n),
                       "timestamp": rng.integers(0, 10**9, n)})
    log = InteractionLog(name="big", events=ev, n_users=n_users, n_items=n_items)
    t = time.perf_counter()
    s = split_chrono(log)
    sequences(log)
    assert time.perf_counter() - t < 2.0
    assert s.train.nnz + s.valid.nnz + s.test.nnz == len(ev.drop_duplicates(["user", "item"]))
