"""The non-diffusion baselines (TopPop, ItemKNN, EASE, Mult-VAE): they learn something real on a planted world,
their closed forms match a direct computation, and they are deterministic under a seed."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from diffrec_core import registry
from diffrec_core.data.dataset import Split, csr_from_pairs
from diffrec_core.methods.base import config_from_dict
from diffrec_core.methods.ease import ease_weights
from diffrec_core.methods.itemknn import cosine_similarity, keep_top_k
from diffrec_core.train import fit

BASELINES = ["pop", "itemknn", "ease", "multvae"]
N_USERS, N_ITEMS, N_BLOCKS = 200, 80, 4
# Small and fast for an 80-item world: 10 updates per epoch x 15 epochs; beta ramps to 0.15 (cap 0.2 at update 200).
FAST = {"multvae": dict(dims=[32, 16], batch_size=20, epochs=15, eval_every=5, lr=3e-3, total_anneal_steps=1000)}


def planted_split(seed: int = 0) -> Split:
    """Users in 4 groups; each group draws 10 items from its own block of 20 (Zipf-skewed within the block, so
    popularity carries signal too) plus one random item. Per user: 2 valid, 2 test, the rest train."""
    rng = np.random.default_rng(seed)
    size = N_ITEMS // N_BLOCKS
    w = 1.0 / np.arange(1, size + 1) ** 0.8
    rows = {"train": ([], []), "valid": ([], []), "test": ([], [])}
    for u in range(N_USERS):
        block = (u % N_BLOCKS) * size + rng.choice(size, 10, replace=False, p=w / w.sum())
        other = rng.integers(N_ITEMS)
        items = rng.permutation(np.unique(np.append(block, other)))
        for part, sl in (("valid", items[:2]), ("test", items[2:4]), ("train", items[4:])):
            rows[part][0].extend([u] * len(sl))
            rows[part][1].extend(sl)
    m = {k: csr_from_pairs(np.array(us), np.array(its), N_USERS, N_ITEMS) for k, (us, its) in rows.items()}
    return Split("planted", m["train"], m["valid"], m["test"])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tensors here are tiny (at most 200 x 80): one thread avoids OpenMP start-up and contention overhead, which
    otherwise dominates the run time on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def split():
    return planted_split()


def build(name: str, split: Split, seed: int = 0, **over):
    spec = registry.get(name)
    torch.manual_seed(seed)  # weight init (Mult-VAE) draws from the global generator
    return spec.model_cls(config_from_dict(spec.config_cls, {**FAST.get(name, {}), **over}), split.n_users,
                          split.n_items)


def random_recall_at_20(split: Split) -> float:
    """Expected Recall@20 of a uniformly random ranking of each user's unseen items (|GT| denominator)."""
    unseen = split.n_items - np.diff(split.train.indptr)
    has_gt = np.diff(split.valid.indptr) > 0
    return float(np.mean(np.minimum(1.0, 20.0 / unseen[has_gt])))


def test_registered():
    names = registry.names("baseline")
    for n in BASELINES:
        assert n in names
        spec = registry.get(n)
        assert spec.kind == "baseline" and spec.page == "compare" and spec.diffused == ""
        for preset in spec.presets.values():  # every preset is a valid config
            config_from_dict(spec.config_cls, preset)


@pytest.mark.parametrize("name", BASELINES)
def test_beats_random_and_shapes(name, split):
    m = build(name, split)
    res = fit(m, split, seed=1)
    rand = random_recall_at_20(split)
    margin = 0.1 if name == "pop" else 0.3  # popularity alone is weaker than the planted blocks
    assert res.valid["recall@20"] > rand + margin, (name, res.valid["recall@20"], rand)
    users = np.arange(7)
    s = m.score(split, users, "valid")
    assert s.shape == (7, split.n_items) and s.dtype == torch.float32
    t = m.trajectory(split, users, k=5)
    assert t.final_scores.shape == (7, split.n_items) and t.final_topk.shape == (7, 5)
    # save -> load into a fresh model without data gives the same scores (buffers hold the whole fit)
    fresh = build(name, split, seed=123)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.score(split, users, "valid"), s)


@pytest.mark.parametrize("name", BASELINES)
def test_deterministic_under_seed(name, split):
    over = {"epochs": 3} if name == "multvae" else {}
    a, b = build(name, split, **over), build(name, split, **over)
    fit(a, split, seed=5, evaluate_test=False)
    fit(b, split, seed=5, evaluate_test=False)
    users = np.arange(split.n_users)
    assert torch.equal(a.score(split, users), b.score(split, users))


def test_ease_matches_numpy_closed_form():
    rng = np.random.default_rng(3)
    x = (rng.random((12, 6)) < 0.4).astype(np.float64)
    lam = 2.5
    p = np.linalg.inv(x.T @ x + lam * np.eye(6))
    expected = np.eye(6) - p @ np.diag(1.0 / np.diag(p))
    b = ease_weights(sp.csr_matrix(x), lam)
    np.testing.assert_allclose(b, expected, atol=1e-12)
    assert np.all(np.diag(b) == 0)
    tiny = Split("tiny", sp.csr_matrix(x, dtype=np.float32), sp.csr_matrix((12, 6), dtype=np.float32),
                 sp.csr_matrix((12, 6), dtype=np.float32))
    m = build("ease", tiny, l2=lam)
    m.prepare(tiny)
    np.testing.assert_allclose(m.score(tiny, np.arange(12)).numpy(), x @ expected, atol=1e-5)


def test_ease_diagonal_is_zero(split):
    m = build("ease", split)
    m.prepare(split)
    assert torch.all(torch.diagonal(m.B) == 0)


def test_itemknn_hand_example():
    # 4 users x 3 items. Columns: item0 = {u0, u1, u3}, item1 = {u0, u2, u3}, item2 = {u2, u3}.
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float32))
    shrink = 1.0
    s01 = 2 / (np.sqrt(3) * np.sqrt(3) + shrink)   # 2 co-occurrences
    s02 = 1 / (np.sqrt(3) * np.sqrt(2) + shrink)   # 1
    s12 = 2 / (np.sqrt(3) * np.sqrt(2) + shrink)   # 2
    expected = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    sim = cosine_similarity(x, shrink)
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    np.testing.assert_array_equal(sim, sim.T)
    # k = 1: every column keeps its single nearest neighbour (col0 <- item1, col1 <- item2, col2 <- item1)
    pruned = keep_top_k(torch.from_numpy(sim), 1).numpy()
    np.testing.assert_allclose(pruned, [[0, 0, 0], [s01, 0, s12], [0, s12, 0]], atol=1e-12)
    tiny = Split("tiny", x, sp.csr_matrix((4, 3), dtype=np.float32), sp.csr_matrix((4, 3), dtype=np.float32))
    m = build("itemknn", tiny, k=1, shrink=shrink)
    m.prepare(tiny)
    np.testing.assert_allclose(m.score(tiny, np.arange(4)).numpy(), x.toarray() @ pruned, atol=1e-6)


def test_itemknn_symmetric_before_pruning_and_k_per_column(split):
    sim = cosine_similarity(split.train, 10.0)
    np.testing.assert_allclose(sim, sim.T, atol=1e-12)
    m = build("itemknn", split, k=5)
    m.prepare(split)
    assert int((m.similarity != 0).sum(0).max()) <= 5


def test_pop_ranks_by_count(split):
    m = build("pop", split)
    m.prepare(split)
    counts = np.asarray(split.train.sum(0)).ravel()
    s = m.score(split, np.arange(3))
    np.testing.assert_array_equal(s[0].numpy(), counts)
    assert torch.equal(s[0], s[2])  # the same list for everyone
    top = torch.topk(s[0], 10).indices.numpy()
    assert np.all(np.diff(counts[top]) <= 0)


def test_multvae_loss_decreases(split):
    m = build("multvae", split)
    res = fit(m, split, epochs=15, seed=2, evaluate_test=False)
    losses = [h["loss"] for h in res.history]
    assert np.mean(losses[-3:]) < 0.9 * losses[0], losses
    assert res.history[-1]["beta"] > 0  # the KL weight is being annealed in
