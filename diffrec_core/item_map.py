"""2-D maps of a sequence method's item-embedding table, made offline, and a fast projection of live points onto them.

Why a precomputed map. DiffuRec and DreamRec generate a vector in item-embedding space (d = 32 / 64 on the sample
world) and recommend the items nearest to it (x̂0·Eᵀ). To *see* a generated embedding travel from x_T to x̂0, the
page draws the catalogue as a 2-D map and places the trajectory on it. UMAP (McInnes, Healy, Melville 2018) draws
neighbourhoods well but costs ~5 s to import and 20-30 s on its first fit (numba compilation), so it runs here,
offline, never on a page view (design.md, "Speed is a feature"). PCA is stored beside it: a linear map whose axes
mean something and onto which any new vector projects exactly.

Precompute (deterministic; writes ``pretrained/<method>/item_map.npz``)::

    python -m diffrec_core item-map                       # diffurec, dreamrec, sasrec on the sample world
    python -m diffrec_core item-map --methods dreamrec --neighbors 15 --min-dist 0.1

Projecting live points (:func:`project`). A point the map was not fitted on (x_T, x_k, x̂0) is placed

* on the PCA map by the PCA itself: (x − mean)·Vᵀ. Exact and linear: distances along the two principal axes are
  true, everything orthogonal to them is dropped.
* on the UMAP map by k-nearest-neighbour interpolation in embedding space: its ``k`` most cosine-similar items,
  weighted by softmax(cos / τ), give its 2-D position as the weighted mean of their map positions. This is the
  usual out-of-sample trick for neighbour embeddings (cf. UMAP's own ``transform``, which initialises new points
  the same way before a few optimisation steps we skip for speed: ~1 ms for a whole trajectory). It puts a point
  *among the items it resembles*; it cannot show how far away from every item a point is, so each projected
  point also carries its best cosine similarity (``support``), which the page uses to fade points that resemble no
  item (pure noise at the start of the reverse chain).

Cosine is the UMAP metric too, so "near on the map" and "near for the projection" mean the same thing. The models
rank by inner product, which also rewards long vectors; the map shows direction only (said on the page).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import versioned_npz
from .errors import DiffRecError
from .paths import PRETRAINED

MAP_FORMAT = "diffrec-item-map"
MAP_VERSION = 1
FILE_NAME = "item_map.npz"
DEFAULT_METHODS = ("diffurec", "dreamrec", "sasrec")
KINDS = ("umap", "pca")


class ItemMapError(DiffRecError, ValueError):
    """An item-map file is missing, malformed or does not fit the model it is drawn for."""


@dataclass
class ItemMap:
    """Both 2-D layouts of one method's item table plus what is needed to place new points on them.

    embeddings (I, d)  the item table the map was made from (real items 0..I-1, padding row dropped)
    umap / pca (I, 2)  item coordinates;  pca_mean (d,), pca_components (2, d), pca_explained (2,)
    meta               how it was made: method, UMAP parameters, seed, the checkpoint's weights hash
    """

    method: str
    embeddings: np.ndarray
    umap: Optional[np.ndarray]
    pca: np.ndarray
    pca_mean: np.ndarray
    pca_components: np.ndarray
    pca_explained: np.ndarray
    meta: dict = field(default_factory=dict)
    _unit: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def n_items(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def kinds(self) -> list:
        return [k for k in KINDS if self.coords(k, strict=False) is not None]

    def coords(self, kind: str = "umap", strict: bool = True) -> Optional[np.ndarray]:
        if kind not in KINDS:
            raise ValueError(f"map kind must be one of {', '.join(KINDS)}")
        xy = self.umap if kind == "umap" else self.pca
        if xy is None and strict:
            raise ItemMapError(f"this {self.method} map has no {kind.upper()} layout")
        return xy

    def unit(self) -> np.ndarray:
        """Row-normalised item table (cached; the map is shared read-only, this is the one lazily filled field)."""
        if self._unit is None:
            self._unit = _normalise(self.embeddings)
        return self._unit

    # ------------------------------------------------------------------ persistence
    def to_npz_bytes(self) -> bytes:
        arrays = dict(embeddings=self.embeddings.astype(np.float32), pca=self.pca.astype(np.float32),
                      pca_mean=self.pca_mean.astype(np.float64), pca_components=self.pca_components.astype(np.float64),
                      pca_explained=self.pca_explained.astype(np.float64))
        if self.umap is not None:
            arrays["umap"] = self.umap.astype(np.float32)
        header = {"format": MAP_FORMAT, "version": MAP_VERSION, "method": self.method, "meta": self.meta}
        return versioned_npz.write(header, arrays)

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> "ItemMap":
        """Never unpickles; a wrong format, version or shape is a clear :class:`ItemMapError`."""
        header, arrays = versioned_npz.read(data, ItemMapError, "not an item-map file")
        if header.get("format") != MAP_FORMAT or header.get("version") != MAP_VERSION:
            raise ItemMapError(f"not an item map this version reads (format {header.get('format')!r}, "
                               f"version {header.get('version')!r}; expected {MAP_FORMAT!r} v{MAP_VERSION})")
        missing = {"embeddings", "pca", "pca_mean", "pca_components", "pca_explained"} - set(arrays)
        if missing:
            raise ItemMapError(f"item-map file lacks {', '.join(sorted(missing))}")
        E = arrays["embeddings"]
        for k in ("pca", "umap"):
            if k in arrays and arrays[k].shape != (E.shape[0], 2):
                raise ItemMapError(f"{k} coordinates have shape {arrays[k].shape}, expected ({E.shape[0]}, 2)")
        if arrays["pca_components"].shape != (2, E.shape[1]):
            raise ItemMapError("PCA components do not match the embedding width")
        return cls(method=str(header.get("method", "?")), embeddings=E.astype(np.float32), umap=arrays.get("umap"),
                   pca=arrays["pca"], pca_mean=arrays["pca_mean"], pca_components=arrays["pca_components"],
                   pca_explained=arrays["pca_explained"], meta=dict(header.get("meta", {})))

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_npz_bytes())
        return path


def load(path) -> ItemMap:
    path = Path(path)
    if not path.exists():
        raise ItemMapError(f"no item map at {path}; make it with `python -m diffrec_core item-map`")
    return ItemMap.from_npz_bytes(path.read_bytes())


def map_path(method: str, root=None) -> Path:
    return Path(root or PRETRAINED) / method / FILE_NAME


# ---------------------------------------------------------------------------------------------- the item table
def item_table(model) -> np.ndarray:
    """(I, d) the real items' embedding rows, read through the model's public ``logits``: x·Eᵀ at x = I_d gives
    Eᵀ, whatever row the method keeps its padding in (DiffuRec/SASRec: row 0, DreamRec: the last row)."""
    import torch

    d = _embedding_dim(model)
    eye = torch.eye(d, device=getattr(model, "device", "cpu"))
    with torch.no_grad():
        try:
            et = model.logits(eye, False)
        except TypeError:                                  # SASRec: logits(h) over the real items
            et = model.logits(eye)
    return et.T.detach().float().cpu().numpy().copy()


def _embedding_dim(model) -> int:
    c = model.config
    return int(getattr(c, "hidden", None) or getattr(c, "dim", None) or c.embedding_size)


# ---------------------------------------------------------------------------------------------- fitting (offline)
def fit_pca(E: np.ndarray):
    """Top-2 principal axes by SVD of the centred table; signs fixed so the largest |loading| is positive
    (deterministic across LAPACK builds)."""
    X = np.asarray(E, dtype=np.float64)
    mean = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    comps = vt[:2].copy()
    sign = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    comps *= sign[:, None]
    var = s ** 2
    return mean, comps, var[:2] / var.sum()


def fit_umap(E: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 1) -> np.ndarray:
    """UMAP with the cosine metric (the one the projection uses). Imported here only: never on a page view."""
    import umap  # noqa: PLC0415 - lazy on purpose (5 s import, numba compilation)

    reducer = umap.UMAP(n_neighbors=int(n_neighbors), min_dist=float(min_dist), metric="cosine",
                        random_state=int(seed), n_components=2, init="spectral", transform_seed=int(seed),
                        n_jobs=1)   # a fixed seed forces one thread anyway (deterministic)
    xy = reducer.fit_transform(np.asarray(E, dtype=np.float32))
    return (xy - xy.mean(axis=0)).astype(np.float32)


def build_map(method: str, E: np.ndarray, with_umap: bool = True, n_neighbors: int = 15, min_dist: float = 0.1,
              seed: int = 1, meta: Optional[dict] = None) -> ItemMap:
    E = np.asarray(E, dtype=np.float32)
    mean, comps, expl = fit_pca(E)
    pca = ((E - mean) @ comps.T).astype(np.float32)
    t0 = time.perf_counter()
    um = fit_umap(E, n_neighbors, min_dist, seed) if with_umap else None
    info = {"method": method, "n_items": int(E.shape[0]), "dim": int(E.shape[1]),
            "pca": "top-2 principal axes of the centred item table (SVD)",
            **({"umap": {"n_neighbors": int(n_neighbors), "min_dist": float(min_dist), "metric": "cosine",
                         "seed": int(seed), "init": "spectral", "seconds": round(time.perf_counter() - t0, 1)}}
               if with_umap else {}),
            **(meta or {})}
    return ItemMap(method, E, um, pca, mean, comps, expl, info)


def weights_hash(method: str, root=None) -> str:
    """The checkpoint's recorded weights hash (so the page can tell a map from another checkpoint)."""
    cfg = Path(root or PRETRAINED) / method / "config.json"
    return str(json.loads(cfg.read_text()).get("weights_sha256", "")) if cfg.exists() else ""


def table_hash(E: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(E, dtype=np.float32).tobytes()).hexdigest()[:16]


def precompute(methods: Sequence[str] = DEFAULT_METHODS, data: str = "sample", root=None, with_umap: bool = True,
               n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 1, log=print) -> dict:
    """Write ``<root>/<method>/item_map.npz`` for each pretrained sequence method; returns {method: path}."""
    from . import pipeline

    split = pipeline.load_split(data, how="loo")
    out = {}
    for m in methods:
        model = pipeline.load_pretrained(m, split, root=root)
        E = item_table(model)
        t0 = time.perf_counter()
        imap = build_map(m, E, with_umap, n_neighbors, min_dist, seed,
                         meta={"data": data, "weights_sha256": weights_hash(m, root), "table_sha256": table_hash(E)})
        out[m] = imap.save(map_path(m, root))
        log(f"{m:9s} {E.shape[0]} items × d={E.shape[1]}  PCA explains {100 * imap.pca_explained.sum():.1f} %  "
            f"({time.perf_counter() - t0:.1f} s) -> {out[m]}")
    return out


# ---------------------------------------------------------------------------------------------- live points
@dataclass
class Projection:
    xy: np.ndarray          # (N, 2) map coordinates
    support: np.ndarray     # (N,) best cosine similarity to any item (how much the point resembles an item)
    neighbours: np.ndarray  # (N, k) the items used (kNN) or the nearest items by cosine (PCA)
    how: str


def _normalise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    n = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.maximum(n, 1e-12)


def cosine_to_items(imap: ItemMap, X: np.ndarray) -> np.ndarray:
    """(N, I) cosine similarity of each row of X to every item."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if X.shape[1] != imap.dim:
        raise ItemMapError(f"points have width {X.shape[1]}, the {imap.method} map's items have {imap.dim}")
    return _normalise(X) @ imap.unit().T


def project(imap: ItemMap, X: np.ndarray, kind: str = "umap", k: int = 10, tau: float = 0.05) -> Projection:
    """Place live points (rows of X, in the model's embedding space) on the ``kind`` map.

    'pca': exact linear projection (x − mean)·Vᵀ. 'umap': weighted mean of the map positions of the ``k`` most
    cosine-similar items, weights softmax(cos/τ) (τ = 0.05: a point whose best match is clearly better than its
    10th lands next to that item; a point equally similar to all ten lands at their centre). Vectorised: one
    (N, I) product, ~1 ms for a 100-step trajectory of a 500-item catalogue.
    """
    sims = cosine_to_items(imap, X)
    k = int(max(1, min(k, imap.n_items)))
    nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, nn, axis=1)
    order = np.argsort(-s, axis=1)
    nn, s = np.take_along_axis(nn, order, axis=1), np.take_along_axis(s, order, axis=1)
    support = s[:, 0]
    if kind == "pca":
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        xy = (X - imap.pca_mean) @ imap.pca_components.T
        return Projection(xy, support, nn, "pca")
    coords = np.asarray(imap.coords(kind), dtype=np.float64)
    w = np.exp((s - s[:, :1]) / float(tau))
    w /= w.sum(axis=1, keepdims=True)
    xy = np.einsum("nk,nkc->nc", w, coords[nn])
    return Projection(xy, support, nn, f"knn{k}")


def nearest_items(imap: ItemMap, X: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, k) items by cosine similarity, most similar first."""
    return project(imap, X, "pca", k=k).neighbours


def describe(imap: ItemMap, kind: str) -> str:
    """One sentence on how the shown map was made (the page shows it under the map)."""
    m = imap.meta
    if kind == "pca":
        e = imap.pca_explained
        return (f"PCA of the {imap.n_items} item embeddings (d = {imap.dim}): the two axes are the directions of "
                f"largest variance and explain {100 * e[0]:.1f} % and {100 * e[1]:.1f} % of it. New points are "
                "projected exactly onto these two axes.")
    u = m.get("umap", {})
    return (f"UMAP of the {imap.n_items} item embeddings (d = {imap.dim}; cosine metric, {u.get('n_neighbors', '?')} "
            f"neighbours, min_dist {u.get('min_dist', '?')}, seed {u.get('seed', '?')}), computed offline. New points "
            "are placed at the similarity-weighted average position of their 10 most cosine-similar items.")
