"""The equation panel's content: the equation of the current view in LaTeX, the same equation with the live
numbers of the current step substituted, and the values of its terms. Pure: the page renders it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Mapping, Tuple

import numpy as np

from .fmt import num, tex
from .schedule import n_steps, table_from_betas, terms_at


@dataclass
class Equation:
    title: str
    general: str                       # LaTeX of the equation
    live: str                          # LaTeX with the current step's numbers
    terms: List[Tuple[str, str, str]] = field(default_factory=list)  # (label, value, help)
    note: str = ""

    def values(self) -> dict:
        return {label: value for label, value, _ in self.terms}


_TERM_HELP = {
    "beta": "β_t: the variance added by step t alone",
    "alpha_bar": "ᾱ_t = Π(1−β_s): how much of x0's signal survives after t steps",
    "sqrt_alpha_bar": "√ᾱ_t: the factor on x0 in x_t",
    "noise_std": "√(1−ᾱ_t): the standard deviation of the noise in x_t",
    "snr": "SNR_t = ᾱ_t / (1−ᾱ_t)",
}
_LABELS = {"beta": "βₜ", "alpha_bar": "ᾱₜ", "sqrt_alpha_bar": "√ᾱₜ", "noise_std": "noise std", "snr": "SNRₜ"}


def _schedule_terms(v: Mapping[str, float]) -> List[Tuple[str, str, str]]:
    return [(_LABELS[k], num(v[k], 4 if k in ("alpha_bar", "sqrt_alpha_bar") else 3), _TERM_HELP[k])
            for k in ("beta", "alpha_bar", "sqrt_alpha_bar", "noise_std", "snr")]


def forward_equation(table: Mapping[str, np.ndarray], t: int) -> Equation:
    """q(x_t | x_0) (docs/methods.md §1.3) at paper step t = 0..T."""
    v = terms_at(table, t)
    T = n_steps(table)
    general = (r"\begin{aligned} q(x_t \mid x_0) &= "
               r"\mathcal{N}\!\big(\sqrt{\bar\alpha_t}\,x_0,\;(1-\bar\alpha_t)\,I\big)"
               r"\\ x_t &= \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon"
               r"\\ \bar\alpha_t &= \textstyle\prod_{s=1}^{t}(1-\beta_s) \end{aligned}")
    t = int(t)
    if t == 0:
        live = r"t = 0:\quad x_0 = x_0 \quad(\text{no noise yet})"
    else:
        live = rf"x_{{{t}}} = {tex(v['sqrt_alpha_bar'], 5)}\,x_0 + {tex(v['noise_std'])}\,\varepsilon"
    return Equation(f"Forward noising · t = {t} of {T}", general, live, _schedule_terms(v),
                    note=f"code index k = t − 1 = {t - 1}" if t else "")


def posterior_coefs(betas, alphas_cumprod) -> dict:
    """c1, c2 and the posterior std σ̃ of q(x_{k-1} | x_k, x0) per code index k (docs/methods.md §1.1). Steps without
    noise (β = 0, the noise_scale = 0 ablation) give c1 = 1, c2 = 0, σ̃ = 0: the step returns x̂0."""
    b = np.asarray(betas, dtype=np.float64)
    ac = np.asarray(alphas_cumprod, dtype=np.float64)
    ac_prev = np.concatenate([[1.0], ac[:-1]])
    denom = 1.0 - ac
    with np.errstate(divide="ignore", invalid="ignore"):
        c1 = np.where(denom > 0, b * np.sqrt(ac_prev) / denom, 1.0)
        c2 = np.where(denom > 0, np.sqrt(1.0 - b) * (1.0 - ac_prev) / denom, 0.0)
        var = np.where(denom > 0, b * (1.0 - ac_prev) / denom, 0.0)
    return {"c1": c1, "c2": c2, "sigma": np.sqrt(np.maximum(var, 0.0))}


def reverse_equation(betas, alphas_cumprod, k: int, sampling_noise: bool = False, latent: bool = False) -> Equation:
    """One reverse step of DiffRec's sampler (docs/methods.md §1.6) at code index k (paper step t = k + 1)."""
    table = table_from_betas(betas)
    ac = np.asarray(alphas_cumprod, dtype=np.float64)
    if len(ac) == len(table["alpha_bar"]):     # the run's own ᾱ (float64 buffers), not a recomputation
        with np.errstate(divide="ignore", invalid="ignore"):
            table.update(alpha_bar=ac, sqrt_alpha_bar=np.sqrt(ac), noise_std=np.sqrt(np.maximum(1 - ac, 0)),
                         snr=np.where(ac < 1, ac / np.maximum(1 - ac, 0), np.inf))
    k = int(k)
    t = k + 1
    v = terms_at(table, t)
    co = posterior_coefs(betas, alphas_cumprod)
    c1, c2, sig = float(co["c1"][k]), float(co["c2"][k]), float(co["sigma"][k])
    z = "z" if latent else "x"
    noise_g = r"\;+\;\tilde\sigma_t\,\varepsilon" if sampling_noise else ""
    general = (rf"\begin{{aligned}} \hat {z}_0 &= f_\theta({z}_t, t) \\ {z}_{{t-1}} &= c_1\,\hat {z}_0 + c_2\,{z}_t"
               + noise_g + r" \\ c_1 &= \tfrac{\beta_t\sqrt{\bar\alpha_{t-1}}}{1-\bar\alpha_t}"
               r" \\ c_2 &= \tfrac{\sqrt{1-\beta_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} \end{aligned}")
    noise_l = rf" + {tex(sig)}\,\varepsilon" if (sampling_noise and k > 0) else ""
    live = rf"{z}_{{{t - 1}}} = {tex(c1, 4)}\,\hat {z}_0 + {tex(c2, 4)}\,{z}_{{{t}}}" + noise_l
    terms = _schedule_terms(v) + [
        ("c₁", num(c1, 4), "c₁: posterior-mean weight on the model's prediction x̂₀"),
        ("c₂", num(c2, 4), "c₂: posterior-mean weight on the current state xₜ"),
    ]
    if sampling_noise:
        terms.append(("σ̃ₜ", num(sig if k > 0 else 0.0),
                      "σ̃ₜ: std of the added posterior noise (none at the last step)"))
    note = f"code index k = {k}" + (" - the last step returns x̂0 exactly (c₁ = 1, c₂ = 0)" if k == 0 else "")
    return Equation(f"Reverse step · t = {t}", general, live, terms, note)
