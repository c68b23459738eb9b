"""The simulated data set (diffrec_core.data.simulate) on a scaled-down Amazon-Book shape: exact shape and
density, determinism under a seed, a long tail, a per-user split, and the DiffRec folder format round trip."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core.__main__ import main  # noqa: E402
from diffrec_core.data import load_dataset, simulate  # noqa: E402
from diffrec_core.methods.base import ConfigError  # noqa: E402
from diffrec_core.pipeline import load_split  # noqa: E402

SMALL = simulate.AMAZON_BOOK.scaled(0.02)     # 2,176 users x 1,899 items, 62,925 interactions


@pytest.fixture(scope="module")
def drawn():
    return simulate.simulate(SMALL, seed=3)


def test_the_named_shape_is_amazon_books():
    s = simulate.AMAZON_BOOK
    assert (s.n_users, s.n_items, s.n_interactions) == (108_822, 94_949, 3_146_256)
    assert s.density == pytest.approx(3.045e-4, rel=1e-3)
    assert (SMALL.n_users, SMALL.n_items, SMALL.n_interactions) == (2176, 1899, 62925)


def test_shape_density_and_margins(drawn):
    splits, st = drawn
    allp = np.concatenate([splits[s] for s in simulate.SPLITS])
    assert all(a.dtype == np.int64 and a.ndim == 2 and a.shape[1] == 2 for a in splits.values())
    assert st["dropped_repeats"] == 0 and len(allp) == SMALL.n_interactions
    assert allp[:, 0].max() + 1 == SMALL.n_users and allp[:, 1].max() + 1 == SMALL.n_items
    assert st["density"] == pytest.approx(SMALL.n_interactions / (SMALL.n_users * SMALL.n_items), rel=1e-12)
    key = allp[:, 0] * SMALL.n_items + allp[:, 1]
    assert len(np.unique(key)) == len(key)                                # no (user, item) pair twice
    deg = np.bincount(allp[:, 0], minlength=SMALL.n_users)
    pop = np.bincount(allp[:, 1], minlength=SMALL.n_items)
    assert deg.min() >= SMALL.min_per_user and pop.min() >= 1             # every user and item is there
    # long tail: the top 20 % of items hold most interactions, the most popular one far above the median
    top = np.sort(pop)[::-1]
    assert top[:len(top) // 5].sum() / top.sum() > 0.5
    assert top[0] > 20 * np.median(pop)
    assert deg.max() > 5 * np.median(deg)                                # and a few very active users


def test_split_is_per_user_and_grouped(drawn):
    splits, _ = drawn
    n = {s: np.bincount(splits[s][:, 0], minlength=SMALL.n_users) for s in simulate.SPLITS}
    assert (n["train"] >= 1).all() and (n["valid"] >= 1).all() and (n["test"] >= 1).all()
    total = sum(n.values())
    frac = {s: n[s].sum() / total.sum() for s in n}
    assert frac["train"] == pytest.approx(0.7, abs=0.02) and frac["valid"] == pytest.approx(0.2, abs=0.02)
    for a in splits.values():                                            # grouped by user, as the release is
        assert (np.diff(a[:, 0]) >= 0).all()


def test_same_seed_same_arrays_other_seed_other_arrays(drawn):
    again, st = simulate.simulate(SMALL, seed=3)
    for s in simulate.SPLITS:
        np.testing.assert_array_equal(again[s], drawn[0][s])            # the same computation, repeated
    other, _ = simulate.simulate(SMALL, seed=4)
    assert not np.array_equal(other["train"], drawn[0]["train"])


def test_folder_round_trip_and_cli(tmp_path, capsys):
    out = tmp_path / "amazon-book_sim"
    assert main(["simulate", "--out", str(out), "--scale", "0.01", "--seed", "1"]) == 0
    assert '"interactions"' in capsys.readouterr().out
    log = load_dataset(str(out))
    shape = simulate.AMAZON_BOOK.scaled(0.01)
    assert (log.n_users, log.n_items, len(log.events)) == (shape.n_users, shape.n_items, shape.n_interactions)
    split = load_split(str(out))                                          # the shipped split, as for the release
    assert split.n_users == shape.n_users and split.n_items == shape.n_items
    assert split.train.nnz == len(np.load(out / "train_list.npy"))
    # an existing folder is not overwritten silently; --overwrite replaces it
    assert main(["simulate", "--out", str(out), "--scale", "0.01"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["simulate", "--out", str(out), "--scale", "0.01", "--overwrite"]) == 0


@pytest.mark.parametrize("kw, match", [
    (dict(n_users=10, n_items=5, n_interactions=60), "cannot fit"),
    (dict(n_users=10, n_items=50, n_interactions=40), "fewer than one per item"),
    (dict(n_users=10, n_items=50, n_interactions=60), "per user"),
])
def test_impossible_shapes_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        simulate.simulate(simulate.Shape("bad", **kw))


def test_apportion_is_exact_and_capped():
    rng = np.random.default_rng(0)
    w = rng.lognormal(0, 2, 500)
    k = simulate.apportion(w, 10_000, np.full(500, 60))
    assert k.sum() == 10_000 and k.max() <= 60 and k.min() >= 0
    capped = k == 60
    assert capped.any() and capped.sum() < 100
    free = ~capped                         # below the cap, the counts follow the weights, within one
    c = (10_000 - 60 * capped.sum()) / w[free].sum()
    assert np.abs(k[free] - w[free] * c).max() < 1.0
