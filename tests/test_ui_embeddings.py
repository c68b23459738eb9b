"""Figure builders and captions of the Embeddings page (ui/embeddings.py): trace and point counts, projected
positions, axis settings and caption numbers computed from the data."""
import dataclasses

import numpy as np
import pytest

from diffrec_core import item_map as IM
from diffrec_core import pipeline
from diffrec_core import seq_explain as SX
from ui import embeddings as emap
from ui import embeddings_models as emodels
from ui import embeddings_reverse as erev
from ui.equations import posterior_coefs


@pytest.fixture(scope="module")
def split():
    return pipeline.load_split("sample", how="loo")


@pytest.fixture(scope="module")
def world(split):
    du = pipeline.load_pretrained("diffurec", split)
    dr = pipeline.load_pretrained("dreamrec", split)
    items, target = SX.user_history(du, split, 11)
    return dict(du=du, dr=dr, items=items, target=target, maps={m: IM.load(IM.map_path(m)) for m in
                                                                 ("diffurec", "dreamrec")},
                traj=SX.reverse(du, items, seed=0, k=10, user=11),
                traj_dr=SX.reverse(dr, items, seed=0, k=10, user=11))


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_map_figure_has_every_item_once_coloured_by_genre(world, split):
    imap = world["maps"]["diffurec"]
    fig = emap.map_figure(imap, "umap", split.item_genres, split.item_titles, history=[1, 2, 3], target=4, topk=[5, 6])
    genres = emap.genre_order(split.item_genres)
    item_traces = [t for t in fig.data if t.name in genres]
    assert len(item_traces) == len(set(split.item_genres))
    assert sum(len(t.x) for t in item_traces) == split.n_items
    colours = {t.marker.color for t in item_traces}
    assert len(colours) == len(item_traces)
    assert emap.COLORS["noise"] not in colours and emap.X0_COLOR == emap.COLORS["noise"]   # vermillion: x̂0's only
    action = _trace(fig, genres[0])
    i = int(action.customdata[0][0])
    assert action.customdata[0][1] == split.item_titles[i] and split.item_genres[i] == genres[0]
    assert action.x[0] == pytest.approx(imap.umap[i, 0])
    assert len(_trace(fig, "history").x) == 3 and len(_trace(fig, "top-K").x) == 2
    assert _trace(fig, "held-out next item").x[0] == pytest.approx(imap.umap[4, 0])
    assert fig.layout.xaxis.showticklabels is False                       # UMAP axes mean nothing
    pca = emap.map_figure(imap, "pca", split.item_genres, split.item_titles)
    assert "PC1" in pca.layout.xaxis.title.text and "%" in pca.layout.xaxis.title.text
    assert pca.layout.yaxis.scaleanchor == "x"


def test_map_stats_and_caption(world, split):
    imap = world["maps"]["diffurec"]
    st = emap.map_stats(imap, split.item_genres)
    assert 0 < st["chance"] < st["embedding"] <= 1 and set(st) >= {"umap", "pca"}
    cap = emap.map_caption(imap, "umap", st)
    assert f"{100 * st['embedding']:.0f} %" in cap and f"{100 * st['umap']:.0f} %" in cap
    # a table without any genre structure is called so
    rnd = IM.build_map("x", np.random.default_rng(0).standard_normal((500, 16)), with_umap=False)
    assert "almost no genre signal" in emap.map_caption(rnd, "pca", emap.map_stats(rnd, split.item_genres))


def test_neighbour_agreement_extremes():
    g = np.repeat(["a", "b", "c", "d"], 25)
    X = np.repeat(np.eye(4), 25, axis=0) + 0.01 * np.random.default_rng(0).standard_normal((100, 4))
    assert emap.neighbour_agreement(X, g, k=5, cosine=True) == 1.0
    assert emap.neighbour_agreement(X[:, :2] * 0 + np.random.default_rng(1).standard_normal((100, 2)), g, k=5) < 0.5


def test_reverse_figure_places_the_trajectory(world, split):
    imap, traj = world["maps"]["diffurec"], world["traj"]
    fig = erev.reverse_figure(imap, "pca", traj, 5, split.item_genres, split.item_titles, world["target"],
                           world["items"][-20:])
    state = _trace(fig, "x_t (state)")
    assert len(state.x) == traj.n_steps == 32
    expected = IM.project(imap, traj.states[:, 0], "pca").xy
    np.testing.assert_allclose(state.x, expected[:, 0], atol=1e-6)
    cur = _trace(fig, "current x̂0")
    np.testing.assert_allclose([cur.x[0], cur.y[0]], IM.project(imap, traj.x0_hat[5, 0][None], "pca").xy[0],
                               atol=1e-6)
    assert len(_trace(fig, "top-K at this step").x) == 10
    assert "step 6 of 32" in fig.layout.title.text


def test_rank_figure_caption_and_table(world, split):
    traj, target = world["traj"], world["target"]
    r = erev.target_ranks(traj, target)
    s = traj.scores[-1, 0]
    assert r[-1] == 1 + int((s > s[target]).sum())
    fig = erev.rank_figure(traj, target, 3)
    np.testing.assert_array_equal(fig.data[0].y, r)
    if r.max() / r.min() >= 10:                                     # log axis only when the rank spans a decade
        assert fig.layout.yaxis.type == "log"
    else:
        lo, hi = sorted(fig.layout.yaxis.range)
        assert lo < r.min() and hi > r.max()
    cap = erev.reverse_caption(traj, 3, target, split.item_titles)
    assert f"ends at rank {int(r[-1])}" in cap and split.item_titles[target] in cap
    none = erev.rank_figure(traj, None, 0)
    assert not none.data and "no held-out" in none.layout.annotations[0].text
    assert "no held-out next item" in erev.reverse_caption(traj, 0, None)
    rows = erev.topk_rows(traj, 31, split.item_titles, target, split.item_genres)
    assert [r_["item"] for r_ in rows] == traj.topk[31, 0].tolist()
    assert sum(r_["held-out?"] == "✔" for r_ in rows) == int(target in traj.topk[31, 0])


def test_forward_figure_curve_and_caption(world, split):
    du, imap = world["du"], world["maps"]["diffurec"]
    run = SX.forward_item(du, 7, seed=0, E=imap.embeddings)
    fig = emap.forward_figure(imap, "umap", run, 10, split.item_genres, split.item_titles)
    path = _trace(fig, "x_t, t = 0…T")
    assert len(path.x) == du.diffusion.T + 1
    np.testing.assert_allclose([path.x[0], path.y[0]], imap.umap[7], atol=0.05 * np.ptp(imap.umap))
    assert len(_trace(fig, "nearest to x_10").x) == run.nearest.shape[1]
    curve = emap.forward_curve(run, 10)
    np.testing.assert_allclose(curve.data[0].y, run.cos_to_item)
    assert curve.layout.shapes[0].x0 == 10
    cap = emap.forward_caption(run, 10, split.item_titles)
    assert f"ranked {int(run.rank_of_item[10])}" in cap or "still the item most similar" in cap
    assert split.item_titles[run.nearest[10, 0]] in cap


def test_forward_figure_shows_the_similarity_not_only_the_position(world, split):
    du, imap = world["du"], world["maps"]["diffurec"]
    run = SX.forward_item(du, 7, seed=0, E=imap.embeddings)
    T = du.diffusion.T
    sizes = {}
    for t in (0, T):
        fig = emap.forward_figure(imap, "umap", run, t, split.item_genres, split.item_titles)
        sizes[t] = _trace(fig, f"x_{t}").marker.size
        c = float(run.cos_to_item[t])
        assert f"cos to the item <b>{c:.2f}</b>" in fig.layout.annotations[0].text
        assert sizes[t] == emap.similarity_size(c)
    assert run.cos_to_item[0] > run.cos_to_item[T] and sizes[0] > sizes[T]     # less similar: a smaller marker
    size = emap.similarity_size
    assert size(-0.3) == size(0.0) < size(0.28) < size(1.0)
    umap = emap.placement_sentence("umap", 0.28, "Solar Station")
    assert "0.28" in umap and "Solar Station" in umap and "10 most cosine-similar items" in umap
    assert "exactly" in emap.placement_sentence("pca", 0.28, "Solar Station")


def test_chance_sentence_compares_with_a_random_ranking():
    assert emap.chance_recall(20, 500) == 0.04
    at = emap.chance_sentence("dreamrec", {"recall@20": 0.031}, 500)
    assert "0.031" in at and "20/500 = 0.040" in at and "at chance" in at
    good = emap.chance_sentence("diffurec", {"recall@20": 0.192}, 500)
    assert "at chance" not in good and "4.8× chance" in good
    assert "at chance" in emap.chance_sentence("diffurec", {"recall@20": 0.192}, 50)          # 20/50 = 0.4 random
    assert emap.chance_sentence("dreamrec", {}, 500) == ""


def test_multiples_and_guidance_caption(world, split):
    dr, imap = world["dr"], world["maps"]["dreamrec"]
    ws = [0.0, 2.0, 8.0]
    sweep = SX.guidance_sweep(dr, world["items"], ws, seed=0, k=10)
    fig = emodels.multiples_figure(imap, "umap", sweep, [f"w = {w:g}" for w in ws], split.item_genres,
                             split.item_titles, world["target"], cols=3)
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith("xaxis")]
    assert len(axes) == 3
    assert [a.text for a in fig.layout.annotations] == ["<b>w = 0</b>", "<b>w = 2</b>", "<b>w = 8</b>"]
    doms = sorted(fig.layout[a].domain for a in axes)
    assert all(d[1] <= e[0] for d, e in zip(doms, doms[1:]))                 # panels do not overlap
    cap = emodels.guidance_caption(sweep, ws, world["target"], split.item_titles)
    ov = emodels.overlap(sweep[0].final_topk[0], sweep[2].final_topk[0])
    assert f"w = 8: {100 * ov:.0f} % of the w = 0 list" in cap


def test_lambda_figure_and_caption(world):
    sens = SX.lambda_sensitivity(world["du"], world["items"], [1e-3, 0.1, 1.0], n_starts=4, seed=0, k=10)
    fig = emodels.lambda_figure(sens, 0.1)
    np.testing.assert_allclose(fig.data[0].y, sens["overlap"])
    assert fig.layout.xaxis.type == "log" and fig.layout.shapes[-1].x0 == 0.1
    cap = emodels.lambda_caption(sens, 1.0)
    assert f"share {100 * sens['overlap'][2]:.0f} %" in cap and "trained δ = 0.001" in cap


def test_side_by_side(world, split):
    maps = [world["maps"]["diffurec"], world["maps"]["dreamrec"]]
    pair = [world["traj"], world["traj_dr"]]
    fig = emodels.side_by_side_figure(list(zip(maps, pair)), "pca", 0.5, split.item_genres, split.item_titles,
                                world["target"])
    assert fig.layout.xaxis.domain[1] <= fig.layout.xaxis2.domain[0]
    texts = [a.text for a in fig.layout.annotations]
    # half-way: step round(0.5·(S−1)) + 1 of each chain (T = 32 and T = 100)
    assert "DiffuRec" in texts[0] and "step 17 of 32" in texts[0] and "step 51 of 100" in texts[1]
    cap = emodels.side_by_side_caption(pair, world["target"], split.item_titles)
    shared = len(set(pair[0].final_topk[0]) & set(pair[1].final_topk[0]))
    assert f"share {shared} item" in cap


def test_reverse_equation_live_numbers(world):
    for traj in (world["traj"], world["traj_dr"]):
        i = 3
        k = int(traj.steps[i])
        eq = erev.reverse_equation(traj, i)
        co = posterior_coefs(traj.betas, traj.alphas_cumprod)
        v = eq.values()
        assert float(v["c₁"]) == pytest.approx(co["c1"][k], rel=1e-3)
        assert float(v["c₂"]) == pytest.approx(co["c2"][k], rel=1e-3)
        assert float(v["‖x̂0‖"]) == pytest.approx(np.linalg.norm(traj.x0_hat[i, 0]), rel=1e-2)
        assert f"x_{{{k}}}" in eq.live
    assert "δ" in erev.reverse_equation(world["traj"], 0).values()
    assert "w" in erev.reverse_equation(world["traj_dr"], 0).values()
    assert r"\varnothing" in erev.reverse_equation(world["traj_dr"], 0).general


def test_quirk_sentences_follow_the_config(world):
    cfg = dataclasses.asdict(world["du"].config)
    rows = {r[0]: r[2] for r in emodels.quirk_rows("diffurec", cfg)}
    assert rows == {"use_pos_emb": "faithful", "attn_mask": "faithful", "score_padding": "clean",
                    "lambda_uncertainty": "faithful"}
    assert "learned positions" in emodels.quirk_sentence("diffurec", dict(cfg, use_pos_emb=True))
    dr = {r[0]: r[2] for r in emodels.quirk_rows("dreamrec", dataclasses.asdict(world["dr"].config))}
    assert dr["eval_dropout"] == "clean" and dr["aux_ce_weight"] == "faithful"


def test_trajectory_csv(world, split):
    traj, imap = world["traj"], world["maps"]["diffurec"]
    csv = erev.trajectory_csv(traj, imap, "umap", split.item_titles, world["target"])
    lines = csv.strip().split("\n")
    assert len(lines) == traj.n_steps + 1 and lines[0].startswith("step,t,state_umap_x")
    last = lines[-1].split(",")
    assert last[0] == "32" and last[1] == "1"
    assert int(last[8]) == int(erev.target_ranks(traj, world["target"])[-1])
    assert last[9].split() == [str(i) for i in traj.topk[-1, 0]]


def test_reverse_stepper_holds_every_step_as_a_frame(world, split):
    imap, traj, target = world["maps"]["diffurec"], world["traj"], world["target"]
    fig = erev.stepper_figure(imap, "pca", traj, split.item_genres, split.item_titles, target, world["items"][-20:],
                              start=4)
    names = [t.name for t in fig.data]
    assert [f.name for f in fig.frames] == [f"step {i}" for i in range(1, traj.n_steps + 1)]
    assert fig.layout.sliders[0].active == 4 and len(fig.layout.updatemenus[0].buttons) == 2    # ▶ and ❚❚
    x0 = IM.project(imap, traj.x0_hat[:, 0], "pca").xy
    ranks = erev.target_ranks(traj, target)
    for i in (0, 4, traj.n_steps - 1):
        fr = {names[j]: d for j, d in zip(fig.frames[i].traces, fig.frames[i].data)}
        np.testing.assert_allclose([fr["current x̂0"].x[0], fr["current x̂0"].y[0]], x0[i], atol=1e-6)
        assert len(fr["top-K at this step"].x) == 10
        assert f"reverse step {i + 1} of {traj.n_steps}" in fr["numbers"].text[0]
        assert f"rank {int(ranks[i])}" in fr["numbers"].text[0]
        assert fr["current step"].x[0] == i + 1                                  # the rank panel's cursor
    opening = {names[j]: d for j, d in zip(fig.frames[4].traces, fig.frames[4].data)}
    assert fig.data[names.index("numbers")].text[0] == opening["numbers"].text[0]
    capped = erev.stepper_figure(imap, "pca", traj, split.item_genres, split.item_titles, None, max_frames=5)
    assert len(capped.frames) <= 5 and "rank" not in capped.data[-1].text[0]      # no held-out item: no rank


def test_forward_stepper_holds_every_t_as_a_frame(world, split):
    imap = world["maps"]["diffurec"]
    run = SX.forward_item(world["du"], 7, seed=0, E=imap.embeddings)
    T = int(run.t[-1])
    fig = emap.forward_stepper(imap, "pca", run, split.item_genres, split.item_titles, start=3)
    names = [t.name for t in fig.data]
    assert [f.name for f in fig.frames] == [f"t={t}" for t in range(T + 1)] and fig.layout.sliders[0].active == 3
    xy = IM.project(imap, run.states, "pca").xy
    for t in (0, 3, T):
        fr = {names[j]: d for j, d in zip(fig.frames[t].traces, fig.frames[t].data)}
        np.testing.assert_allclose([fr["x_t (size: cos to the item)"].x[0], fr["x_t (size: cos to the item)"].y[0]],
                                   xy[t], atol=1e-6)
        assert fr["x_t (size: cos to the item)"].marker.size == emap.similarity_size(run.cos_to_item[t])
        assert f"t = {t} of {T}" in fr["numbers"].text[0] and fr["current step"].x[0] == t
