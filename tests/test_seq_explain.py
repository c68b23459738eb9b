"""Reverse runs from any history (diffrec_core.seq_explain): equal to the models' own trajectories on a user's
history, guidance w = 0 is the conditional model, shared starting noise really is shared, λ controls how much x_T
matters, and user input is cleaned with reasons."""
import numpy as np
import pytest
import torch

from diffrec_core import pipeline
from diffrec_core import seq_explain as SX
from diffrec_core.methods.seq_common import cpu_generator

from tolerances import F32_CHAIN, F32_NET, assert_same_ranking


@pytest.fixture(scope="module")
def split():
    return pipeline.load_split("sample", how="loo")


@pytest.fixture(scope="module")
def models(split):
    return {m: pipeline.load_pretrained(m, split) for m in ("diffurec", "dreamrec")}


@pytest.mark.parametrize("method", ("diffurec", "dreamrec"))
@pytest.mark.parametrize("which", ("valid", "test"))
def test_reverse_from_a_users_history_equals_the_models_trajectory(models, split, method, which):
    model = models[method]
    for u in (0, 17):
        items, target = SX.user_history(model, split, u, which)
        mine = SX.reverse(model, items, seed=5, k=10, user=u)
        ref = model.trajectory(split, [u], k=10, seed=5, which=which)
        np.testing.assert_array_equal(mine.steps, ref.steps)
        # the models may hoist per-step work out of their own loop (float32 rounding differs by ~1e-7 per step)
        np.testing.assert_allclose(mine.states, ref.states, atol=1e-4)
        np.testing.assert_allclose(mine.x0_hat, ref.x0_hat, atol=1e-4)
        np.testing.assert_allclose(mine.scores, ref.scores, atol=1e-3)
        assert_same_ranking(mine.final_topk, ref.final_topk, ref.final_scores, atol=1e-3)
        held = (split.test if which == "test" else split.valid)[u].indices
        assert target == int(held[0])
        assert mine.meta["history"] == [int(i) for i in items] and mine.users.tolist() == [u]


def test_guidance_w0_equals_the_conditional_model(models):
    dr = models["dreamrec"]
    items = [3, 14, 15, 92]
    h = SX.dreamrec_condition(dr, items)
    x = torch.randn(4, dr.config.hidden, generator=cpu_generator(0))
    k = torch.tensor([0, 10, 50, 99])
    hh = h.expand(4, -1)
    with torch.no_grad():
        # guided() runs both branches in one 8-row batch, tenc() a 4-row one: another GEMM, other rounding
        torch.testing.assert_close(dr.tenc.guided(x, hh, k, 0.0), dr.tenc(x, hh, k), **F32_NET)
        assert not torch.allclose(dr.tenc.guided(x, hh, k, 2.0), dr.tenc(x, hh, k))
    # the whole w = 0 run equals an ancestral run of the conditional network alone, from the same seed
    w0 = SX.reverse(dr, items, seed=4, w=0.0)
    gen = cpu_generator(4)
    x_T = torch.randn((1, dr.config.hidden), generator=gen)
    with torch.no_grad():
        cond = dr.diffusion.sample_ancestral(lambda x_, k_: dr.tenc(x_, h, k_), (1, dr.config.hidden),
                                             variance="small", record=True, x_T=x_T, generator=gen)
    np.testing.assert_allclose(w0.final, cond.final.numpy(), **F32_CHAIN)
    np.testing.assert_allclose(w0.x0_hat[:-1, 0], cond.x0_hats[:-1, 0].numpy(), **F32_CHAIN)


def test_guidance_sweep_shares_the_noise_and_matches_single_runs(models):
    dr = models["dreamrec"]
    items = [10, 20, 30, 40, 50]
    ws = [0.0, 2.0, 6.0]
    sweep = SX.guidance_sweep(dr, items, ws, seed=9, k=10)
    assert [t.meta["w"] for t in sweep] == ws
    for t in sweep[1:]:
        np.testing.assert_array_equal(t.states[0], sweep[0].states[0])          # the same x_T
    for w, t in zip(ws, sweep):
        one = SX.reverse(dr, items, seed=9, w=w, k=10)
        np.testing.assert_allclose(t.x0_hat, one.x0_hat, atol=1e-4)
        np.testing.assert_allclose(t.final, one.final, atol=1e-4)
    assert not np.allclose(sweep[0].final, sweep[2].final)                      # w changes the result
    with pytest.raises(ValueError, match="DreamRec"):
        SX.guidance_sweep(models["diffurec"], items, ws)


def test_shared_start_and_given_x_T(models):
    a, b = SX.shared_start([32, 64], seed=3)
    torch.testing.assert_close(a, b[:, :32])
    tr = SX.reverse(models["diffurec"], [1, 2, 3], seed=3, x_T=a)
    np.testing.assert_allclose(tr.states[0, 0], a[0].numpy())
    tr2 = SX.reverse(models["dreamrec"], [1, 2, 3], seed=3, x_T=b)
    np.testing.assert_allclose(tr2.states[0, 0], b[0].numpy())


def test_only_the_last_window_items_matter(models):
    du = models["diffurec"]
    L = SX.window_len(du)
    items = list(range(100, 100 + L))
    longer = list(range(300, 305)) + items
    a = SX.reverse(du, items, seed=1)
    b = SX.reverse(du, longer, seed=1)
    np.testing.assert_allclose(a.final, b.final, atol=1e-6)
    c = SX.reverse(du, items[1:], seed=1)                                       # a shorter history differs
    assert not np.allclose(a.final, c.final)


def test_lambda_controls_how_much_x_T_matters(models):
    du = models["diffurec"]
    items, _ = SX.user_history(du, pipeline.load_split("sample", how="loo"), 3)
    sens = SX.lambda_sensitivity(du, items, [1e-3, 1.0], n_starts=6, seed=0, k=10)
    assert sens["overlap"][0] >= 0.9 and sens["overlap"][0] > sens["overlap"][1]
    assert sens["spread"][0] < sens["spread"][1]
    np.testing.assert_allclose(sens["injected"][1] / sens["injected"][0], 1000.0)
    with pytest.raises(ValueError, match="DiffuRec"):
        SX.lambda_sensitivity(models["dreamrec"], items, [1e-3])


def test_forward_item(models):
    du = models["diffurec"]
    run = SX.forward_item(du, 42, seed=2)
    T = du.diffusion.T
    assert run.states.shape == (T + 1, du.config.hidden) and run.t.tolist() == list(range(T + 1))
    np.testing.assert_allclose(run.states[0], du.item_embeddings.weight[43].detach().numpy(), atol=1e-6)
    assert run.cos_to_item[0] == pytest.approx(1.0, abs=1e-5) and run.rank_of_item[0] == 1 and run.nearest[0, 0] == 42
    assert (np.diff(run.sqrt_ab) < 0).all() and (np.diff(run.noise_std) > 0).all()
    np.testing.assert_allclose(run.sqrt_ab ** 2 + run.noise_std ** 2, 1.0, atol=1e-9)
    assert run.cos_to_item[-1] < run.cos_to_item[1]
    again = SX.forward_item(du, 42, seed=2)
    np.testing.assert_array_equal(again.states, run.states)
    with pytest.raises(ValueError, match="outside"):
        SX.forward_item(du, 10_000)


def test_clean_history_reports_unknown_duplicate_and_empty():
    titles = ["Alpha", "Beta", "Gamma", "Delta"]
    c = SX.clean_history([0, "beta", 2, "#0", "Nope", 99, "  ", -1, 2.5], 4, titles)
    assert c.items.tolist() == [1, 2, 0]                    # 0 kept at its latest position
    assert c.duplicates == [0] and c.unknown == ["Nope", "99", "-1", "2.5"]
    msgs = c.problems(titles)
    assert any("4 unknown items" in m for m in msgs) and any("Alpha (#0)" in m for m in msgs)
    e = SX.clean_history([], 4, titles)
    assert e.empty and e.problems(titles) == [] and "empty" in e.empty_message
    assert SX.clean_history(["x"], 4).empty
    assert SX.clean_history([1, 2], 4).problems() == []


def test_reverse_rejects_other_methods(split):
    sas = pipeline.load_pretrained("sasrec", split)
    with pytest.raises(ValueError, match="diffurec"):
        SX.reverse(sas, [1, 2])
