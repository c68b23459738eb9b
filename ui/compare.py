"""The honest comparison table of the pretrained sample-world models (``pretrained/results.json``): one seed,
selected on validation, tested once."""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .theme import COLORS, axis, base_layout

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
LABEL = "sample world, one seed, validation-selected, tested once"


def results_frame(results: Mapping, titles: Optional[Mapping[str, str]] = None,
                  kinds: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """One row per method in ``results['methods']``: test metrics, validation Recall@20, best epoch, size, time.
    Rows are sorted by test Recall@20 (best first)."""
    rows = []
    for name, r in (results.get("methods") or {}).items():
        test, valid = r.get("test", {}) or {}, r.get("valid", {}) or {}
        row = {"method": (titles or {}).get(name, name), "key": name,
               "kind": (kinds or {}).get(name, "diffusion" if r.get("diffusion_steps") else "baseline")}
        for m in METRICS:
            row[f"test {m.replace('recall', 'Recall').replace('ndcg', 'NDCG')}"] = test.get(m, np.nan)
        row["valid Recall@20"] = valid.get("recall@20", np.nan)
        row["best epoch"] = r.get("best_epoch")
        row["parameters"] = r.get("parameters")
        row["diffusion steps"] = r.get("diffusion_steps")
        row["train s"] = r.get("train_seconds")
        row["protocol"] = str(r.get("protocol") or r.get("split") or results.get("protocol") or "")
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("test Recall@20", ascending=False, na_position="last").reset_index(drop=True)
    return df


def results_figure(df: pd.DataFrame, metric: str = "test Recall@20") -> go.Figure:
    """Horizontal bars of one metric, diffusion methods and baselines in different colours and patterns."""
    fig = go.Figure()
    if len(df):
        d = df.sort_values(metric, ascending=True)
        for kind, color, pattern in (("diffusion", COLORS["diffusion"], ""), ("baseline", COLORS["baseline"], "/")):
            part = d[d["kind"] == kind]
            fig.add_trace(go.Bar(x=part[metric], y=part["method"], orientation="h", name=kind,
                                 marker=dict(color=color, pattern=dict(shape=pattern, fgcolor="white")),
                                 text=[f"{v:.3f}" for v in part[metric]], textposition="outside", cliponaxis=False,
                                 hovertemplate="%{y}: %{x:.4f}<extra>" + kind + "</extra>"))
        hi = float(np.nanmax(df[metric])) if df[metric].notna().any() else 1.0
        fig.update_xaxes(range=[0, hi * 1.2 if hi > 0 else 1])
    fig.update_layout(**base_layout(f"{metric} ({LABEL})", height=120 + 46 * max(len(df), 1), barmode="overlay"))
    fig.update_xaxes(axis(metric))
    fig.update_yaxes(axis("", automargin=True, categoryorder="trace"))
    return fig


def results_caption(df: pd.DataFrame, metric: str = "test Recall@20") -> str:
    if not len(df):
        return "No pretrained results yet: run `python -m diffrec_core pretrain`."
    d = df.dropna(subset=[metric]).sort_values(metric, ascending=False)
    best = d.iloc[0]
    s = f"On the sample world, {best['method']} leads on {metric} ({best[metric]:.3f})."
    diff = d[d["kind"] == "diffusion"]
    base = d[d["kind"] == "baseline"]
    if len(diff) and len(base):
        bd, bb = diff.iloc[0], base.iloc[0]
        rel = "above" if bd[metric] > bb[metric] else "below"
        s += (f" The best diffusion model ({bd['method']}, {bd[metric]:.3f}) is {rel} the best baseline "
              f"({bb['method']}, {bb[metric]:.3f}).")
    elif not len(base):
        s += " No baseline results yet, so this table cannot tell whether diffusion helps."
    return s + " One seed: differences of a few thousandths are within noise."
