"""Noise schedules of every method (docs/methods.md §1.2), each under its own name.

Three different schedules are called "linear" in the five codebases; here each gets its own name so that a config
can never silently mean the wrong one. All return float64 NumPy betas of length T, except the DreamRec schedules,
which the authors compute in float32 torch and which we reproduce with the same float32 operations (golden
tolerance rtol 1e-6 needs the same rounding).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

MAX_BETA = 0.999


def _betas_from_alpha_bar(alpha_bar: np.ndarray, max_beta: float = MAX_BETA) -> np.ndarray:
    """beta[0] = 1 - abar[0], beta[k] = min(1 - abar[k]/abar[k-1], max_beta) (DiffRec betas_from_linear_variance)."""
    betas = np.empty_like(alpha_bar)
    betas[0] = 1.0 - alpha_bar[0]
    betas[1:] = np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)
    return betas


def linear_var(T: int, scale: float, a_min: float, a_max: float) -> np.ndarray:
    """DiffRec/DiffKG 'linear-var': a linear ramp of the *variance* 1 - abar from scale*a_min to scale*a_max."""
    variance = np.linspace(scale * a_min, scale * a_max, T, dtype=np.float64)
    return _betas_from_alpha_bar(1.0 - variance)


def linear_scaled(T: int, scale: float, a_min: float, a_max: float) -> np.ndarray:
    """DiffRec 'linear' / RecBole default: betas linear from scale*a_min to scale*a_max."""
    return np.linspace(scale * a_min, scale * a_max, T, dtype=np.float64)


def _cosine_alpha_bar(u):
    return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2


def cosine(T: int, max_beta: float = MAX_BETA) -> np.ndarray:
    """Improved-DDPM cosine schedule as DiffRec and DiffuRec build it (betas_for_alpha_bar), clipped at 0.999."""
    return np.array([min(1 - _cosine_alpha_bar((k + 1) / T) / _cosine_alpha_bar(k / T), max_beta)
                     for k in range(T)], dtype=np.float64)


def binomial(T: int) -> np.ndarray:
    """DiffRec 'binomial': beta[k] = 1/(T-k+1), so abar_T = 1/(T+1)."""
    k = np.arange(T, dtype=np.float64)
    return 1.0 / (T - k + 1)


def ddpm_linear_rescaled(T: int) -> np.ndarray:
    """DiffuRec 'linear': the image-DDPM ramp 1e-4..0.02 rescaled by 1000/T."""
    c = 1000.0 / T
    return np.linspace(c * 1e-4, c * 0.02, T, dtype=np.float64)


def trunc_lin(T: int) -> np.ndarray:
    """DiffuRec default. For T <= 20 the end value exceeds 1 and is replaced (then abar_T stays far from 0)."""
    c = 1000.0 / T
    start, end = c * 1e-4 + 0.01, c * 0.02 + 0.01
    if end > 1:
        end = c * 0.001 + 0.01
    return np.linspace(start, end, T, dtype=np.float64)


# --- DreamRec: float32 torch, exactly the authors' operations -----------------------------------------------------

def dreamrec_linear(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DreamRec 'linear': NOT rescaled with T (unlike DiffuRec's)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)


def dreamrec_exp(T: int, beta_min: float = 0.1, beta_max: float = 10.0) -> torch.Tensor:
    """Discretised VP-SDE; abar_T ~ 0.0063 for every T."""
    x = torch.linspace(1, 2 * T + 1, T, dtype=torch.float32)
    return 1 - torch.exp(-beta_min / T - x * 0.5 * (beta_max - beta_min) / (T * T))


def dreamrec_cosine(T: int, s: float = 0.008) -> torch.Tensor:
    x = torch.linspace(0, T, T + 1, dtype=torch.float32)
    abar = torch.cos(((x / T) + s) / (1 + s) * torch.pi * 0.5) ** 2
    abar = abar / abar[0]
    betas = 1 - (abar[1:] / abar[:-1])
    return torch.clip(betas, 0.0001, 0.9999)


SCHEDULES = ("linear_var", "linear_scaled", "cosine", "binomial", "ddpm_linear_rescaled", "trunc_lin",
             "dreamrec_linear", "dreamrec_exp", "dreamrec_cosine")
FLOAT32_SCHEDULES = ("dreamrec_linear", "dreamrec_exp", "dreamrec_cosine")


@dataclass
class ScheduleConfig:
    """A noise schedule by name. Fields a schedule does not use are ignored (as DiffRec ignores s/min/max for
    cosine). ``beta1_fix`` overwrites beta[0] after building (DiffRec 1e-5, DiffKG 1e-4, L-DiffRec None)."""

    name: str = "linear_var"
    T: int = 10
    scale: float = 5e-3      # DiffRec noise_scale s
    a_min: float = 5e-3      # DiffRec noise_min
    a_max: float = 1e-2      # DiffRec noise_max
    beta1_fix: Optional[float] = 1e-5

    def validate(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; choose one of {', '.join(SCHEDULES)}")
        if int(self.T) < 1:
            raise ValueError(f"T must be >= 1, got {self.T}")
        if self.name == "linear_var" and self.scale > 0 and self.T > 1 and not self.a_min < self.a_max:
            raise ValueError("linear_var needs noise_min < noise_max (else some beta <= 0)")
        if self.name in ("linear_var", "linear_scaled") and self.scale < 0:
            raise ValueError("noise scale must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


def make_betas(cfg: ScheduleConfig) -> torch.Tensor:
    """Betas of a schedule config, float64 (float32 for the DreamRec schedules), with the beta1 fix applied."""
    cfg.validate()
    T = int(cfg.T)
    n = cfg.name
    if n == "linear_var":
        b = linear_var(T, cfg.scale, cfg.a_min, cfg.a_max)
    elif n == "linear_scaled":
        b = linear_scaled(T, cfg.scale, cfg.a_min, cfg.a_max)
    elif n == "cosine":
        b = cosine(T)
    elif n == "binomial":
        b = binomial(T)
    elif n == "ddpm_linear_rescaled":
        b = ddpm_linear_rescaled(T)
    elif n == "trunc_lin":
        b = trunc_lin(T)
    elif n == "dreamrec_linear":
        b = dreamrec_linear(T)
    elif n == "dreamrec_exp":
        b = dreamrec_exp(T)
    else:
        b = dreamrec_cosine(T)
    b = torch.as_tensor(b).clone()
    if cfg.beta1_fix is not None:
        b[0] = cfg.beta1_fix
    return b


def schedule_arrays(betas: torch.Tensor) -> dict:
    """Every derived buffer of docs/methods.md §1.1, in the dtype of ``betas`` (float64 for DiffRec-family configs,
    float32 for DreamRec's, reproducing each author's rounding)."""
    betas = torch.as_tensor(betas)
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, dim=0)
    ac_prev = torch.cat([torch.ones(1, dtype=betas.dtype), ac[:-1]])
    pv = betas * (1.0 - ac_prev) / (1.0 - ac)
    out = {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": torch.sqrt(ac),
        "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - ac),
        "sqrt_recip_alphas_cumprod": torch.sqrt(1.0 / ac),
        "sqrt_recipm1_alphas_cumprod": torch.sqrt(1.0 / ac - 1),
        "posterior_variance": pv,
        "posterior_mean_coef1": betas * torch.sqrt(ac_prev) / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * torch.sqrt(alphas) / (1.0 - ac),
    }
    if len(betas) > 1:
        # "clipped": index 0 (where posterior variance is exactly 0) replaced by index 1
        out["posterior_log_variance_clipped"] = torch.log(torch.cat([pv[1:2], pv[1:]]))
        # DiffuRec's "fixed-large" reverse variance: log beta, with posterior variance[1] at index 0
        out["log_variance_large"] = torch.log(torch.cat([pv[1:2], betas[1:]]))
    else:
        out["posterior_log_variance_clipped"] = torch.full_like(pv, -float("inf"))
        out["log_variance_large"] = torch.log(betas.clone())
    out["snr"] = ac / (1.0 - ac)
    return out


# Presets the app and command line offer (the authors' tuned configurations, docs/methods.md §2.1 table).
PRESETS = {
    "diffrec ml-1m (tuned)": ScheduleConfig("linear_var", 40, 5e-3, 5e-3, 1e-2, 1e-5),
    "diffrec amazon-book (tuned)": ScheduleConfig("linear_var", 5, 1e-4, 5e-4, 5e-3, 1e-5),
    "diffrec yelp (tuned)": ScheduleConfig("linear_var", 5, 1e-2, 1e-3, 1e-2, 1e-5),
    "diffrec ml-1m noisy (tuned)": ScheduleConfig("linear_var", 5, 0.5, 1e-3, 1e-2, 1e-5),
    "sample world (small CPU)": ScheduleConfig("linear_var", 10, 5e-3, 5e-3, 1e-2, 1e-5),
    "visible noise (teaching)": ScheduleConfig("linear_var", 10, 1.0, 1e-3, 0.5, 1e-5),
    "image-DDPM (linear 1e-4..0.02, T=1000)": ScheduleConfig("linear_scaled", 1000, 1.0, 1e-4, 0.02, None),
}
