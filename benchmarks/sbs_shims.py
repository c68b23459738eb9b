"""Stand-ins for the libraries and the GPU the authors' scripts expect, written into the scratch copy's shim folder
(first on their PYTHONPATH) by ``benchmarks/side_by_side.py``. None of them touches the authors' arithmetic: each
does what the missing library does, in pure torch / numpy, or restores a removed attribute.

* :data:`KMEANS_PYTORCH` - ``kmeans_pytorch.kmeans`` (PyPI 0.1.2, which L-/LT-DiffRec's Autoencoder.py calls):
  initial centres are ``num_clusters`` distinct data points drawn with numpy's global generator (so the authors'
  ``np.random.seed(random_seed)`` seeds it), Lloyd iterations on squared euclidean distances, each centre the mean
  of its points, stop when (sum of the centres' euclidean shifts)^2 < tol; returns (labels, centres) on the CPU.
  The library's tqdm progress bar is left out.
* :data:`TORCH_SCATTER` - ``torch_scatter.scatter_sum`` and ``scatter_softmax`` (DiffKG's Model.py), with the
  library's broadcasting of a 1-D index over the trailing dimensions of ``src`` and its max-shifted softmax.
* :data:`CPU_PLACEMENT` - DiffKG places every tensor and module with ``.cuda()``: on a machine without a GPU those
  calls return the object unchanged, so everything stays on the CPU.
* :data:`CSR_A` - SciPy >= 1.14 removed ``csr_matrix.A``, which the DiffRec family's and DiffKG's data loading
  read; restored as ``toarray()``.
"""
from __future__ import annotations

from pathlib import Path

KMEANS_PYTORCH = '''"""side_by_side.py stand-in for kmeans_pytorch 0.1.2's kmeans (see benchmarks/sbs_shims.py)."""
import numpy as np
import torch


def pairwise_distance(data1, data2, device=torch.device("cpu")):
    a = data1.to(device).unsqueeze(dim=1)
    b = data2.to(device).unsqueeze(dim=0)
    return ((a - b) ** 2.0).sum(dim=-1).squeeze()


def initialize(X, num_clusters):
    indices = np.random.choice(len(X), num_clusters, replace=False)
    return X[indices]


def kmeans(X, num_clusters, distance="euclidean", tol=1e-4, device=torch.device("cpu")):
    if distance != "euclidean":
        raise NotImplementedError("this stand-in implements the euclidean distance only")
    X = X.float().to(device)
    state = initialize(X, num_clusters)
    while True:
        choice = torch.argmin(pairwise_distance(X, state, device), dim=1)
        pre = state.clone()
        for index in range(num_clusters):
            selected = torch.nonzero(choice == index).squeeze().to(device)
            state[index] = torch.index_select(X, 0, selected).mean(dim=0)
        shift = torch.sum(torch.sqrt(torch.sum((state - pre) ** 2, dim=1)))
        if shift ** 2 < tol:
            break
    return choice.cpu(), state.cpu()
'''

TORCH_SCATTER = '''"""side_by_side.py stand-in for torch_scatter scatter_sum / scatter_softmax (sbs_shims.py)."""
import torch


def _broadcast(index, src, dim):
    dim = dim % src.dim()
    if index.dim() == 1:
        shape = [1] * src.dim()
        shape[dim] = -1
        index = index.view(shape)
    return index.expand_as(src)


def scatter_sum(src, index, dim=-1, out=None, dim_size=None):
    index = _broadcast(index, src, dim)
    if out is None:
        size = list(src.shape)
        size[dim] = int(dim_size) if dim_size is not None else (int(index.max()) + 1 if index.numel() else 0)
        out = torch.zeros(size, dtype=src.dtype, device=src.device)
    return out.scatter_add_(dim, index, src)


def scatter_softmax(src, index, dim=-1, dim_size=None):
    index = _broadcast(index, src, dim)
    size = list(src.shape)
    size[dim] = int(dim_size) if dim_size is not None else (int(index.max()) + 1 if index.numel() else 0)
    top = torch.full(size, float("-inf"), dtype=src.dtype, device=src.device)
    top = top.scatter_reduce(dim, index, src, reduce="amax", include_self=True)
    exp = (src - top.gather(dim, index)).exp()
    total = scatter_sum(exp, index, dim, dim_size=size[dim])
    return exp / total.gather(dim, index)
'''

CPU_PLACEMENT = '''
import torch as _torch
if not _torch.cuda.is_available():
    _torch.Tensor.cuda = lambda self, *a, **k: self
    _torch.nn.Module.cuda = lambda self, *a, **k: self
'''

CSR_A = '''
import scipy.sparse as _sp
for _cls in (_sp.csr_matrix, _sp.coo_matrix, _sp.csc_matrix):
    if not hasattr(_cls, "A"):
        _cls.A = property(lambda self: self.toarray())
'''


def write_module(folder: Path, name: str, source: str) -> Path:
    """Write one stand-in as ``folder/name.py``; returns its path."""
    path = Path(folder) / f"{name}.py"
    path.write_text(source)
    return path


def sitecustomize(parts: list) -> str:
    """A ``sitecustomize.py`` (run by Python at start-up from PYTHONPATH) holding the given fragments."""
    return '"""side_by_side.py shims (benchmarks/sbs_shims.py)."""\n' + "\n".join(parts)
