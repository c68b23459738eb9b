"""One Gaussian diffusion for DiffRec, T-/L-DiffRec, DiffKG, DiffuRec and DreamRec (docs/methods.md §1).

The schedule and the update rules live here; the network is passed in as a function ``model_fn(x, k) -> output``
and the loop is one of three samplers. This is the diffusers split (scheduler / model / loop) and it replaces the
four drifted copies in the authors' repositories.

Precision: buffers are kept in the schedule's dtype (float64 for the DiffRec family, whose 1 - abar ~ 1e-5 makes
SNR differences lose digits in float32) and cast to the data dtype after indexing, as DiffRec's
``_extract_into_tensor`` does. The module holds no trainable parameters; buffers follow ``.to(device)``.
Under bf16 autocast (diffrec_core/precision.py) only the network runs in bfloat16: a reduced-precision input is
upcast to float32 (``_full``), so x_k, the noise, the posterior coefficients and the chain stay float32, the
loss weights and the importance-sampling history float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import torch
from torch import nn

from . import rng
from .schedules import ScheduleConfig, make_betas, schedule_arrays

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class DiffusionRun:
    """What a sampler did, step by step: ``steps[i]`` is the index k fed to the network at step i, ``states[i]``
    the x_k it received and ``x0_hats[i]`` its prediction of the clean sample. ``final`` is the returned sample."""

    steps: List[int]
    final: torch.Tensor
    states: Optional[torch.Tensor] = None     # (S, B, D)
    x0_hats: Optional[torch.Tensor] = None    # (S, B, D)
    start: Optional[torch.Tensor] = None      # (B, D) the x the loop started from
    meta: dict = field(default_factory=dict)


class _Recorder:
    def __init__(self, on: bool):
        self.on, self.steps, self.states, self.x0s = on, [], [], []

    def add(self, k: int, x: torch.Tensor, x0: torch.Tensor):
        self.steps.append(int(k))
        if self.on:
            self.states.append(x.detach().clone())
            self.x0s.append(x0.detach().clone())

    def run(self, final, start, **meta) -> DiffusionRun:
        st = torch.stack(self.states) if self.on and self.states else None
        x0 = torch.stack(self.x0s) if self.on and self.x0s else None
        return DiffusionRun(self.steps, final, st, x0, start, dict(meta))


class GaussianDiffusion(nn.Module):
    """Schedule buffers + q_sample, posterior, losses (SNR reweighting, importance-sampled t) and samplers.

    Args:
        schedule: a :class:`ScheduleConfig`, or explicit betas (1-D tensor/array).
        mean_type: 'x0' (every released config) or 'eps'.
        reweight: SNR-difference weights (DiffRec family, DiffKG); False gives plain MSE.
        t_sampler: 'importance' (DiffRec's default path) or 'uniform'.
        eps_weight: 'faithful' (DiffRec's eps-mode weight) or 'elbo' (docs/methods.md §1.4).
        history_len / uniform_prob: importance-sampling bookkeeping (10 losses per step, 0.001 floor).
    """

    def __init__(self, schedule, mean_type: str = "x0", reweight: bool = True, t_sampler: str = "importance",
                 eps_weight: str = "faithful", history_len: int = 10, uniform_prob: float = 1e-3):
        super().__init__()
        if mean_type not in ("x0", "eps"):
            raise ValueError("mean_type must be 'x0' or 'eps'")
        if t_sampler not in ("importance", "uniform"):
            raise ValueError("t_sampler must be 'importance' or 'uniform'")
        if eps_weight not in ("faithful", "elbo"):
            raise ValueError("eps_weight must be 'faithful' or 'elbo'")
        self.mean_type, self.reweight, self.t_sampler, self.eps_weight = mean_type, reweight, t_sampler, eps_weight
        self.uniform_prob = uniform_prob
        self.config = schedule if isinstance(schedule, ScheduleConfig) else None
        # noise_scale == 0: DiffRec's "no diffusion" ablation (x_k = x0 in training, x <- model(x, k) at inference)
        self.no_noise = bool(self.config is not None and self.config.name in ("linear_var", "linear_scaled")
                             and self.config.scale == 0)
        if self.no_noise:
            T = int(self.config.T)
            self.config.validate()
            arrays = _identity_arrays(T)
        else:
            betas = make_betas(schedule) if self.config is not None else torch.as_tensor(schedule).clone()
            if not ((betas > 0).all() and (betas <= 1).all()):
                raise ValueError("every beta must lie in (0, 1]; check the schedule's min/max/scale")
            arrays = schedule_arrays(betas)
        self.T = len(arrays["betas"])
        for k, v in arrays.items():
            self.register_buffer(k, v, persistent=False)
        self.register_buffer("lt_history", torch.zeros(self.T, history_len, dtype=torch.float64), persistent=False)
        self.register_buffer("lt_count", torch.zeros(self.T, dtype=torch.long), persistent=False)

    # ------------------------------------------------------------------ helpers
    def _at(self, name: str, k: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """arr[k] cast to ``like``'s dtype, shaped to broadcast over its trailing dims."""
        v = getattr(self, name)[k].to(like.dtype)
        return v.view(-1, *([1] * (like.dim() - 1)))

    def _k(self, k, n: int, device) -> torch.Tensor:
        """Per-row steps. One step for every row comes back as a stride-0 expansion of a single value, which
        tells a denoiser that all rows share it (DNN then computes one time embedding) without comparing the
        rows - on a GPU that comparison is a device-to-host sync at every reverse step."""
        if isinstance(k, torch.Tensor) and k.dim() == 1:
            return k.to(device=device, dtype=torch.long)
        return torch.full((1,), int(k), dtype=torch.long, device=device).expand(n)

    @property
    def noise_std(self) -> torch.Tensor:
        """sqrt(1 - abar_k): the std of the noise in x_k."""
        return self.sqrt_one_minus_alphas_cumprod

    # ------------------------------------------------------------------ forward process
    def q_sample(self, x0: torch.Tensor, k, noise: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """x_k = sqrt(abar_k) x0 + sqrt(1 - abar_k) eps (docs/methods.md §1.3)."""
        if self.no_noise:
            return x0
        k = self._k(k, x0.shape[0], x0.device)
        if noise is None:
            noise = rng.normal_like(x0, generator)
        # one fused multiply-add pass for the noise term (addcmul) instead of a separate product and sum
        return torch.addcmul(self._at("sqrt_alphas_cumprod", k, x0) * x0,
                             self._at("sqrt_one_minus_alphas_cumprod", k, x0), noise)

    def posterior_mean(self, x0_hat: torch.Tensor, x_k: torch.Tensor, k) -> torch.Tensor:
        """Mean of q(x_{k-1} | x_k, x0) = c1_k x0 + c2_k x_k."""
        k = self._k(k, x_k.shape[0], x_k.device)
        return self._at("posterior_mean_coef1", k, x_k) * x0_hat + self._at("posterior_mean_coef2", k, x_k) * x_k

    def log_variance(self, k, like: torch.Tensor, variance: str = "small") -> torch.Tensor:
        """Reverse-step log variance: 'small' = posterior variance (clipped at k=0), 'large' = log beta."""
        k = self._k(k, like.shape[0], like.device)
        name = "posterior_log_variance_clipped" if variance == "small" else "log_variance_large"
        return self._at(name, k, like)

    def predict_x0(self, model_out: torch.Tensor, x_k: torch.Tensor, k) -> torch.Tensor:
        """x0-mode passes through; eps-mode converts: x0 = x_k/sqrt(abar) - sqrt(1/abar - 1) eps."""
        if self.mean_type == "x0" or self.no_noise:
            return model_out
        k = self._k(k, x_k.shape[0], x_k.device)
        return (self._at("sqrt_recip_alphas_cumprod", k, x_k) * x_k
                - self._at("sqrt_recipm1_alphas_cumprod", k, x_k) * model_out)

    # ------------------------------------------------------------------ training
    def loss_weight(self, k: torch.Tensor) -> torch.Tensor:
        """Per-sample loss weight in float64 (docs/methods.md §1.4).

        x0: w_k = SNR_{k-1} - SNR_k, w_0 = 1 (the authors' wrap to SNR_{-1} is not replicated - it is overwritten).
        eps: faithful (1-abar_k)/((1-abar_{k-1})^2 alpha_k), or the ELBO weight beta_k/((1-abar_{k-1}) alpha_k).
        """
        k = k.long()
        if not self.reweight or self.no_noise:
            return torch.ones(k.shape, dtype=torch.float64, device=k.device)
        km1 = (k - 1).clamp(min=0)
        if self.mean_type == "x0":
            w = self.snr.double()[km1] - self.snr.double()[k]
        else:
            ac, acp, b = (self.alphas_cumprod.double()[k], self.alphas_cumprod_prev.double()[k],
                          self.betas.double()[k])
            if self.eps_weight == "faithful":
                w = (1 - ac) / ((1 - acp) ** 2 * (1 - b))
            else:
                w = b / ((1 - acp) * (1 - b))
        return torch.where(k == 0, torch.ones_like(w), w)

    def sample_t(self, n: int, device=None, generator: Optional[torch.Generator] = None):
        """Draw (k, pt). Importance sampling (docs/methods.md §1.5): uniform until every step has a full history, then
        p_k ~ sqrt(mean(hist_k^2)) mixed with a 0.001 uniform floor; pt = T p_k."""
        device = device or self.betas.device
        if self.t_sampler == "importance" and bool((self.lt_count == self.lt_history.shape[1]).all()):
            lt = torch.sqrt((self.lt_history ** 2).mean(dim=-1))
            p = lt / lt.sum()
            p = p * (1 - self.uniform_prob) + self.uniform_prob / self.T
            k = torch.multinomial(p.float().cpu(), n, replacement=True, generator=generator).to(device)
            pt = (p.to(device)[k] * self.T).float()
            return k, pt
        k = torch.randint(0, self.T, (n,), generator=generator).to(device)
        return k, torch.ones(n, device=device)

    @torch.no_grad()
    def update_history(self, k: torch.Tensor, losses: torch.Tensor) -> None:
        """Append each sample's weighted loss to its step's last-``history_len`` window, vectorised.

        Equivalent to the authors' per-sample loop (which shifts the window when full), processed in batch order.
        """
        H = self.lt_history.shape[1]
        k = k.to(self.lt_history.device).long()
        losses = losses.detach().to(self.lt_history.device, torch.float64)
        order = torch.argsort(k, stable=True)
        ks, ls = k[order], losses[order]
        n_new = torch.bincount(ks, minlength=self.T)
        start = torch.cumsum(n_new, 0) - n_new             # first index of each step's losses in ls
        count = self.lt_count
        total = count + n_new                                 # length of old window + new values
        shift = (total - H).clamp(min=0)                      # how many of the oldest entries fall out
        j = torch.arange(H, device=k.device)
        pos = j[None, :] + shift[:, None]                     # position in the combined sequence for slot j
        from_old = pos < count[:, None]
        old_vals = self.lt_history.gather(1, pos.clamp(max=H - 1))
        new_idx = (start[:, None] + pos - count[:, None]).clamp(0, max(len(ls) - 1, 0))
        new_vals = ls[new_idx] if len(ls) else torch.zeros_like(old_vals)
        valid = pos < total[:, None]
        hist = torch.where(from_old, old_vals, new_vals)
        self.lt_history.copy_(torch.where(valid, hist, self.lt_history))
        self.lt_count.copy_(total.clamp(max=H))

    def training_loss(self, model_fn: ModelFn, x0: torch.Tensor, k: Optional[torch.Tensor] = None,
                      noise: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None,
                      update_history: bool = True) -> dict:
        """DiffRec's ``training_losses`` (docs/methods.md §1.4-1.5). Returns per-sample ``loss`` (w mse / pt, float32),
        ``weighted`` (w mse, float64, before / pt), ``mse``, ``weight``, ``x0_hat``, ``k``, ``pt``."""
        x0 = _full(x0)
        n = x0.shape[0]
        if k is None:
            k, pt = self.sample_t(n, x0.device, generator)
        else:
            k, pt = k.to(x0.device).long(), torch.ones(n, device=x0.device)
        if noise is None:
            noise = rng.normal_like(x0, generator)
        x_k = self.q_sample(x0, k, noise)
        out = model_fn(x_k, k)
        target = x0 if (self.mean_type == "x0" or self.no_noise) else noise
        mse = row_mse(out, target)
        weight = self.loss_weight(k)
        per = mse
        if self.mean_type == "eps" and self.reweight and not self.no_noise:
            # DiffRec eps mode: at k = 0 the loss is the x0 likelihood term mean((x0 - x0_hat)^2 / 2)
            lik = ((x0 - self.predict_x0(out, x_k, k)) ** 2 / 2.0).flatten(1).mean(dim=1)
            per = torch.where(k == 0, lik, mse)
        weighted = weight * per                                # float64, as the authors' promotion gives
        if update_history and self.t_sampler == "importance":
            self.update_history(k, weighted)
        x0_hat = self.predict_x0(out, x_k, k)
        return {"loss": (weighted / pt.double()).float(), "weighted": weighted, "mse": mse, "weight": weight,
                "x0_hat": x0_hat, "k": k, "pt": pt, "x_k": x_k}

    # ------------------------------------------------------------------ samplers
    @torch.no_grad()
    def denoise_from(self, model_fn: ModelFn, x0: torch.Tensor, T_prime: int = 0, sampling_noise: bool = False,
                     reverse: str = "all_T", record: bool = False, noise: Optional[torch.Tensor] = None,
                     generator: Optional[torch.Generator] = None) -> DiffusionRun:
        """Sampler A, DiffRec-style inference (docs/methods.md §1.6): corrupt the clean input for T' steps, then run
        the reverse chain. Faithful (``reverse='all_T'``): always all T steps, treating x_{T'} as if it were x_T.
        Clean option ``'from_T_prime'``: only T' steps. With T' = 0 and no sampling noise (every released config)
        this is T deterministic passes of the network from the clean history."""
        if not 0 <= int(T_prime) <= self.T:
            raise ValueError(f"T' must lie in 0..{self.T}, got {T_prime}")
        if reverse not in ("all_T", "from_T_prime"):
            raise ValueError("reverse must be 'all_T' or 'from_T_prime'")
        x0 = _full(x0)
        x = x0 if T_prime == 0 else self.q_sample(x0, int(T_prime) - 1, noise=noise, generator=generator)
        start = x
        ks = range(self.T - 1, -1, -1) if reverse == "all_T" else range(int(T_prime) - 1, -1, -1)
        rec = _Recorder(record)
        # a network may fuse the deterministic x0-mode step c1 x0_hat + c2 x into its last layer
        # (not under autocast: there it would round c1 x0_hat + c2 x to bfloat16 and carry x in it)
        fused = (not record and not sampling_noise and self.mean_type == "x0" and not self.no_noise
                 and hasattr(model_fn, "forward_mixed") and not torch.is_autocast_enabled(x.device.type))
        if fused:  # coefficients rounded to float32 first, as the authors' _extract_into_tensor does; read once
            coef1 = self.posterior_mean_coef1.float().tolist()        # (one host copy, not a sync per step)
            coef2 = self.posterior_mean_coef2.float().tolist()
        for k in ks:
            kt = self._k(k, x.shape[0], x.device)
            if fused:
                c1, c2 = coef1[k], coef2[k]
                x = model_fn.forward_mixed(x, kt, c1, c2)
                rec.steps.append(int(k))
                continue
            x0_hat = self.predict_x0(model_fn(x, kt), x, kt)
            rec.add(k, x, x0_hat)
            x_next = self.posterior_mean(x0_hat, x, kt)
            if sampling_noise and k > 0 and not self.no_noise:
                eps = rng.normal_like(x, generator)
                x_next = x_next + torch.exp(0.5 * self.log_variance(kt, x, "small")) * eps
            x = x_next
        return rec.run(x, start, sampler="denoise_from", T_prime=int(T_prime), reverse=reverse,
                       sampling_noise=bool(sampling_noise))

    @torch.no_grad()
    def sample_ancestral(self, model_fn: ModelFn, shape, variance: str = "small", record: bool = False,
                         x_T: Optional[torch.Tensor] = None, noises: Optional[Sequence[torch.Tensor]] = None,
                         generator: Optional[torch.Generator] = None, device=None,
                         dtype=torch.float32) -> DiffusionRun:
        """Sampler B, ancestral DDPM from N(0, I) over all T steps (docs/methods.md §1.7). ``variance='large'`` is
        DiffuRec's log beta, ``'small'`` DreamRec's posterior variance. ``noises`` (T-1 tensors, for k = T-1..1)
        replace the random draws, so a run can be replayed exactly (golden tests, "same noise" comparisons)."""
        device = device or self.betas.device
        if x_T is None:
            x_T = rng.normal_like(torch.empty(tuple(shape), dtype=dtype, device=device), generator)
        x = x_T
        rec = _Recorder(record)
        for i, k in enumerate(range(self.T - 1, -1, -1)):
            kt = self._k(k, x.shape[0], x.device)
            x0_hat = self.predict_x0(model_fn(x, kt), x, kt)
            rec.add(k, x, x0_hat)
            mean = self.posterior_mean(x0_hat, x, kt)
            if k > 0:
                eps = noises[i].to(x) if noises is not None else rng.normal_like(x, generator)
                if variance == "small":
                    std = torch.sqrt(self._at("posterior_variance", kt, x))
                else:
                    std = torch.exp(0.5 * self.log_variance(kt, x, "large"))
                x = mean + std * eps
            else:
                x = mean
        return rec.run(x, x_T, sampler="ancestral", variance=variance)

    @torch.no_grad()
    def sample_ddim(self, model_fn: ModelFn, shape, steps: int = 10, eta: float = 0.0, record: bool = False,
                    x_T: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None, device=None,
                    dtype=torch.float32) -> DiffusionRun:
        """Sampler C, DDIM (docs/methods.md §1.8) - NOT in the original DiffuRec/DreamRec code; for fast demos only.
        Steps are evenly spaced from T-1 to 0; the network sees the original index k."""
        device = device or self.betas.device
        S = max(1, min(int(steps), self.T))
        taus = sorted({int(round(v)) for v in torch.linspace(self.T - 1, 0, S).tolist()} | {0, self.T - 1},
                      reverse=True)
        if x_T is None:
            x_T = rng.normal_like(torch.empty(tuple(shape), dtype=dtype, device=device), generator)
        x = x_T
        rec = _Recorder(record)
        ac = self.alphas_cumprod.double()
        for i, k in enumerate(taus):
            kt = self._k(k, x.shape[0], x.device)
            x0_hat = self.predict_x0(model_fn(x, kt), x, kt)
            rec.add(k, x, x0_hat)
            if k == taus[-1]:
                x = x0_hat
                break
            a, a_prev = float(ac[k]), float(ac[taus[i + 1]])
            eps_hat = (x - a ** 0.5 * x0_hat) / (1 - a) ** 0.5
            sigma = eta * ((1 - a_prev) / (1 - a)) ** 0.5 * (1 - a / a_prev) ** 0.5
            x = a_prev ** 0.5 * x0_hat + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps_hat
            if sigma > 0:
                x = x + sigma * rng.normal_like(x, generator)
        return rec.run(x, x_T, sampler="ddim", steps=len(taus), eta=float(eta))

    def schedule_table(self) -> dict:
        """Plain float lists of the per-step quantities a view shows (beta, abar, noise std, SNR)."""
        return {
            "beta": self.betas.double().cpu().numpy(),
            "alpha_bar": self.alphas_cumprod.double().cpu().numpy(),
            "noise_std": self.sqrt_one_minus_alphas_cumprod.double().cpu().numpy(),
            "sqrt_alpha_bar": self.sqrt_alphas_cumprod.double().cpu().numpy(),
            "snr": self.snr.double().cpu().numpy(),
        }


class _RowMSE(torch.autograd.Function):
    """Per-sample mean squared error, mean over every non-batch dim: (out - target)^2 averaged per row.

    Same value as ``((target - out) ** 2).flatten(1).mean(1)`` (to float rounding), in one pass forward and one
    backward (d/d out = 2 g (out - target) / n) instead of the seven element-wise passes autograd runs for the
    composite expression over a (batch, items) matrix - a visible share of a DiffRec training step on CPU."""

    @staticmethod
    def forward(ctx, out, target):
        diff = (out - target).flatten(1)
        ctx.save_for_backward(diff)
        ctx.shape = out.shape
        if rng.column_major(diff):   # vector_norm reduces across the stride 6x slower than a product and a sum
            return (diff * diff).sum(1).div_(diff.shape[1])
        return torch.linalg.vector_norm(diff, dim=1).square_().div_(diff.shape[1])

    @staticmethod
    def backward(ctx, g):
        (diff,) = ctx.saved_tensors
        grad = (diff * (g * (2.0 / diff.shape[1])).unsqueeze(1)).view(ctx.shape)
        return (grad if ctx.needs_input_grad[0] else None), (-grad if ctx.needs_input_grad[1] else None)


def row_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE (see :class:`_RowMSE`); plain autograd on the composite where no row-fusion is needed."""
    if out.shape != target.shape or out.dim() < 2:
        return ((target - out) ** 2).flatten(1).mean(dim=1)
    return _RowMSE.apply(out, target)


def _full(x: torch.Tensor) -> torch.Tensor:
    """The diffusion state in float32 where a network under bf16 autocast handed over a reduced-precision
    tensor (L-DiffRec's latent); any other tensor as it is, so float32 and float64 runs are unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def _identity_arrays(T: int) -> dict:
    """Buffers for the noise_scale = 0 ablation: no noise, and each reverse step returns the network output."""
    one, zero = torch.ones(T, dtype=torch.float64), torch.zeros(T, dtype=torch.float64)
    return {
        "betas": zero.clone(), "alphas_cumprod": one.clone(), "alphas_cumprod_prev": one.clone(),
        "sqrt_alphas_cumprod": one.clone(), "sqrt_one_minus_alphas_cumprod": zero.clone(),
        "sqrt_recip_alphas_cumprod": one.clone(), "sqrt_recipm1_alphas_cumprod": zero.clone(),
        "posterior_variance": zero.clone(), "posterior_mean_coef1": one.clone(), "posterior_mean_coef2": zero.clone(),
        "posterior_log_variance_clipped": torch.full((T,), -float("inf"), dtype=torch.float64),
        "log_variance_large": torch.full((T,), -float("inf"), dtype=torch.float64),
        "snr": torch.full((T,), float("inf"), dtype=torch.float64),
    }
