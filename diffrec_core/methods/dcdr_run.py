"""The record of one DCDR reranking run (``dcdr.py``): the beams of every reverse step, why the run stopped, the
output, and its mapping to the :class:`~diffrec_core.trajectory.Trajectory` every view reads; and the beam decode of
DCDR-T's per-position candidate distributions into lists of distinct items."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from ..rerank import Request
from ..trajectory import Trajectory


@dataclass
class Beam:
    lst: np.ndarray                 # candidate indices
    logp: float                     # cumulative log-probability of the moves that made it
    u: float = float("nan")         # evaluator's Û
    move: str = ""                  # what the last step did to its parent
    parent: int = -1                # index of the parent beam in the previous step


@dataclass
class DCDRRun:
    """Everything one reranking run did (the page and ``trajectory`` read this)."""

    request: Request
    variant: str
    condition: str
    beam: int
    ks: List[int]                                  # reverse steps run (T_inf .. )
    beams: List[List[Beam]]                        # beams[0] = [x_init]; beams[s] after reverse step s
    best_path: List[np.ndarray]                    # the best beam's list fed to each step, then after the last
    x0_preds: List[np.ndarray]                     # DCDR-T: the argmax x0 prediction per step (distinct decode)
    output: np.ndarray
    output_from: str                               # 'x_init' or 'step s, beam b'
    u_init: float
    u_output: float
    stop: str                                      # 'no-op' | 'evaluator' | 'steps'
    stop_text: str
    seconds: float = 0.0
    output_at: Tuple[int, int] = (0, 0)            # (step, beam) of the output in ``beams``; (0, 0) = x_init

    @property
    def n_steps(self) -> int:
        return len(self.beams) - 1


STOP_TEXT = {
    "no-op": "the beams came out as the lists they went in: the list stopped changing (with B = 1: the most "
             "likely move was the no-op)",
    "evaluator": "the evaluator's best Û did not improve on the previous step",
    "steps": "all reverse steps were run",
}


def run_to_trajectory(run: DCDRRun, schedule, method: str = "dcdr") -> Trajectory:
    """The :class:`Trajectory` of one run (mapping in ``dcdr.py``'s docstring): each shown step's state is the best
    beam's list fed to that reverse step, its x0_hat the list after it, then one 'select' step with the output;
    the beams, the stop reason and Û travel in ``meta``. ``schedule`` = (betas, alphas_cumprod)."""
    req = run.request
    items = lambda idx: req.candidates[np.asarray(idx, dtype=np.int64)]  # noqa: E731
    S = run.n_steps
    states = [items(run.best_path[s]) for s in range(S)] + [items(run.best_path[S])]
    after = [items(run.best_path[s + 1]) for s in range(S)] + [items(run.output)]
    steps = list(run.ks[:S]) + [0]
    st = np.asarray(states, dtype=np.float32)[:, None, :]
    x0 = np.asarray(after, dtype=np.float32)[:, None, :]
    beams = [[{"items": items(b.lst).tolist(), "logp": b.logp, "u_hat": b.u, "move": b.move, "parent": b.parent}
              for b in step] for step in run.beams]
    meta = {"sampler": "beam search", "variant": run.variant, "condition": run.condition, "beam": run.beam,
            "beams": beams, "stop": run.stop, "stop_text": run.stop_text, "output_from": run.output_from,
            "u_init": run.u_init, "u_output": run.u_output, "step_kinds": ["reverse"] * S + ["select"],
            "output_at": [int(v) for v in run.output_at],
            "candidates": req.candidates.tolist(), "init": items(req.init).tolist(), "reconstruction": True,
            "x0_preds": [np.asarray(x).tolist() for x in run.x0_preds]}
    betas, ab = schedule
    topk = x0.astype(np.int64)
    return Trajectory(method=method, steps=np.asarray(steps, dtype=np.int64), states=st, x0_hat=x0,
                      final=x0[-1].copy(), users=np.asarray([req.user]), betas=betas, alphas_cumprod=ab,
                      topk=topk, final_topk=topk[-1].copy(), meta=meta)


def distinct_beam_decode(logp: np.ndarray, width: int) -> List[Tuple[np.ndarray, float]]:
    """Best ``width`` lists of distinct candidates under per-position log-probabilities ``logp`` (L, n),
    decoded position by position with a beam of ``width`` (items already placed are masked). Width 1 is the
    greedy left-to-right decode."""
    L, n = logp.shape
    lists = np.zeros((1, 0), dtype=np.int64)
    scores = np.zeros(1)
    used = np.zeros((1, n), dtype=bool)
    for p in range(L):
        cand = np.where(used, -np.inf, scores[:, None] + logp[p][None, :])       # (beams, n)
        flat = cand.ravel()
        top = np.argsort(-flat, kind="stable")[:width]
        top = top[np.isfinite(flat[top])]
        b, c = np.divmod(top, n)
        lists = np.concatenate([lists[b], c[:, None]], 1)
        scores = flat[top]
        used = used[b].copy()
        used[np.arange(len(c)), c] = True
    return [(lists[i].copy(), float(scores[i])) for i in range(len(scores))]
