"""The sample world: deterministic, the committed files are current, and its ground truth has the promised shape."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diffrec_core.data import load_dataset, make_split
from diffrec_core.data import sample_world as sw

COMMITTED = Path(__file__).resolve().parents[1] / "sample_data"
FILES = ["items.csv", "users.csv", "interactions.csv", "kg.csv", "entities.csv", "rerank_sessions.csv",
         "world.json", "README.md"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("world_a")
    sw.write_sample_world(out, seed=sw.DEFAULT_SEED)
    return out


@pytest.fixture(scope="module")
def tables(fresh):
    return {n: pd.read_csv(fresh / f"{n}.csv") for n in ["items", "users", "interactions", "kg", "entities",
                                                         "rerank_sessions"]}


@pytest.fixture(scope="module")
def world(fresh):
    return sw.load_world(fresh)


def test_same_seed_gives_identical_bytes(fresh, tmp_path):
    sw.write_sample_world(tmp_path, seed=sw.DEFAULT_SEED)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (fresh / name).read_bytes(), name


def test_committed_sample_data_is_a_fresh_generation(fresh):
    for name in FILES:
        assert (COMMITTED / name).exists(), f"sample_data/{name} missing: run python -m diffrec_core sample-world"
        assert (COMMITTED / name).read_bytes() == (fresh / name).read_bytes(), (
            f"sample_data/{name} is stale: regenerate with python -m diffrec_core sample-world")


def test_other_seed_differs():
    small = dict(n_users=30, n_sessions=10)
    a, b = (sw.generate_world(seed=s, **small)["interactions"] for s in (7, 8))
    assert not a.equals(b)
    assert sw.generate_world(seed=7, **small)["interactions"].equals(a)


def test_sizes_and_density(fresh, tables):
    ev, items = tables["interactions"], tables["items"]
    assert ev["user"].nunique() == 1000 and len(items) == 500
    assert items["title"].is_unique and items["genre"].nunique() == 8
    density = len(ev) / (1000 * 500)
    assert 0.03 <= density <= 0.06
    assert ev.groupby("user").size().min() >= 8
    assert not ev.duplicated(["user", "item"]).any()
    # timestamps strictly increase within each user
    d = np.diff(ev["timestamp"].to_numpy())
    same_user = np.diff(ev["user"].to_numpy()) == 0
    assert (d[same_user] > 0).all()
    assert sum((fresh / n).stat().st_size for n in FILES) < 5 * 2 ** 20


def test_popularity_is_long_tailed(tables):
    counts = np.sort(tables["interactions"]["item"].value_counts().to_numpy())[::-1]
    top10 = counts[: len(counts) // 10].sum() / counts.sum()
    assert top10 > 0.3  # the top 10 % of items take far more than 10 % of the interactions


def test_noise_share_and_it_contradicts_taste(tables, world):
    ev = tables["interactions"]
    share = ev["is_noise"].mean()
    assert 0.08 <= share <= 0.12
    disliked = np.asarray(world["users"]["disliked_genres"])
    genre = np.asarray(world["items"]["genre"])
    noisy = ev[ev["is_noise"] == 1]
    g = genre[noisy["item"].to_numpy()]
    assert (disliked[noisy["user"].to_numpy()] == g[:, None]).any(1).all()
    # noise sits at random places, not at the end of each history
    last = ev.groupby("user").tail(1)["is_noise"].mean()
    assert last < 0.3


def test_sequential_signal(tables):
    ev, items = tables["interactions"], tables["items"]
    genre = items["genre"].to_numpy()[ev["item"].to_numpy()]
    same_user = ev["user"].to_numpy()[1:] == ev["user"].to_numpy()[:-1]
    consecutive = (genre[1:] == genre[:-1])[same_user].mean()
    rng = np.random.default_rng(0)
    shuffled = ev.assign(item=ev.groupby("user")["item"].transform(lambda s: rng.permutation(s.to_numpy())))
    g2 = items["genre"].to_numpy()[shuffled["item"].to_numpy()]
    baseline = (g2[1:] == g2[:-1])[same_user].mean()   # same tastes, order destroyed
    assert consecutive > baseline + 0.1


def test_knowledge_graph(tables):
    kg, ents = tables["kg"], tables["entities"]
    assert set(kg["relation"]) == set(sw.RELATIONS)
    assert 100 <= (ents["type"] != "item").sum() <= 300
    assert (ents.loc[:499, "type"] == "item").all()
    assert kg["head"].max() < 500 and kg["tail"].min() >= 500 and kg["tail"].max() < len(ents)
    assert 0.08 <= kg["is_wrong"].mean() <= 0.12
    assert not kg.duplicated(["head", "relation", "tail"]).any()
    # wrong triples point at the right kind of entity, and are not the item's true attribute
    items = tables["items"]
    wrong = kg[(kg["is_wrong"] == 1) & (kg["relation"] == "has_genre")]
    assert (ents["type"].to_numpy()[wrong["tail"]] == "genre").all()
    assert (ents["name"].to_numpy()[wrong["tail"]] != items["genre"].to_numpy()[wrong["head"]]).all()


def test_sessions_and_utility(tables, world):
    s = tables["rerank_sessions"]
    assert s["session"].nunique() >= 3000
    per = s.groupby("session")
    assert (per.size() == 20).all() and (per["shown"].sum() == 10).all()
    assert not s.duplicated(["session", "item"]).any()
    shown = s[s["shown"] == 1]
    assert sorted(shown["position"].unique()) == list(range(1, 11))
    assert (s.loc[s["shown"] == 0, "position"] == -1).all()
    assert (s["like"] <= s["click"]).all()
    ctr = shown.groupby("position")["click"].mean()
    assert ctr[1] > ctr[5] > ctr[10]  # position bias is visible in the logs
    gains = []
    for _, g in itertools.islice(per, 300):
        u = int(g["user"].iloc[0])
        lst = g.loc[g["shown"] == 1].sort_values("position")["item"].to_numpy()
        best = sw.best_list(world, u, g["item"].to_numpy())
        assert len(set(best)) == 10
        gains.append(sw.list_utility(world, u, best) - sw.list_utility(world, u, lst))
    gains = np.array(gains)
    assert (gains >= -1e-12).all() and gains.mean() > 0.2


def test_best_list_is_exact_by_brute_force(world):
    rng = np.random.default_rng(1)
    genre = np.asarray(world["items"]["genre"])
    for _ in range(5):
        user = int(rng.integers(1000))
        # few genres among the candidates, so that the diversity penalty matters
        pool = np.flatnonzero(np.isin(genre, rng.choice(8, 2, replace=False)))
        cand = rng.choice(pool, 6, replace=False)
        best = max(itertools.permutations(cand, 3), key=lambda x: sw.list_utility(world, user, x))
        ours = sw.best_list(world, user, cand, length=3)
        assert sw.list_utility(world, user, ours) == pytest.approx(sw.list_utility(world, user, best), abs=1e-12)


def test_response_probs_shape_and_diversity(world):
    genre = np.asarray(world["items"]["genre"])
    same = np.flatnonzero(genre == 0)[:3]
    p = sw.response_probs(world, 0, same)
    assert p.shape == (3, 2) and (p >= 0).all() and (p <= 1).all() and (p[:, 1] <= p[:, 0]).all()
    # the same item later in a same-genre list is clicked less than alone at that position
    alone = sw.response_probs(world, 0, np.r_[np.flatnonzero(genre == 1)[:2], same[2]])
    assert p[2, 0] < alone[2, 0]


def test_world_json_describes_the_model(world):
    assert world["seed"] == sw.DEFAULT_SEED
    assert {"w_taste", "w_quality", "b_click", "b_like", "gamma", "weights"} <= set(world["utility"])
    assert np.asarray(world["users"]["taste_now"]).shape == (1000, 8)
    assert np.allclose(np.asarray(world["users"]["taste_now"]).sum(1), 1, atol=1e-4)
    aff = np.asarray(world["users"]["studio_affinity"])
    assert aff.shape == (1000, len(sw.STUDIOS)) and np.allclose(aff.sum(1), 1, atol=1e-4)
    assert np.median(aff.max(1)) > 0.3  # most users have clear favourite studios
    assert len(world["items"]["quality"]) == 500
    json.dumps(world)  # plain JSON types only


def test_world_has_personal_signal():
    """A history predicts a user's held-out items much better than popularity does (the point of the app), while
    popularity is still far better than chance. Shipped files, validation split, closed-form methods only."""
    from diffrec_core.pipeline import build_model, load_split
    from diffrec_core.train import fit

    split = load_split("sample")
    pop = fit(build_model("pop", split), split, seed=1).valid["recall@20"]
    ease = fit(build_model("ease", split, overrides={"l2": 100.0}), split, seed=1).valid["recall@20"]
    assert pop > 2.5 * 20 / split.n_items          # well above a random ranking's ~20/500
    assert ease >= 1.3 * pop, (ease, pop)


def test_committed_world_loads_and_splits():
    log = load_dataset("sample")
    assert {"title", "genre", "era", "studio"} <= set(log.items.columns)
    assert "is_noise" in log.events and "is_wrong" in log.kg
    assert len(log.entity_names) == log.meta["n_entities"]
    split = make_split(log)
    assert split.train_noise is not None and split.train_noise.nnz > 0
    assert split.item_titles[0] == log.items["title"].iloc[0]
