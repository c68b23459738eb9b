"""Noise-schedule views: the per-step quantities (β, ᾱ, noise std, SNR) by paper step t = 0..T, their curves
with the current step marked, and the 'how much noise at the last step' comparison across presets.

Step convention (docs/methods.md §0): the paper's step t = 1..T is the code's index k = t - 1; t = 0 is the clean x0
(ᾱ_0 = 1, no noise, SNR = ∞).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np
import plotly.graph_objects as go

from .fmt import num
from .theme import COLORS, axis, base_layout, vline

KEYS = ("beta", "alpha_bar", "noise_std", "sqrt_alpha_bar", "snr")


def table_from_betas(betas) -> Dict[str, np.ndarray]:
    """The same table that ``GaussianDiffusion.schedule_table()`` returns, from a trajectory's β (float64)."""
    b = np.asarray(betas, dtype=np.float64)
    ab = np.cumprod(1.0 - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(ab < 1, ab / np.maximum(1.0 - ab, 0.0), np.inf)
    return {"beta": b, "alpha_bar": ab, "noise_std": np.sqrt(np.maximum(1.0 - ab, 0.0)),
            "sqrt_alpha_bar": np.sqrt(ab), "snr": snr}


def by_step(table: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Prepend t = 0 (the clean sample) so that index t of every array is paper step t."""
    first = {"beta": 0.0, "alpha_bar": 1.0, "noise_std": 0.0, "sqrt_alpha_bar": 1.0, "snr": np.inf}
    return {k: np.concatenate([[first[k]], np.asarray(table[k], dtype=np.float64)]) for k in KEYS}


def n_steps(table: Mapping[str, np.ndarray]) -> int:
    return int(len(table["beta"]))


def terms_at(table: Mapping[str, np.ndarray], t: int) -> Dict[str, float]:
    """β_t, ᾱ_t, √ᾱ_t, noise std √(1-ᾱ_t) and SNR_t at paper step t (0..T)."""
    T = n_steps(table)
    if not 0 <= int(t) <= T:
        raise ValueError(f"step t must lie in 0..{T}, got {t}")
    s = by_step(table)
    return {k: float(s[k][int(t)]) for k in KEYS}


def curves_figure(table: Mapping[str, np.ndarray], t: int, title: Optional[str] = None) -> go.Figure:
    """Three panels over t = 0..T: ᾱ_t, the noise std √(1-ᾱ_t) and SNR_t (log scale), the current step marked."""
    s = by_step(table)
    T = n_steps(table)
    t = int(t)
    steps = np.arange(T + 1)
    finite = np.isfinite(s["snr"]) & (s["snr"] > 0)
    series = [("alpha_bar", steps, s["alpha_bar"]), ("noise_std", steps, s["noise_std"]),
              ("snr", steps[finite], s["snr"][finite])]
    titles = ("ᾱ<sub>t</sub>", "noise std", "SNR<sub>t</sub> (log)")
    mode = "lines+markers" if T <= 60 else "lines"
    gap = 0.13
    width = (1 - 2 * gap) / 3
    data, shapes, annotations = [], [], []
    layout = base_layout(title, height=330, legend=False)
    for c, ((key, x, y), sub) in enumerate(zip(series, titles)):
        xa, ya = ("x", "y") if c == 0 else (f"x{c + 1}", f"y{c + 1}")
        data.append(dict(type="scatter", x=x, y=y, mode=mode, name=key, line=dict(color=COLORS[key], width=3),
                         marker=dict(size=6), showlegend=False, xaxis=xa, yaxis=ya,
                         hovertemplate="t=%{x}<br>%{y:.4g}<extra></extra>"))
        v = s[key][t]
        ok = bool(np.isfinite(v) and (key != "snr" or v > 0))
        data.append(dict(type="scatter", x=[t] if ok else [], y=[v] if ok else [], mode="markers",
                         name="current step", showlegend=False, xaxis=xa, yaxis=ya,
                         marker=dict(size=15, color=COLORS["current"], symbol="circle-open", line=dict(width=3)),
                         hovertemplate=f"current t={t}<br>%{{y:.4g}}<extra></extra>"))
        shapes.append(vline(t, xref=xa, yref=f"{ya} domain", color=COLORS["current"], width=1.5))
        dom = [round(c * (width + gap), 6), min(1.0, round(c * (width + gap) + width, 6))]
        annotations.append(dict(text=sub, x=(dom[0] + dom[1]) / 2, y=1.0, xref="paper", yref="paper",
                                xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=17)))
        layout["xaxis" if c == 0 else f"xaxis{c + 1}"] = axis("step t", domain=dom, anchor=ya,
                                                              range=[-0.02 * max(T, 1), T * 1.02 + 0.02])
    lo = float(np.min(s["alpha_bar"]))
    pad = max((1.0 - lo) * 0.08, 1e-9)
    std_hi = float(np.max(s["noise_std"]))
    layout["yaxis"] = axis("", range=[lo - pad, 1.0 + pad], tickformat=".6~g", anchor="x")
    layout["yaxis2"] = axis("", range=[-0.05 * max(std_hi, 1e-12), std_hi * 1.08 + 1e-12], tickformat=".3~g",
                            anchor="x2")
    if finite.any():
        v = s["snr"][finite]
        layout["yaxis3"] = axis("", type="log", anchor="x3",
                                range=[float(np.log10(v.min())) - 0.3, float(np.log10(v.max())) + 0.3])
    else:
        layout["yaxis3"] = axis("", type="log", anchor="x3")
        annotations.append(dict(text="no noise: SNR = ∞", xref="x3 domain", yref="y3 domain", x=0.5, y=0.5,
                                showarrow=False, font=dict(size=16)))
    layout.update(shapes=shapes, annotations=annotations)
    return go.Figure(data=data, layout=layout)


def schedule_caption(table: Mapping[str, np.ndarray], t: int) -> str:
    """'At t = 12 of 40, x_t keeps 99.99 % of x0's signal (√ᾱ = 0.99997) and adds noise of std 0.0041 ...'."""
    T = n_steps(table)
    v = terms_at(table, t)
    end = terms_at(table, T)
    if int(t) == 0:
        head = "At t = 0 the vector is the clean history x0 (no noise)."
    else:
        head = (f"At t = {int(t)} of {T}, x_t = {num(v['sqrt_alpha_bar'], 4)}·x0 + {num(v['noise_std'])}·ε: "
                f"signal-to-noise ratio {num(v['snr'])}.")
    return head + f" At the last step (t = {T}) the noise std reaches {num(end['noise_std'])}."


def noise_at_T(configs: Mapping[str, object]) -> Dict[str, float]:
    """Noise std at the last step √(1 - ᾱ_T) of named ``ScheduleConfig``s (invalid ones are skipped)."""
    from diffrec_core.diffusion import GaussianDiffusion

    out = {}
    for name, cfg in configs.items():
        try:
            out[name] = float(GaussianDiffusion(cfg).schedule_table()["noise_std"][-1])
        except ValueError:
            continue
    return out


def noise_at_T_figure(stds: Mapping[str, float], current: Optional[float] = None,
                      current_label: str = "your setting") -> go.Figure:
    """Horizontal bars of the noise std at T for each preset (log x), the current setting highlighted: the
    honest point that DiffRec's tuned noise is tiny next to image diffusion."""
    items = [(k, float(v)) for k, v in stds.items()]
    if current is not None:
        items.append((current_label, float(current)))
    items = [(k, v) for k, v in items if v > 0]
    items.sort(key=lambda kv: kv[1])
    names = [k for k, _ in items]
    vals = np.array([v for _, v in items], dtype=np.float64)
    colors = [COLORS["current"] if k == current_label else
              (COLORS["noise_std"] if "image" in k.lower() else COLORS["alpha_bar"]) for k in names]
    rng = [float(np.log10(vals.min())) - 0.4, float(np.log10(vals.max())) + 0.6] if len(vals) else None
    layout = base_layout("Noise std at the last step, √(1−ᾱ<sub>T</sub>)", height=90 + 40 * max(len(names), 1),
                         legend=False)
    layout.update(xaxis=axis("noise std at T (log scale)", type="log", range=rng),
                  yaxis=axis("", automargin=True, showline=False), margin=dict(l=10, r=60, t=60, b=60))
    bar = dict(type="bar", x=vals, y=names, orientation="h", marker=dict(color=colors),
               text=[num(v) for v in vals], textposition="outside", cliponaxis=False,
               hovertemplate="%{y}: std at T = %{x:.4g}<extra></extra>")
    return go.Figure(data=[bar], layout=layout)


def noise_at_T_caption(stds: Mapping[str, float], current: Optional[float] = None) -> str:
    diffrec = {k: v for k, v in stds.items() if k.lower().startswith("diffrec")}
    image = {k: v for k, v in stds.items() if "image" in k.lower()}
    parts = []
    if diffrec:
        parts.append(f"The authors' tuned DiffRec settings end with noise std {num(min(diffrec.values()))}–"
                     f"{num(max(diffrec.values()))} at T")
    if image:
        parts.append(f"the image-DDPM schedule ends at {num(max(image.values()))}")
    s = "; ".join(parts) + "." if parts else ""
    if current is not None:
        s += f" Your setting: {num(current)}."
        if diffrec and current <= 0.1:
            s += " On {0, 1} histories that barely moves the vector - unlike image diffusion, which ends in pure noise."
    return s.strip()


def beta1_share(table: Mapping[str, np.ndarray]) -> float:
    """β_1's share of the summed noise Σβ (with DiffRec's β₁ fix of 1e-5 it can dominate; docs/methods.md §1.2)."""
    b = np.asarray(table["beta"], dtype=np.float64)
    total = float(b.sum())
    return float(b[0] / total) if total > 0 else 0.0
