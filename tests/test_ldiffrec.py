"""L-DiffRec (docs/methods.md §2.3): clustering, autoencoder shapes, joint training, determinism, trajectory and
checkpoint round trip, on a small synthetic split with planted structure."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from conftest import DATA, need
from tolerances import F32_NET
from diffrec_core import registry
from diffrec_core.data.dataset import Split
from diffrec_core.methods.base import config_from_dict
from diffrec_core.methods.ldiffrec import LDiffRec, LDiffRecConfig, kmeans, latent_split
from diffrec_core.metrics import mask_scores
from diffrec_core.train import evaluate, fit

N_USERS, N_ITEMS, N_GROUPS = 200, 80, 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are tiny: a second thread only adds synchronisation (and stalls badly on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def planted_split(seed: int = 0) -> Split:
    """Users in 4 taste groups; each group interacts mostly with its own block of 20 items (90 %) plus some
    noise; each user's items are split 80/10/10 at random."""
    rng = np.random.default_rng(seed)
    block = N_ITEMS // N_GROUPS
    rows = {w: ([], []) for w in ("train", "valid", "test")}
    for u in range(N_USERS):
        g = u % N_GROUPS
        own = rng.choice(np.arange(g * block, (g + 1) * block), size=12, replace=False)
        other = rng.choice(np.setdiff1d(np.arange(N_ITEMS), own), size=2, replace=False)
        items = rng.permutation(np.concatenate([own, other]))
        parts = {"train": items[:10], "valid": items[10:12], "test": items[12:]}
        for w, its in parts.items():
            rows[w][0].extend([u] * len(its))
            rows[w][1].extend(its.tolist())

    def csr(w):
        u, i = rows[w]
        return sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(N_USERS, N_ITEMS))

    return Split("planted", csr("train"), csr("valid"), csr("test"))


@pytest.fixture(scope="module")
def split():
    return planted_split()


@pytest.fixture(scope="module")
def trained(split):
    # the sample configuration, with larger steps (lr x10) so that 40 batches suffice on this tiny data set
    cfg = LDiffRecConfig(lr1=1e-2, lr2=5e-3, batch_size=50, epochs=20, eval_every=10)
    torch.manual_seed(0)
    model = LDiffRec(cfg, split.n_users, split.n_items)
    res = fit(model, split, seed=1, evaluate_test=False)
    return model, res


def test_registered_with_presets():
    spec = registry.get("ldiffrec")
    assert spec.model_cls is LDiffRec and spec.page == "reverse"
    cfg = config_from_dict(LDiffRecConfig, spec.presets["ml-1m"])
    assert cfg.latent_dims == [300] and cfg.steps == 40 and cfg.noise_max == 2e-2 and cfg.beta1_fix is None
    assert config_from_dict(LDiffRecConfig, spec.presets["sample"]) == LDiffRecConfig()


def test_latent_split_rule():
    assert latent_split([30, 50], 64) == [24, 40]          # int(30/80*64) = 24, remainder 40
    assert latent_split([1, 99], 10) == [1, 9]             # max(1, int(0.1)) = 1
    assert sum(latent_split([98, 1, 1], 3)) == 3 and min(latent_split([98, 1, 1], 3)) >= 1


def test_kmeans_seeded_and_handles_empty():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(30, 4, generator=g) + 5, torch.randn(30, 4, generator=g) - 5])
    a, b = kmeans(x, 2, seed=3), kmeans(x, 2, seed=3)
    assert torch.equal(a, b)
    assert len(set(a[:30].tolist())) == 1 and len(set(a[30:].tolist())) == 1 and a[0] != a[30]
    dup = torch.zeros(10, 2)                               # identical points: k-means would leave clusters empty
    lab = kmeans(dup, 3, seed=0)
    assert torch.bincount(lab, minlength=3).min() >= 1


def test_clusters_shapes_and_single_cluster(split):
    model = LDiffRec(LDiffRecConfig(), split.n_users, split.n_items)
    model.prepare(split)
    ae = model.ae
    assert model.cluster_source == "svd" and len(ae.sizes) == 2 and min(ae.sizes) >= 1
    assert sum(ae.sizes) == N_ITEMS and sum(ae.dims) == model.config.latent_size
    assert sorted(ae.category_map.tolist()) == list(range(N_ITEMS))
    assert torch.equal(ae.category_map[ae.item_pos], torch.arange(N_ITEMS))
    # the encoder is block-diagonal: off-block weights are zero
    w = ae.encoder.weight.detach()
    mask = torch.zeros_like(w, dtype=torch.bool)
    for (s, e), (a, b) in zip(ae.item_bounds, ae.latent_bounds):
        mask[2 * a:2 * b, s:e] = True
    assert (w[~mask] == 0).all() and (w[mask] != 0).all()
    s = model.score(split, np.arange(7))
    assert s.shape == (7, N_ITEMS) and torch.isfinite(s).all()

    one = LDiffRec(LDiffRecConfig(n_cate=1), split.n_users, split.n_items)
    one.prepare(split)
    assert one.cluster_source == "single" and one.ae.sizes == [N_ITEMS]
    assert torch.equal(one.ae.category_map, torch.arange(N_ITEMS))
    assert one.score(split, np.arange(3)).shape == (3, N_ITEMS)


def test_training_lowers_loss_and_beats_random(trained, split):
    model, res = trained
    hist = res.history
    assert hist[-1]["nll"] < hist[0]["nll"] and hist[-1]["loss"] < hist[0]["loss"]
    r20 = evaluate(model, split, ("valid",))["valid"]["recall@20"]
    rand = LDiffRec(model.config, split.n_users, split.n_items)
    rand.prepare(split)
    r20_untrained = evaluate(rand, split, ("valid",))["valid"]["recall@20"]
    # random ranking of ~70 unseen items: Recall@20 ~ 0.29
    assert r20 > 0.6 and r20 > r20_untrained + 0.2, (r20, r20_untrained)


def test_scores_deterministic_and_trajectory_matches_score(trained, split):
    model, _ = trained
    users = np.array([0, 5, 17])
    a, b = model.score(split, users), model.score(split, users)
    assert torch.equal(a, b)
    tr = model.trajectory(split, users, k=10)
    L = model.config.latent_size
    S = model.diffusion.T
    assert tr.states.shape == (S, 3, L) and tr.x0_hat.shape == (S, 3, L)
    assert tr.scores.shape == (S, 3, N_ITEMS) and tr.final.shape == (3, L)
    seen = torch.from_numpy(split.rows(users) > 0)
    expected = mask_scores(a, seen).numpy()
    # the trajectory decodes step by step, score() in one pass: float32 rounding of two computations
    np.testing.assert_allclose(tr.scores[-1], expected, **F32_NET)
    np.testing.assert_allclose(tr.final_scores, expected, **F32_NET)
    assert len(tr.meta["item_cluster"]) == N_ITEMS and sum(tr.meta["cluster_sizes"]) == N_ITEMS
    assert tr.meta["latent_slices"][-1][1] == L and tr.meta["space"] == "latent"


def test_state_dict_round_trip(trained, split):
    model, _ = trained
    users = np.arange(N_USERS)
    fresh = LDiffRec(model.config, split.n_users, split.n_items)   # no data: placeholder clusters
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    fresh.load_state_dict(model.state_dict())
    assert fresh.ae.sizes == model.ae.sizes and fresh.cluster_source == model.cluster_source
    assert torch.equal(fresh.score(split, users), model.score(split, users))
    fresh.prepare(split)                                           # already clustered: keeps the loaded weights
    assert torch.equal(fresh.score(split, users), model.score(split, users))


def test_ml1m_item_emb_kmeans():
    emb = np.load(need(DATA / "diffrec_ml-1m_clean") / "item_emb.npy", allow_pickle=False)
    model = LDiffRec(LDiffRecConfig(n_cate=2), n_users=5949, n_items=emb.shape[0])
    labels = model.cluster_embeddings(torch.from_numpy(emb))
    sizes = torch.bincount(labels, minlength=2)
    assert len(sizes) == 2 and sizes.min() > 0 and int(sizes.sum()) == emb.shape[0]
    assert model.ae.sizes == sizes.tolist() and sum(model.ae.dims) == 64
    assert torch.equal(labels, kmeans(torch.from_numpy(emb), 2, seed=1))     # seeded: reproducible


def test_lt_diffrec_reads_the_time_weighted_rows():
    """LT-DiffRec (``time_weights``): the autoencoder's input is T-DiffRec's weighted row; off by default."""
    import numpy as np
    import torch
    from diffrec_core.methods.diffrec import time_weighted
    from diffrec_core.pipeline import build_model
    from tests.toy import toy_split
    split = toy_split()
    users = np.arange(5)
    lt = build_model("ldiffrec", split, overrides=dict(time_weights=True, w_min=0.2, w_max=1.0))
    want = time_weighted(split, 0.2, 1.0)[users].toarray()
    assert np.array_equal(lt.rows(split, users).cpu().numpy(), want)
    assert 0 < want[want > 0].min() < want.max() == 1.0
    plain = build_model("ldiffrec", split)
    assert np.array_equal(plain.rows(split, users).cpu().numpy(), split.rows(users, "train"))
    lt.prepare(split)
    stats = lt.fit_epoch(split, torch.Generator().manual_seed(0), np.random.default_rng(0))
    assert np.isfinite(stats["loss"])


def test_time_order_file_follows_the_rows_of_the_file_not_the_timestamps():
    """T-DiffRec's ramp over a file whose timestamps run against its row order: 'timestamp' weighs the latest
    event most, 'file' (the authors' data_load) the last row; on a chronological file both agree."""
    import pandas as pd

    from diffrec_core.data.dataset import InteractionLog
    from diffrec_core.data.splits import split_shipped
    from diffrec_core.methods.diffrec import time_weighted

    # one user, four training rows; the timestamps reverse the file order
    ev = pd.DataFrame({"user": [0, 0, 0, 0, 0, 0], "item": [0, 1, 2, 3, 4, 5], "timestamp": [40, 30, 20, 10, 50, 60],
                       "split": ["train"] * 4 + ["valid", "test"]})
    split = split_shipped(InteractionLog("toy", ev, n_users=1, n_items=6))
    by_time = time_weighted(split, 0.1, 1.0, "timestamp").toarray()[0, :4]
    by_file = time_weighted(split, 0.1, 1.0, "file").toarray()[0, :4]
    np.testing.assert_allclose(by_time, [1.0, 0.7, 0.4, 0.1], rtol=1e-6)
    np.testing.assert_allclose(by_file, [0.1, 0.4, 0.7, 1.0], rtol=1e-6)
    chrono = split_shipped(InteractionLog("toy", ev.assign(timestamp=range(6)), n_users=1, n_items=6))
    assert chrono.train_file_order is None
    np.testing.assert_array_equal(time_weighted(chrono, 0.1, 1.0, "file").toarray(),
                                  time_weighted(chrono, 0.1, 1.0, "timestamp").toarray())
    with pytest.raises(ValueError, match="time_order"):
        time_weighted(split, 0.1, 1.0, "shuffled")
