"""DiffKG, the KG baseline and LightGCN: the KG structures against dense references, the faithful pieces of the
method (schedule, CKGC, rebuild, the issue-#10 switch), checkpoints without data, the KG in the split, the KG
loaders' handling of malformed files, and a smoke run on the real KG data sets (skipped where absent)."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from diffrec_core import checkpoint
from diffrec_core.data import DataFormatError, load_dataset
from diffrec_core.data.loaders import KGWarning
from diffrec_core.methods.diffkg import DiffKG, DiffKGConfig
from diffrec_core.methods.kg_common import (RelationAttention, bipartite_adj, build_kg_edges, info_nce,
                                            sample_negatives, sample_per_head)
from diffrec_core.pipeline import build_model, instantiate, load_split, make_config
from diffrec_core.train import evaluate, fit

from tolerances import EPS32
from toy import toy_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(name):
    p = SHARED / name
    if not p.exists():
        pytest.skip(f"{p} is absent (benchmark data live in ../shared beside the repository)")
    return p


def kg_split(seed=0):
    """The toy split with a small KG: items -> 4 genres (true) and -> 3 studios, 10 % of triples wrong."""
    s = toy_split(seed=seed)
    rng = np.random.default_rng(seed)
    I = s.n_items
    rows = []
    for i in range(I):
        rows.append((i, 0, I + i % 4, 0))
        rows.append((i, 1, I + 4 + (i // 4) % 3, 0))
        if rng.random() < 0.2:
            rows.append((i, 0, I + (i + 1 + rng.integers(3)) % 4, 1))       # a wrong genre
    kg = pd.DataFrame(rows, columns=["head", "relation", "tail", "is_wrong"])
    names = [f"item {i}" for i in range(I)] + [f"genre {g}" for g in range(4)] + [f"studio {k}" for k in range(3)]
    types = ["item"] * I + ["genre"] * 4 + ["studio"] * 3
    return dataclasses.replace(s, kg=kg, kg_info={"n_entities": I + 7, "relation_names": ["has_genre", "by_studio"],
                                                  "entity_names": names, "entity_types": types})


FAST = {"epochs": 2, "eval_every": 1, "diff_batch": 16, "batch_size": 256}


def fresh(split, **over):
    cfg = make_config("diffkg", "sample", {**FAST, **over})
    return instantiate("diffkg", cfg, split.n_users, split.n_items, seed=3)


# ------------------------------------------------------------------------------------------------ KG structures
def test_build_kg_edges_dedupes_adds_inverses_and_keeps_the_first_relation():
    kg = pd.DataFrame({"head": [0, 0, 0, 2, 0], "relation": [1, 1, 0, 2, 1], "tail": [3, 3, 3, 1, 3]})
    e = build_kg_edges(kg, 4)
    R = 3
    assert e.n_relations == 2 * R
    pairs = list(zip(e.head.tolist(), e.tail.tolist(), e.rel.tolist()))
    # unique sorted triples: (0,0,3), (0,1,3), (2,2,1); (0,3) keeps relation 0 (first in sorted order)
    assert pairs == [(0, 3, 0), (2, 1, 2), (3, 0, 0 + R), (1, 2, 2 + R)]
    assert e.inverse.tolist() == [False, False, True, True]
    assert kg.iloc[e.source[0]].tolist() == [0, 0, 3] and kg.iloc[e.source[1]].tolist() == [2, 2, 1]
    assert len(set(zip(e.head.tolist(), e.tail.tolist()))) == len(e)          # one relation per (h, t)
    m = e.csr()
    assert sp.issparse(m) and m.nnz == len(e) and m.shape == (4, 4)
    with pytest.raises(ValueError, match="0..3"):
        build_kg_edges(pd.DataFrame({"head": [0], "relation": [0], "tail": [4]}), 4)


def test_sample_per_head_caps_tails_per_head():
    head = torch.tensor([0] * 7 + [1] * 2 + [2] * 5)
    m = sample_per_head(head, 3, 3, torch.Generator().manual_seed(0))
    counts = torch.bincount(head[m], minlength=3)
    assert counts.tolist() == [3, 2, 3]
    assert torch.equal(m, sample_per_head(head, 3, 3, torch.Generator().manual_seed(0)))
    assert sample_per_head(head, 3, -1).all()


def test_relation_attention_matches_a_dense_reference():
    torch.manual_seed(0)
    E, R, d = 6, 4, 5
    ent, rel = torch.randn(E, d), torch.randn(R, d)
    head = torch.tensor([0, 0, 0, 1, 1, 3])
    tail = torch.tensor([1, 2, 3, 0, 4, 5])
    etype = torch.tensor([0, 1, 2, 3, 0, 1])
    att = RelationAttention(d)
    out = att(ent, rel, head, tail, etype, hops=2, res_lambda=0.5)
    # reference: the authors' per-edge form, W on [e_h || e_t], softmax per head by loops
    res, x = ent, ent
    for _ in range(2):
        e = F.leaky_relu(((torch.cat([x[head], x[tail]], 1) @ att.W) * rel[etype]).sum(-1), 0.2)
        agg = x.clone()
        for h in range(E):
            sel = head == h
            if sel.any():
                a = torch.softmax(e[sel], 0)
                agg[h] = agg[h] + (a[:, None] * x[tail[sel]]).sum(0)
        x = F.normalize(agg)
        res = 0.5 * res + x
    torch.testing.assert_close(out, res, rtol=1e-5, atol=1e-6)
    out.sum().backward()                                      # differentiable through scatter/index_add
    assert att.W.grad is not None and torch.isfinite(att.W.grad).all()


def test_bipartite_adjacency_is_symmetrically_normalised():
    a = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    for loops in (True, False):
        m = bipartite_adj(a, loops).toarray()
        dense = np.zeros((5, 5))
        dense[:2, 2:] = a.toarray()
        dense[2:, :2] = a.toarray().T
        if loops:
            dense += np.eye(5)
        dinv = np.diag(dense.sum(1) ** -0.5)
        np.testing.assert_allclose(m, dinv @ dense @ dinv, rtol=8 * EPS32)   # float32: a few ULP per product


def test_negatives_are_never_training_items_and_info_nce_matches_its_formula():
    s = toy_split()
    users = np.repeat(np.arange(s.n_users), 5)
    negs = sample_negatives(s.train, users, np.random.default_rng(0))
    assert not np.asarray(s.train[users, negs]).ravel().any()
    torch.manual_seed(0)
    a, b = torch.randn(7, 4), torch.randn(7, 4)
    nodes = torch.tensor([0, 3, 3, 6])
    an, bn = F.normalize(a), F.normalize(b)
    nume = torch.exp((an[nodes] * bn[nodes]).sum(-1) / 0.1)
    deno = torch.exp(an[nodes] @ bn.t() / 0.1).sum(-1)
    torch.testing.assert_close(info_nce(a, b, nodes, 0.1), -torch.log(nume / deno).mean(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------ the method
def test_diffkg_schedule_is_the_authors():
    m = DiffKG(DiffKGConfig(), 3, 4)
    d = m.diffusion
    assert d.T == 5 and d.t_sampler == "uniform" and d.reweight and d.mean_type == "x0"
    assert float(d.betas[0]) == pytest.approx(1e-4)
    assert float(d.noise_std[-1]) == pytest.approx(0.046, abs=5e-4)        # docs/methods.md §2.4: std at T = 0.046
    c = make_config("diffkg", "authors")
    assert c.dims == [1000] and c.latdim == 64 and c.norm and not c.faithful_bug


def test_ckgc_loss_matches_its_dense_formula():
    s = kg_split()
    m = fresh(s)
    m.prepare(s)
    torch.manual_seed(1)
    rows = np.array([0, 5, 61])
    x_hat = torch.randn(3, m.n_entities)
    u, e = torch.randn(s.n_users, m.config.latdim), torch.randn(m.n_entities, m.config.latdim)
    got = m.ckgc_loss(s, x_hat, rows, u, e)
    A = torch.from_numpy(s.train.toarray())
    M = (A @ x_hat[:, : s.n_items].t()).t()
    want = ((M @ u - e[rows]) ** 2).mean(1)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_rebuild_is_a_symmetric_subgraph_and_keeps_about_keep_rate():
    s = kg_split()
    m = fresh(s, epochs=3)
    fit(m, s, seed=3)
    st = m.kg_state(s)
    keys = set(zip(st["head"].tolist(), st["tail"].tolist()))
    reb = set(zip(st["head"][st["rebuilt"]].tolist(), st["tail"][st["rebuilt"]].tolist()))
    assert reb <= keys and all((t, h) in reb for h, t in reb)             # subgraph, symmetric
    # every rebuilt edge was predicted by its head's or its tail's row
    pred = set(zip(st["pred_head"].tolist(), st["pred_tail"].tolist()))
    assert all((h, t) in pred or (t, h) in pred for h, t in reb)
    assert len(st["pred_head"]) == m.n_entities * m.config.rebuild_k
    np.testing.assert_array_equal(st["denoised"], st["rebuilt"] & st["coin"])
    assert 0.3 < st["coin"].mean() < 0.7
    # the stored denoised KG is what scoring reads (cl_pattern 0)
    assert torch.equal(m.scoring_mask(), m.kg_denoised)


def test_faithful_bug_switch_decides_which_kg_training_reads():
    s = kg_split()
    seen = {}
    for bug in (False, True):
        m = fresh(s, faithful_bug=bug, epochs=1)
        m.prepare(s)
        calls = []
        orig = m.encode

        def spy(split, mask, dropout, _orig=orig, _calls=calls):
            _calls.append((mask.clone(), dropout))
            return _orig(split, mask, dropout)

        m.encode = spy
        m.fit_epoch(s, torch.Generator().manual_seed(0), np.random.default_rng(0))
        views = {("denoised" if torch.equal(mk, m.kg_denoised) else "original") for mk, d in calls if d}
        seen[bug] = views
        assert not torch.equal(m.kg_denoised, m.kg_sampled)
    assert seen[False] == {"denoised", "original"}
    assert seen[True] == {"original"}                 # issue #10: the denoised KG never reaches training


def test_deterministic_save_load_and_no_data_needed_to_score(tmp_path):
    s = kg_split()
    a, b = fresh(s), fresh(s)
    fit(a, s, seed=3)
    fit(b, s, seed=3)
    users = np.arange(10)
    sa = a.score(s, users)
    assert torch.equal(sa, b.score(s, users))
    assert a.config.n_entities == s.n_items + 7 and a.config.n_kg_edges == len(a.kg_edges[0])
    checkpoint.save(a, tmp_path / "dk", "toy")
    c, meta = checkpoint.load(tmp_path / "dk", s.n_users, s.n_items)
    c.attach(dataclasses.replace(s, kg=None))       # the KG travels in the checkpoint's buffers
    assert torch.equal(sa, c.score(s, users))
    for name in ("kg_edges", "kg_sampled", "kg_coin", "kg_denoised"):
        assert torch.equal(getattr(a, name), getattr(c, name))


def test_kg_trajectory_and_user_trajectory():
    s = kg_split()
    m = fresh(s)
    fit(m, s, seed=3)
    tr = m.kg_trajectory(s, [0, 60], k=4, T_prime=2, sampling_noise=True, seed=5)
    E = m.n_entities
    assert tr.states.shape == (5, 2, E) and tr.x0_hat.shape == (5, 2, E) and tr.topk.shape == (5, 2, 4)
    np.testing.assert_array_equal(tr.final, tr.x0_hat[-1])
    assert tr.meta["space"] == "kg_row" and tr.users.tolist() == [0, 60]
    again = m.kg_trajectory(s, [0, 60], k=4, T_prime=2, sampling_noise=True, seed=5)
    np.testing.assert_array_equal(tr.x0_hat, again.x0_hat)
    clean = m.kg_trajectory(s, [0], reverse="from_T_prime", T_prime=0)
    assert clean.n_steps == 1
    ut = m.trajectory(s, [1, 2], k=5)
    assert ut.meta["space"] == "user" and ut.scores.shape == (5, 2, s.n_items)
    assert len(ut.meta["kg_edges_per_step"]) == 5 and ut.meta["kg_edges_per_step"][-1] == int(m.kg_denoised.sum())
    # a rebuild from the last step equals the stored one (no float drift between batchings)
    st = m.kg_state(s)
    np.testing.assert_array_equal(st["rebuilt"] & st["coin"], st["denoised"])


def test_kgat_and_lightgcn_fit_and_the_kg_baseline_reads_the_kg():
    s = kg_split()
    for name in ("kgat", "lightgcn"):
        cfg = make_config(name, "sample", {"epochs": 2, "eval_every": 1})
        m = instantiate(name, cfg, s.n_users, s.n_items, seed=3)
        res = fit(m, s, seed=3)
        assert res.valid["recall@20"] > 0.2
    assert m.name == "lightgcn"
    k = instantiate("kgat", make_config("kgat", "sample"), s.n_users, s.n_items)
    k.prepare(s)
    assert k.config.n_entities == s.n_items + 7 and k.kg_edges.shape[1] == 2 * len(s.kg.drop_duplicates())


def test_contract_fallback_kg_from_genres_and_clear_error_without_a_kg():
    s = toy_split()
    m = fresh(s)
    m.prepare(s)
    assert m.kg_source == "genres" and m.n_entities == s.n_items + 4
    with pytest.raises(ValueError, match="needs a knowledge graph"):
        build_model("diffkg", s)


# ------------------------------------------------------------------------------------------------ data
def test_split_carries_the_kg():
    split = load_split("sample")
    assert split.kg is not None and len(split.kg) == 2701 and "is_wrong" in split.kg
    assert split.kg_info["n_entities"] == 678 and split.kg_info["relation_names"][0] == "has_genre"
    assert len(split.kg_info["entity_names"]) == 678


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def _recbole(folder: Path, kg: str, link: str) -> Path:
    _write(folder / "t.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                               "u1\tA\t5\t100\nu1\tB\t3\t90\nu2\tB\t4\t120\nu2\tC\t1\t130\n")
    _write(folder / "t.kg", kg)
    _write(folder / "t.link", link)
    return folder


KG_OK = "head_id:token\trelation_id:token\ttail_id:token\nm.a\tgenre\tm.x\nm.c\tgenre\tm.y\n"
LINK_OK = "item_id:token\tentity_id:token\nA\tm.a\nC\tm.c\n"


def test_kg_loader_rejects_malformed_files(tmp_path):
    f = _recbole(tmp_path / "a", "head_id:token\trelation_id:token\tobject:token\nm.a\tgenre\tm.x\n", LINK_OK)
    with pytest.raises(DataFormatError, match=r"t\.kg line 1: expected a tail entity field"):
        load_dataset(str(f))
    f = _recbole(tmp_path / "b", KG_OK + "m.a\tgenre\n", LINK_OK)
    with pytest.raises(DataFormatError, match=r"t\.kg line 4: expected 3 fields"):
        load_dataset(str(f))
    f = _recbole(tmp_path / "c", KG_OK, "item_id:token\tentity_id:token\nQ\tm.a\nR\tm.c\n")
    with pytest.raises(DataFormatError, match=r"t\.link: none of the 3 items .* has an entity link"):
        load_dataset(str(f))
    f = _recbole(tmp_path / "d", KG_OK, "item:token\tthing:token\nA\tm.a\n")
    with pytest.raises(DataFormatError, match=r"t\.link line 1: expected a entity id field"):
        load_dataset(str(f))


def test_kg_loader_skips_rows_with_a_warning(tmp_path):
    kg = KG_OK + "m.c\t\tm.x\n\tgenre\tm.y\n"
    link = LINK_OK + "C\tm.other\nB\t\n"
    f = _recbole(tmp_path / "w", kg, link)
    with pytest.warns(KGWarning, match="skipped"):
        log = load_dataset(str(f))
    notes = " ".join(log.meta["kg_warnings"])
    assert "t.kg: 2 triple(s) with an empty field skipped (line 4, 5)" in notes
    assert "t.link: 1 link(s) with an empty field skipped (line 5)" in notes
    assert "1 item(s) linked to a second entity; the first link wins (line 4)" in notes
    assert log.kg.values.tolist() == [[0, 0, 3], [2, 0, 4]] and log.meta["unlinked_items"] == 1
    ok = _recbole(tmp_path / "ok", KG_OK, LINK_OK)
    with warnings.catch_warnings():
        warnings.simplefilter("error", KGWarning)   # a clean KG raises no warning (an unlinked item is normal)
        load_dataset(str(ok))


def _sample_copy(tmp_path: Path, kg_text: str) -> Path:
    import shutil

    src = Path(__file__).resolve().parents[1] / "sample_data"
    dst = tmp_path / "world"
    dst.mkdir(parents=True)
    for n in ("interactions.csv", "items.csv", "entities.csv", "users.csv", "world.json"):
        shutil.copy(src / n, dst / n)
    (dst / "kg.csv").write_text(kg_text)
    return dst


def test_sample_world_kg_is_checked(tmp_path):
    d = _sample_copy(tmp_path, "head,relation,tail,is_wrong\n0,has_genre,500,0\n1,married_to,501,0\n")
    with pytest.raises(DataFormatError, match=r"kg\.csv line 3: unknown relation 'married_to'"):
        load_dataset("sample", root=d)
    d = _sample_copy(tmp_path / "b", "head,relation,target\n0,has_genre,500\n")
    with pytest.raises(DataFormatError, match=r"kg\.csv line 1: expected columns head, relation, tail"):
        load_dataset("sample", root=d)
    d = _sample_copy(tmp_path / "c", "head,relation,tail,is_wrong\n0,has_genre,9999,0\n")
    with pytest.raises(DataFormatError, match=r"kg\.csv line 2: tail entity 9999 is not one of the 678"):
        load_dataset("sample", root=d)
    d = _sample_copy(tmp_path / "d", "head,relation,tail,is_wrong\n0,has_genre,500,0\n1,,501,0\n2,from_era,510,0\n")
    with pytest.warns(KGWarning, match="1 triple"):
        log = load_dataset("sample", root=d)
    assert len(log.kg) == 2 and log.meta["kg_warnings"]


# ------------------------------------------------------------------------------------------------ real KG data
def test_recbole_test_kg_runs():
    split = load_split(str(shared("recbole_test_kg")))
    m = build_model("diffkg", split, overrides={"epochs": 1, "dims": [16], "diff_batch": 1024, "latdim": 16})
    res = fit(m, split, seed=1)
    assert m.n_entities == 6035 and 0 < res.test["recall@20"] <= 1
    assert m.config.n_kg_edges == len(m.kg_edges[0]) < 2 * len(split.kg)        # deduplicated, with inverses


def test_ml100k_kg_is_sparse():
    split = load_split(str(shared("ml-100k")))
    m = build_model("diffkg", split, preset="ml-100k")
    m.prepare(split)
    E = m.n_entities
    assert E == 34712 and m.config.n_relations == 48
    g = m._g(split)
    assert sp.issparse(g["kg"]) and g["kg"].nnz == m.config.n_kg_edges
    rows = m.kg_rows(split, np.arange(256))                 # densified per batch only
    assert rows.shape == (256, E)
    big = [n for n, b in m.named_buffers() if b.numel() >= E * E] + \
          [n for n, p in m.named_parameters() if p.numel() >= E * E]
    assert not big


@pytest.mark.slow
def test_ml100k_one_epoch():
    split = load_split(str(shared("ml-100k")))
    m = build_model("diffkg", split, preset="ml-100k", overrides={"epochs": 1})
    res = fit(m, split, seed=1)
    assert res.test["recall@20"] > 0.05
    r = evaluate(m, split, ("valid",))["valid"]
    assert r["recall@20"] == pytest.approx(res.valid["recall@20"])
