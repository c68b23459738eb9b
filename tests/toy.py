"""A tiny split with planted structure, shared by contract and unit tests (built in memory, in milliseconds)."""
import numpy as np
import scipy.sparse as sp

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
