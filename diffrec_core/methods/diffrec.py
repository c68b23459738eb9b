"""DiffRec and T-DiffRec (Wang et al., "Diffusion Recommender Model", SIGIR 2023, arXiv 2304.04971).

Authors' code: github.com/YiyanXu/DiffRec @ d35a6c6 (DiffRec/main.py, models/DNN.py, models/gaussian_diffusion.py,
T-DiffRec/data_utils.py). Specification: docs/methods.md §2.1-2.2.

What is diffused: a user's whole training-interaction row x0 in {0,1}^I (T-DiffRec: the row weighted by a linear
ramp over the user's chronological history). The denoiser predicts x0 (Eq. 8 of the paper with x0 target);
training uses SNR-difference weights (docs/methods.md §1.4) and importance-sampled steps (1.5); inference is
``denoise_from`` with T' = 0 (1.6): T passes of the MLP starting from the clean history.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np
import scipy.sparse as sp
import torch

from .. import distributed
from ..data.dataset import Split, dense_rows
from ..diffusion import GaussianDiffusion, ScheduleConfig
from ..diffusion.rng import MIN_SPLIT
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender, build_trajectory
from .dnn import DNN, mirrored_dims


@dataclass
class DiffRecConfig(TrainConfig):
    # --- denoiser (docs/methods.md §2.1) ---
    dims: List[int] = field(default_factory=lambda: [200])  # decoder half of the mirrored MLP (ML-1M: [200, 600])
    emb_size: int = 10                  # time-embedding size
    norm: bool = False                  # L2-normalise input rows (off in every released config)
    dropout: float = 0.5                # input dropout - a stronger corruption than the diffusion noise itself
    # --- diffusion ---
    noise_schedule: str = "linear_var"  # see diffusion.schedules
    steps: int = 10                     # T
    noise_scale: float = 5e-3           # s
    noise_min: float = 5e-3             # a_min
    noise_max: float = 1e-2             # a_max
    beta1_fix: Optional[float] = 1e-5   # beta[0] := 1e-5 after building (quirk 4); None = clean
    mean_type: str = "x0"               # 'x0' (all releases) or 'eps'
    reweight: bool = True               # SNR-difference weights (quirk 2: False = plain MSE)
    t_sampler: str = "importance"       # 'importance' (authors) or 'uniform'
    eps_weight: str = "faithful"        # eps-mode weight: 'faithful' or 'elbo' (quirk 5)
    # --- inference ---
    sampling_steps: int = 0             # T': how far the history is noised before denoising (authors: 0)
    sampling_noise: bool = False        # add posterior noise in the reverse steps (authors: off)
    reverse_steps: str = "all_T"        # 'all_T' (faithful, quirk 3) or 'from_T_prime' (clean)
    # --- T-DiffRec only (docs/methods.md §2.2) ---
    w_min: float = 0.1                  # weight of a user's oldest training interaction
    w_max: float = 1.0                  # weight of the newest
    time_order: str = "timestamp"       # 'timestamp': ramp over the history by time (ties in file order); 'file':
                                        # over the user's rows in file order, as the authors' data_load does
    # --- optimisation (sample-world CPU configuration; presets hold the authors' tuned values) ---
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 100
    # --- the training protocol: TrainConfig's defaults (40 epochs, validation every 5, patience 15; test_input
    #     'train' is faithful, quirk 6); the authors' presets set metric_denominator 'all' (quirk 7) and stop_check
    #     'before_epoch' (DiffRec/main.py tests the patience gap before training the next epoch) ---

    def schedule(self) -> ScheduleConfig:
        return ScheduleConfig(self.noise_schedule, self.steps, self.noise_scale, self.noise_min, self.noise_max,
                              self.beta1_fix)


# The authors' loop (DiffRec/main.py, T-DiffRec/main.py): batch 400, up to 1000 epochs, validation every 5, stop
# when epoch - best_epoch >= 20 tested before the epoch, Recall@20 over all users. Diffusion settings and lr per
# data set from DiffRec/inference.py and the checkpoint names it loads (noisy settings included). Their
# 'reweight0' names still trained with SNR weights: argparse's type=bool reads the string '0' as True.
_LOOP = dict(batch_size=400, epochs=1000, eval_every=5, patience=20, stop_check="before_epoch",
             metric_denominator="all")
ML1M_PRESET = dict(_LOOP, dims=[200, 600], steps=40, noise_scale=5e-3, noise_min=5e-3, noise_max=1e-2, lr=1e-3)
DIFFREC_PRESETS = {
    "sample": {},
    "ml-1m": ML1M_PRESET,
    "amazon-book": dict(_LOOP, dims=[1000], steps=5, noise_scale=1e-4, noise_min=5e-4, noise_max=5e-3, lr=5e-5),
    "yelp": dict(_LOOP, dims=[1000], steps=5, noise_scale=1e-2, noise_min=1e-3, noise_max=1e-2, lr=1e-5),
    # the noisy settings (natural noise kept in training: ratings < 4 not dropped)
    "ml-1m_noisy": dict(_LOOP, dims=[200, 600], steps=5, noise_scale=0.5, noise_min=1e-3, noise_max=1e-2, lr=1e-3),
    "yelp_noisy": dict(_LOOP, dims=[1000], steps=5, noise_scale=1e-3, noise_min=5e-4, noise_max=1e-2, lr=1e-5),
    "amazon-book_noisy": dict(_LOOP, dims=[1000], steps=10, noise_scale=5e-3, noise_min=1e-4, noise_max=5e-4,
                              lr=5e-5),
    "visible-noise": dict(noise_scale=1.0, noise_min=1e-3, noise_max=0.5, sampling_steps=10, sampling_noise=True),
    "no-diffusion": dict(noise_scale=0.0),
    # the teaching model (pretrained/diffrec_teaching, pipeline.TEACHING): the authors' objective with noise one
    # can see - std 0.95 at T, so x_T hardly tells the history from the other items (AUC about 0.59) - and the
    # chain run from x_T (T' = T) without posterior noise. A model for watching diffusion work, not a tuned one.
    "teaching": dict(noise_scale=1.0, noise_min=1e-3, noise_max=0.9, sampling_steps=10, sampling_noise=False),
}
# the authors' data_load ramps over their files' row order (time_order 'file'; on their files it is chronological)
_T_LOOP = dict(_LOOP, time_order="file")
TDIFFREC_PRESETS = {
    "sample": {},
    "amazon-book": dict(_T_LOOP, dims=[1000], steps=10, noise_scale=5e-4, noise_min=1e-3, noise_max=5e-3, lr=1e-5,
                        w_min=0.1, w_max=1.0),
    "yelp": dict(_T_LOOP, dims=[1000], steps=5, noise_scale=5e-3, noise_min=1e-3, noise_max=1e-2, lr=1e-5,
                 w_min=0.5, w_max=1.0),
}


class DiffRec(Recommender):
    name = "diffrec"
    autocast_ok = True      # --precision bf16 (diffrec_core/precision.py); T-DiffRec inherits it

    def __init__(self, config: DiffRecConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        in_dims, out_dims = mirrored_dims(n_items, config.dims)
        self.net = DNN(in_dims, out_dims, config.emb_size, config.norm, config.dropout)
        self.diffusion = GaussianDiffusion(config.schedule(), config.mean_type, config.reweight, config.t_sampler,
                                           config.eps_weight)

    def n_diffusion_steps(self) -> int:
        return self.diffusion.T

    def prepare(self, split: Split) -> None:
        """Build the optimiser before the first epoch, as the authors' main.py does before its training loop.
        Its first construction in a process imports torch._dynamo (about 1 s on CPU), which would otherwise be
        counted in epoch 1."""
        self.optimizer()

    # T-DiffRec overrides this to weight the row by time; DiffRec diffuses the binary row.
    def diffused_rows(self, split: Split, users, which: str = "valid", col_major: bool = False) -> torch.Tensor:
        return self.input_rows(split, users, which, col_major)

    def fit_epoch(self, split, generator, rng) -> dict:
        self.train()
        opt = self.optimizer()
        users = rng.permutation(split.n_users)
        bs = int(self.config.batch_size)
        total, n = 0.0, 0
        for i in range(0, len(users), bs):
            # a large batch is stored column by column: the noise, the dropout mask and the network's output
            # follow its layout, and CPU BLAS writes the (B, I) output of the last layer about 1.3x faster that
            # way (DNN.forward). Small batches (the sample world) keep the row order, so their draws - and the
            # pretrained checkpoints - stay as they were
            batch = distributed.shard(users[i:i + bs])     # this rank's rows of the global batch
            x = self.diffused_rows(split, batch, col_major=len(batch) * split.n_items >= MIN_SPLIT)
            loss = self.diffusion.training_loss(self.net, x, generator=generator)["loss"].mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
            n += len(x)
        return {"loss": total / max(n, 1)}

    def _run(self, x: torch.Tensor, record: bool, generator=None, **opts):
        c = self.config
        return self.diffusion.denoise_from(
            self.net, x, T_prime=int(opts.get("T_prime", c.sampling_steps)),
            sampling_noise=bool(opts.get("sampling_noise", c.sampling_noise)),
            reverse=opts.get("reverse", c.reverse_steps), record=record, generator=generator)

    @torch.no_grad()
    def score(self, split, users, which="valid") -> torch.Tensor:
        was = self.training
        self.eval()
        out = self._run(self.diffused_rows(split, users, which), record=False).final
        self.train(was)
        return out

    @torch.no_grad()
    def trajectory(self, split, users, k: int = 10, seed: int = 0, **opts):
        """Record the reverse run for a few users: state and x0_hat at each of the T steps; scores = x0_hat with
        the user's training items masked. ``opts``: T_prime, sampling_noise, reverse (override the config)."""
        users = np.atleast_1d(np.asarray(users))
        was = self.training
        self.eval()
        x = self.diffused_rows(split, users)
        run = self._run(x, record=True, generator=torch.Generator().manual_seed(int(seed)), **opts)
        self.train(was)
        seen = self.input_rows(split, users) > 0
        d = self.diffusion
        return build_trajectory(self.name, run.steps, run.states, run.x0_hats, run.final, users,
                                d.betas.double().cpu().numpy(), d.alphas_cumprod.double().cpu().numpy(), seen, k,
                                meta={**run.meta, "start": "history" if run.meta["T_prime"] == 0 else "noised",
                                      "config": asdict(self.config)})


class TDiffRec(DiffRec):
    """T-DiffRec: the row x0 = x * w, w_m = linspace(w_min, w_max, M)[m] over the user's M training interactions
    in chronological order (oldest w_min). Both the noised input and the regression target; masks stay binary."""

    name = "tdiffrec"

    def prepare(self, split: Split) -> None:
        super().prepare(split)
        self._weighted = time_weighted(split, self.config.w_min, self.config.w_max, self.config.time_order)

    def attach(self, split: Split) -> None:
        self._weighted = time_weighted(split, self.config.w_min, self.config.w_max, self.config.time_order)

    def diffused_rows(self, split, users, which="valid", col_major: bool = False) -> torch.Tensor:
        w = getattr(self, "_weighted", None)
        if w is None or w.shape != split.train.shape:
            self.prepare(split)
        return torch.from_numpy(weighted_rows(split, self._weighted, users, which, self.config.test_input,
                                              col_major)).to(self.device)


def weighted_rows(split: Split, weighted: sp.csr_matrix, users, which: str = "valid", test_input: str = "train",
                  col_major: bool = False) -> np.ndarray:
    """Dense rows of a time-weighted training matrix (T-DiffRec, LT-DiffRec); the test pass with
    ``test_input='train+valid'`` adds the validation items at weight 1."""
    x = dense_rows(weighted[np.asarray(users)], "F" if col_major else "C")
    if which == "test" and test_input == "train+valid":
        x = np.maximum(x, split.rows(users, "valid"))
    return x


TIME_ORDERS = ("timestamp", "file")


def time_weighted(split: Split, w_min: float, w_max: float, time_order: str = "timestamp") -> sp.csr_matrix:
    """T-DiffRec's weighted training matrix (T-DiffRec/data_utils.py ``data_load``), vectorised over all users.

    ``time_order='timestamp'`` ramps over ``split.train_order`` (chronological position; file order where a data
    set has no timestamps); ``'file'`` over ``split.train_file_order``, the user's rows in file order. The authors'
    linspace runs over the rows of their train_list.npy in file order, which their preprocessing wrote
    chronologically, so on their files both orders agree (the split then keeps no separate file order); on a file
    with timestamps out of row order (ml-100k) they differ, and only 'file' is what their code would compute."""
    if time_order not in TIME_ORDERS:
        raise ValueError(f"time_order must be one of {', '.join(TIME_ORDERS)}, not {time_order!r}")
    if split.train_order is None:
        raise ValueError("T-DiffRec needs the chronological order of each user's training history")
    order = split.train_order
    if time_order == "file" and split.train_file_order is not None:
        order = split.train_file_order
    order = order.tocsr()
    order.sort_indices()
    train = split.train.tocsr()
    counts = np.diff(train.indptr)
    m = np.repeat(counts, counts).astype(np.float64)
    pos = order.data.astype(np.float64)
    frac = np.where(m > 1, pos / np.maximum(m - 1, 1), 0.0)
    data = (w_min + (w_max - w_min) * frac).astype(np.float32)
    return sp.csr_matrix((data, order.indices.copy(), order.indptr.copy()), shape=train.shape)


register(MethodSpec(
    name="diffrec", title="DiffRec", paper="Wang et al., SIGIR 2023 (arXiv 2304.04971)",
    diffused="a user's interaction vector over all items", model_cls=DiffRec, config_cls=DiffRecConfig,
    idea="Denoise a slightly noised interaction history with an MLP; its x̂0 ranks the unseen items.",
    page="reverse", order=1, presets=DIFFREC_PRESETS))
register(MethodSpec(
    name="tdiffrec", title="T-DiffRec", paper="Wang et al., SIGIR 2023 (arXiv 2304.04971)",
    diffused="the time-weighted interaction vector", model_cls=TDiffRec, config_cls=DiffRecConfig,
    idea="DiffRec on a history where recent interactions weigh more (linear ramp w_min → w_max).",
    page="reverse", order=2, presets=TDIFFREC_PRESETS))
