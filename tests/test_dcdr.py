"""DCDR (reconstruction) and the reranking harness: the discrete forward processes, the D3PM posterior, beam search
(B = 1 equals greedy decoding), the method contract (shapes, determinism, last step = output, save -> load),
the baselines, the metrics, and the validation of user-given lists and uploaded CSVs."""
import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from diffrec_core import checkpoint, registry
from diffrec_core.diffusion.discrete import (PermutationNoise, TokenNoise, apply_swaps, describe_step, is_valid_list,
                                             make_noise, n_pairs, op_of_pair, pair_of_op)
from diffrec_core.methods.dcdr import DCDR, DCDRConfig, distinct_beam_decode
from diffrec_core.methods.rerank_baselines import (MMR, PRM, EvalSampler, GreedyScore, RankerOrder, RerankNetConfig,
                                                   build_rerankers)
from diffrec_core.rerank import (Request, Simulator, auc, evaluate, list_scores, load_rerank_data, ndcg_at_k,
                                 parse_item_csv, validate_list)

REPO = Path(__file__).resolve().parents[1]
TINY = dict(d=16, layers=1, heads=2, ff=32, epochs=1, eval_epochs=1, k_per_list=1, batch_size=64, eval_batch=64)


@pytest.fixture(scope="module")
def data():
    return load_rerank_data()


@pytest.fixture(scope="module")
def small(data):
    """The same logs with 240 training and 60 validation sessions (fast fits)."""
    return dataclasses.replace(data, splits={"train": np.arange(240), "valid": np.arange(3000, 3060),
                                             "test": data.splits["test"][:20]})


def _fit(small, variant, seed=3, **over):
    torch.manual_seed(seed)
    m = DCDR(DCDRConfig(variant=variant, **{**TINY, **over}), small.n_users, small.n_items)
    m.fit_lists(small, seed=seed)
    return m


@pytest.fixture(scope="module")
def tiny_p(small):
    return _fit(small, "P")


@pytest.fixture(scope="module")
def tiny_t(small, tiny_p):
    torch.manual_seed(3)
    m = DCDR(DCDRConfig(variant="T", **TINY), small.n_users, small.n_items)
    m.fit_lists(small, seed=3, evaluator_state=tiny_p.evaluator.state_dict())
    return m


# ------------------------------------------------------------------------------------------------ forward processes
def _lists(B, L, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g)[:L] for _ in range(B)])


@pytest.mark.parametrize("L", [2, 3, 6, 10])
def test_permutation_noise_keeps_valid_permutations_and_is_self_inverse(L):
    x0 = _lists(300, L, 20, seed=L)
    noise = PermutationNoise(T=6)
    rec = noise.record(x0, torch.Generator().manual_seed(1))
    assert rec.states.shape == (7, 300, L) and rec.ops.shape == (6, 300)
    for k in range(7):
        assert is_valid_list(rec.states[k].numpy(), 20)
        assert torch.equal(torch.sort(rec.states[k], 1).values, torch.sort(x0, 1).values)   # same items
    for k in range(1, 7):     # x_{k-1} = o_k(x_k)
        assert torch.equal(apply_swaps(rec.states[k], rec.ops[k - 1]), rec.states[k - 1])
        changed = rec.changed(k).sum(1)
        assert set(np.unique(changed)) <= {0, 2}
        np.testing.assert_array_equal(changed == 2, rec.ops[k - 1].numpy() > 0)
    # the rate of real swaps follows beta
    rate = (rec.ops > 0).float().mean(1).numpy()
    assert np.all(np.abs(rate - noise.betas) < 0.1)


@pytest.mark.parametrize("L,n", [(2, 3), (5, 8), (10, 20), (10, 12)])
def test_token_noise_keeps_distinct_candidates(L, n):
    x0 = _lists(300, L, n, seed=n)
    noise = TokenNoise(T=6)
    rec = noise.record(x0, n, torch.Generator().manual_seed(2))
    for k in range(7):
        assert is_valid_list(rec.states[k].numpy(), n)
    for k in range(1, 7):
        ch = rec.changed(k)
        np.testing.assert_array_equal(ch, rec.ops[k - 1].numpy())      # a replaced entry always changes
        prev, now = rec.states[k - 1].numpy(), rec.states[k].numpy()
        for b in range(50):                                               # new items come from outside the list
            assert not set(now[b][ch[b]]) & set(prev[b])
    k = torch.randint(1, 7, (300,), generator=torch.Generator().manual_seed(0))
    xk, tgt = noise.training_pairs(x0, n, k, torch.Generator().manual_seed(0))
    assert is_valid_list(xk.numpy(), n) and torch.equal(tgt, x0)


def test_training_pairs_of_dcdr_p_undo_the_last_step():
    noise = PermutationNoise(T=6)
    x0 = _lists(200, 10, 20)
    k = torch.randint(1, 7, (200,), generator=torch.Generator().manual_seed(1))
    xk, op = noise.training_pairs(x0, k, torch.Generator().manual_seed(1))
    assert is_valid_list(xk.numpy(), 20) and op.min() >= 0 and op.max() <= n_pairs(10)
    # k = 1: undoing o_1 gives back x0 exactly
    one = k == 1
    assert torch.equal(apply_swaps(xk[one], op[one]), x0[one])


def test_pair_indexing_round_trips():
    for L in (2, 3, 7, 10):
        assert n_pairs(L) == L * (L - 1) // 2
        for op in range(1, n_pairs(L) + 1):
            i, j = pair_of_op(op, L)
            assert 0 <= i < j < L and op_of_pair(j, i, L) == op
        assert pair_of_op(0, L) is None
    with pytest.raises(ValueError):
        op_of_pair(3, 3, 5)
    with pytest.raises(ValueError):
        make_noise("X")
    assert describe_step([1, 2, 3], [3, 2, 1]) == "swap 1 ↔ 3"
    assert describe_step([1, 2, 3], [1, 2, 9]).startswith("replace at 3")
    assert describe_step([1, 2, 3], [1, 2, 3]) == "no change"


def test_d3pm_posterior_matches_brute_force():
    noise = TokenNoise(T=4, beta_start=0.2, beta_end=0.7)
    n, k = 5, 3
    p0 = torch.softmax(torch.randn(1, 1, n, generator=torch.Generator().manual_seed(0)), -1)
    a = torch.tensor([[2]])
    post = noise.posterior(a, p0, k)[0, 0].numpy()
    # brute force: sum over x0 of q(x_k=a | x_{k-1}=c) q(x_{k-1}=c | x0=b) p0(b), uniform D3PM kernel
    ak, bk = noise.alphas[k - 1], noise.betas[k - 1]
    abar = noise.alphas_cumprod[k - 2]
    want = np.zeros(n)
    for c, b in itertools.product(range(n), range(n)):
        want[c] += (ak * (c == 2) + bk / n) * (abar * (c == b) + (1 - abar) / n) * p0[0, 0, b].item()
    np.testing.assert_allclose(post, want / want.sum(), rtol=1e-5)
    assert np.isclose(post.sum(), 1.0)


def test_distinct_beam_decode():
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(8), size=5))
    one = distinct_beam_decode(lp, 1)
    assert len(one) == 1 and len(set(one[0][0])) == 5
    greedy, used = [], set()
    for p in range(5):
        row = lp[p].copy()
        row[list(used)] = -np.inf
        greedy.append(int(np.argmax(row)))
        used.add(greedy[-1])
    assert one[0][0].tolist() == greedy
    four = distinct_beam_decode(lp, 4)
    assert len(four) == 4 and all(len(set(b[0])) == 5 for b in four)
    assert [b[1] for b in four] == sorted([b[1] for b in four], reverse=True)
    assert four[0][1] >= one[0][1] - 1e-12


# ------------------------------------------------------------------------------------------------ inference
@pytest.mark.parametrize("variant", ["P", "T"])
def test_beam_search_with_width_one_equals_greedy_decoding(variant, data, tiny_p, tiny_t):
    model = tiny_p if variant == "P" else tiny_t
    for s in data.splits["test"][:12]:
        for cond in ("like", "none"):
            req = data.request(s)
            beam = model.run(req, beam=1, steps=3, condition=cond)
            greedy = model.greedy(req, steps=3, condition=cond)
            assert [b.tolist() for b in beam.best_path] == [b.tolist() for b in greedy.best_path]
            np.testing.assert_array_equal(beam.output, greedy.output)
            assert beam.stop == greedy.stop and beam.output_from == greedy.output_from
            assert np.isclose(beam.u_output, greedy.u_output)


@pytest.mark.parametrize("variant", ["P", "T"])
def test_run_outputs_valid_lists_and_a_consistent_record(variant, data, tiny_p, tiny_t):
    model = tiny_p if variant == "P" else tiny_t
    for s in data.splits["test"][:8]:
        for which in ("ranker", "logged"):
            req = data.request(s, which)
            run = model.run(req, beam=4, steps=3, condition="like")
            assert is_valid_list(run.output, req.n) and len(run.output) == req.L
            if variant == "P":                                  # permutations of the input
                assert sorted(run.output) == sorted(req.init)
            assert run.u_output >= run.u_init - 1e-6               # the evaluator never picks a worse list
            assert all(len(b) <= 4 for b in run.beams)
            assert run.stop in ("no-op", "evaluator", "steps")
            for step in run.beams[1:]:
                keys = [tuple(b.lst) for b in step]
                assert len(keys) == len(set(keys))                  # distinct beams
                assert all(is_valid_list(b.lst, req.n) for b in step)


def test_short_lists_and_bad_settings(data, tiny_p, tiny_t):
    req = data.request(3500)
    short = Request(req.user, req.candidates, req.init[:3])
    for m in (tiny_p, tiny_t):
        out = m.rerank(short, beam=3)
        assert len(out) == 3 and is_valid_list(out, req.n)
    with pytest.raises(ValueError, match="2..10"):
        tiny_p.run(Request(req.user, req.candidates, req.init[:1]))
    with pytest.raises(ValueError, match="reverse steps"):
        tiny_p.run(req, steps=99)
    with pytest.raises(ValueError, match="condition"):
        tiny_p.run(req, condition="maybe")
    with pytest.raises(ValueError, match="variant"):
        DCDR(DCDRConfig(variant="Q"), 10, 10)


# ------------------------------------------------------------------------------------------------ contract
def test_registry_entries():
    spec = registry.get("dcdr")
    assert spec.needs == ("lists",) and spec.kind == "diffusion" and spec.page == "reranking"
    assert "reconstruction" in spec.paper and spec.title and spec.idea and "sample" in spec.presets
    for name in ("rerank_ranker", "rerank_greedy", "rerank_mmr", "rerank_prm", "rerank_sample"):
        s = registry.get(name)
        assert s.kind == "baseline" and s.needs == ("lists",) and s.title and s.paper and s.idea
        assert "sample" in s.presets
    from diffrec_core.pipeline import interaction_methods, sequence_methods
    assert "dcdr" not in interaction_methods() + sequence_methods()


@pytest.mark.parametrize("variant", ["P", "T"])
def test_dcdr_contract(variant, small, data, tmp_path):
    a = _fit(small, variant, seed=5)
    reqs = [data.request(s) for s in data.splits["test"][:5]]
    out_a = [a.rerank(r, beam=3) for r in reqs]
    # determinism: the same seed gives the same model and the same lists
    b = _fit(small, variant, seed=5)
    for r, o in zip(reqs, out_a):
        np.testing.assert_array_equal(b.rerank(r, beam=3), o)
    # the trajectory: shapes, last step = the output
    run = a.run(reqs[0], beam=3)
    tr = a.trajectory(run)
    S = tr.n_steps
    assert S == run.n_steps + 1 and tr.steps[-1] == 0 and list(tr.steps[:-1]) == run.ks[:run.n_steps]
    assert tr.states.shape == (S, 1, 10) and tr.x0_hat.shape == (S, 1, 10) and tr.topk.shape == (S, 1, 10)
    np.testing.assert_array_equal(tr.final_topk, tr.topk[-1])
    np.testing.assert_array_equal(tr.final_topk[0], reqs[0].items(run.output))
    np.testing.assert_array_equal(tr.states[0, 0], reqs[0].items())
    assert tr.meta["reconstruction"] and len(tr.meta["beams"]) == run.n_steps + 1
    from diffrec_core.trajectory import Trajectory
    back = Trajectory.from_npz_bytes(tr.to_npz_bytes())
    np.testing.assert_array_equal(back.final_topk, tr.final_topk)
    # save -> load gives identical outputs (all state in buffers / parameters)
    checkpoint.save(a, tmp_path / "dcdr", "sample-rerank")
    c, meta = checkpoint.load(tmp_path / "dcdr", data.n_users, data.n_items)
    assert meta["method"] == "dcdr" and meta["config"]["variant"] == variant
    for r, o in zip(reqs, out_a):
        np.testing.assert_array_equal(c.rerank(r, beam=3), o)
        np.testing.assert_allclose(c.evaluator_scores(r, r.init[None]), a.evaluator_scores(r, r.init[None]))


def test_fit_epoch_and_score_say_what_to_use_instead(tiny_p):
    with pytest.raises(NotImplementedError, match="fit_lists"):
        tiny_p.fit_epoch(None, None, None)
    with pytest.raises(NotImplementedError, match="reranks lists"):
        tiny_p.score(None, [0])


# ------------------------------------------------------------------------------------------------ baselines
def test_baselines_permute_the_input(data, tiny_p, small):
    torch.manual_seed(0)
    prm = PRM(RerankNetConfig(d=16, layers=1, ff=32, eval_epochs=1), data.n_users, data.n_items)
    prm.fit_lists(small, seed=0)
    rr = build_rerankers(tiny_p, prm)
    assert set(rr) == {"rerank_ranker", "rerank_greedy", "rerank_mmr", "rerank_sample", "rerank_prm"}
    for s in data.splits["test"][:5]:
        req = data.request(s, "logged")
        for name, m in rr.items():
            out = m.rerank(req)
            assert sorted(out) == sorted(req.init), name
        np.testing.assert_array_equal(rr["rerank_ranker"].rerank(req), req.init)
        # MMR with lambda = 1 is greedy by score; the sampler is deterministic per request
        np.testing.assert_array_equal(rr["rerank_mmr"].rerank(req, mmr_lambda=1.0), rr["rerank_greedy"].rerank(req))
        np.testing.assert_array_equal(rr["rerank_sample"].rerank(req), rr["rerank_sample"].rerank(req))
    assert isinstance(rr["rerank_greedy"], GreedyScore) and isinstance(rr["rerank_mmr"], MMR)
    assert isinstance(rr["rerank_sample"], EvalSampler) and isinstance(rr["rerank_ranker"], RankerOrder)


def test_mmr_diversifies_with_low_lambda(data, tiny_p):
    mmr = MMR.with_evaluator(tiny_p, mmr_lambda=0.0)
    req = data.request(3500)
    out = mmr.rerank(req)
    genre = data.item_genre[req.items(out)]
    k = len(set(genre))
    assert len(set(genre[:k])) == k          # lambda 0: every distinct genre before any repeat


# ------------------------------------------------------------------------------------------------ harness
def test_metrics_by_hand():
    assert ndcg_at_k([1, 0, 0], [1, 0, 0, 0], 3) == 1.0
    assert np.isclose(ndcg_at_k([0, 1, 0], [1, 0, 0], 3), (1 / np.log2(3)) / 1.0)
    assert np.isnan(ndcg_at_k([0, 0], [0, 0, 0], 2))
    assert auc([3, 2, 1], [1, 0, 0]) == 1.0 and auc([1, 2, 3], [1, 0, 0]) == 0.0
    assert auc([1, 1], [1, 0]) == 0.5 and np.isnan(auc([1, 2], [1, 1]))
    np.testing.assert_array_equal(list_scores([2, 0], 4), [1, 0, 2, 0])


def test_data_and_simulator(data):
    assert data.S == 4000 and data.n == 20 and data.L == 10
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3000, "valid": 500, "test": 500}
    assert is_valid_list(data.logged, 20) and data.user_feats.shape == (data.n_users, 17)
    sim = Simulator()
    req = data.request(3500)
    u = sim.utility(req.user, req.items())
    assert np.isclose(sim.utilities(req.user, req.items()[None])[0], u)
    best = sim.best(req.user, req.candidates, 10)
    assert sim.utility(req.user, best) >= u
    rng = np.random.default_rng(0)
    lab = sim.labels(rng, req.user, req.candidates)
    assert lab.shape == (20, 2) and (lab[:, 1] <= lab[:, 0]).all()


def test_evaluate_harness(data, tiny_p):
    sim = Simulator()
    rows = data.splits["test"][:6]
    res = evaluate({"ranker": lambda r: r.init, "dcdr": tiny_p}, data, sim, rows, time_it=True)
    r0 = res["ranker"]["summary"]
    assert r0["gain_vs_ranker"] == 0 and r0["share_improved"] == 0 and r0["sessions"] == 6
    assert 0 <= r0["ndcg@5"] <= 1 and 0 <= r0["auc"] <= 1 and 0 <= r0["logged_auc"] <= 1
    assert res["dcdr"]["summary"]["utility"] > 0 and res["_reference"]["summary"]["best_utility"] >= r0["utility"]


# ------------------------------------------------------------------------------------------------ user input
CANDS = [5, 6, 7, 8, 9]


@pytest.mark.parametrize("tokens,error", [
    ([], "empty"), (["5"], "nothing to rerank"), (["5", "x"], "Not item ids"), (["5", "1.5"], "Not item ids"),
    (["5", "99999"], "Unknown item ids"), (["5", "-1"], "Unknown item ids"), (["5", "100"], "candidate set"),
    (["5", "6", "7", "8", "9"], "at most 4"),
])
def test_validate_list_errors(tokens, error):
    chk = validate_list(tokens, CANDS, n_items=500, max_len=4)
    assert not chk.ok and any(error in e for e in chk.errors), chk.errors


def test_validate_list_duplicates_and_good_lists():
    chk = validate_list(["6", 5, "6", " 7 ", "5.0"], CANDS, n_items=500, max_len=4,
                        titles=[f"t{i}" for i in range(500)])
    assert chk.ok and chk.items == [6, 5, 7] and "Duplicates" in chk.warnings[0] and "“t6” (6)" in chk.warnings[0]
    dup_only = validate_list(["6", "6"], CANDS, n_items=500, max_len=4)
    assert not dup_only.ok and "nothing to rerank" in dup_only.errors[0]


@pytest.mark.parametrize("raw,ok,msg", [
    (b"", False, "empty"), (b"x" * 30000, False, "limit"), (b"\x00\x01\x02", False, "binary"),
    (b"\xff\xfe\xfa", False, "UTF-8"), (b"item\n", False, "no item ids"), (b"\n\n", False, "no item ids"),
    (b"item,title\n5,a\n6,b\n", True, None), (b"5,6,7\n", True, None), (b"5\n6\n7", True, None),
    (b"user,item\n1,5\n1,6", True, None), (("\n".join(["5"] * 500)).encode(), False, "at most"),
])
def test_parse_item_csv(raw, ok, msg):
    tokens, err = parse_item_csv(raw)
    if ok:
        assert err is None and tokens[:2] == ["5", "6"]
    else:
        assert err and msg in err and tokens == []
