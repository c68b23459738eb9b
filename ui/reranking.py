"""Reranking views (DCDR, a reconstruction): read from a DCDR ``Trajectory`` and plain arrays only.

* the list at every reverse step as a grid (rows: x_init, each reverse step, the evaluator's pick; columns:
  positions), entries coloured by genre, the entries a step changed outlined;
* the beams of a step with their moves, cumulative log-probabilities and evaluator scores;
* the comparison with every baseline on the same list: true expected utility (the sample world's known model),
  the evaluator's Û, genre diversity and the positions that moved, plus a bump chart of the moves;
* the equation of the current reverse step with its live numbers.

DCDR trajectory mapping (``diffrec_core.methods.dcdr``): ``steps`` = the reverse step k of each shown step, then 0
for the evaluator's selection; ``states[s, 0]`` the best beam's list entering step s, ``x0_hat[s, 0]`` after it
(the last: the output); ``meta['beams'][s]`` the beams after step s (``[0]`` = x_init).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .cite import link
from .equations import Equation
from .fmt import num, plural, tex
from .theme import COLORS, GENRE_COLORS, GREY, OKABE_ITO, axis, base_layout

CONDITION_LABELS = {"like": "likes at every position (click + like)", "click": "clicks only (click, no like)",
                    "none": "no condition (unconditioned)"}
VARIANT_LABELS = {"P": "DCDR-P · swaps", "T": "DCDR-T · replacements"}
REFERENCE_TAG = "(ground truth)"          # rows built from the sample world's truth: references, not methods


def is_reference(name: str) -> bool:
    """A comparison row computed from the sample world's ground truth (an oracle list), not by a method."""
    return REFERENCE_TAG in str(name)


RECON_NOTE = ("DCDR has no public code. This is the project's reconstruction from the paper ("
              + link("2.7") + "): the forward processes, the network, the beam search and the stopping rules are our "
              "design choices.")



def follow_caption(sidebar_user: int, user: int, sidebar_sessions: Sequence[int], same_world: bool = True,
                   n_users_with_sessions: Optional[int] = None) -> str:
    """Whether the shown session is the sidebar user's, and why not where it is not (every page follows the
    sidebar's user; the reranking logs hold held-out sessions of only some users, and of the sample world only)."""
    if not same_world:
        return (f"The reranking logs are the sample world's; the sidebar's data set is another one, so its user "
                f"{sidebar_user} is not followed here.")
    if not sidebar_sessions:
        some = f" (they hold sessions of {n_users_with_sessions} users)" if n_users_with_sessions else ""
        return (f"The sidebar's user {sidebar_user} has no held-out session in the reranking logs{some}, so this "
                f"is another user's session.")
    listed = ", ".join(map(str, list(sidebar_sessions)[:4])) + (" …" if len(sidebar_sessions) > 4 else "")
    if int(user) == int(sidebar_user):
        return f"The sidebar's user; their held-out sessions: {listed}."
    return (f"Not the sidebar's user {sidebar_user} (picked here); the sidebar user's held-out sessions: "
            f"{listed}.")

def short(title: str, n: int = 15) -> str:
    t = str(title)
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


# ------------------------------------------------------------------------------------------------ the record
def grid_rows(traj) -> List[dict]:
    """The rows of the step grid: x_init, one row per reverse step, then the evaluator's pick (item ids)."""
    kinds = list(traj.meta.get("step_kinds", []))
    rows = [{"label": "x_init (start)", "items": [int(v) for v in traj.states[0, 0]], "kind": "start", "k": None}]
    for s, k in enumerate(traj.steps):
        kind = kinds[s] if s < len(kinds) else ("select" if int(k) == 0 else "reverse")
        label = f"step {s + 1} · k = {int(k)}" if kind == "reverse" else "output (evaluator's pick)"
        rows.append({"label": label, "items": [int(v) for v in traj.x0_hat[s, 0]], "kind": kind, "k": int(k)})
    return rows


def changed_mask(rows: List[dict]) -> List[np.ndarray]:
    """Per row, the positions whose entry differs from the row above (all False for the first row)."""
    out = [np.zeros(len(rows[0]["items"]), dtype=bool)]
    for a, b in zip(rows[:-1], rows[1:]):
        x, y = np.asarray(a["items"]), np.asarray(b["items"])
        m = min(len(x), len(y))
        out.append(np.r_[x[:m] != y[:m], np.ones(len(y) - m, dtype=bool)])
    return out


def step_moves(traj) -> List[str]:
    """What each reverse step did to the best beam (its move), and the selection's source."""
    beams = traj.meta.get("beams", [])
    out = []
    for s in range(1, len(beams)):
        out.append(beams[s][0].get("move", "") if beams[s] else "")
    out.append(f"picked {pick_label(traj)}")
    return out


def beam_label(traj, s: int, b: int) -> str:
    """The one name of beam ``b`` (0-based) after reverse step ``s`` (1-based; 0 = x_init): "k = 3 · beam 2", the
    reverse step's k as in the grid's rows, not the step's running number."""
    if int(s) <= 0:
        return "x_init"
    k = int(traj.steps[int(s) - 1]) if int(s) - 1 < len(traj.steps) else int(s)
    return f"k = {k} · beam {int(b) + 1}"


def pick_label(traj) -> str:
    """The evaluator's pick in the grid's labelling (from ``meta['output_at']``; the core's text if absent)."""
    at = traj.meta.get("output_at")
    if at is None or len(at) != 2:
        return str(traj.meta.get("output_from", "?"))
    return beam_label(traj, int(at[0]), int(at[1]))


def stop_sentence(meta: dict) -> str:
    """Why the run stopped, said for the beam width it ran with (the no-op rule reads differently for B = 1)."""
    stop, B = meta.get("stop"), meta.get("beam")
    if stop == "no-op":
        if B is not None and int(B) == 1:
            return "the most likely move was the no-op: the list stopped changing"
        return (f"all {plural(int(B), 'beam')} came out as the lists they went in: the lists stopped changing"
                if B is not None else "the lists stopped changing")
    return str(meta.get("stop_text", "?"))


# ------------------------------------------------------------------------------------------------ figures
def beam_rows(traj) -> List[dict]:
    """Every list the run met, for the grid: x_init, every beam of every reverse step (``group`` = the step,
    ``parent`` = the list it came from), then the evaluator's pick (compared with x_init)."""
    m = traj.meta
    beams = m.get("beams") or [[{"items": [int(v) for v in traj.states[0, 0]], "move": "start"}]]
    out_at = list(m.get("output_at", [-1, -1]))
    x_init = [int(v) for v in beams[0][0]["items"]]
    rows = [{"label": "x_init", "sub": "the input list", "items": x_init, "parent": None, "group": 0,
             "chosen": out_at == [0, 0]}]
    for s in range(1, len(beams)):
        for b, bm in enumerate(beams[s]):
            par = bm.get("parent", 0)
            parent = beams[s - 1][par]["items"] if 0 <= par < len(beams[s - 1]) else None
            rows.append({"label": beam_label(traj, s, b),
                         "sub": f"{bm.get('move', '')} · Û {num(bm.get('u_hat', np.nan))}",
                         "items": [int(v) for v in bm["items"]], "parent": parent, "group": s,
                         "chosen": out_at == [s, b]})
    rows.append({"label": "output", "sub": f"evaluator's pick: {pick_label(traj)}",
                 "items": [int(v) for v in traj.x0_hat[-1, 0]], "parent": x_init, "group": len(beams),
                 "chosen": False})
    return rows


def _wrap(title: str, width: int = 9) -> str:
    """A title on at most two short lines (for a grid cell)."""
    words, lines, cur = str(title).split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    if len(lines) > 2:
        lines = [lines[0], short(" ".join(lines[1:]), width)]
    return "<br>".join(short(x, width + 1) for x in lines)


def steps_figure(traj, titles: Sequence[str], item_genre: Sequence[int], genre_names: Sequence[str],
                 current: Optional[int] = None, height: Optional[int] = None) -> go.Figure:
    """Every list the run met: x_init on top, then each reverse step's beams, then the evaluator's pick; one
    column per position. Each entry is a cell coloured by its genre with its title; entries that differ from the
    list they came from (the pick: from x_init) are outlined in black; the picked beam is starred. ``current``
    (a step: 0 = x_init, 1.. = reverse steps, last = the pick) is shaded."""
    rows = beam_rows(traj)
    R, L = len(rows), max(len(r["items"]) for r in rows)
    xs, base, text, hover, colors, lw, gidx = [], [], [], [], [], [], []
    for r, row in enumerate(rows):
        par = row["parent"]
        for p, it in enumerate(row["items"]):
            g = int(item_genre[it]) if 0 <= it < len(item_genre) else 0
            changed = par is not None and (p >= len(par) or int(par[p]) != it)
            name = titles[it] if 0 <= it < len(titles) else str(it)
            xs.append(p + 1)
            base.append(r - 0.42)
            text.append(_wrap(name))
            hover.append(f"{name}<br>{genre_names[g]} · item {it}<br>{row['label']}, position {p + 1}"
                         + ("<br><b>changed here</b>" if changed else ""))
            colors.append(GENRE_COLORS[g % len(GENRE_COLORS)])
            lw.append(3.5 if changed else 0.0)
            gidx.append(g)
    fig = go.Figure(go.Bar(
        x=xs, y=[0.84] * len(xs), base=base, width=0.92, text=text, textposition="inside", textangle=0,
        insidetextanchor="middle", constraintext="none", textfont=dict(size=11, color="white"),
        hovertext=hover, hoverinfo="text", showlegend=False, name="entries",
        marker=dict(color=colors, line=dict(color=OKABE_ITO["black"], width=lw), opacity=0.92)))
    for g in sorted(set(gidx)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=genre_names[g],
                                 marker=dict(symbol="square", size=14, color=GENRE_COLORS[g % len(GENRE_COLORS)])))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="changed",
                             marker=dict(symbol="square-open", size=14, color=OKABE_ITO["black"],
                                         line=dict(width=3))))
    shapes = []
    if current is not None:
        band = [r for r, row in enumerate(rows) if row["group"] == int(current)]
        if band:
            shapes.append(dict(type="rect", xref="paper", yref="y", x0=0, x1=1, y0=min(band) - 0.5,
                               y1=max(band) + 0.5, fillcolor="rgba(230, 159, 0, 0.22)", line=dict(width=0),
                               layer="below"))
    labels = [("★ " if row["chosen"] else "") + f"<b>{row['label']}</b><br><span style='font-size:12px'>"
              f"{row['sub']}</span>" for row in rows]
    fig.update_layout(**base_layout(height=height or 120 + 52 * R, legend=True), shapes=shapes, bargap=0,
                      barmode="overlay",
                      xaxis=axis("position", tickmode="array", tickvals=list(range(1, L + 1)), range=[0.5, L + 0.5],
                                 showgrid=False, zeroline=False),
                      yaxis=axis("", tickmode="array", tickvals=list(range(R)), ticktext=labels,
                                 range=[R - 0.5, -0.5], showgrid=False, zeroline=False))
    fig.update_layout(margin=dict(l=200, r=10, t=60, b=60))
    return fig


def moves_figure(before: Sequence[int], after: Sequence[int], titles: Sequence[str],
                 label_after: str = "output") -> go.Figure:
    """A bump chart of a rerank: each item a line from its input position (left) to its output position
    (right); items that left the list end at 'out', items that came in start at 'in'."""
    before, after = [int(v) for v in before], [int(v) for v in after]
    L = max(len(before), len(after))
    fig = go.Figure()
    pos_a = {it: p + 1 for p, it in enumerate(after)}
    pos_b = {it: p + 1 for p, it in enumerate(before)}
    groups = {True: ([], [], []), False: ([], [], [])}       # moved?: xs, ys, hover
    for it in dict.fromkeys(before + after):
        y0, y1 = pos_b.get(it, L + 1), pos_a.get(it, L + 1)
        xs, ys, hv = groups[y0 != y1]
        label = (f"{titles[it] if 0 <= it < len(titles) else it}: {y0 if y0 <= L else 'in'} → "
                 f"{y1 if y1 <= L else 'out'}")
        xs += [0, 1, None]
        ys += [y0, y1, None]
        hv += [label, label, None]
    for moved in (False, True):
        xs, ys, hv = groups[moved]
        color = COLORS["topk"] if moved else COLORS["other"]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", showlegend=False, hovertext=hv,
                                 hoverinfo="text", name="moved" if moved else "kept its position",
                                 line=dict(color=color, width=4 if moved else 2), marker=dict(size=9, color=color)))
    ticks = list(range(1, L + 2))
    fig.add_trace(go.Scatter(x=[-0.06] * len(before), y=[pos_b[i] for i in before], mode="text",
                             showlegend=False, text=[short(titles[i], 17) for i in before],
                             textposition="middle left", textfont=dict(size=12), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[1.06] * len(after), y=[pos_a[i] for i in after], mode="text", showlegend=False,
                             text=[short(titles[i], 17) for i in after], textposition="middle right",
                             textfont=dict(size=12), hoverinfo="skip"))
    fig.update_layout(**base_layout(height=90 + 34 * (L + 1), legend=False),
                      xaxis=axis("", tickmode="array", tickvals=[0, 1], ticktext=["input", label_after],
                                 range=[-1.65, 2.6], showgrid=False, zeroline=False),
                      yaxis=axis("", tickmode="array", tickvals=ticks,
                                 ticktext=[str(t) for t in ticks[:-1]] + ["in / out"], range=[L + 1.5, 0.5],
                                 showgrid=False))
    return fig


def utility_figure(df: pd.DataFrame, best: Optional[float] = None, start: Optional[float] = None) -> go.Figure:
    """Horizontal bars of the true expected utility of each method's list on a zero-based axis (bar lengths are
    the utilities, so a difference of 0.15 on 2.8 looks as small as it is); the value at each bar's end, the best
    possible list and the input list as vertical lines. Ground-truth reference rows are grey."""
    d = df.sort_values("expected utility", ascending=True)
    colors = [COLORS["diffusion"] if str(m).startswith("DCDR") else GREY if is_reference(m)
              else COLORS["baseline"] for m in d["method"]]
    fig = go.Figure(go.Bar(x=d["expected utility"], y=d["method"], orientation="h", marker_color=colors,
                           text=[num(v) for v in d["expected utility"]], textposition="outside",
                           hovertemplate="%{y}: U = %{x:.3f}<extra></extra>", showlegend=False))
    shapes = []
    hi = max(float(d["expected utility"].max()), 0.0) if len(d) else 1.0
    for val, dash, color in ((best, "dash", OKABE_ITO["green"]), (start, "dot", OKABE_ITO["black"])):
        if val is not None and np.isfinite(val):
            shapes.append(dict(type="line", xref="x", yref="paper", x0=val, x1=val, y0=0, y1=1,
                               line=dict(color=color, width=2, dash=dash)))
            hi = max(hi, float(val))
    lo = min(0.0, float(d["expected utility"].min())) if len(d) else 0.0
    fig.update_layout(**base_layout(height=110 + 38 * len(d), legend=False), shapes=shapes,
                      xaxis=axis("true expected utility U (sample world)", range=[lo, 1.15 * max(hi, 1e-9)],
                                 zeroline=True),
                      yaxis=axis("", showgrid=False))
    return fig


# ------------------------------------------------------------------------------------------------ tables
def beams_frame(traj, step: int, titles: Sequence[str], width: int = 16) -> pd.DataFrame:
    """The beams after reverse step ``step`` (0 = x_init): move, cumulative log-probability, Û, the list."""
    beams = traj.meta.get("beams", [])
    if not beams:
        return pd.DataFrame(columns=["beam", "move", "log-prob", "Û (evaluator)", "list"])
    step = min(max(int(step), 0), len(beams) - 1)
    rows = []
    for i, b in enumerate(beams[step]):
        rows.append({"beam": i + 1, "move": b.get("move", ""), "log-prob": float(b.get("logp", 0.0)),
                     "Û (evaluator)": float(b.get("u_hat", np.nan)),
                     "list": " › ".join(short(titles[it], width) for it in b.get("items", []))})
    return pd.DataFrame(rows)


def diversity_stats(items: Sequence[int], item_genre: Sequence[int], k: int = 5) -> dict:
    g = [int(item_genre[i]) for i in items]
    seen, rep = set(), 0
    for x in g:
        rep += int(x in seen)
        seen.add(x)
    return {"genres": len(set(g)), f"genres top-{k}": len(set(g[:k])), "repeats": rep}


def compare_frame(entries: Dict[str, dict], before: Sequence[int], item_genre: Sequence[int],
                  titles: Sequence[str]) -> pd.DataFrame:
    """One row per method: ``entries[name] = {'items': [...], 'utility': U, 'u_hat': Û}``. Adds the gain over the
    input list, genre diversity and the positions that moved (1-based)."""
    before = [int(v) for v in before]
    rows = []
    base = entries.get("_input", {}).get("utility")
    for name, e in entries.items():
        if name.startswith("_"):
            continue
        items = [int(v) for v in e["items"]]
        m = min(len(items), len(before))
        moved = [p + 1 for p in range(m) if items[p] != before[p]]
        new = [it for it in items if it not in before]
        d = diversity_stats(items, item_genre)
        rows.append({
            "method": name, "expected utility": float(e["utility"]),
            "gain vs input": float(e["utility"] - base) if base is not None else np.nan,
            "Û (evaluator)": float(e.get("u_hat", np.nan)),
            "genres": d["genres"], "genres top-5": d["genres top-5"], "same-genre repeats": d["repeats"],
            "moved": len(moved), "positions moved": ", ".join(map(str, moved)) or "–",
            "new items": len(new),
            "list": " › ".join(short(titles[it], 14) for it in items)})
    return pd.DataFrame(rows)


def candidates_frame(candidates: Sequence[int], in_list: Sequence[int], titles: Sequence[str],
                     genre_of: Sequence[int], genre_names: Sequence[str], scores: Optional[Dict[int, float]] = None,
                     truth: Optional[Sequence[float]] = None) -> pd.DataFrame:
    """The request's candidates in the ranker's order: ranker rank, title, genre, position in the current list,
    the evaluator's item score (where computed) and, separately labelled, the ground-truth relevance."""
    pos = {int(it): p + 1 for p, it in enumerate(in_list)}
    rows = []
    for r, it in enumerate(candidates):
        it = int(it)
        row = {"ranker rank": r + 1, "item": it, "title": titles[it], "genre": genre_names[int(genre_of[it])],
               "in list at": pos.get(it)}
        if scores is not None:
            row["evaluator score"] = scores.get(it, np.nan)
        if truth is not None:
            row["true relevance s (ground truth)"] = float(truth[r])
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ captions
def run_caption(traj, titles: Sequence[str]) -> str:
    m = traj.meta
    n_rev = sum(1 for k in m.get("step_kinds", []) if k == "reverse")
    cond = CONDITION_LABELS.get(m.get("condition", ""), m.get("condition", ""))
    u0, u1 = m.get("u_init", np.nan), m.get("u_output", np.nan)
    src = pick_label(traj)
    what = ("kept the input list" if src == "x_init" else f"picked the list of {src}")
    return (f"{VARIANT_LABELS.get(m.get('variant'), 'DCDR')}, beam width B = {m.get('beam')}, condition: {cond}. "
            f"It ran {plural(n_rev, 'reverse step')} and stopped because {stop_sentence(m)}. "
            f"The evaluator {what}: Û {num(u0)} → {num(u1)}.")


def step_caption(traj, row: int, titles: Sequence[str]) -> str:
    rows = grid_rows(traj)
    row = min(max(int(row), 0), len(rows) - 1)
    if row == 0:
        return ("x_init is the upstream ranker's list (or the list you built): DCDR treats it as a noisy list at "
                f"step k = {int(traj.steps[0]) if len(traj.steps) else '?'} and denoises from there.")
    r = rows[row]
    if r["kind"] == "select":
        return (f"The evaluator scores x_init and every beam it met and keeps the best ({pick_label(traj)}"
                f", Û {num(traj.meta.get('u_output', np.nan))}).")
    moves = step_moves(traj)
    beams = traj.meta.get("beams", [])
    nb = len(beams[row]) if row < len(beams) else 0
    best = beams[row][0] if nb else {}
    return (f"Reverse step {row} (k = {r['k']}): every beam proposed its most likely moves; the {plural(nb, 'list')} "
            f"with the highest cumulative log-probability survive. The best beam's move: {moves[row - 1]} "
            f"(log-prob {num(best.get('logp', np.nan))}, Û {num(best.get('u_hat', np.nan))}).")


def compare_caption(df: pd.DataFrame, best_u: float) -> str:
    """The best method on this list (ground-truth reference rows excluded: they are oracles, not methods), its
    gain over the input, how far it is from the best possible list, and what DCDR did."""
    if not len(df):
        return ""
    d = df[~df["method"].map(is_reference)].sort_values("expected utility", ascending=False)
    ref = f"the best possible list of these candidates (a ground-truth reference, not a method) reaches {num(best_u)}"
    if not len(d):
        return f"No method ran; {ref}."
    top = d.iloc[0]
    gap = float(best_u) - float(top["expected utility"])
    s = (f"On this list the best method is {top['method']} (U = {num(top['expected utility'])}, "
         f"{num(top['gain vs input'])} over the input); {ref}"
         + (f", {num(gap)} above it." if np.isfinite(gap) and gap > 0 else ", and the method matches it."))
    dc = d[d["method"].str.startswith("DCDR")]
    if len(dc):
        r = dc.iloc[0]
        s += (f" {r['method']} reaches {num(r['expected utility'])} and moved {plural(int(r['moved']), 'position')}.")
    return s + " U is the sample world's exact expected utility; no real data set can give it."


# ------------------------------------------------------------------------------------------------ equation
def step_equation(traj, row: int) -> Equation:
    """The reverse step of the selected grid row with its live numbers."""
    m = traj.meta
    variant = m.get("variant", "P")
    rows = grid_rows(traj)
    row = min(max(int(row), 0), len(rows) - 1)
    betas = np.asarray(traj.betas, dtype=np.float64)
    k = rows[row]["k"] if rows[row]["kind"] == "reverse" else (int(traj.steps[0]) if row == 0 and len(traj.steps)
                                                                 else None)
    beams = m.get("beams", [])
    best = beams[row][0] if 0 < row < len(beams) and beams[row] else {}
    if variant == "P":
        general = (r"\begin{aligned} o_k &\sim p_\theta(o \mid x_k, k, y)"
                   r"\\ x_{k-1} &= o_k(x_k) \end{aligned}")
    else:
        general = (r"\begin{aligned} q(x_{k-1}{=}c \mid a, \hat x_0) \propto{} &\big[\alpha_k\delta_{ac}"
                   r" + \tfrac{\beta_k}{n}\big] \\ \cdot &\big[\bar\alpha_{k-1}\hat p_0(c)"
                   r" + \tfrac{1-\bar\alpha_{k-1}}{n}\big] \end{aligned}")
    terms = []
    if k is not None and 1 <= k <= len(betas):
        bk = betas[k - 1]
        terms.append(("βₖ", num(bk), "the forward step's corruption rate at this k"))
        if variant == "P":
            terms.append(("P(no-op) prior", num(1 - bk), "1 − β_k: the forward step did nothing"))
            live = rf"k = {k}:\ \beta_k = {tex(bk)},\ \textstyle\sum\log p = {tex(best.get('logp', np.nan))}"
        else:
            ab_prev = float(np.prod(1 - betas[: k - 1])) if k >= 2 else 1.0
            terms.append(("ᾱₖ₋₁", num(ab_prev), "P(an entry is untouched after k − 1 steps)"))
            live = rf"k = {k}:\ \alpha_k = {tex(1 - bk)},\ \bar\alpha_{{k-1}} = {tex(ab_prev)}"
    else:
        live = rf"\arg\max \hat U:\ {tex(m.get('u_init', np.nan))} \to {tex(m.get('u_output', np.nan))}"
    terms.append(("Û best", num(best.get("u_hat", m.get("u_output", np.nan))),
                  "the evaluator's expected utility Σ_p (w_click p̂_click + w_like p̂_like)"))
    if best.get("move"):
        terms.append(("best move", str(best["move"]), "what this step did to the best beam"))
    terms.append(("beam B", str(m.get("beam", "?")), "lists kept per step"))
    title = f"{VARIANT_LABELS.get(variant, 'DCDR')} · " + (f"reverse step k = {k}" if k else "selection")
    return Equation(title, general, live, terms,
                    note=("Reconstruction (" + link("2.7") + "). DCDR-P: softmax over the no-op and the pair logits "
                          "(W_q h_i)ᵀ(W_k h_j)/√d; swaps are self-inverse. DCDR-T: the network predicts x0 per "
                          "position. Steps count down from T_inf to 1."))
