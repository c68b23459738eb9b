"""A tiny split with planted structure, shared by contract and unit tests (built in memory, in milliseconds)."""
import numpy as np
import scipy.sparse as sp
import torch

from diffrec_core.data.dataset import Split


def toy_split(n_users=120, n_items=60, seed=0) -> Split:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 4, n_users)
    item_group = np.arange(n_items) % 4
    p = np.where(groups[:, None] == item_group[None, :], 0.35, 0.03)
    m = rng.random((n_users, n_items)) < p
    m[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # nobody is empty
    r = rng.random((n_users, n_items))
    tr, va, te = m & (r < 0.8), m & (r >= 0.8) & (r < 0.9), m & (r >= 0.9)
    tr[np.arange(n_users), np.argmax(m, 1)] = True
    va &= ~tr
    te &= ~tr & ~va
    train = sp.csr_matrix(tr, dtype=np.float32)
    order = train.copy()
    order.data = (np.arange(train.nnz) - np.repeat(train.indptr[:-1], np.diff(train.indptr))).astype(np.float32)
    return Split("toy", train, sp.csr_matrix(va, dtype=np.float32), sp.csr_matrix(te, dtype=np.float32),
                 train_order=order, item_titles=[f"item {i}" for i in range(n_items)],
                 item_genres=[f"g{g}" for g in item_group])


def check_contract(name, fresh, split, tmp_path, device="cpu"):
    """The method contract of design.md, for any registered method built by ``fresh()`` on ``split``: shapes,
    determinism under a seed, the last trajectory step is the final recommendation (history masked), and
    save -> load gives identical outputs. ``device``: where the models are moved before training (``tests/
    test_cuda.py`` runs the same contract on a GPU); scores are compared on the CPU."""
    from diffrec_core import checkpoint
    from diffrec_core.train import fit

    users = np.array([0, 3, 7])
    a = fresh().to(device)
    fit(a, split, seed=3)
    s = a.score(split, users, "valid").cpu()
    assert s.shape == (3, split.n_items) and torch.isfinite(s).all()

    # determinism: the same seed gives the same model
    b = fresh().to(device)
    fit(b, split, seed=3)
    assert torch.allclose(s, b.score(split, users, "valid").cpu(), atol=1e-6)

    # the trajectory's last step is the final recommendation
    tr = a.trajectory(split, users, k=5)
    S = tr.n_steps
    assert S >= 1 and tr.states.shape[:2] == (S, 3) and tr.x0_hat.shape[:2] == (S, 3)
    assert tr.topk.shape == (S, 3, 5) and tr.scores.shape == (S, 3, split.n_items)
    np.testing.assert_array_equal(tr.final_topk, tr.topk[-1])
    seen = split.rows(users, "train") > 0
    for row in range(3):  # training items are never recommended
        assert not np.isin(tr.final_topk[row], np.flatnonzero(seen[row])).any()
    s_masked = s.numpy().copy()
    s_masked[seen] = -np.inf
    np.testing.assert_allclose(tr.final_scores, s_masked, rtol=1e-5, atol=1e-5)

    # save -> load gives identical outputs
    checkpoint.save(a, tmp_path / name, split.name)
    c, meta = checkpoint.load(tmp_path / name, split.n_users, split.n_items, device=device)
    c.attach(split)
    assert meta["method"] == name
    assert torch.equal(s, c.score(split, users, "valid").cpu())
