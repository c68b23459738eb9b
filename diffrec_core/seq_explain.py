"""What the Embeddings page asks of DiffuRec and DreamRec beyond ``trajectory(split, users)``: a reverse run from
*any* history (a user's, or one built by hand), from a given x_T, with the guidance weight w or DiffuRec's λ
overridden; the same starting noise across several settings; the forward noising of one item embedding.

Everything goes through the models' public pieces - ``represent`` + ``denoiser`` (DiffuRec), ``tenc.cacu_h`` +
``tenc.guided`` (DreamRec), ``logits``, and the shared ``GaussianDiffusion`` samplers - so the page shows exactly
the arithmetic that ``score`` ranks with. With a user's own history and the same seed, :func:`reverse` equals
``model.trajectory(split, [user], seed=seed)`` step for step (tested).

Random streams. ``reverse`` draws from one CPU generator seeded with ``seed`` in the models' own order (x_T, then
per step: DiffuRec's λ, then the step noise), so a run is reproducible on any device. "The same starting noise"
across settings means the same x_T *and* the same step noises: :func:`guidance_sweep` draws them once and shares
them across the w values (DreamRec draws no λ, so its w = 2 sweep row equals ``reverse(w=2)`` with that seed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch

from .methods.base import build_trajectory
from .methods.seq_common import cpu_generator, seeded_dropout, window
from .trajectory import Trajectory

SEQ_METHODS = ("diffurec", "dreamrec")


# ---------------------------------------------------------------------------------------------- histories
@dataclass
class HistoryCheck:
    """A history cleaned for a model: the item ids kept (oldest first) and what was wrong with the input."""

    items: np.ndarray
    unknown: List[str] = field(default_factory=list)
    duplicates: List[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return len(self.items) == 0

    def problems(self, titles: Optional[Sequence[str]] = None) -> List[str]:
        """Plain sentences for the page about the input (unknown items, repeated items); see ``empty_message``."""
        out = []
        if self.unknown:
            shown = ", ".join(repr(u) for u in self.unknown[:5]) + (" …" if len(self.unknown) > 5 else "")
            out.append(f"{len(self.unknown)} unknown item{'s' if len(self.unknown) != 1 else ''} ignored: {shown}. "
                       "Use item ids (0 … N−1) or exact titles.")
        if self.duplicates:
            names = [_name(i, titles) for i in self.duplicates[:5]]
            out.append(f"Repeated item{'s' if len(self.duplicates) != 1 else ''} kept once, at the latest position: "
                       f"{', '.join(names)}. (The sample world's sequences never repeat an item.)")
        return out

    empty_message = "The history is empty: add at least one item the model can read."


def _name(i: int, titles) -> str:
    return f"{titles[i]} (#{i})" if titles is not None and 0 <= i < len(titles) else f"#{i}"


def clean_history(raw: Iterable, n_items: int, titles: Optional[Sequence[str]] = None) -> HistoryCheck:
    """Turn user input (item ids, numeric strings or exact titles, oldest first) into a valid history.

    Unknown entries are dropped and reported; a repeated item is kept once, at its latest position (a sequence
    model reads recency, and the training sequences never repeat an item, so the input stays in distribution).
    """
    by_title = {str(t).strip().lower(): i for i, t in enumerate(titles)} if titles is not None else {}
    ids, unknown = [], []
    for r in raw if raw is not None else []:
        i = None
        if isinstance(r, (int, np.integer)) and not isinstance(r, bool):
            i = int(r)
        elif isinstance(r, str) and r.strip():
            s = r.strip()
            if s.lstrip("#").isdigit():
                i = int(s.lstrip("#"))
            else:
                i = by_title.get(s.lower())
        if i is None or not 0 <= i < int(n_items):
            if not (isinstance(r, str) and not r.strip()):
                unknown.append(str(r).strip())
            continue
        ids.append(i)
    last = {i: p for p, i in enumerate(ids)}
    kept = [i for p, i in enumerate(ids) if last[i] == p]
    dups = sorted({i for i in ids if ids.count(i) > 1}, key=lambda i: last[i])
    return HistoryCheck(np.asarray(kept, dtype=np.int64), unknown, dups)


def user_history(model, split, user: int, which: str = "valid"):
    """A user's chronological history as the model reads it for ``which`` and the held-out next item
    ('valid': the training sequence and the validation item; 'test': + the validation item, and the test item)."""
    seq = model.seq_data(split)
    s = seq.test if which == "test" else seq.train
    u = int(user)
    items = s.items[s.indptr[u]:s.indptr[u + 1]].copy()
    row = (split.test if which == "test" else split.valid)[u]
    target = int(row.indices[0]) if row.nnz else None
    return items, target


def window_len(model) -> int:
    """How many of the latest items the model reads (DiffuRec ``max_len``, DreamRec ``seq_len``)."""
    c = model.config
    return int(getattr(c, "max_len", None) or c.seq_len)


# ---------------------------------------------------------------------------------------------- conditioning
def _hist_window(items, L: int, pad: int, left_pad: bool):
    items = np.asarray(items, dtype=np.int64)
    return window(items, np.array([0]), np.array([len(items)]), L, pad, left_pad)


def diffurec_condition(model, items):
    """(rep, allowed) of ``represent`` for one history (left-padded, most recent last; token = item + 1)."""
    hist, _ = _hist_window(items, model.config.max_len, -1, True)
    return model.represent(model.tokens(hist + 1))


def dreamrec_condition(model, items, seed: int = 0) -> torch.Tensor:
    """h = ``tenc.cacu_h`` of one history (right-padded with pad id N; an empty history reads position 0).
    Faithful ``eval_dropout`` keeps dropout on, seeded as ``DreamRec.encode`` seeds it."""
    c = model.config
    hist, n = _hist_window(items, c.seq_len, -1, False)
    states = model.tokens(np.where(hist < 0, model.n_items, hist))
    lens = model.tokens(np.maximum(n, 1))
    was = model.training
    model.train(bool(c.eval_dropout))
    with seeded_dropout(seed, model.device, bool(c.eval_dropout)):
        h = model.tenc.cacu_h(states, lens)
    model.train(was)
    return h


def embedding_dim(model) -> int:
    return int(model.config.hidden)


def start_noise(dim: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I) of shape (1, dim) from ``seed`` (the first draw of the models' own generator)."""
    return torch.randn((1, int(dim)), generator=cpu_generator(seed))


def shared_start(dims: Sequence[int], seed: int) -> List[torch.Tensor]:
    """One x_T for several models of different widths: a draw of the widest, each model taking its first d
    coordinates (DiffuRec d = 32 and DreamRec d = 64 on the sample world cannot share one vector otherwise)."""
    full = start_noise(max(dims), seed)
    return [full[:, :int(d)].clone() for d in dims]


# ---------------------------------------------------------------------------------------------- reverse runs
def _sampler_opts(model, sampler, ddim_steps):
    c = model.config
    return (sampler or c.sampler), int(ddim_steps or c.ddim_steps)


@torch.no_grad()
def _run(model, fn, x_T: Optional[torch.Tensor], B: int, gen, sampler: str, ddim_steps: int, noises=None):
    d = model.diffusion
    shape = (B, embedding_dim(model))
    xt = None if x_T is None else x_T.to(model.device).expand(B, -1).contiguous()
    if sampler == "ddim":          # OUR addition (docs/methods.md §1.8), deterministic after x_T (eta = 0)
        return d.sample_ddim(fn, shape, steps=ddim_steps, record=True, x_T=xt, generator=gen, device=model.device)
    variance = "large" if model.name == "diffurec" else "small"
    return d.sample_ancestral(fn, shape, variance=variance, record=True, x_T=xt, noises=noises, generator=gen,
                              device=model.device)


def _trajectory(model, run, k: int, users, history, meta: dict) -> Trajectory:
    """As ``embedding_trajectory``: the last step shows the returned sample, so it equals the recommendation."""
    x0s = run.x0_hats.clone()
    x0s[-1] = run.final
    S, B = x0s.shape[:2]
    scores = model.logits(x0s.flatten(0, 1), False).view(S, B, -1)
    seen = None
    if getattr(model.config, "mask_seen", False) and len(history):
        seen = torch.zeros(B, model.n_items, dtype=torch.bool)
        seen[:, torch.as_tensor(np.asarray(history, dtype=np.int64))] = True
    d = model.diffusion
    return build_trajectory(model.name, run.steps, run.states, x0s, run.final, users,
                            d.betas.double().cpu().numpy(), d.alphas_cumprod.double().cpu().numpy(), seen, k,
                            scores=scores, meta={**run.meta, "start": "N(0, I)", "space": "item embedding",
                                                 "history": [int(i) for i in history], **meta})


def _check_model(model):
    if model.name not in SEQ_METHODS:
        raise ValueError(f"reverse runs from a history exist for {', '.join(SEQ_METHODS)}, not {model.name}")


@torch.no_grad()
def reverse(model, items, seed: int = 0, k: int = 10, x_T: Optional[torch.Tensor] = None, w: Optional[float] = None,
            lam: Optional[float] = None, sampler: Optional[str] = None, ddim_steps: Optional[int] = None,
            user: int = -1) -> Trajectory:
    """One reverse run from the history ``items`` (item ids, oldest first): a Trajectory of B = 1 row.

    ``x_T`` (1, d) overrides the starting noise (default: the first draw of ``seed``); ``w`` DreamRec's guidance
    weight, ``lam`` DiffuRec's δ (λ ~ N(δ, δ²)); ``sampler`` 'ancestral' (authors') | 'ddim' (ours).
    ``user`` only labels the row (−1 = a history built by hand).
    """
    _check_model(model)
    was = model.training
    model.eval()
    sampler, ddim_steps = _sampler_opts(model, sampler, ddim_steps)
    gen = cpu_generator(seed)
    if x_T is None:                          # exactly the models' own first draw
        x_T = torch.randn((1, embedding_dim(model)), generator=gen)
    if model.name == "diffurec":
        rep, allowed = diffurec_condition(model, items)
        fn = model.denoiser(rep, allowed, gen, lam)
        meta = {"lambda_uncertainty": float(model.config.lambda_uncertainty if lam is None else lam)}
    else:
        h = dreamrec_condition(model, items, seed)
        wv = float(model.config.w if w is None else w)
        fn = lambda x, kk: model.tenc.guided(x, h, kk, wv)  # noqa: E731
        meta = {"w": wv}
    run = _run(model, fn, x_T, 1, gen, sampler, ddim_steps)
    model.train(was)
    return _trajectory(model, run, k, [int(user)], np.asarray(items, dtype=np.int64),
                       {**meta, "seed": int(seed), "window": window_len(model)})


@torch.no_grad()
def guidance_sweep(model, items, ws: Sequence[float], seed: int = 0, k: int = 10, sampler: Optional[str] = None,
                   ddim_steps: Optional[int] = None, x_T: Optional[torch.Tensor] = None) -> List[Trajectory]:
    """DreamRec from the same x_T and the same step noises for every w (one batched run, B = len(ws)).

    x̂0 = (1+w)·f(x_k, h, k) − w·f(x_k, ∅, k) (classifier-free guidance, Ho & Salimans 2022; DreamRec eq. 9):
    w = 0 is the conditional model alone, larger w pushes x̂0 away from the unconditional prediction.
    """
    if model.name != "dreamrec":
        raise ValueError("the guidance weight w belongs to DreamRec")
    was = model.training
    model.eval()
    sampler, ddim_steps = _sampler_opts(model, sampler, ddim_steps)
    B, dim, T = len(ws), embedding_dim(model), model.diffusion.T
    gen = cpu_generator(seed)
    x0 = torch.randn((1, dim), generator=gen) if x_T is None else x_T
    noises = [torch.randn((1, dim), generator=gen).expand(B, -1) for _ in range(T - 1)]
    h = dreamrec_condition(model, items, seed).expand(B, -1)
    wt = torch.as_tensor([float(w) for w in ws], dtype=torch.float32, device=model.device)[:, None]
    run = _run(model, lambda x, kk: model.tenc.guided(x, h, kk, wt), x0, B, None, sampler, ddim_steps, noises)
    model.train(was)
    out = []
    for b, w in enumerate(ws):
        one = _row(run, b)
        out.append(_trajectory(model, one, k, [-1], np.asarray(items, dtype=np.int64),
                               {"w": float(w), "seed": int(seed), "window": window_len(model)}))
    return out


def _row(run, b: int):
    from .diffusion.gaussian import DiffusionRun

    return DiffusionRun(run.steps, run.final[b:b + 1], run.states[:, b:b + 1], run.x0_hats[:, b:b + 1],
                        None if run.start is None else run.start[b:b + 1], dict(run.meta))


@torch.no_grad()
def lambda_sensitivity(model, items, lambdas: Sequence[float], n_starts: int = 8, seed: int = 0, k: int = 10) -> dict:
    """How much x_T changes DiffuRec's output, for each δ of λ ~ N(δ, δ²) (docs/methods.md §5.3).

    For each δ: ``n_starts`` reverse runs of the same history from different x_T (one batch, seed ``seed``);
    ``overlap``: mean share of the top-K that a run has in common with the other runs (1 = x_T does not matter);
    ``spread``: mean distance of the final x̂0 to their mean, relative to the mean's norm; ``injected``: the
    size of λ·(x_k + τ) relative to the history embeddings at the first step, δ·√d / ‖h‖ (what reaches the
    Transformer).
    """
    if model.name != "diffurec":
        raise ValueError("λ belongs to DiffuRec")
    was = model.training
    model.eval()
    rep, allowed = diffurec_condition(model, items)
    B = int(n_starts)
    rep, allowed = rep.expand(B, -1, -1), allowed.expand(B, -1, -1, -1)
    overlap, spread, tops = [], [], []
    for lam in lambdas:
        gen = cpu_generator(seed)
        fn = model.denoiser(rep, allowed, gen, float(lam))
        run = _run(model, fn, None, B, gen, "ancestral", 0)
        x0 = run.final
        top = torch.topk(model.logits(x0, False), k, dim=1).indices.cpu().numpy()
        sets = [set(t.tolist()) for t in top]
        pairs = [len(sets[i] & sets[j]) / k for i in range(B) for j in range(B) if i < j]
        overlap.append(float(np.mean(pairs)) if pairs else 1.0)
        m = x0.mean(0)
        spread.append(float((x0 - m).norm(dim=1).mean() / m.norm().clamp_min(1e-12)))
        tops.append(top)
    model.train(was)
    hnorm = float(rep[0].norm(dim=-1).mean())
    d = embedding_dim(model)
    return {"lambdas": np.asarray(lambdas, dtype=np.float64), "overlap": np.asarray(overlap),
            "spread": np.asarray(spread), "topk": np.stack(tops), "k": int(k), "n_starts": B,
            "injected": np.asarray(lambdas, dtype=np.float64) * np.sqrt(d) / max(hnorm, 1e-12),
            "default": float(model.config.lambda_uncertainty)}


# ---------------------------------------------------------------------------------------------- forward
@dataclass
class ForwardRun:
    """q(x_t | x_0) of one item's embedding for t = 0..T with one fixed ε (so the path is smooth in t)."""

    item: int
    t: np.ndarray            # (T+1,) paper steps 0..T
    states: np.ndarray       # (T+1, d)
    sqrt_ab: np.ndarray      # (T+1,)
    noise_std: np.ndarray    # (T+1,)
    cos_to_item: np.ndarray  # (T+1,) cosine(x_t, x_0)
    rank_of_item: np.ndarray  # (T+1,) 1-based rank of the item among all items by cosine to x_t
    nearest: np.ndarray      # (T+1, n) items most cosine-similar to x_t


def forward_item(model, item: int, seed: int = 0, n_near: int = 5, E: Optional[np.ndarray] = None) -> ForwardRun:
    """x_t = √ᾱ_t·E[item] + √(1−ᾱ_t)·ε at every t (docs/methods.md §1.3; DDPM eq. 4), ε ~ N(0, I) from ``seed``.

    x_0 is the raw embedding row both models diffuse (DiffuRec and DreamRec: x0 = E[target])."""
    from .item_map import item_table

    E = item_table(model) if E is None else np.asarray(E)
    I, dim = E.shape
    if not 0 <= int(item) < I:
        raise ValueError(f"item {item} is outside 0..{I - 1}")
    ac = model.diffusion.alphas_cumprod.double().cpu().numpy()
    ab = np.concatenate([[1.0], ac])
    eps = torch.randn((1, dim), generator=cpu_generator(seed)).double().numpy()[0]
    x0 = E[int(item)].astype(np.float64)
    states = np.sqrt(ab)[:, None] * x0[None] + np.sqrt(1 - ab)[:, None] * eps[None]
    U = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    cs = (states / np.maximum(np.linalg.norm(states, axis=1, keepdims=True), 1e-12)) @ U.T
    rank = 1 + (cs > cs[:, [int(item)]]).sum(axis=1)
    near = np.argsort(-cs, axis=1, kind="stable")[:, :int(n_near)]
    return ForwardRun(int(item), np.arange(len(ab)), states, np.sqrt(ab), np.sqrt(1 - ab), cs[:, int(item)], rank,
                      near)
