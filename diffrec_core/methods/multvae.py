"""Mult-VAE: a variational autoencoder with a multinomial likelihood over a user's item row.

Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative Filtering", WWW 2018
(arXiv 1802.05814); reference code github.com/dawenl/vae_cf. docs/methods.md §5.7.

It is DiffRec's natural no-diffusion twin: the same kind of MLP on the same row, with dropout-0.5 corruption, but a
Gaussian latent and a KL term instead of a noise schedule. If DiffRec only matches it, the diffusion added nothing.

    h     = dropout_0.5(x / ||x||_2)                    (dropout in training only)
    mu, logvar = encoder(h)                             [I -> 600 -> 2*200], tanh between layers
    z     = mu + exp(logvar / 2) * eps                  (training); z = mu (scoring: no sampling)
    logits = decoder(z)                                 [200 -> 600 -> I], tanh between layers
    loss  = -sum_i x_i log softmax(logits)_i + beta * KL(q(z|x) || N(0, I)),   averaged over the batch
    beta  = min(anneal_cap, updates / total_anneal_steps)   (linear KL annealing, counted in batches)

``dims`` lists the encoder's hidden sizes and ends with the latent size (Liang's q_dims without I); the decoder
mirrors it. Note that this is the *encoder* half, whereas DiffRec's ``dims`` is the decoder half.

Optimiser: the base class's AdamW with ``weight_decay = 0`` - mathematically plain Adam, which is what Liang et al.
use (their L2 weight ``lam`` is 0 in the released notebook). Stored on ``self._opt``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..data.dataset import Split
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .base import Recommender


@dataclass
class MultVAEConfig(TrainConfig):
    # --- model (sample-world configuration; the ml-1m preset holds the paper's [600, 200]) ---
    dims: List[int] = field(default_factory=lambda: [200, 64])  # encoder hidden sizes + latent size. The sample
    #                                     world has only 500 items, so a 600-unit hidden layer would be wider than the
    #                                     input; [200, 64] keeps the paper's shape (one tanh layer, narrower latent).
    dropout: float = 0.5                # input dropout on the L2-normalised row
    # --- KL annealing: beta = min(anneal_cap, updates / total_anneal_steps), counted in batches ---
    anneal_cap: float = 0.2
    total_anneal_steps: int = 1600      # sample world: 1000 users / 100 = 10 batches x 40 epochs = 400 updates, so
    #                                     beta reaches the cap at update 320 (epoch 32, 80 % of the run) - the same
    #                                     share of training the paper's 200000 covers on ML-20M (cap at ~86 %).
    # --- optimisation ---
    lr: float = 1e-3
    weight_decay: float = 0.0           # 0 = plain Adam (the paper)
    batch_size: int = 100
    # --- the training protocol: TrainConfig's defaults (40 epochs, validation every 5, patience 15) ---


MULTVAE_PRESETS = {
    "sample": {},
    # Paper architecture. DiffRec's ML-1M split has ~5.9 k training users: 12 batches of 500 x 200 epochs = 2400
    # updates; total_anneal_steps 10000 puts the cap (0.2) at update 2000 (epoch ~167, ~83 % of the run), as the
    # paper's schedule does on ML-20M. Same denominator as DiffRec's ML-1M preset.
    "ml-1m": dict(dims=[600, 200], batch_size=500, epochs=200, eval_every=5, patience=20,
                  total_anneal_steps=10000, metric_denominator="all"),
}


def _mlp(sizes: List[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def _run(layers: nn.ModuleList, h: torch.Tensor) -> torch.Tensor:
    """tanh between layers, none after the last (as in vae_cf)."""
    for i, layer in enumerate(layers):
        h = layer(h)
        if i != len(layers) - 1:
            h = torch.tanh(h)
    return h


class MultVAE(Recommender):
    name = "multvae"

    def __init__(self, config: MultVAEConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        dims = [int(d) for d in config.dims]
        if not dims:
            raise ValueError("MultVAE: dims needs at least the latent size")
        self.latent = dims[-1]
        enc = [self.n_items] + dims
        self.encoder = _mlp(enc[:-1] + [2 * self.latent])       # last layer gives mu and logvar
        self.decoder = _mlp(enc[::-1])
        # Updates so far (drives beta); a buffer so a saved checkpoint resumes the annealing where it stopped.
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))
        for layer in [*self.encoder, *self.decoder]:           # vae_cf: Xavier weights, N(0, 0.001) biases
            nn.init.xavier_uniform_(layer.weight)
            nn.init.trunc_normal_(layer.bias, std=1e-3, a=-2e-3, b=2e-3)

    def encode(self, x: torch.Tensor):
        h = F.dropout(F.normalize(x, dim=-1), p=float(self.config.dropout), training=self.training)
        out = _run(self.encoder, h)
        return out[:, :self.latent], out[:, self.latent:]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Logits, mu and logvar; samples z only in training mode (eps from ``generator`` for reproducibility)."""
        mu, logvar = self.encode(x)
        z = mu
        if self.training:
            eps = torch.randn(mu.shape, generator=generator).to(mu.device)
            z = mu + torch.exp(0.5 * logvar) * eps
        return _run(self.decoder, z), mu, logvar

    def beta(self) -> float:
        c = self.config
        return min(float(c.anneal_cap), float(self.updates) / max(int(c.total_anneal_steps), 1))

    def fit_epoch(self, split: Split, generator: torch.Generator, rng: np.random.Generator) -> dict:
        self.train()
        opt = self.optimizer()
        users = rng.permutation(split.n_users)
        bs = int(self.config.batch_size)
        sums = {"loss": 0.0, "nll": 0.0, "kl": 0.0}
        n, beta = 0, 0.0
        for i in range(0, len(users), bs):
            x = self.input_rows(split, distributed.shard(users[i:i + bs]))     # this rank's rows of it
            beta = self.beta()
            logits, mu, logvar = self(x, generator)
            nll = -(F.log_softmax(logits, dim=-1) * x).sum(-1).mean()
            kl = (0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1.0)).sum(-1).mean()
            loss = nll + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.updates += 1
            for k, v in (("loss", loss), ("nll", nll), ("kl", kl)):
                sums[k] += float(v.detach()) * len(x)
            n += len(x)
        return {**{k: v / max(n, 1) for k, v in sums.items()}, "beta": beta}

    @torch.no_grad()
    def score(self, split: Split, users, which: str = "valid") -> torch.Tensor:
        """Decoder logits at the posterior mean (no sampling, no dropout)."""
        was = self.training
        self.eval()
        logits, _, _ = self(self.input_rows(split, users, which))
        self.train(was)
        return logits


register(MethodSpec(
    name="multvae", title="Mult-VAE", paper="Liang et al., WWW 2018 (arXiv 1802.05814)", diffused="",
    model_cls=MultVAE, config_cls=MultVAEConfig, kind="baseline", needs=("interactions",),
    idea="A VAE with a multinomial likelihood over the user's row: DiffRec's no-diffusion twin.", page="compare",
    presets=MULTVAE_PRESETS))
