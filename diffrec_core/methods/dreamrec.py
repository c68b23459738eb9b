"""DreamRec (Yang et al., "Generate What You Prefer: Reshaping Sequential Recommendation via Guided Diffusion",
NeurIPS 2023, arXiv 2310.20453).

Authors' code: github.com/YangZhengyi98/DreamRec @ 454133c (no licence file; re-implemented, not copied):
``DreamRec.py`` (``diffusion``, ``Tenc``, ``evaluate``), ``Modules_ori.py``. Specification: docs/methods.md §2.6.

What is diffused: the "oracle" next-item embedding x0 = E[target], E learned only through the diffusion loss.
A one-layer SASRec-style encoder turns the last ``seq_len`` items into the guidance h; the denoiser is ONE linear
layer on [x_k ; h ; τ(k)] (``mlp1``; ``mlp2`` adds a GELU hidden layer), τ = MLP(sinusoid_sin_first(k)).
Training: plain MSE on x̂0 with uniform k (docs/methods.md §1.4, §2.6; ``p_losses``), and classifier-free
guidance training - h is replaced by a learned ∅ with probability p. Generation: sampler B (docs/methods.md §1.7),
ancestral with the fixed-small variance and the guided prediction x̂0 = (1+w)·f(x_k, h, k) − w·f(x_k, ∅, k)
(docs/methods.md §1.7; ``diffusion.p_sample``); ranking by x0·Eᵀ.

Parameter names of :class:`Tenc` are the authors' ``state_dict`` names, so their weights (and the golden file
``dreamrec_sample.npz``) load with ``strict=True``; the schedules are built in float32 exactly as DreamRec does.

Faithful vs clean. The dataclass defaults keep the authors' architecture, loss and sampler at a CPU scale (T 100
instead of their 200 / 500 / 2000, 30 epochs) with this project's protocol: the padding row is never ranked unless
``score_padding`` is set (quirk 2; the app's protocol 3.4), the epoch is selected on validation NDCG@10, every
user's evaluation counts, and training samples have at least one history item. The authors' protocol, as
switches: ``empty_history`` (their data files also hold every sequence's first item as a sample with an
all-padding history), ``eval_drop_last`` = 100 (their evaluate walks its file in batches of 100 and never reaches
the partial last one), ``select_on`` = 'last' (they print valid and test every 10 epochs and keep nothing); the
'beauty-authors' preset sets all of them. The 'sample' preset also switches dropout off at generation (quirk 1)
and shuffles epochs (quirk 8).
DDIM and the CE "rounding" term are OUR additions, labelled as such.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion import GaussianDiffusion, ScheduleConfig, sinusoid_sin_first
from ..diffusion.gaussian import DiffusionRun
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .seq_common import SeqRecommender, cpu_generator, epoch_batches, seeded_dropout, window

SCHEDULES = {"linear": "dreamrec_linear", "exp": "dreamrec_exp", "cosine": "dreamrec_cosine"}
NEG = -2 ** 32 + 1   # the authors' masking constant (Modules_ori.py)


@dataclass
class DreamRecConfig(TrainConfig):
    # --- guidance encoder and denoiser (docs/methods.md §2.6; authors: d 64, seq 10, 1 head, dropout 0.1) ---
    hidden: int = 64                    # d (the authors' forward_uncon hard-codes 64; here any d works)
    seq_len: int = 10                   # last items read, right-padded with the pad id N
    heads: int = 1
    dropout: float = 0.1                # embedding, attention and FFN dropout
    diffuser: str = "mlp1"              # 'mlp1' (one Linear, every README command) | 'mlp2' (GELU hidden layer)
    dead_params: bool = True            # create the authors' unused s_fc / emb_mlp / diff_mlp (strict state_dict)
    # --- diffusion and guidance ---
    schedule: str = "exp"               # 'exp' (argparse default) | 'linear' (1e-4..0.02, NOT rescaled) | 'cosine'
    steps: int = 100                    # T (authors: 200 default; README 500 / 2000); exp keeps abar_T = 0.0063
    p_uncond: float = 0.1               # p: probability that h is replaced by the learned ∅ in training
    w: float = 2.0                      # guidance weight: x̂0 = (1+w) f(x,h,k) − w f(x,∅,k)
    sampler: str = "ancestral"          # 'ancestral' (authors, fixed-small variance) | 'ddim' (OUR addition)
    ddim_steps: int = 20
    sample_seed: int = 0                # seeds x_T and the step noises of score(), so evaluation repeats
    # --- the authors' quirks -> switches (faithful default; clean alternative in brackets) ---
    eval_dropout: bool = True           # quirk 1: model.eval() is never called (clean: False)
    score_padding: bool = False         # quirk 2: the authors rank the padding row (True); excluded by default
    mask_seen: bool = False             # TrainConfig: True; history items are not masked at ranking (the papers
    #                                     do not mask)
    epoch_mode: str = "sample"          # quirk 8: ⌊rows/bs⌋ random batches (clean: 'shuffle')
    aux_ce_weight: float = 0.0          # quirk 7, NON-FAITHFUL extension: + weight · CE(x̂0·Eᵀ, target)
    # --- optimisation (README: AdamW, wd 0, batch 256) ---
    lr: float = 5e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    # --- the training protocol: TrainConfig's (validation every 5), except ---
    epochs: int = 30                    # TrainConfig: 40; shorter CPU run on the sample world
    patience: int = 30                  # TrainConfig: 15; as many as the epochs: the guided denoiser's validation
    #                                     NDCG is noisy from one evaluation to the next, so no early stop
    select_metric: str = "ndcg@10"      # TrainConfig: recall@20; the sequence methods' headline (docs §3.4)
    ks: List[int] = field(default_factory=lambda: [5, 10, 20])  # TrainConfig: 10, 20; DiffuRec's cut-offs
    # the authors' protocol (DreamRec.py; train.Protocol) is in their presets: select_on 'last' (quirk 4: no
    # selection, the last epoch kept) and eval_drop_last 100 (their evaluate sees whole batches of 100 only)
    empty_history: bool = False         # True: each sequence's first item is also a sample, all-padding history

    def validate(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.diffuser not in ("mlp1", "mlp2"):
            raise ValueError("diffuser must be 'mlp1' or 'mlp2'")
        if self.sampler not in ("ancestral", "ddim"):
            raise ValueError("sampler must be 'ancestral' or 'ddim'")


DREAMREC_PRESETS = {
    # sample world (docs/methods.md §2.6 CPU configuration: T 100 exp, AdamW 5e-3, 30 epochs) with the clean switches
    # for generation-time dropout and epochs; architecture, loss and sampler are the authors'.
    "sample": dict(eval_dropout=False, epoch_mode="shuffle"),
    "sample-ce": dict(eval_dropout=False, epoch_mode="shuffle", aux_ce_weight=1.0),      # NON-FAITHFUL CE term
    "sample-ddim": dict(eval_dropout=False, epoch_mode="shuffle", sampler="ddim"),       # DDIM-20: OUR addition
    # faithful reproduction on diffurec_amazon_beauty with the YooChoose README command (T 500, exp, lr 1e-3,
    # w 2, AdamW) and the authors' quirks, except two protocol choices of docs/methods.md §3.4: the padding row is not
    # ranked (set score_padding=True for the authors' ranking) and the epoch is selected on validation NDCG@10.
    "beauty": dict(hidden=64, seq_len=10, heads=1, dropout=0.1, diffuser="mlp1", schedule="exp", steps=500,
                   p_uncond=0.1, w=2.0, eval_dropout=True, score_padding=False, epoch_mode="sample", lr=1e-3,
                   batch_size=256, epochs=1000, eval_every=10, patience=100),
}
# the same run under the authors' whole protocol: padding ranked, empty-history samples, no selection (the last
# epoch is kept), evaluation in whole batches of 100
DREAMREC_PRESETS["beauty-authors"] = dict(DREAMREC_PRESETS["beauty"], score_padding=True, empty_history=True,
                                          select_on="last", eval_drop_last=100)


class SinusoidalPositionEmbeddings(nn.Module):
    """Parameter-free step 0 of ``step_mlp`` (DreamRec's sin-first sinusoid, docs/methods.md §1.9)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        return sinusoid_sin_first(t, self.dim)


class MultiHeadAttention(nn.Module):
    """``Modules_ori.MultiHeadAttention``: scores / sqrt(d) (full d), key-padding mask where |Σ key| = 0,
    causal mask, softmax, query mask after the softmax, dropout; residual: output + queries."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.linear_q, self.linear_k, self.linear_v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        B, n, d = queries.shape
        split = lambda z: z.view(B, n, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        Q, K, V = split(self.linear_q(queries)), split(self.linear_k(keys)), split(self.linear_v(keys))
        s = Q @ K.transpose(-2, -1) / self.hidden ** 0.5
        key_ok = (keys.sum(-1) != 0)[:, None, None, :]
        causal = torch.ones(n, n, dtype=torch.bool, device=s.device).tril()
        s = torch.where(key_ok & causal, s, torch.full_like(s, NEG))
        p = torch.softmax(s, dim=-1) * (queries.sum(-1) != 0).to(s.dtype)[:, None, :, None]
        out = (self.dropout(p) @ V).transpose(1, 2).reshape(B, n, d)
        return out + queries


class PositionwiseFeedForward(nn.Module):
    """Conv1x1 → ReLU → Conv1x1 → Dropout, + residual, LayerNorm (Conv1d kept for the authors' weight shapes)."""

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.w_1, self.w_2 = nn.Conv1d(d, d, 1), nn.Conv1d(d, d, 1)
        self.layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        y = self.w_2(F.relu(self.w_1(x.transpose(1, 2)))).transpose(1, 2)
        return self.layer_norm(self.dropout(y) + x)


class Tenc(nn.Module):
    """The authors' ``Tenc``: history encoder ``cacu_h``, denoiser ``forward`` / ``forward_uncon``."""

    def __init__(self, hidden: int, item_num: int, state_size: int, dropout: float, diffuser: str = "mlp1",
                 heads: int = 1, dead_params: bool = True):
        super().__init__()
        d = hidden
        self.item_num, self.state_size = int(item_num), int(state_size)
        self.item_embeddings = nn.Embedding(item_num + 1, d)     # row item_num = padding
        nn.init.normal_(self.item_embeddings.weight, 0, 1)
        self.none_embedding = nn.Embedding(1, d)                  # ∅ of classifier-free guidance
        nn.init.normal_(self.none_embedding.weight, 0, 1)
        self.positional_embeddings = nn.Embedding(state_size, d)
        self.emb_dropout = nn.Dropout(dropout)
        self.ln_1, self.ln_2, self.ln_3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.mh_attn = MultiHeadAttention(d, heads, dropout)
        self.feed_forward = PositionwiseFeedForward(d, dropout)
        if dead_params:
            self.s_fc = nn.Linear(d, item_num)                    # SASRec leftover, unused
        self.step_mlp = nn.Sequential(SinusoidalPositionEmbeddings(d), nn.Linear(d, 2 * d), nn.GELU(),
                                      nn.Linear(2 * d, d))
        if dead_params:
            self.emb_mlp = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))                       # unused
            self.diff_mlp = nn.Sequential(nn.Linear(3 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))  # unused
        if diffuser == "mlp1":
            self.diffuser = nn.Sequential(nn.Linear(3 * d, d))
        else:
            self.diffuser = nn.Sequential(nn.Linear(3 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def cacu_h(self, states: torch.Tensor, len_states: torch.Tensor) -> torch.Tensor:
        """h at the last real position of each right-padded history (B, seq_len) -> (B, d)."""
        x = self.item_embeddings(states) + self.positional_embeddings.weight[:states.shape[1]][None]
        m = (states != self.item_num).to(x.dtype).unsqueeze(-1)
        seq = self.emb_dropout(x) * m
        a = self.mh_attn(self.ln_1(seq), seq)
        f = self.ln_3(self.feed_forward(self.ln_2(a)) * m)
        return f[torch.arange(len(states), device=f.device), len_states - 1]

    def forward(self, x: torch.Tensor, h: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return self.diffuser(torch.cat((x, h, self.step_mlp(step)), dim=1))

    def forward_uncon(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return self.forward(x, self.none_embedding.weight.expand(len(x), -1), step)

    def guided(self, x: torch.Tensor, h: torch.Tensor, step: torch.Tensor, w: float) -> torch.Tensor:
        """(1+w)·f(x, h, k) − w·f(x, ∅, k), both branches in one batched call."""
        both = self.forward(torch.cat([x, x]), torch.cat([h, self.none_embedding.weight.expand(len(x), -1)]),
                            torch.cat([step, step]))
        cond, uncond = both.chunk(2)
        return (1 + w) * cond - w * uncond


class GuidedDenoiser:
    """The guided model_fn(x_k, k) of the samplers, (1+w)·f(x_k, h, k) − w·f(x_k, ∅, k), with everything that
    does not change from step to step computed once per generation instead of once per step (the authors'
    ``p_sample`` recomputes τ(k) through ``step_mlp`` and runs both branches at every one of T steps).

    * τ(k) = step_mlp(k) for all T steps: one (T, d) table (a row lookup per step).
    * ``mlp1`` (one Linear on [x; h; τ], W = [W_x | W_h | W_t]) is affine in each block, so the guided output is
      exactly  x W_xᵀ + (τ_k W_tᵀ + b) + ((1+w) h − w ∅) W_hᵀ : the two branches cancel in x and τ. Per step
      that is ONE (B, d)·(d, d) product plus a bias row lookup; the per-user and per-step constants are
      precomputed. Same function as :meth:`Tenc.guided` up to float32 rounding (one fewer cancellation).
    * ``mlp2`` (GELU hidden layer) is not affine: both branches run in one batched call, τ from the table.
    """

    def __init__(self, tenc: "Tenc", h: torch.Tensor, w: float, T: int):
        self.tenc, self.w = tenc, float(w)
        tau = tenc.step_mlp(torch.arange(T, device=h.device))                  # (T, d)
        none = tenc.none_embedding.weight                                       # (1, d)
        if len(tenc.diffuser) == 1:
            lin, d = tenc.diffuser[0], h.shape[1]
            w_x, w_h, w_t = lin.weight.split(d, dim=1)
            self.wx_t = w_x.T.contiguous()
            self.c_step = F.linear(tau, w_t, lin.bias)                          # (T, d): τ_k W_tᵀ + b
            self.c_user = F.linear((1 + self.w) * h - self.w * none, w_h)       # (B, d)
        else:
            self.wx_t, self.tau, self.hh = None, tau, torch.cat([h, none.expand(len(h), -1)])

    def __call__(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        if self.wx_t is not None:
            return torch.addmm(self.c_user + self.c_step[k], x, self.wx_t)
        t = self.tau[k]
        both = self.tenc.diffuser(torch.cat((torch.cat([x, x]), self.hh, torch.cat([t, t])), dim=1))
        cond, uncond = both.chunk(2)
        return (1 + self.w) * cond - self.w * uncond


class DreamRec(SeqRecommender):
    name = "dreamrec"

    def __init__(self, config: DreamRecConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        config.validate()
        self.tenc = Tenc(config.hidden, n_items, config.seq_len, config.dropout, config.diffuser, config.heads,
                         config.dead_params)
        # float32 schedule, built with DreamRec's own operations (golden tolerance needs the same rounding)
        self.diffusion = GaussianDiffusion(ScheduleConfig(SCHEDULES[config.schedule], config.steps, beta1_fix=None),
                                           mean_type="x0", reweight=False, t_sampler="uniform")

    def n_diffusion_steps(self) -> int:
        return self.diffusion.T

    def _states(self, hist: np.ndarray, n: np.ndarray):
        """Right-padded windows with pad id N; an empty history is one all-pad row read at position 0."""
        states = np.where(hist < 0, self.n_items, hist)
        return self.tokens(states), self.tokens(np.maximum(n, 1))

    # ------------------------------------------------------------------ training
    def train_samples(self, data):
        """(history start, target position) of every training sample into ``data.train.items``: every prefix with
        at least one item, plus - with ``empty_history`` - every sequence's first item with an empty history
        (start == end: the window is all padding), as in the authors' data files."""
        if not self.config.empty_history:
            return data.sample_start, data.sample_end
        first = data.train.indptr[:-1][data.train.lengths > 0]
        return np.r_[data.sample_start, first], np.r_[data.sample_end, first]

    def fit_epoch(self, split, generator, rng) -> dict:
        self.train()
        data, c = self.seq_data(split), self.config
        opt = self.optimizer()
        total, n = 0.0, 0
        starts, ends = self.train_samples(data)
        for idx in epoch_batches(len(ends), c.batch_size, rng, c.epoch_mode):
            if c.empty_history:
                hist, length = window(data.train.items, starts[idx], ends[idx], c.seq_len, -1, left_pad=False)
                target = data.train.items[ends[idx]]
            else:
                hist, length, target = data.prefix_batch(idx, c.seq_len, -1, left_pad=False)
            states, lens = self._states(hist, length)
            target = self.tokens(target)
            x0 = self.tenc.item_embeddings(target)
            h = self.tenc.cacu_h(states, lens)
            drop = (torch.rand(len(h), generator=generator) < c.p_uncond).to(h.device)[:, None]
            h = torch.where(drop, self.tenc.none_embedding.weight.expand_as(h), h)   # classifier-free dropout
            out = self.diffusion.training_loss(lambda x, k, h=h: self.tenc(x, h, k), x0, generator=generator)
            loss = out["loss"].mean()                                               # = F.mse_loss(x0, x̂0)
            if c.aux_ce_weight > 0:  # NON-FAITHFUL: a Diffusion-LM-style "rounding" term against collapse
                loss = loss + c.aux_ce_weight * F.cross_entropy(self.logits(out["x0_hat"], False), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        self._epoch += 1
        return {"loss": total / max(n, 1)}

    # ------------------------------------------------------------------ inference
    def logits(self, x0: torch.Tensor, with_padding: bool) -> torch.Tensor:
        """x0·Eᵀ over the real items 0..N-1, with the padding row N last when ``with_padding``."""
        E = self.tenc.item_embeddings.weight
        return x0 @ (E if with_padding else E[:-1]).T

    def encode(self, split, users, which: str, seed: int) -> torch.Tensor:
        c = self.config
        hist, n = self.seq_data(split).history(users, which, c.seq_len, -1, left_pad=False)
        was = self.training
        self.train(c.eval_dropout)            # faithful quirk 1: dropout stays on at generation
        with seeded_dropout(seed, self.device, c.eval_dropout):
            h = self.tenc.cacu_h(*self._states(hist, n))
        self.train(was)
        return h

    def _run(self, split, users, which: str, record: bool, seed: int, **opts):
        c = self.config
        h = self.encode(split, users, which, seed)
        w = float(opts.get("w", c.w))
        fn = GuidedDenoiser(self.tenc, h, w, self.diffusion.T)   # = tenc.guided, per-step work hoisted
        gen = cpu_generator(seed)
        if opts.get("sampler", c.sampler) == "ddim":   # NOT in the authors' code (docs/methods.md §1.8)
            return self.diffusion.sample_ddim(fn, h.shape, steps=int(opts.get("ddim_steps", c.ddim_steps)),
                                              record=record, generator=gen, device=self.device)
        if not record and fn.wx_t is not None:
            return self._ancestral_mlp1(fn, h.shape, gen)
        return self.diffusion.sample_ancestral(fn, h.shape, variance="small", record=record, generator=gen,
                                               device=self.device)

    def _ancestral_mlp1(self, fn: GuidedDenoiser, shape, gen) -> DiffusionRun:
        """``sample_ancestral(fn, variance='small')`` for the one-linear denoiser, as a tight loop: the same
        draws from ``gen`` in the same order, the same float32 coefficients (c1_k, c2_k, sqrt(posterior
        variance_k), read once as Python floats) and the same operations, so the result is bit-for-bit the
        generic sampler's (what ``trajectory`` shows) - without its per-step index tensors and buffer lookups.
        Per step: one (B, d)·(d, d) product and five element-wise ops."""
        d = self.diffusion
        x = torch.randn(tuple(shape), generator=gen, dtype=torch.float32).to(self.device)
        c1 = d.posterior_mean_coef1.float().tolist()
        c2 = d.posterior_mean_coef2.float().tolist()
        std = torch.sqrt(d.posterior_variance.float()).tolist()
        for k in range(d.T - 1, -1, -1):
            x0_hat = torch.addmm(fn.c_user + fn.c_step[k], x, fn.wx_t)
            mean = c1[k] * x0_hat + c2[k] * x
            if k > 0:
                x = mean + std[k] * torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
            else:
                x = mean
        return DiffusionRun(list(range(d.T - 1, -1, -1)), x, meta={"sampler": "ancestral", "variance": "small"})

    @torch.no_grad()
    def score(self, split, users, which="valid", with_padding: bool = False) -> torch.Tensor:
        """(B, I) scores x0·Eᵀ of the real items (``with_padding``: the padding row's score appended last)."""
        x0 = self._run(split, np.atleast_1d(users), which, False, self.config.sample_seed).final
        return self.logits(x0, with_padding)

    @torch.no_grad()
    def trajectory(self, split, users, k: int = 10, seed: Optional[int] = None, **opts):
        """The guided reverse run: x_k and guided x̂0 (S, B, d), scores x̂0·Eᵀ per step; the last step shows the
        returned sample (c1[0]·x̂0; c1[0] differs from 1 by ~1e-4 in DreamRec's float32 schedule), so it equals
        the recommendation. ``opts``: w, sampler, ddim_steps, which."""
        users = np.atleast_1d(np.asarray(users))
        which = opts.pop("which", "valid")
        run = self._run(split, users, which, True, self.config.sample_seed if seed is None else seed, **opts)
        return self.embedding_trajectory(split, users, which, run, k, {"w": float(opts.get("w", self.config.w))})

register(MethodSpec(
    name="dreamrec", title="DreamRec", paper="Yang et al., NeurIPS 2023 (arXiv 2310.20453)",
    diffused="the oracle next-item embedding x0 = E[target]", model_cls=DreamRec, config_cls=DreamRecConfig,
    needs=("sequences",), page="embeddings", order=6, presets=DREAMREC_PRESETS,
    idea="Generate the embedding of the ideal next item from noise, guided by a SASRec encoding of the history "
         "(classifier-free guidance), then recommend the items closest to it; trained with MSE only."))
