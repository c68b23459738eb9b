"""DiffuRec (Li, Sun, Li, "DiffuRec: A Diffusion Model for Sequential Recommendation", ACM TOIS 42(3), 2024,
arXiv 2304.00686).

Authors' code: github.com/WHUIR/DiffuRec @ f6f70c9 (MIT): ``src/diffurec.py`` (``DiffuRec``, ``Diffu_xstart``,
``Transformer_rep``), ``src/model.py`` (``Att_Diffuse_model``), ``src/trainer.py``. Specification: docs/methods.md §2.5.

What is diffused: the raw embedding of the next item, x0 = E[target] (not LayerNorm'd), with the ``trunc_lin``
schedule, T = 32 (docs/methods.md §1.2; T <= 20 silently weakens that schedule, so keep T >= 21). The approximator
reads the history h_i = LN(Drop(E[s_i])) and injects the noisy target at *every* position, scaled by a random
λ ~ N(δ, δ²) drawn afresh at every call (docs/methods.md §2.5; code ``Diffu_xstart.forward``):

    τ = Linear(SiLU(Linear(sinusoid_cos_first(k·1000/T))));   z_i = h_i + λ_i ⊙ (x_k + τ);
    x̂0 = LN(Drop(Transformer(z)))[:, −1]                        (x0 parameterisation, docs/methods.md §1.3)

Loss: cross-entropy of x̂0·Eᵀ over the catalogue with uniform k (no MSE; ``loss_diffu_ce``). Inference: sampler
B (docs/methods.md §1.7), 32 ancestral steps from x_T ~ N(0, I) with the fixed-large variance; ranking by x̂0·Eᵀ.

Why λ matters (docs/methods.md §5.3): with δ = 1e-3 the noisy target reaches the Transformer only at ~1e-3 of the
history's scale, so two reverse runs from different x_T give nearly the same ranking - DiffuRec then behaves like
a position-free bidirectional Transformer trained with full-softmax CE. ``lambda_uncertainty`` is the slider.

Faithful vs clean. The dataclass defaults keep the authors' architecture and quirks at a CPU scale (d 32, 2 blocks,
window 20, 15 epochs; the authors' sizes are in the comments) with this project's training protocol (validation
NDCG@10 selects the epoch, metrics are means over users). The 'sample' preset switches only what the app's
protocol requires (the padding item is not ranked, docs/methods.md §3.4) and trains at lr 3e-3; 'sample-clean' adds
learned positions and a key-padding mask. The 'beauty' preset is the authors' src/main.py configuration and
src/trainer.py protocol: evaluation after 0-based epochs 20, 40, ... (``eval_offset`` 1, none after the last
epoch), the model kept when any of HR/NDCG@5/10/20 improves (``select_rule`` 'any'), patience 5 evaluations,
metrics as means of the 512-user batch means (``eval_batch_mean``); see train.Protocol.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..diffusion import GaussianDiffusion, ScheduleConfig, sinusoid_cos_first
from ..diffusion.rng import draw
from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .seq_common import (ATTN_MASKS, SeqRecommender, Transformer, attention_allowed, cpu_generator,
                         epoch_batches)


@dataclass
class DiffuRecConfig(TrainConfig):
    # --- approximator (docs/methods.md §2.5; authors: d 128, 4 blocks, 4 heads, max_len 50) ---
    hidden: int = 32                    # d; the sample world uses 32 (authors 128)
    blocks: int = 2                     # Transformer blocks (authors 4)
    heads: int = 4                      # attention heads (hard-coded 4 by the authors)
    dropout: float = 0.1                # block / output dropout
    emb_dropout: float = 0.3            # dropout on the history embeddings (before the LayerNorm)
    max_len: int = 20                   # history window, left-padded, most recent last (authors 50)
    lambda_uncertainty: float = 1e-3    # δ: λ ~ N(δ, δ²) per element, fresh every call (authors 0.001)
    # --- the authors' quirks -> switches (faithful default; clean alternative in brackets) ---
    use_pos_emb: bool = False           # quirk 1: no positional embedding (clean: learned positions)
    attn_mask: str = "query"            # quirk 2: 'query' = padding mask on the query axis only, not causal
                                        #          (clean: 'key' = key-padding mask; 'causal' = key + causal)
    score_padding: bool = True          # quirk 3: padding row 0 is a CE class and is ranked (clean: False)
    mask_seen: bool = False             # quirk 4 (TrainConfig: True): history items are not masked at ranking
    #                                     (the papers do not mask)
    dead_params: bool = False           # create the authors' unused layers (parameter count 2,579,584 on Beauty)
    # --- diffusion ---
    steps: int = 32                     # T (keep >= 21 with trunc_lin)
    schedule: str = "trunc_lin"         # 'trunc_lin' (authors) | 'ddpm_linear_rescaled' | 'cosine'
    rescale_timesteps: bool = True      # the network sees k·1000/T (a string flag in the code: always on)
    sampler: str = "ancestral"          # 'ancestral' (authors, fixed-large variance) | 'ddim' (OUR addition)
    ddim_steps: int = 8                 # steps of the labelled DDIM option
    sample_seed: int = 0                # seeds x_T, λ and the step noises of score(), so evaluation repeats
    # --- optimisation (authors: Adam lr 1e-3, wd 0, StepLR(100, 0.1), batch 512, 500 epochs) ---
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_step: int = 100                  # StepLR step in epochs (0 = constant)
    lr_gamma: float = 0.1
    batch_size: int = 256
    # --- the training protocol: TrainConfig's (validation every 5, patience 15), except ---
    epochs: int = 15                    # TrainConfig: 40; each DiffuRec epoch runs the Transformer over every
    #                                     prefix of every sequence, so the sample world's CPU run is shorter
    select_metric: str = "ndcg@10"      # TrainConfig: recall@20; the kept epoch's headline metric (docs §3.4)
    ks: List[int] = field(default_factory=lambda: [5, 10, 20])  # TrainConfig: 10, 20; HR / NDCG cut-offs (authors)
    # the authors' protocol (src/trainer.py; train.Protocol) is in their presets: patience 100 = 5 evaluations x 20
    # epochs, select_rule 'any' (quirk 5: kept when ANY of HR/NDCG@ks beats its own best, in per cent rounded to 4
    # places), eval_offset 1 (0-based epochs 20, 40, ... = 1-based 21, 41), final_eval False, eval_batch_mean 512

    def validate(self) -> None:
        if self.attn_mask not in ATTN_MASKS:
            raise ValueError(f"attn_mask must be one of {', '.join(ATTN_MASKS)}")
        if self.sampler not in ("ancestral", "ddim"):
            raise ValueError("sampler must be 'ancestral' or 'ddim'")
        if self.hidden % self.heads:
            raise ValueError("hidden must be divisible by heads")


# sample world (docs/methods.md §2.5 CPU configuration, with its "lr 3e-3 if it underfits": at 1e-3 / 15 epochs the
# validation NDCG@10 was still far below its 3e-3 / 30-epoch value). Faithful architecture (no positions,
# query-only mask, λ 1e-3) with the app's ranking protocol: the padding item is neither a CE class nor ranked.
_SAMPLE = dict(score_padding=False, lr=3e-3, epochs=30)
DIFFUREC_PRESETS = {
    "sample": _SAMPLE,
    # the same with the clean architecture: learned positions and a key-padding mask
    "sample-clean": dict(_SAMPLE, use_pos_emb=True, attn_mask="key"),
    # λ = 1: the noisy target really reaches the Transformer (docs/methods.md §5.3, the slider's other end)
    "sample-lambda1": dict(_SAMPLE, lambda_uncertainty=1.0),
    # faithful reproduction on diffurec_amazon_beauty: src/main.py defaults, every architectural quirk, and
    # src/trainer.py's protocol (any-of-six selection, evaluation after 0-based epochs 20, 40, ..., patience 5
    # evaluations, batch-mean metrics). Their loss-aware step sampler is never updated (the call is commented out
    # in src/model.py), so its steps stay uniform, as here.
    "beauty": dict(hidden=128, blocks=4, heads=4, dropout=0.1, emb_dropout=0.3, max_len=50, lambda_uncertainty=1e-3,
                   use_pos_emb=False, attn_mask="query", score_padding=True, mask_seen=False, dead_params=True,
                   steps=32, schedule="trunc_lin", lr=1e-3, lr_step=100, lr_gamma=0.1, batch_size=512, epochs=500,
                   eval_every=20, patience=100, select_rule="any", eval_offset=1, final_eval=False,
                   eval_batch_mean=512),
}


class DiffuXstart(nn.Module):
    """The approximator f(h, x_k, k) -> x̂0 (``Diffu_xstart``; names follow the authors' state_dict)."""

    def __init__(self, c: DiffuRecConfig):
        super().__init__()
        d = c.hidden
        self.time_embed = nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
        self.att = Transformer(d, c.heads, c.blocks, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.norm_diffu_rep = nn.LayerNorm(d, eps=1e-12)
        if c.dead_params:  # created but never used by the authors (parameter-count parity only)
            self.linear_item, self.linear_xt, self.linear_t = (nn.Linear(d, d) for _ in range(3))
            self.fuse_linear = nn.Linear(3 * d, d)

    def forward(self, rep: torch.Tensor, x_k: torch.Tensor, t: torch.Tensor, allowed: torch.Tensor,
                lam: torch.Tensor) -> torch.Tensor:
        x = x_k + self.time_embed(sinusoid_cos_first(t, x_k.shape[-1]))
        # the same x̃ at every position, padding included. Only position -1 is read, so the last block computes
        # that one query (last_only: exact, a quarter less work with 4 blocks; the authors compute all n)
        h = self.att(rep + lam * x[:, None, :], allowed, last_only=True)
        return self.norm_diffu_rep(self.dropout(h))[:, -1]


class DiffuRec(SeqRecommender):
    name = "diffurec"

    def __init__(self, config: DiffuRecConfig, n_users: int, n_items: int):
        super().__init__(config, n_users, n_items)
        config.validate()
        d = config.hidden
        self.item_embeddings = nn.Embedding(n_items + 1, d)   # row 0 = padding; N(0, 1) init, no padding_idx
        self.embed_dropout = nn.Dropout(config.emb_dropout)
        if config.use_pos_emb or config.dead_params:
            self.position_embeddings = nn.Embedding(config.max_len, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.xstart_model = DiffuXstart(config)
        self.diffusion = GaussianDiffusion(ScheduleConfig(config.schedule, config.steps, beta1_fix=None),
                                           mean_type="x0", reweight=False, t_sampler="uniform")

    def n_diffusion_steps(self) -> int:
        return self.diffusion.T

    # ------------------------------------------------------------------ network
    def represent(self, tokens: torch.Tensor):
        """History tokens (B, n; 0 = padding, item i = i+1) -> h = LN(Drop(E[s] (+P))), attention mask."""
        rep = self.embed_dropout(self.item_embeddings(tokens))
        if self.config.use_pos_emb:
            rep = rep + self.position_embeddings.weight[-tokens.shape[1]:][None]
        return self.LayerNorm(rep), attention_allowed(tokens > 0, self.config.attn_mask)

    def _lambda(self, like: torch.Tensor, generator, delta: Optional[float] = None) -> torch.Tensor:
        """λ ~ N(δ, δ²) elementwise with the history's shape, from the CPU generator: the plain CPU stream on the
        CPU and for small draws everywhere; a (B, L, d) draw at the authors' size is made on the GPU (``rng.draw``:
        copying it over at every reverse step made a Beauty validation pass 50 s on an H100)."""
        delta = float(self.config.lambda_uncertainty if delta is None else delta)
        z = draw(like.shape, "normal", generator, like.dtype, like.device, chunked=False)
        return z.mul_(delta).add_(delta)

    def denoiser(self, rep, allowed, generator, delta: Optional[float] = None):
        """model_fn(x_k, k) for the shared GaussianDiffusion: a fresh λ on every call, k rescaled by 1000/T."""
        scale = 1000.0 / self.diffusion.T if self.config.rescale_timesteps else 1.0

        def fn(x_k, k):
            return self.xstart_model(rep, x_k, k.float() * scale, allowed, self._lambda(rep, generator, delta))
        return fn

    def logits(self, x0: torch.Tensor, with_padding: bool) -> torch.Tensor:
        """x̂0·Eᵀ over real items (padding row excluded) or over all N+1 rows (padding first)."""
        E = self.item_embeddings.weight
        return x0 @ (E if with_padding else E[1:]).T

    # ------------------------------------------------------------------ training
    def fit_epoch(self, split, generator, rng) -> dict:
        self.train()
        data, c = self.seq_data(split), self.config
        opt = self.optimizer()
        self.set_epoch_lr(opt)
        total, n = 0.0, 0
        for idx in epoch_batches(data.n_samples, c.batch_size, rng):
            hist, _, target = data.prefix_batch(idx, c.max_len, -1)
            tokens, target = self.tokens(hist + 1), self.tokens(target)
            rep, allowed = self.represent(tokens)
            x0 = self.item_embeddings(target + 1)            # the raw target embedding is diffused
            out = self.diffusion.training_loss(self.denoiser(rep, allowed, generator), x0, generator=generator)
            # faithful: CE over N+1 classes incl. padding (target index item+1); clean: over the N real items
            loss = F.cross_entropy(self.logits(out["x0_hat"], c.score_padding), target + int(c.score_padding))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        self._epoch += 1
        return {"loss": total / max(n, 1)}

    # ------------------------------------------------------------------ inference
    def _run(self, split, users, which: str, record: bool, seed: int, **opts):
        c = self.config
        hist, _ = self.seq_data(split).history(users, which, c.max_len, -1)
        rep, allowed = self.represent(self.tokens(hist + 1))
        gen = cpu_generator(seed)
        fn = self.denoiser(rep, allowed, gen, opts.get("lambda_uncertainty"))
        shape = (len(hist), c.hidden)
        if opts.get("sampler", c.sampler) == "ddim":   # NOT in the authors' code (docs/methods.md §1.8)
            return self.diffusion.sample_ddim(fn, shape, steps=int(opts.get("ddim_steps", c.ddim_steps)),
                                              record=record, generator=gen, device=self.device)
        return self.diffusion.sample_ancestral(fn, shape, variance="large", record=record, generator=gen,
                                               device=self.device)

    @torch.no_grad()
    def score(self, split, users, which="valid", with_padding: bool = False) -> torch.Tensor:
        """(B, I) scores x̂0·Eᵀ of the real items; ``with_padding`` appends the padding item's score last."""
        was = self.training
        self.eval()
        x0 = self._run(split, np.atleast_1d(users), which, False, self.config.sample_seed).final
        self.train(was)
        s = self.logits(x0, True)
        return torch.cat([s[:, 1:], s[:, :1]], dim=1) if with_padding else s[:, 1:]

    @torch.no_grad()
    def trajectory(self, split, users, k: int = 10, seed: Optional[int] = None, **opts):
        """The reverse run for a few users: x_k and x̂0 in embedding space (S, B, d), scores x̂0·Eᵀ per step.

        At k = 0 the sampler returns c1[0]·x̂0 (c1[0] = 1 up to rounding); that returned sample is shown as the
        last step's x̂0, so the last step equals the recommendation exactly. ``seed`` defaults to
        ``sample_seed`` (then the final step equals ``score``). ``opts``: sampler, ddim_steps,
        lambda_uncertainty, which ('valid' | 'test').
        """
        users = np.atleast_1d(np.asarray(users))
        which = opts.pop("which", "valid")
        was = self.training
        self.eval()
        run = self._run(split, users, which, True, self.config.sample_seed if seed is None else seed, **opts)
        self.train(was)
        return self.embedding_trajectory(split, users, which, run, k, {"lambda_uncertainty": float(
            opts.get("lambda_uncertainty", self.config.lambda_uncertainty))})

register(MethodSpec(
    name="diffurec", title="DiffuRec", paper="Li, Sun, Li, ACM TOIS 42(3) 2024 (arXiv 2304.00686)",
    diffused="the next item's embedding x0 = E[target]", model_cls=DiffuRec, config_cls=DiffuRecConfig,
    needs=("sequences",), page="embeddings", order=5, presets=DIFFUREC_PRESETS,
    idea="A Transformer over the history, with the noisy target injected at every position (scaled by a tiny λ), "
         "predicts the next item's embedding; trained with cross-entropy over all items."))
