"""L-DiffRec: diffusion in the latent space of a clustered VAE (Wang et al., "Diffusion Recommender Model",
SIGIR 2023, arXiv 2304.04971 - the latent variant of DiffRec).

Authors' code: github.com/YiyanXu/DiffRec @ d35a6c6 (L-DiffRec/main.py, models/Autoencoder.py, inference.py);
second reference RecBole ``ldiffrec.py``. Specification: docs/methods.md §2.3 (shared diffusion: 1; denoiser: 2.1).

Why a latent: DiffRec's MLP reads and writes whole I-dimensional rows, so its first and last layers grow with the
catalogue. L-DiffRec clusters the items (k-means on item embeddings), compresses each cluster's slice of the row
with its own small VAE encoder, runs DiffRec's diffusion on the concatenated latent, and decodes back to item
scores. Everything - encoder, latent denoiser, decoder - trains end to end with one joint loss per batch.

LT-DiffRec (LT-DiffRec/main.py) is this model with ``time_weights`` on: the autoencoder reads, and its
multinomial target is, T-DiffRec's time-weighted row (``diffrec.time_weighted``); masks stay binary.

Layout of the autoencoder here (a deviation in storage only, not in arithmetic): the authors keep one
``Linear(|c|, 2 d_c)`` per cluster, whose shapes depend on the k-means result. This app's checkpoint loader builds
a model from (config, n_users, n_items) alone and checks every tensor's shape before loading, so the per-cluster
encoders are stored as the diagonal blocks of ONE ``Linear(I, 2 * latent)`` over the cluster-ordered items.
Block c (rows ``[2 a_c, 2 b_c)``, columns ``[s_c, e_c)``) is exactly the authors' ``encoder[c]`` (mu rows first,
then logvar rows); the off-block entries are zero, never used in the forward pass and never receive a gradient.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import svds
from torch import nn

from .. import distributed
from ..data.dataset import Split
from ..diffusion import GaussianDiffusion, ScheduleConfig
from ..diffusion.rng import cpu_normal_like
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender, build_trajectory, make_adamw
from .diffrec import time_weighted, weighted_rows
from .dnn import DNN, mirrored_dims

CLUSTER_SOURCES = ("none", "single", "item_emb", "svd")   # codes 0..3 of the ``cluster_source_code`` buffer


@dataclass
class LDiffRecConfig(TrainConfig):
    # --- item clustering and autoencoder (docs/methods.md §2.3) ---
    n_cate: int = 2                     # number of item clusters; 1 = no clustering (tuned value in every release: 2)
    cluster_source: str = "auto"        # 'auto' (item_emb if the split ships one, else 'svd') | 'item_emb' | 'svd'
    svd_dim: int = 32                   # 'svd': rank of the truncated SVD (a substitute for LightGCN embeddings)
    cluster_seed: int = 1               # seeds k-means (the authors' k-means is unseeded: quirk 6)
    latent_dims: List[int] = field(default_factory=lambda: [64])  # authors' in_dims; total latent size (ML-1M [300])
    ae_dropout: float = 0.1             # input dropout of the encoder
    reparam: bool = True                # z = mu + sigma*eps in training (eval always uses mu)
    vae_target: str = "dropped"         # multinomial target: 'dropped' (faithful quirk 2: dropped-out x) | 'clean'
    # --- latent denoiser (the DNN of docs/methods.md §2.1, on the latent) ---
    mlp_dims: List[int] = field(default_factory=lambda: [64])  # decoder half of the mirrored MLP (ML-1M [300])
    emb_size: int = 10                  # time-embedding size
    norm: bool = False                  # L2-normalise the latent before the MLP (off in every release)
    dropout: float = 0.5                # the DNN's input dropout, kept on the latent as in the authors' code
    # --- diffusion ---
    noise_schedule: str = "linear_var"
    steps: int = 10                     # T
    noise_scale: float = 5e-3           # s
    noise_min: float = 5e-3             # a_min
    noise_max: float = 2e-2             # a_max (std at T = 0.010)
    beta1_fix: Optional[float] = None   # L-DiffRec leaves beta[0] alone (quirk 1); 1e-5 = parity with DiffRec
    mean_type: str = "x0"
    reweight: bool = True               # SNR-difference weights
    t_sampler: str = "importance"       # 'importance' (authors) | 'uniform'
    eps_weight: str = "faithful"        # eps-mode weight (unused with x0)
    # --- joint loss: loss = lambda * elbo + (multinomial NLL + anneal * KL) ---
    lamda: float = 0.03                 # initial weight of the diffusion ELBO
    anneal_cap: float = 0.005           # floor of lambda
    anneal_steps: int = 50              # lambda decays linearly to the floor over this many units (authors: 500)
    lambda_anneal_unit: str = "epoch"   # 'epoch' (faithful quirk 3: counter bumped per epoch) | 'batch' (RecBole)
    vae_anneal_cap: float = 0.3         # cap of the KL weight
    vae_anneal_steps: int = 100         # KL weight ramps 0 -> cap over this many batches (authors: 200)
    # --- inference ---
    sampling_steps: int = 0             # T' (authors: 0)
    sampling_noise: bool = False
    reverse_steps: str = "all_T"        # 'all_T' (faithful) | 'from_T_prime'
    # --- optimisation: two AdamW optimisers (autoencoder, latent MLP) ---
    lr1: float = 1e-3                   # autoencoder
    lr2: float = 5e-4                   # latent MLP
    wd1: float = 0.0
    wd2: float = 0.0
    batch_size: int = 100
    # --- the training protocol: TrainConfig's defaults (40 epochs, validation every 5, patience 15); the authors'
    #     presets set stop_check 'before_epoch' (L-DiffRec/main.py) and metric_denominator 'all' (DiffRec quirk 7) ---
    # --- LT-DiffRec (LT-DiffRec/main.py): T-DiffRec's time weighting on L-DiffRec's input and target ---
    time_weights: bool = False          # True: the row x * linspace(w_min, w_max) over the chronological history
    w_min: float = 0.1                  # weight of a user's oldest training interaction
    w_max: float = 1.0                  # weight of the newest (masks stay binary, as in their mask_tv)
    time_order: str = "timestamp"       # 'timestamp' or 'file' (the authors' row order): diffrec.time_weighted

    def schedule(self) -> ScheduleConfig:
        return ScheduleConfig(self.noise_schedule, self.steps, self.noise_scale, self.noise_min, self.noise_max,
                              self.beta1_fix)

    @property
    def latent_size(self) -> int:
        return int(self.latent_dims[-1])


# L-DiffRec/main.py's loop and the argparse defaults every tuned run used (anneal_steps 500, vae_anneal_steps 200);
# per data set, L-DiffRec/inference.py's diffusion settings and the lr / lamda / reweight in the checkpoint names
# it loads (all: batch 400, n_cate 2, latent [300], MLP [300]).
_LOOP = dict(batch_size=400, latent_dims=[300], mlp_dims=[300], n_cate=2, epochs=1000, eval_every=5, patience=20,
             stop_check="before_epoch", anneal_steps=500, vae_anneal_steps=200, metric_denominator="all")
LDIFFREC_PRESETS = {
    "sample": {},
    "ml-1m": dict(_LOOP, lr1=1e-3, lr2=5e-4, lamda=0.03, steps=40, noise_scale=5e-3, noise_min=5e-3, noise_max=2e-2),
    "ml-1m_noisy": dict(_LOOP, lr1=1e-3, lr2=5e-4, lamda=0.03, steps=100, noise_scale=5e-3, noise_min=5e-3,
                        noise_max=2e-2),
    "amazon-book": dict(_LOOP, lr1=5e-4, lr2=1e-4, lamda=0.05, steps=5, noise_scale=0.5, noise_min=1e-3,
                        noise_max=5e-3),
    "amazon-book_noisy": dict(_LOOP, lr1=5e-4, lr2=1e-4, lamda=0.07, steps=10, noise_scale=0.5, noise_min=1e-3,
                              noise_max=5e-3),
    "yelp": dict(_LOOP, lr1=5e-4, lr2=1e-4, lamda=0.03, steps=5, noise_scale=1e-2, noise_min=5e-3, noise_max=1e-2),
    "yelp_noisy": dict(_LOOP, lr1=5e-4, lr2=1e-4, lamda=0.03, steps=5, noise_scale=1e-2, noise_min=5e-3,
                       noise_max=1e-2),
    # LT-DiffRec (LT-DiffRec/inference.py and its checkpoint names; released for the two clean sets only)
    "lt-amazon-book": dict(_LOOP, time_weights=True, time_order="file", w_min=0.1, w_max=1.0, lr1=5e-4, lr2=1e-4,
                           lamda=0.03, steps=5, noise_scale=0.7, noise_min=1e-3, noise_max=5e-3),
    "lt-yelp": dict(_LOOP, time_weights=True, time_order="file", w_min=0.5, w_max=1.0, lr1=5e-4, lr2=5e-5,
                    lamda=0.03, steps=5, noise_scale=1e-2, noise_min=5e-3, noise_max=1e-2, batch_size=200),
}


# ---------------------------------------------------------------------------------------------------- clustering
def kmeans(x: torch.Tensor, n_clusters: int, seed: int = 1, max_iter: int = 300, tol: float = 1e-4) -> torch.Tensor:
    """Seeded, vectorised Lloyd k-means with euclidean distance (the algorithm of ``kmeans_pytorch.kmeans``, which
    the authors call: random data points as initial centres, stop when the squared total centre shift < tol).

    Returns a (N,) long tensor of cluster labels with every cluster non-empty. Empty clusters - possible with
    random initialisation - are re-seeded with the point farthest from its centre (kmeans_pytorch draws a random
    point instead); a last pass guarantees non-empty clusters even when ``max_iter`` runs out.
    """
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"cannot make {n_clusters} clusters of {n} items")
    x = x.detach().to(torch.float64)
    if n_clusters == 1:
        return torch.zeros(n, dtype=torch.long, device=x.device)
    g = torch.Generator().manual_seed(int(seed))
    centres = x[torch.randperm(n, generator=g)[:n_clusters].to(x.device)]
    for _ in range(max_iter):
        dist = torch.cdist(x, centres)
        labels = dist.argmin(1)
        counts = torch.bincount(labels, minlength=n_clusters)
        new = torch.zeros_like(centres).index_add_(0, labels, x) / counts.clamp(min=1)[:, None].to(x.dtype)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):
            far = dist.gather(1, labels[:, None]).squeeze(1).topk(len(empty)).indices
            new[empty] = x[far]
        shift = ((new - centres) ** 2).sum(1).sqrt().sum()
        centres = new
        if shift ** 2 < tol:
            break
    dist = torch.cdist(x, centres)
    labels = dist.argmin(1)
    for c in range(n_clusters):   # guarantee: move the worst-fitting point of a multi-point cluster into c
        counts = torch.bincount(labels, minlength=n_clusters)
        if counts[c] == 0:
            own = dist.gather(1, labels[:, None]).squeeze(1)
            own = torch.where(counts[labels] > 1, own, torch.full_like(own, -1.0))
            labels[own.argmax()] = c
    return labels


def svd_item_factors(train: sp.spmatrix, dim: int = 32, seed: int = 1) -> np.ndarray:
    """Item factors V sqrt(S) of a rank-``dim`` truncated SVD of the sparse training matrix (never densified).

    A substitute for the authors' LightGCN item embeddings, which come from an external run (docs/methods.md §2.3 quirk
    6). sqrt(S) splits the singular values evenly between users and items, as in X ~ (U sqrt S)(V sqrt S)^T. Signs
    of singular vectors are arbitrary but do not change euclidean distances, so the k-means result is unaffected.
    """
    X = sp.csr_matrix(train, dtype=np.float64)
    k = int(min(dim, min(X.shape) - 1))
    if k < 1:
        raise ValueError(f"training matrix {X.shape} is too small for an SVD")
    v0 = np.random.default_rng(seed).standard_normal(min(X.shape))
    _, s, vt = svds(X, k=k, v0=v0)
    return (vt.T * np.sqrt(np.maximum(s, 0.0))).astype(np.float32)


def latent_split(sizes, latent: int) -> List[int]:
    """Latent size per cluster (authors' AutoEncoder): d_c = max(1, int(|c|/I * latent)), the last cluster gets the
    remainder. Where the remainder would be < 1 (only possible with n_cate >= 3 and a tiny latent; the authors'
    code would build a 0-width layer) the largest earlier slices give up one unit each."""
    sizes = [int(s) for s in sizes]
    n = sum(sizes)
    d = [max(1, int(s / n * latent)) for s in sizes[:-1]]
    d.append(latent - sum(d))
    while d[-1] < 1:
        j = int(np.argmax(d[:-1]))
        if d[j] <= 1:
            raise ValueError(f"latent size {latent} is smaller than the number of clusters {len(sizes)}")
        d[j] -= 1
        d[-1] += 1
    return d


# ---------------------------------------------------------------------------------------------------- autoencoder
class ClusteredAutoEncoder(nn.Module):
    """The authors' ``AutoEncoder`` (docs/methods.md §2.3) with its per-cluster encoders stored as the diagonal
    blocks of one ``Linear(I, 2*latent)`` (see the module docstring). All data-dependent state - which cluster each
    item is in, and the item order - lives in persistent buffers, so a checkpoint reloads without the data."""

    def __init__(self, n_items: int, latent: int, n_cate: int, dropout: float = 0.1):
        super().__init__()
        if not 1 <= n_cate <= n_items:
            raise ValueError(f"n_cate must lie in 1..{n_items}, got {n_cate}")
        if latent < n_cate:
            raise ValueError(f"latent size {latent} must be >= n_cate {n_cate} (each cluster needs a latent unit)")
        self.n_items, self.latent, self.n_cate = int(n_items), int(latent), int(n_cate)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Linear(self.n_items, 2 * self.latent)
        self.decoder = nn.Linear(self.latent, self.n_items)
        # before clustering: contiguous, equal-sized placeholder clusters, so an untrained model is usable
        placeholder = torch.arange(self.n_items) * self.n_cate // self.n_items
        self.register_buffer("item_cluster", placeholder)                          # (I,) item -> cluster
        self.register_buffer("category_map", torch.arange(self.n_items))           # (I,) position -> item id
        self.register_buffer("item_pos", torch.arange(self.n_items), persistent=False)  # item id -> position
        self._sync()
        self.reset_parameters()

    def _sync(self) -> None:
        """Derive the item order, block boundaries and latent slices from ``item_cluster``."""
        labels = self.item_cluster.long()
        order = torch.argsort(labels, stable=True)       # cluster by cluster, items ascending (np.argwhere order)
        self.category_map.copy_(order)
        self.item_pos.copy_(torch.argsort(order))
        self.sizes = torch.bincount(labels.cpu(), minlength=self.n_cate).tolist()
        if len(self.sizes) != self.n_cate or min(self.sizes) < 1:
            raise ValueError(f"every cluster needs at least one item; sizes {self.sizes}")
        self.dims = latent_split(self.sizes, self.latent)
        e, a = np.cumsum(self.sizes).tolist(), np.cumsum(self.dims).tolist()
        self.item_bounds = [(s - n, s) for s, n in zip(e, self.sizes)]       # positions of cluster c
        self.latent_bounds = [(s - d, s) for s, d in zip(a, self.dims)]      # latent slice of cluster c

    def set_clusters(self, labels: torch.Tensor) -> None:
        """Adopt a clustering and re-initialise the weights for its block shapes."""
        self.item_cluster.copy_(labels.to(self.item_cluster.device, torch.long))
        self._sync()
        self.reset_parameters()

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._sync()   # the loaded item_cluster defines the blocks

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """xavier_normal_ per cluster encoder (std sqrt(2/(|c| + 2 d_c))) and for the decoder; zero biases."""
        self.encoder.weight.zero_()
        for (s, e), (a, b) in zip(self.item_bounds, self.latent_bounds):
            block = self.encoder.weight[2 * a:2 * b, s:e]
            block.normal_(0.0, float(np.sqrt(2.0 / ((e - s) + 2 * (b - a)))))
        nn.init.zeros_(self.encoder.bias)
        nn.init.xavier_normal_(self.decoder.weight)
        nn.init.zeros_(self.decoder.bias)

    def n_effective_parameters(self) -> int:
        """Parameters of the authors' layout (the off-block zeros of the encoder are not parameters there)."""
        enc = sum((e - s) * 2 * (b - a) + 2 * (b - a) for (s, e), (a, b) in zip(self.item_bounds, self.latent_bounds))
        return int(enc + self.decoder.weight.numel() + self.decoder.bias.numel())

    def encode(self, x: torch.Tensor):
        """x (B, I) in item order -> (x_cate, mu, logvar): x_cate is the DROPPED-OUT input in cluster order (the
        authors' multinomial target, quirk 2); mu and logvar (B, latent) are tanh outputs, so they lie in (-1, 1)."""
        x_cate = self.drop(x)[:, self.category_map]
        mus, lvs = [], []
        for (s, e), (a, b) in zip(self.item_bounds, self.latent_bounds):
            h = torch.tanh(F.linear(x_cate[:, s:e], self.encoder.weight[2 * a:2 * b, s:e],
                                    self.encoder.bias[2 * a:2 * b]))
            mus.append(h[:, :b - a])
            lvs.append(h[:, b - a:])
        return x_cate, torch.cat(mus, 1), torch.cat(lvs, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (..., latent) -> logits (..., I) in cluster order (one Linear: the authors' ``out_dims=[]``)."""
        return self.decoder(z)

    def to_items(self, logits: torch.Tensor) -> torch.Tensor:
        """Cluster order -> original item order (the authors map top-K indices through ``category_map``)."""
        return logits[..., self.item_pos]

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL = -1/2 mean_batch sum_j (1 + log s^2 - mu^2 - s^2), as written in the authors' Encode."""
        return -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))


# ---------------------------------------------------------------------------------------------------- the method
class LDiffRec(Recommender):
    """Clustered VAE + DiffRec's diffusion on its latent (docs/methods.md §2.3). ``prepare`` clusters the items once
    (k-means on shipped item embeddings, or on truncated-SVD factors as a substitute); ``fit_epoch`` trains the
    autoencoder and the latent MLP jointly; ``score`` is mu(x) -> T deterministic latent denoising steps ->
    decode -> scores in original item order."""

    name = "ldiffrec"
    autocast_ok = True      # --precision bf16 (diffrec_core/precision.py)

    def __init__(self, config: LDiffRecConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        c = config
        if len(c.latent_dims) != 1:
            raise ValueError("latent_dims must have one entry (the latent size); deeper encoders are an option of "
                             "the authors' code that no release uses")
        for name, value, allowed in (("vae_target", c.vae_target, ("dropped", "clean")),
                                     ("lambda_anneal_unit", c.lambda_anneal_unit, ("epoch", "batch")),
                                     ("cluster_source", c.cluster_source, ("auto", "item_emb", "svd"))):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.ae = ClusteredAutoEncoder(n_items, c.latent_size, c.n_cate, c.ae_dropout)
        in_dims, out_dims = mirrored_dims(c.latent_size, c.mlp_dims)
        self.latent_net = DNN(in_dims, out_dims, c.emb_size, c.norm, c.dropout, bias_init="zero")
        self.diffusion = GaussianDiffusion(c.schedule(), c.mean_type, c.reweight, c.t_sampler, c.eps_weight)
        # training counters travel with the checkpoint, so resumed training continues both annealing schedules
        self.register_buffer("n_batches_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("n_epochs_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("cluster_source_code", torch.zeros((), dtype=torch.long))
        self._opts = None

    # -- clustering -------------------------------------------------------------------------------------------
    @property
    def is_clustered(self) -> bool:
        return int(self.cluster_source_code) != 0

    @property
    def cluster_source(self) -> str:
        return CLUSTER_SOURCES[int(self.cluster_source_code)]

    def prepare(self, split: Split) -> None:
        """Cluster the items once. A model that is already clustered (trained, or loaded from a checkpoint) keeps
        its clusters and weights; call :meth:`recluster` to force a new clustering."""
        if not self.is_clustered:
            self.recluster(split)

    def attach(self, split: Split) -> None:
        """LT-DiffRec: the time-weighted training matrix (a cache, re-derived after loading a checkpoint)."""
        if self.config.time_weights:
            self._weighted = time_weighted(split, self.config.w_min, self.config.w_max, self.config.time_order)

    def rows(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        """What the autoencoder reads: the binary history, or with ``time_weights`` its time-weighted version."""
        if not self.config.time_weights:
            return self.input_rows(split, users, which)
        w = getattr(self, "_weighted", None)
        if w is None or w.shape != split.train.shape:
            self.attach(split)
        return torch.from_numpy(weighted_rows(split, self._weighted, users, which,
                                              self.config.test_input)).to(self.device)

    def recluster(self, split: Split) -> None:
        """k-means on the item embeddings named by ``cluster_source`` (docs/methods.md §2.3 quirk 6), then fresh
        autoencoder weights for the new block shapes."""
        c = self.config
        if split.n_items != self.n_items:
            raise ValueError(f"split has {split.n_items} items, the model {self.n_items}")
        if c.n_cate == 1:                      # no clustering: one block over all items in their own order
            self._adopt(torch.zeros(self.n_items, dtype=torch.long), "single")
            return
        source = c.cluster_source
        if source == "auto":
            source = "item_emb" if split.item_emb is not None else "svd"
        if source == "item_emb":
            if split.item_emb is None:
                raise ValueError("cluster_source='item_emb' but this data set ships no item embeddings")
            emb = np.asarray(split.item_emb, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != self.n_items:
                raise ValueError(f"item_emb has shape {emb.shape}; expected [{self.n_items}, d]")
        else:
            emb = svd_item_factors(split.train, c.svd_dim, c.cluster_seed)
        self.cluster_embeddings(torch.from_numpy(emb), source)

    def cluster_embeddings(self, emb: torch.Tensor, source: str = "item_emb") -> torch.Tensor:
        """k-means (seeded) on an [I, d] item embedding; adopts the clusters and re-initialises the autoencoder."""
        labels = kmeans(emb.to(self.device), self.config.n_cate, seed=self.config.cluster_seed).cpu()
        self._adopt(labels, source)
        return labels

    def _adopt(self, labels: torch.Tensor, source: str) -> None:
        self.ae.set_clusters(labels)
        self.cluster_source_code.fill_(CLUSTER_SOURCES.index(source))
        self._opts = None          # fresh weights: fresh optimiser state

    # -- training ---------------------------------------------------------------------------------------------
    def n_diffusion_steps(self) -> int:
        return self.diffusion.T

    def n_parameters(self) -> int:
        """Counted as in the authors' layout (the encoder's off-block zeros excluded)."""
        return int(self.ae.n_effective_parameters() + sum(p.numel() for p in self.latent_net.parameters()))

    def optimizers(self):
        """Two AdamW optimisers as in L-DiffRec/main.py: (autoencoder, lr1, wd1) and (latent MLP, lr2, wd2)."""
        if self._opts is None:
            c = self.config
            self._opts = (make_adamw(self.ae.parameters(), lr=c.lr1, weight_decay=c.wd1),
                          make_adamw(self.latent_net.parameters(), lr=c.lr2, weight_decay=c.wd2))
        return self._opts

    def loss_weights(self):
        """(lambda, anneal) for the next batch. lambda = max((1 - n/anneal_steps) * lamda, anneal_cap) with n the
        epochs seen (faithful: the authors bump this counter once per epoch) or the batches seen; anneal =
        min(vae_anneal_cap, batches_seen / vae_anneal_steps)."""
        c = self.config
        n = int(self.n_epochs_seen if c.lambda_anneal_unit == "epoch" else self.n_batches_seen)
        lam = max((1.0 - n / c.anneal_steps) * c.lamda, c.anneal_cap) if c.anneal_steps > 0 \
            else max(c.lamda, c.anneal_cap)
        anneal = min(c.vae_anneal_cap, int(self.n_batches_seen) / c.vae_anneal_steps) if c.vae_anneal_steps > 0 \
            else c.vae_anneal_cap
        return lam, anneal

    def batch_loss(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> dict:
        """The joint loss of one batch (L-DiffRec/main.py; docs/methods.md §2.3):
        ``loss = lambda * elbo + (-mean_b sum_i log_softmax(logits)_i * target_i + anneal * KL)``, where elbo is the
        importance-sampled, SNR-reweighted latent diffusion loss and logits decode the MLP's x0_hat (so the
        decoder learns to read the denoiser's output, not the encoder's). Always ``lambda * elbo + vae``: the
        authors' ``reweight=False`` branch (``elbo + lambda * vae``) is unreachable there (quirk 4)."""
        c = self.config
        x_cate, mu, logvar = self.ae.encode(x)
        z = mu + torch.exp(0.5 * logvar) * cpu_normal_like(mu, generator) if (self.training and c.reparam) else mu
        kl = self.ae.kl(mu, logvar)
        terms = self.diffusion.training_loss(self.latent_net, z, generator=generator)
        elbo = terms["loss"].mean()
        logits = self.ae.decode(terms["x0_hat"])
        target = x_cate if c.vae_target == "dropped" else x[:, self.ae.category_map]
        nll = -torch.mean(torch.sum(F.log_softmax(logits, 1) * target, -1))
        lam, anneal = self.loss_weights()
        loss = lam * elbo + nll + anneal * kl
        return {"loss": loss, "elbo": elbo, "nll": nll, "kl": kl, "lambda": lam, "anneal": anneal}

    def fit_epoch(self, split, generator, rng) -> dict:
        self.prepare(split)
        self.train()
        opt1, opt2 = self.optimizers()
        users = rng.permutation(split.n_users)
        bs = int(self.config.batch_size)
        sums = {"loss": 0.0, "elbo": 0.0, "nll": 0.0, "kl": 0.0}
        n, last = 0, {}
        for i in range(0, len(users), bs):
            x = self.rows(split, distributed.shard(users[i:i + bs]))     # this rank's rows of the batch
            last = self.batch_loss(x, generator)
            opt1.zero_grad(set_to_none=True)
            opt2.zero_grad(set_to_none=True)
            last["loss"].backward()
            opt1.step()
            opt2.step()
            self.n_batches_seen += 1
            for k in sums:
                sums[k] += float(last[k].detach()) * len(x)
            n += len(x)
        self.n_epochs_seen += 1
        out = {k: v / max(n, 1) for k, v in sums.items()}
        out.update({"lambda": last.get("lambda", 0.0), "anneal": last.get("anneal", 0.0)})
        return out

    # -- inference --------------------------------------------------------------------------------------------
    def _run(self, z: torch.Tensor, record: bool, generator=None, **opts):
        c = self.config
        return self.diffusion.denoise_from(
            self.latent_net, z, T_prime=int(opts.get("T_prime", c.sampling_steps)),
            sampling_noise=bool(opts.get("sampling_noise", c.sampling_noise)),
            reverse=opts.get("reverse", c.reverse_steps), record=record, generator=generator)

    @torch.no_grad()
    def score(self, split, users, which="valid") -> torch.Tensor:
        """z = mu(x) -> denoise_from(latent MLP, z, T') -> decode -> (B, I) scores in original item order."""
        was = self.training
        self.eval()
        _, mu, _ = self.ae.encode(self.rows(split, users, which))
        out = self.ae.to_items(self.ae.decode(self._run(mu, record=False).final))
        self.train(was)
        return out

    @torch.no_grad()
    def trajectory(self, split, users, k: int = 10, seed: int = 0, **opts):
        """Record the latent reverse run. ``states`` / ``x0_hat`` are LATENT vectors (S, B, latent); ``scores`` are
        the decoded x0_hat at each step (S, B, I) in original item order, seen items masked. ``meta`` carries the
        cluster of every item and each cluster's latent slice, so the app can draw the clusters."""
        users = np.atleast_1d(np.asarray(users))
        was = self.training
        self.eval()
        _, mu, _ = self.ae.encode(self.rows(split, users))
        run = self._run(mu, record=True, generator=torch.Generator().manual_seed(int(seed)), **opts)
        self.train(was)
        if run.states is None:
            raise ValueError("the reverse run has no steps (reverse='from_T_prime' with T'=0)")
        decoded = self.ae.to_items(self.ae.decode(run.x0_hats))
        seen = self.input_rows(split, users) > 0
        d = self.diffusion
        meta = {**run.meta, "start": "history" if run.meta["T_prime"] == 0 else "noised", "space": "latent",
                "latent_size": self.ae.latent, "item_cluster": self.ae.item_cluster.cpu().tolist(),
                "cluster_sizes": list(self.ae.sizes), "latent_slices": [list(b) for b in self.ae.latent_bounds],
                "cluster_source": self.cluster_source, "config": asdict(self.config)}
        return build_trajectory(self.name, run.steps, run.states, run.x0_hats, run.final, users,
                                d.betas.double().cpu().numpy(), d.alphas_cumprod.double().cpu().numpy(), seen, k,
                                scores=decoded, meta=meta)


register(MethodSpec(
    name="ldiffrec", title="L-DiffRec", paper="Wang et al., SIGIR 2023 (arXiv 2304.04971)",
    diffused="a VAE latent of the clustered interaction vector", model_cls=LDiffRec, config_cls=LDiffRecConfig,
    idea="Cluster items, compress each cluster's part of the history with a VAE, diffuse the small latent, decode.",
    page="reverse", order=3, presets=LDIFFREC_PRESETS))
