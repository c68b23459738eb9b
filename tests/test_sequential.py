"""DiffuRec, DreamRec and SASRec on a tiny synthetic sequence data set with a planted next-item rule.

Each user walks the catalogue "next = previous + 1 (mod N)" with occasional random jumps, so the next item is
predictable from the last one; random HR@10 is 10/N. Models are tiny and train in a few seconds on a CPU.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from diffrec_core import checkpoint
from diffrec_core.data.dataset import InteractionLog
from diffrec_core.data.splits import split_leave_one_out
from diffrec_core.methods.seq_common import SeqData, append_rows, train_sequences, window
from diffrec_core.pipeline import instantiate, make_config
from diffrec_core.train import evaluate, fit

N_ITEMS = 40


def seq_split(n_users=160, n_items=N_ITEMS, seed=0, jump=0.1):
    """Leave-one-out split of walks s_{t+1} = s_t + 1 (mod N), with a random jump with probability ``jump``."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(6, 14))
        s = [int(rng.integers(n_items))]
        while len(s) < n:
            nxt = (s[-1] + 1) % n_items if rng.random() > jump else int(rng.integers(n_items))
            if nxt in s:       # a split holds each (user, item) once; restart the walk elsewhere
                nxt = int(rng.choice(np.setdiff1d(np.arange(n_items), s)))
            s.append(nxt)
        rows += [(u, i, t) for t, i in enumerate(s)]
    ev = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    return split_leave_one_out(InteractionLog("seqtoy", ev, n_users, n_items))


SPLIT = seq_split()
TINY = {
    "diffurec": dict(hidden=32, blocks=1, heads=2, max_len=8, batch_size=64, lr=3e-3, epochs=8, eval_every=4,
                     score_padding=False),
    "dreamrec": dict(hidden=32, seq_len=8, steps=50, batch_size=64, lr=5e-3, epochs=8, eval_every=4,
                     eval_dropout=False, score_padding=False, epoch_mode="shuffle"),
    "sasrec": dict(hidden=32, blocks=1, heads=2, max_len=8, batch_size=32, lr=3e-3, epochs=12, eval_every=4,
                   dropout=0.1, emb_dropout=0.1),
}
METHODS = list(TINY)


def build(name, seed=3, **over):
    return instantiate(name, make_config(name, "sample", {**TINY[name], **over}), SPLIT.n_users, SPLIT.n_items,
                       seed=seed)


@pytest.fixture(scope="module")
def trained():
    out = {}
    for name in METHODS:
        m = build(name)
        out[name] = (m, fit(m, SPLIT, seed=3))
    return out


# ---------------------------------------------------------------------------------------------- data plumbing
def test_sequences_windows_and_samples():
    seq = train_sequences(SPLIT)
    n = seq.lengths
    assert (n == SPLIT.train.getnnz(axis=1)).all()
    u = 5  # the chronological order is the walk's order
    walk = seq.items[seq.indptr[u]:seq.indptr[u + 1]]
    tr = SPLIT.train_order[u]
    assert list(walk) == list(tr.indices[np.argsort(tr.data)])
    test = append_rows(seq, SPLIT.valid)
    valid_item = SPLIT.valid[u].indices
    assert list(test.items[test.indptr[u]:test.indptr[u + 1]]) == list(walk) + list(valid_item)
    # left and right padded windows of the last 4 items
    s, e = seq.indptr[[u]], seq.indptr[[u + 1]]
    left, k = window(seq.items, s, e, 4, -1)
    right, _ = window(seq.items, s, e, 4, -1, left_pad=False)
    assert list(left[0]) == list(walk[-4:]) and list(right[0]) == list(walk[-4:]) and k[0] == 4
    short_l, k = window(seq.items, s, s + 2, 4, -1)
    short_r, _ = window(seq.items, s, s + 2, 4, -1, left_pad=False)
    assert list(short_l[0]) == [-1, -1, *walk[:2]] and list(short_r[0]) == [*walk[:2], -1, -1] and k[0] == 2
    # every prefix is one sample (Σ(len-1)); the causal windows predict every target exactly once
    d = SeqData(SPLIT)
    assert d.n_samples == int((n - 1).clip(min=0).sum())
    hist, length, target = d.prefix_batch(np.arange(d.n_samples), 50, -1)
    assert (target == seq.items[d.sample_end]).all() and (length >= 1).all()
    inp, tgt = d.chunk_windows(3)
    assert (tgt >= 0).sum() == d.n_samples
    assert ((inp >= 0) == (tgt >= 0)).all()


def test_leave_one_out_protocol():
    assert (SPLIT.valid.getnnz(axis=1) == 1).all() and (SPLIT.test.getnnz(axis=1) == 1).all()
    m = build("sasrec")
    v, t = m.seq_data(SPLIT).history([0], "valid", 20, -1), m.seq_data(SPLIT).history([0], "test", 20, -1)
    assert t[1][0] == v[1][0] + 1 and t[0][0, -1] == SPLIT.valid[0].indices[0]  # test history ends with valid


# ---------------------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("name", METHODS)
def test_beats_random(trained, name):
    model, res = trained[name]
    assert res.best_epoch > 0 and {"hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20"} <= set(res.test)
    assert res.test["hr@10"] > 2 * 10 / N_ITEMS, res.test   # random: 0.25


@pytest.mark.parametrize("name", METHODS)
def test_determinism_trajectory_and_checkpoint(trained, name, tmp_path):
    model, _ = trained[name]
    users = np.array([0, 4, 9])
    s = model.score(SPLIT, users, "valid")
    assert s.shape == (3, N_ITEMS) and torch.isfinite(s).all()
    assert torch.equal(s, model.score(SPLIT, users, "valid"))  # evaluation repeats (seeded sampler)

    b = build(name)
    fit(b, SPLIT, seed=3, epochs=2)
    c = build(name)
    fit(c, SPLIT, seed=3, epochs=2)
    assert torch.allclose(b.score(SPLIT, users, "test"), c.score(SPLIT, users, "test"), atol=1e-6)

    tr = model.trajectory(SPLIT, users, k=10)
    S, d = tr.n_steps, model.config.hidden
    assert S == max(model.n_diffusion_steps(), 1)
    assert tr.states.shape == (S, 3, d) and tr.x0_hat.shape == (S, 3, d) and tr.scores.shape == (S, 3, N_ITEMS)
    np.testing.assert_array_equal(tr.final_topk, tr.topk[-1])
    np.testing.assert_array_equal(tr.final_scores, tr.scores[-1])
    np.testing.assert_allclose(tr.final_scores, s.numpy(), rtol=1e-5, atol=1e-5)   # the last step IS the score

    checkpoint.save(model, tmp_path / name, "seqtoy")
    loaded, meta = checkpoint.load(tmp_path / name, SPLIT.n_users, SPLIT.n_items)
    loaded.attach(SPLIT)
    assert meta["method"] == name
    assert torch.equal(s, loaded.score(SPLIT, users, "valid"))


def test_diffurec_small_lambda_is_nearly_deterministic(trained):
    """docs/methods.md §5.3: with λ ~ 1e-3 the noisy target barely reaches the Transformer, so reverse runs from
    different x_T (and different λ draws) recommend nearly the same items."""
    model, _ = trained["diffurec"]
    users = np.arange(SPLIT.n_users)
    a = model.trajectory(SPLIT, users, k=10, seed=1)
    b = model.trajectory(SPLIT, users, k=10, seed=2)
    assert not np.allclose(a.states[0], b.states[0])                       # different starting noise
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a.final_topk, b.final_topk)])
    assert overlap >= 0.95, overlap
    # the λ slider at the other end: λ = 1 lets x_T change the outcome much more
    c = model.trajectory(SPLIT, users, k=10, seed=1, lambda_uncertainty=1.0)
    d = model.trajectory(SPLIT, users, k=10, seed=2, lambda_uncertainty=1.0)
    loose = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(c.final_topk, d.final_topk)])
    assert loose < overlap


def test_samplers_and_guidance_options(trained):
    dr, _ = trained["dreamrec"]
    users = np.array([1, 2])
    ddim = dr.trajectory(SPLIT, users, k=5, sampler="ddim", ddim_steps=5)
    assert ddim.n_steps == 5 and ddim.meta["sampler"] == "ddim"
    w0 = dr.trajectory(SPLIT, users, k=5, w=0.0)
    assert w0.meta["w"] == 0.0 and not np.allclose(w0.final, dr.trajectory(SPLIT, users, k=5).final)
    du, _ = trained["diffurec"]
    assert du.trajectory(SPLIT, users, k=5, sampler="ddim", ddim_steps=8).n_steps == 8


def test_dreamrec_faithful_generation_dropout_is_seeded(trained):
    """Quirk 1 (no model.eval()): dropout stays on while encoding the history, yet score() repeats exactly
    because the dropout masks come from a forked, seeded RNG; and it does change the result."""
    model, _ = trained["dreamrec"]
    users = np.arange(20)
    clean = model.score(SPLIT, users, "valid")
    model.config.eval_dropout = True
    try:
        a, b = model.score(SPLIT, users, "valid"), model.score(SPLIT, users, "valid")
    finally:
        model.config.eval_dropout = False
    assert torch.equal(a, b) and not torch.allclose(a, clean)


def test_mask_seen_and_padding_switches(trained):
    model, _ = trained["diffurec"]
    users = np.array([0, 1, 2])
    model.config.mask_seen = True
    try:
        tr = model.trajectory(SPLIT, users, k=10)
        seen = SPLIT.rows(users, "train") > 0
        for r in range(3):
            assert not np.isin(tr.final_topk[r], np.flatnonzero(seen[r])).any()
        masked = evaluate(model, SPLIT, ("valid",))["valid"]
    finally:
        model.config.mask_seen = False
    unmasked = evaluate(model, SPLIT, ("valid",))["valid"]
    assert masked["hr@10"] >= unmasked["hr@10"]   # targets never repeat here, so masking can only help
    model.config.score_padding = True            # faithful: the padding row competes for a top-K place
    try:
        s = model.score(SPLIT, users, "valid", with_padding=True)
        assert s.shape == (3, N_ITEMS + 1)
        torch.testing.assert_close(s[:, :N_ITEMS], model.score(SPLIT, users, "valid"))
        assert set(evaluate(model, SPLIT, ("valid",))["valid"]) == set(unmasked)
    finally:
        model.config.score_padding = False


def test_faithful_parameter_counts():
    """DiffuRec's Beauty model with the authors' dead layers has their 2,579,584 parameters (docs/methods.md §2.5)."""
    m = instantiate("diffurec", make_config("diffurec", "beauty"), 10, 12101)
    assert m.n_parameters() == 2_579_584
    live = instantiate("diffurec", make_config("diffurec", "beauty", {"dead_params": False}), 10, 12101)
    assert m.n_parameters() - live.n_parameters() == 3 * (128 * 128 + 128) + 384 * 128 + 128 + 50 * 128
