"""Every reranker on one logged list, scored by the simulator: the Reranking page's comparison, computed in the core.

For one session's list the harness runs DCDR (the chosen variant, recorded step by step, and every other trained
variant), every baseline reranker of ``methods/rerank_baselines.py`` and the two ground-truth orders the simulator
knows (the best order of the list's own items and the best list of all candidates), and scores each list twice:
its true utility under the simulator (``Simulator.utility``) and the evaluator's estimate of it (DCDR-P's evaluator,
``utility_hat``), so a reader sees where the learned evaluator and the truth part ways (docs/methods.md §2.7).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .methods.dcdr import run_to_trajectory
from .methods.rerank_baselines import BASELINE_TITLES
from .rerank import Request

INPUT = "input list (no reranking)"
BEST_ORDER = "best order of these items (ground truth)"
BEST_LIST = "best list of all candidates (ground truth)"


def rerank_all(models: Mapping, data, sim, session: int, items: Sequence[int], variant: str = "P", steps: int = 10,
               beam: int = 1, condition: str = "like") -> dict:
    """Every reranker of ``models`` on the list ``items`` of session ``session``.

    ``models`` maps a name to a trained reranker ('dcdr_p', 'dcdr_t', the baseline names); ``data`` is the
    logged-sessions data (``rerank.load_rerank_data``) and ``sim`` its :class:`~diffrec_core.rerank.Simulator`.
    Returns ``traj`` (the chosen DCDR variant's run as a Trajectory), ``entries`` (title -> items, utility,
    u_hat), ``output`` (that run's list), ``item_scores`` (the greedy evaluator's per-item scores, where trained)
    and ``truth`` (the simulator's relevance of every candidate)."""
    cands = data.cands[session]
    index = {int(it): i for i, it in enumerate(cands)}
    req = Request(int(data.users[session]), cands, [index[int(it)] for it in items], session=session)
    main = models.get(f"dcdr_{variant.lower()}") or models["dcdr_p"]
    run = main.run(req, steps=steps, beam=beam, condition=condition)
    traj = run_to_trajectory(run, main.list_schedule(req.L))
    ev = models["dcdr_p"]

    def entry(lst):
        it = req.items(lst)
        return {"items": it.tolist(), "utility": sim.utility(req.user, it),
                "u_hat": float(ev.utility_hat(ev.evaluator_scores(req, np.asarray(lst)[None]))[0])}

    entries = {"_input": entry(req.init), INPUT: entry(req.init)}
    for v in ("P", "T"):
        m = models.get(f"dcdr_{v.lower()}")
        if m is None:
            continue
        out = run.output if m is main else m.run(req, steps=min(steps, m.config.steps), beam=beam,
                                                  condition=condition).output
        entries[f"DCDR-{v}"] = entry(out)
    for name, title in BASELINE_TITLES.items():
        if name in models and name != "rerank_ranker":
            entries[title] = entry(models[name].rerank(req))
    best_same = sim.best(req.user, req.items(), req.L)
    best_all = sim.best(req.user, cands, req.L)
    entries[BEST_ORDER] = entry([index[int(i)] for i in best_same])
    entries[BEST_LIST] = entry([index[int(i)] for i in best_all])
    scores = models["rerank_greedy"].item_scores(req) if "rerank_greedy" in models else None
    return {"traj": traj, "entries": entries, "output": req.items(run.output).tolist(),
            "item_scores": None if scores is None else {int(it): float(s) for it, s in zip(req.items(), scores)},
            "truth": sim.relevance(req.user, cands).tolist()}
