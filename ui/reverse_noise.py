"""Which interactions the model's x̂0 demotes, read from a ``Trajectory``: per training item x̂0 ÷ x0 at a step,
and how well that ratio separates the injected-noise interactions (sample-world ground truth, never shown to the
models) from the genuine ones. A denoiser should keep genuine interactions and drop the noise."""
from __future__ import annotations

from typing import Optional

import numpy as np
import plotly.graph_objects as go

from .data import UserProfile
from .fmt import plural
from .reverse import item_x0hat
from .theme import COLORS, axis, base_layout, vline


def demotion_table(traj, i: int, profile: UserProfile, x0: Optional[np.ndarray] = None, titles=None, row: int = 0):
    """Per training item at step i: x0 (the diffused input value), x̂0, kept = x̂0 / x0 (the share of the
    interaction the model keeps), noise flag, and rank 1 = the most demoted. ``None`` where the record has no
    item-space x̂0 for training items (latent methods mask them)."""
    import pandas as pd

    items = np.asarray(profile.train, dtype=np.int64)
    xhat = item_x0hat(traj, row)[int(i)]
    if len(items) == 0 or not np.isfinite(xhat[items]).all():
        return None
    base = np.ones(len(items)) if x0 is None else np.asarray(x0, dtype=np.float64)[items]
    base = np.where(base > 0, base, 1.0)
    kept = xhat[items] / base
    noise = np.isin(items, profile.noise)
    df = pd.DataFrame({"item": items, "title": [str(titles[j]) if titles is not None else "" for j in items],
                       "x0": base, "x0_hat": xhat[items], "kept": kept, "injected_noise": noise})
    df = df.sort_values(["kept", "item"]).reset_index(drop=True)
    df["demotion_rank"] = np.arange(1, len(df) + 1)
    return df


def demotion_stats(df) -> dict:
    """AUC = P(kept[noise] < kept[genuine]) (ties half; 0.5 = chance, 1 = every noise item is demoted below
    every genuine one) and how many noise items sit among the n_noise most-demoted items."""
    if df is None:
        return {"n": 0, "n_noise": 0, "auc": float("nan"), "noise_in_bottom": 0}
    noise = df["injected_noise"].to_numpy()
    kept = df["kept"].to_numpy()
    n_noise = int(noise.sum())
    out = {"n": int(len(df)), "n_noise": n_noise, "auc": float("nan"), "noise_in_bottom": 0}
    if n_noise and n_noise < len(df):
        a, b = kept[noise][:, None], kept[~noise][None, :]
        out["auc"] = float(((a < b).sum() + 0.5 * (a == b).sum()) / (n_noise * (len(df) - n_noise)))
    if n_noise:
        out["noise_in_bottom"] = int(noise[:n_noise].sum())     # df is sorted by kept, most demoted first
    return out


def demotion_figure(df, step_text: str = "", max_items: int = 30) -> go.Figure:
    """x̂0 / x0 of each training item at this step, most demoted on top; injected noise in vermillion with
    a hatch pattern (not colour alone)."""
    if df is None or not len(df):
        return go.Figure(layout=base_layout("Which interactions x̂0 demotes (nothing to show)", height=260))
    shown = df
    if len(df) > max_items:
        keep = df["injected_noise"].to_numpy() | (df["demotion_rank"].to_numpy() <= max_items)
        shown = df[keep].head(max(max_items, int(df["injected_noise"].sum())))
    labels = [f"{t[:26]}{'…' if len(t) > 26 else ''} ({int(i)})" for t, i in zip(shown["title"], shown["item"])]
    noise = shown["injected_noise"].to_numpy()
    data = [dict(type="bar", x=shown["kept"].to_numpy(np.float32), y=labels, orientation="h", showlegend=False,
                 marker=dict(color=[COLORS["noise"] if n else COLORS["interacted"] for n in noise],
                             pattern=dict(shape=["/" if n else "" for n in noise], fgcolor="white", size=8)),
                 customdata=np.where(noise, "injected noise", "genuine"),
                 hovertemplate="%{y}<br>x̂0 / x0 = %{x:.3f}<extra>%{customdata}</extra>")]
    for name, color, pattern in (("injected noise (ground truth)", COLORS["noise"], "/"),
                                 ("genuine interaction", COLORS["interacted"], "")):
        data.append(dict(type="bar", x=[None], y=[None], name=name, orientation="h",
                         marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white"))))
    vals = shown["kept"].to_numpy(np.float64)
    lo = min(0.0, float(np.nanmin(vals)) * 1.1)
    hi = max(1.05, float(np.nanmax(vals)) * 1.08)
    title = "Training items by x̂<sub>0</sub> ÷ x<sub>0</sub>, most demoted on top"
    title += f" ({step_text})" if step_text else ""
    layout = base_layout(title, height=max(300, 26 * len(shown) + 150))
    layout.update(xaxis=axis("x̂0 ÷ x0  (1 = kept as it was)", range=[lo, hi]),
                  yaxis=axis("", autorange="reversed", automargin=True, tickfont=dict(size=13)),
                  shapes=[vline(1.0, color="#555", width=1.5)])
    if len(df) > len(shown):
        note = f"showing {len(shown)} of {len(df)} training items (all injected-noise ones)"
        layout["annotations"] = [dict(text=note,
                                      x=1, y=-0.12, xref="paper", yref="paper", xanchor="right", showarrow=False,
                                      font=dict(size=13))]
    return go.Figure(data=data, layout=layout)

def demotion_caption(stats: dict, has_truth: bool = True, latent: bool = False) -> str:
    if latent:
        return ("L-DiffRec's recorded scores mask the user's training items, so its demotion of injected noise "
                "cannot be read from the trajectory.")
    if not has_truth:
        return "This data set has no ground truth about noise interactions."
    if stats["n"] == 0:
        return "This user has no training interactions."
    if stats["n_noise"] == 0:
        return (f"None of this user's {stats['n']} training interactions is injected noise; pick another user to "
                "see demotion.")
    if stats["n_noise"] == stats["n"]:
        return "Every training interaction of this user is injected noise, so there is nothing to compare."
    auc = stats["auc"]
    verdict = ("better than chance" if auc > 0.6 else "no better than chance" if auc >= 0.4 else "worse than chance")
    return (f"{stats['noise_in_bottom']} of the user's {plural(stats['n_noise'], 'injected-noise interaction')} "
            f"rank among the {stats['n_noise']} most demoted of {stats['n']} training items; noise-vs-genuine AUC "
            f"{auc:.2f} ({verdict}; 0.5 = chance).")

