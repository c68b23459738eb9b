"""The Reranking page's comparison in the core (diffrec_core.rerank_harness): every reranker on one logged list,
each list scored by the simulator's true utility and by DCDR-P's evaluator."""
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world():
    from diffrec_core.methods.dcdr import load_pretrained_rerank
    from diffrec_core.rerank import Simulator, load_rerank_data

    if not (REPO / "pretrained" / "dcdr_p" / "model.safetensors").exists():
        pytest.skip("no pretrained DCDR checkpoint")
    data = load_rerank_data()
    models, _ = load_pretrained_rerank(None, data.n_users, data.n_items)
    return data, Simulator(), models


def test_every_reranker_and_both_ground_truths_are_scored(world):
    from diffrec_core import rerank_harness as H
    from diffrec_core.methods.rerank_baselines import BASELINE_TITLES

    data, sim, models = world
    session = 3500
    req = data.request(session)
    items = req.items().tolist()
    out = H.rerank_all(models, data, sim, session, items, "P", steps=5, beam=2, condition="like")
    e = out["entries"]
    want = {H.INPUT, "DCDR-P", "DCDR-T", H.BEST_ORDER, H.BEST_LIST} | {
        t for n, t in BASELINE_TITLES.items() if n in models and n != "rerank_ranker"}
    assert want <= set(e)
    assert e[H.INPUT]["items"] == items and e[H.INPUT]["utility"] == pytest.approx(sim.utility(req.user, req.items()))
    assert out["output"] == e["DCDR-P"]["items"] and sorted(out["output"]) == sorted(items)   # a reordering
    # no reordering of these items beats the simulator's best order; the best list may use other candidates
    for title in want - {H.BEST_LIST}:
        assert sorted(e[title]["items"]) == sorted(items) or title == H.BEST_ORDER
        assert e[title]["utility"] <= e[H.BEST_ORDER]["utility"] + 1e-9, title
    assert e[H.BEST_ORDER]["utility"] <= e[H.BEST_LIST]["utility"] + 1e-9
    assert out["traj"].states.shape[1] == 1 and len(out["truth"]) == len(data.cands[session])
    assert all(np.isfinite(v["u_hat"]) for v in e.values())
