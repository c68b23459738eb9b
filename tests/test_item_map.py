"""Item maps: the committed precomputed maps fit the committed checkpoints, load safely, and live points are
projected where they belong (PCA exactly; kNN interpolation puts an item on its own map position)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffrec_core import item_map as IM
from diffrec_core import pipeline

REPO = Path(__file__).resolve().parents[1]
METHODS = ("diffurec", "dreamrec", "sasrec")


@pytest.fixture(scope="module")
def split():
    return pipeline.load_split("sample", how="loo")


@pytest.fixture(scope="module")
def models(split):
    return {m: pipeline.load_pretrained(m, split) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_committed_map_matches_its_checkpoint(method, models):
    imap = IM.load(IM.map_path(method))
    table = IM.item_table(models[method])
    assert imap.method == method and imap.embeddings.shape == table.shape == (500, models[method].config.hidden)
    np.testing.assert_allclose(imap.embeddings, table, rtol=0, atol=1e-6)
    assert imap.meta["table_sha256"] == IM.table_hash(table)          # the page's staleness check passes
    assert imap.meta["weights_sha256"] == IM.weights_hash(method)
    assert imap.kinds() == ["umap", "pca"]
    for kind in ("umap", "pca"):
        xy = imap.coords(kind)
        assert xy.shape == (500, 2) and np.isfinite(xy).all() and xy.std(axis=0).min() > 0


def test_item_table_drops_the_padding_row(models):
    du, dr = models["diffurec"], models["dreamrec"]
    np.testing.assert_array_equal(IM.item_table(du), du.item_embeddings.weight[1:].detach().numpy())
    np.testing.assert_array_equal(IM.item_table(dr), dr.tenc.item_embeddings.weight[:-1].detach().numpy())


def test_pca_projection_is_exact_and_matches_the_stored_layout():
    imap = IM.load(IM.map_path("diffurec"))
    pr = IM.project(imap, imap.embeddings, "pca")
    np.testing.assert_allclose(pr.xy, imap.pca, atol=1e-4)
    # linear: the projection of a mixture is the mixture of projections
    a, b = imap.embeddings[3], imap.embeddings[7]
    mid = IM.project(imap, (0.3 * a + 0.7 * b)[None], "pca").xy[0]
    np.testing.assert_allclose(mid, 0.3 * imap.pca[3] + 0.7 * imap.pca[7], atol=1e-4)
    # the axes are orthonormal and ordered by explained variance
    V = imap.pca_components
    np.testing.assert_allclose(V @ V.T, np.eye(2), atol=1e-9)
    assert imap.pca_explained[0] >= imap.pca_explained[1] > 0


@pytest.mark.parametrize("method", ("diffurec", "dreamrec"))
def test_knn_projection_puts_an_item_on_its_own_position(method):
    imap = IM.load(IM.map_path(method))
    pr = IM.project(imap, imap.embeddings, "umap")
    span = np.ptp(imap.umap, axis=0).max()
    err = np.linalg.norm(pr.xy - imap.umap, axis=1) / span
    assert np.median(err) < 0.02, np.median(err)
    np.testing.assert_allclose(pr.support, 1.0, atol=1e-5)              # each item's best match is itself
    assert (pr.neighbours[:, 0] == np.arange(imap.n_items)).mean() > 0.99


def test_noise_has_low_support_and_lands_inside_the_map():
    imap = IM.load(IM.map_path("dreamrec"))
    X = np.random.default_rng(0).standard_normal((200, imap.dim))
    pr = IM.project(imap, X, "umap")
    own = IM.project(imap, imap.embeddings[:200], "umap")
    assert pr.support.mean() < own.support.mean() - 0.3
    lo, hi = imap.umap.min(axis=0), imap.umap.max(axis=0)
    assert ((pr.xy >= lo - 1e-6) & (pr.xy <= hi + 1e-6)).all()          # a weighted mean of item positions
    with pytest.raises(IM.ItemMapError, match="width"):
        IM.project(imap, np.zeros((1, imap.dim + 1)), "umap")


def test_round_trip_and_bad_files(tmp_path):
    E = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    m = IM.build_map("toy", E, with_umap=False, meta={"note": "x"})
    assert m.kinds() == ["pca"] and m.umap is None
    back = IM.ItemMap.from_npz_bytes(m.to_npz_bytes())
    np.testing.assert_array_equal(back.pca, m.pca)
    assert back.meta["note"] == "x" and back.method == "toy"
    with pytest.raises(IM.ItemMapError, match="not an item-map"):
        IM.ItemMap.from_npz_bytes(b"garbage")
    with pytest.raises(IM.ItemMapError, match="no UMAP"):
        back.coords("umap")
    with pytest.raises(IM.ItemMapError, match="no item map"):
        IM.load(tmp_path / "missing.npz")
    bad = IM.ItemMap("toy", E, np.zeros((3, 2), np.float32), m.pca, m.pca_mean, m.pca_components, m.pca_explained)
    with pytest.raises(IM.ItemMapError, match="shape"):
        IM.ItemMap.from_npz_bytes(bad.to_npz_bytes())


def test_importing_the_module_does_not_import_umap():
    code = "import sys; sys.path.insert(0, %r); import diffrec_core.item_map; print('umap' in sys.modules)" % str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_umap_fit_is_deterministic():
    """The committed UMAP layout is reproduced by the precompute (same seed): ~30 s with numba compilation."""
    imap = IM.load(IM.map_path("sasrec"))
    xy = IM.fit_umap(imap.embeddings, **{k: imap.meta["umap"][k] for k in ("n_neighbors", "min_dist", "seed")})
    np.testing.assert_allclose(xy, imap.umap, atol=1e-3)
