"""The side-by-side harness's own pieces, without running the authors' code: the stand-ins for kmeans_pytorch and
torch_scatter do what those libraries do, the DiffKG converter writes the two-way split both sides read, their
logs parse into the kept epoch and metrics, and the per-method settings build valid configurations."""
import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from tests.tolerances import EPS32

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import sbs_diffkg as K  # noqa: E402
import sbs_shims as shims  # noqa: E402
import side_by_side as S  # noqa: E402

from diffrec_core.data.dataset import Split  # noqa: E402
from diffrec_core.pipeline import make_config  # noqa: E402


def load_shim(tmp_path, name, source):
    path = shims.write_module(tmp_path, name, source)
    spec = importlib.util.spec_from_file_location(f"shim_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------------ kmeans
def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat(np.arange(3), n // 3)
    return torch.tensor(centres[truth] + rng.normal(0, 0.5, (n, 2))), truth


def test_kmeans_stand_in_finds_separated_clusters_and_follows_numpy_seed(tmp_path):
    km = load_shim(tmp_path, "kmeans_pytorch", shims.KMEANS_PYTORCH)
    x, truth = blobs()
    # Lloyd's from random points can stop in a local optimum; take a seed whose first centres (numpy's draw, as
    # the library makes it) lie in three different blobs: from there the partition must be the true one
    seed = next(s for s in range(100) if len(set(truth[np.random.RandomState(s).choice(60, 3, replace=False)])) == 3)
    np.random.seed(seed)
    labels, centres = km.kmeans(X=x, num_clusters=3, distance="euclidean", device=torch.device("cpu"))
    assert labels.shape == (60,) and centres.shape == (3, 2) and labels.dtype == torch.long
    # the same partition as the truth, up to the names of the clusters
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 3 and len({p[1] for p in pairs}) == 3
    for c in range(3):   # each centre is the mean of its points (Lloyd's fixed point)
        assert torch.allclose(centres[c], x[labels == c].float().mean(0), atol=1e-5)
    dist = ((x.float()[:, None] - centres[None]) ** 2).sum(-1)
    assert torch.equal(labels, dist.argmin(1))
    np.random.seed(seed)    # the first centres come from numpy's global generator, as in the library
    again, _ = km.kmeans(X=x, num_clusters=3, distance="euclidean", device=torch.device("cpu"))
    assert torch.equal(labels, again)
    with pytest.raises(NotImplementedError):
        km.kmeans(X=x, num_clusters=3, distance="cosine")


# ------------------------------------------------------------------------------------------------ scatter
def test_scatter_stand_ins_match_per_group_references(tmp_path):
    ts = load_shim(tmp_path, "torch_scatter", shims.TORCH_SCATTER)
    g = torch.Generator().manual_seed(0)
    index = torch.tensor([2, 0, 2, 2, 0, 4])             # group 1 and 3 empty; dim_size 6 leaves 5 empty too
    src = torch.randn(6, generator=g) * 5
    soft = ts.scatter_softmax(src, index, dim=0, dim_size=6)
    for grp in (0, 2, 4):
        sel = index == grp
        assert torch.allclose(soft[sel], torch.softmax(src[sel], 0), rtol=8 * EPS32, atol=8 * EPS32)
    rows = torch.randn(6, 3, generator=g)                # a 1-D index broadcast over the trailing dimension
    out = ts.scatter_sum(rows, index, dim=0, dim_size=6)
    ref = torch.zeros(6, 3).index_add_(0, index, rows)
    assert out.shape == (6, 3) and torch.allclose(out, ref, rtol=4 * EPS32, atol=4 * EPS32)
    assert torch.all(out[[1, 3, 5]] == 0)
    assert ts.scatter_sum(src, index, dim=0).shape == (5,)    # without dim_size: max index + 1


def test_cpu_placement_shim_keeps_tensors_on_the_cpu():
    code = shims.sitecustomize([shims.CPU_PLACEMENT]) + (
        "\nimport torch\nx = torch.ones(2)\nm = torch.nn.Linear(2, 1)\n"
        "assert torch.cuda.is_available() or (x.cuda() is x and m.cuda() is m and m.weight.device.type == 'cpu')\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------------------------------------------------ DiffKG data
def toy_kg_split():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0]], np.float32))
    valid = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]], np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]], np.float32))
    kg = pd.DataFrame({"head": [0, 1, 4, 0], "relation": [0, 1, 0, 2], "tail": [4, 5, 2, 4]})
    return Split("toy", train, valid, test, kg=kg, kg_info={"n_entities": 6})


def test_two_way_moves_valid_into_train_and_the_files_hold_it(tmp_path):
    s = toy_kg_split()
    t = K.two_way(s)
    assert t.valid.nnz == 0 and t.valid.shape == s.valid.shape
    assert (t.train != (s.train + s.valid)).nnz == 0 and set(t.train.data) == {1.0}
    assert (t.test != s.test).nnz == 0
    sizes = K.write_authors_files(t, tmp_path)
    assert sizes == {"users": 3, "items": 4, "train": 7, "test": 3, "triples": 4}
    with open(tmp_path / "trnMat.pkl", "rb") as f:       # our own file, written just above
        trn = pickle.load(f)
    with open(tmp_path / "tstMat.pkl", "rb") as f:
        tst = pickle.load(f)
    assert isinstance(trn, sp.coo_matrix) and trn.shape == (3, 4) and (trn.tocsr() != t.train).nnz == 0
    assert (tst.tocsr() != s.test).nnz == 0
    kg = np.loadtxt(tmp_path / "kg.txt", dtype=np.int32)  # as their DataHandler.readTriplets reads it
    assert kg.tolist() == s.kg[["head", "relation", "tail"]].to_numpy().tolist()


def test_parse_diffkg_log_keeps_their_best_test_epoch_one_based():
    lines = [(0.0, "2026: Start"), (1.0, "2026: Epoch 0/3, Train: Loss = 1.0"),
             (2.0, "2026: Epoch 0/3, Test: Recall = 0.1000, NDCG = 0.0500  "),
             (5.0, "2026: Epoch 1/3, Train: Loss = 0.9"),
             (6.0, "2026: Epoch 1/3, Test: Recall = 0.2000, NDCG = 0.1000  "),
             (10.0, "2026: Epoch 2/3, Train: Loss = 0.8"),
             (11.0, "2026: Epoch 2/3, Test: Recall = 0.1500, NDCG = 0.0900  "),
             (11.5, "Best epoch :  1  , Recall :  0.2000123  , NDCG :  0.1000456")]
    r = K.parse_log(lines)
    assert r["best_epoch"] == 2 and r["epochs_run"] == 3
    assert r["test"]["recall@20"] == pytest.approx(0.2000123) and r["test"]["ndcg@20"] == pytest.approx(0.1000456)
    assert r["test"]["recall@10"] is None and r["test"]["ndcg@10"] is None
    assert r["epoch_s"] == pytest.approx(3.5)            # median of 5-2 and 10-6: training only


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("method", list(S.FAMILY))
def test_family_settings_build_valid_configs(method):
    preset, over = S.our_overrides(method, seed=3)
    cfg = make_config(S.FAMILY[method]["ours"], preset, over)
    if method == "tdiffrec":
        assert preset == "" and cfg.steps == 40 and cfg.dims == [200, 600] and (cfg.w_min, cfg.w_max) == (0.1, 1.0)
        assert cfg.stop_check == "before_epoch" and cfg.metric_denominator == "all"
    if method in ("ldiffrec", "ltdiffrec"):
        assert cfg.cluster_seed == 3 and cfg.latent_dims == [300] and cfg.steps == 40
        assert cfg.time_weights == (method == "ltdiffrec")
    args = S.their_args(method, Path("/data/diffrec_ml-1m_clean"))
    assert not any("{" in a for a in args)
    if method in ("ldiffrec", "ltdiffrec"):
        assert "--dataset=diffrec_ml-1m_clean" in args and "--emb_path=/data/" in args
    assert ("--w_min=0.1" in args) == (method in ("tdiffrec", "ltdiffrec"))


def test_not_run_list_keeps_the_other_harness_entries():
    doc = {"not_run": [{"method": "diffurec", "reason": "theirs"}, {"method": "tdiffrec", "reason": "old"}]}
    out = {n["method"]: n["reason"] for n in S.not_run_list(doc)}
    assert out["diffurec"] == "theirs" and "tdiffrec" not in out and out["dreamrec"] == S.NOT_RUN[1]["reason"]


AUTHORS = Path("/tmp/authors_DiffRec")


@pytest.mark.skipif(not (AUTHORS / "L-DiffRec" / "main.py").is_file(), reason="authors' checkout not present")
def test_scratch_copy_seeds_and_shims_l_diffrec(tmp_path):
    folder, applied = S.scratch_copy(S.authors_dir(AUTHORS, "L-DiffRec"), tmp_path)
    assert "random_seed = int(os.environ['SIDE_BY_SIDE_SEED'])" in (folder / "main.py").read_text()
    if importlib.util.find_spec("kmeans_pytorch") is None:
        assert (tmp_path / "shims" / "kmeans_pytorch" / "__init__.py").is_file()
        assert any("kmeans_pytorch" in a for a in applied)
    with pytest.raises(SystemExit, match="T-DiffRec/main.py"):
        S.authors_dir(tmp_path, "T-DiffRec")
