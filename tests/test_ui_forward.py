"""Forward-noising builders (ui.forward) and the shared item axis / user profile (ui.data)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core.data.dataset import Split  # noqa: E402
from diffrec_core.diffusion import PRESETS, GaussianDiffusion, ScheduleConfig  # noqa: E402
from ui import data as uidata  # noqa: E402
from ui import forward, schedule, stepper  # noqa: E402
from ui.stepper import MAX_FRAMES  # noqa: E402

GENRES = ["A", "B", "A", "C", "B", "A", "A", "C", "B", "A", "C", "A"]


def tiny_split():
    """4 users x 12 items; user 0: items 0, 2, 5 (5 is injected noise), held out 7 (valid) and 9 (test);
    user 3 has no history at all (and a validation item but no test item)."""
    tr = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
                                 [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                                 [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                                 [0] * 12], dtype=np.float32))
    va = sp.csr_matrix(np.eye(4, 12, 7, dtype=np.float32))
    te = sp.csr_matrix(np.eye(4, 12, 9, dtype=np.float32))
    noise = sp.csr_matrix((np.ones(1, np.float32), ([0], [5])), shape=(4, 12))
    order = tr.copy()
    order.data = np.array([2, 0, 1, 0, 1, 0, 1, 2, 3], dtype=np.float32)  # user 0: item 2 oldest, then 5, then 0
    return Split("tiny", tr, va, te, train_order=order, train_noise=noise,
                 item_titles=[f"T{i}" for i in range(12)], item_genres=GENRES)


def test_item_axis_groups_items_by_genre():
    pop = np.arange(12, dtype=float)
    ax = uidata.item_axis(GENRES, pop)
    assert sorted(ax.order.tolist()) == list(range(12))
    assert (ax.pos[ax.order] == np.arange(12)).all()
    assert [b[0] for b in ax.bands] == ["A", "B", "C"]          # largest genre first
    assert ax.bands[0][1] == 0 and ax.bands[-1][2] == 12
    for name, a, b in ax.bands:
        assert {GENRES[i] for i in ax.order[a:b]} == {name}
        members = ax.order[a:b]
        assert list(pop[members]) == sorted(pop[members], reverse=True)   # most popular first
    flat = uidata.item_axis(None, pop, n_items=12)
    assert flat.bands == (("all items", 0, 12),) and flat.order[0] == 11


def test_user_profile_and_summary():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    assert p.train.tolist() == [0, 2, 5] and p.noise.tolist() == [5] and p.genuine.tolist() == [0, 2]
    assert p.valid.tolist() == [7] and p.test.tolist() == [9] and p.heldout().tolist() == [7, 9]
    assert p.heldout("valid").tolist() == [7]
    assert p.chrono.tolist() == [2, 5, 0]
    assert uidata.user_summary(p) == "3 training items (1 injected noise) · 1 validation · 1 test"
    empty = uidata.user_profile(s, 3)
    assert len(empty.train) == 0 and "0 training items" in uidata.user_summary(empty)
    with pytest.raises(IndexError):
        uidata.user_profile(s, 4)


def test_world_summary_and_demo_user():
    s = tiny_split()
    w = uidata.world_summary(s)
    assert w["users"] == 4 and w["items"] == 12 and w["noise"] == 1 and w["interactions"] == 9 + 4 + 3
    assert w["noise_share"] == pytest.approx(1 / 9) and w["n_genres"] == 3 and w["users_without_heldout"] == 0
    assert uidata.demo_user(s, lo=1, hi=5) == 0                           # the only user with noise


def test_item_kinds():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    k = forward.item_kinds(p, 12)
    assert (k == forward.INTERACTED).sum() == 2 and k[5] == forward.NOISE and (k == forward.OTHER).sum() == 9
    k2 = forward.item_kinds(p, 12, heldout=p.heldout())
    assert k2[7] == forward.HELDOUT and k2[9] == forward.HELDOUT


@pytest.mark.parametrize("T,include", [(1, []), (10, [3]), (40, [12]), (1000, [517])])
def test_frame_steps(T, include):
    steps = forward.frame_steps(T, include=include)
    assert steps[0] == 0 and steps[-1] == T and all(i in steps for i in include)
    assert len(steps) <= MAX_FRAMES and (np.diff(steps) > 0).all()
    assert len(steps) >= min(T + 1, MAX_FRAMES - len(include))  # as many frames as the cap allows


def test_noise_draw_is_seeded():
    a, b, c = forward.noise_draw(50, 1), forward.noise_draw(50, 1), forward.noise_draw(50, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_forward_states_reuse_one_noise_draw_across_steps_and_settings():
    x0 = np.zeros(12)
    x0[[0, 2, 5]] = 1
    eps = forward.noise_draw(12, 0)
    steps = np.array([0, 3, 10])
    for name in ("sample world (small CPU)", "visible noise (teaching)"):
        d = GaussianDiffusion(PRESETS[name])
        tab = d.schedule_table()
        xt = forward.forward_states(d, x0, steps, eps)
        assert np.allclose(xt[0], x0)
        for row, t in zip(xt[1:], steps[1:]):
            k = t - 1
            # x_t - sqrt(abar) x0 is the same eps scaled by the noise std: only the coefficients change
            np.testing.assert_allclose((row - tab["sqrt_alpha_bar"][k] * x0) / tab["noise_std"][k], eps,
                                       rtol=1e-3, atol=1e-3)


def _hero(T=10, t=3):
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES, uidata.item_popularity(s))
    d = GaussianDiffusion(ScheduleConfig("linear_var", T, 1.0, 1e-3, 0.5, 1e-5))
    steps = forward.frame_steps(T, include=[t])
    x0 = s.rows([0])[0].astype(np.float64)
    states = forward.forward_states(d, x0, steps, forward.noise_draw(12, 0))
    kinds = forward.item_kinds(p, 12)
    return forward.forward_figure(states, steps, ax, kinds, s.item_titles, current_t=t, T=T), states, steps, kinds, ax


def test_forward_figure_frames_traces_and_ranges():
    fig, states, steps, kinds, ax = _hero()
    assert len(fig.data) == 3 and [t.name for t in fig.data] == [
        "not interacted", "interacted", "injected noise"]
    assert len(fig.frames) == len(steps)
    sizes = [(kinds == k).sum() for k in (forward.OTHER, forward.INTERACTED, forward.NOISE)]
    for fr in fig.frames:
        assert [len(tr.y) for tr in fr.data] == sizes
    ci = int(np.flatnonzero(steps == 3)[0])
    assert fig.layout.sliders[0].active == ci and len(fig.layout.sliders[0].steps) == len(steps)
    # the figure shows step 3: the noise-interaction marker sits at x_3 of item 5
    assert fig.data[2].y[0] == pytest.approx(states[ci][5])
    assert fig.data[2].x[0] == ax.pos[5]
    lo, hi = fig.layout.yaxis.range
    assert lo <= states.min() and hi >= states.max() and hi - lo < 1.5 * (states.max() - states.min())
    assert len(fig.layout.updatemenus[0].buttons) == 2                      # play, pause
    assert fig.layout.updatemenus[0].buttons[0].label.endswith("play")
    with pytest.raises(ValueError):
        forward.forward_figure(states, steps, ax, kinds, current_t=4 if 4 not in steps else 99)


def test_forward_figure_hides_empty_legend_groups():
    s = tiny_split()
    p = uidata.user_profile(s, 1)                          # no noise interactions
    ax = uidata.item_axis(GENRES)
    kinds = forward.item_kinds(p, 12)
    steps = np.array([0, 1])
    fig = forward.forward_figure(np.zeros((2, 12)), steps, ax, kinds, current_t=0)
    assert [t.showlegend for t in fig.data] == [True, True, False]


def test_separability():
    pos = np.array([True, True, False, False, False])
    perfect = forward.separability(np.array([1.0, 0.9, 0.1, 0.0, 0.2]), pos, threshold=0.5)
    assert perfect["auc"] == 1.0 and perfect["accuracy"] == 1.0
    assert perfect["min_pos"] == 0.9 and perfect["max_neg"] == 0.2
    ties = forward.separability(np.zeros(5), pos)
    assert ties["auc"] == 0.5
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    assert abs(forward.separability(x, rng.random(4000) < 0.1)["auc"] - 0.5) < 0.05
    assert np.isnan(forward.separability(x[:3], np.zeros(3, bool))["auc"])


def test_histogram_figure_bins_span_the_data():
    x = np.array([0.0, 0.01, -0.02, 1.0, 0.98])
    kinds = np.array([0, 0, 0, 1, 2])
    fig = forward.histogram_figure(x, kinds, t=5)
    assert len(fig.data) == 2 and {t.type for t in fig.data} == {"bar"}
    assert fig.data[0].name == "not interacted (3)" and fig.data[1].name == "interacted (2)"
    edges = forward.histogram_edges(x)
    size = 1.02 / 40
    assert edges[0] < -0.02 and edges[-1] > 1.0 and np.diff(edges) == pytest.approx(np.full(41, size))
    assert sum(fig.data[0].y) == pytest.approx(100) and sum(fig.data[1].y) == pytest.approx(100)
    assert fig.data[0].width == pytest.approx(size)
    assert "t = 5" in fig.layout.title.text
    # shared edges (the stepper's): the same bins whatever the step's values
    wide = np.linspace(-3, 3, 41)
    other, inter = forward.histogram_shares(x, kinds, wide)
    assert len(other) == 40 and other.sum() == pytest.approx(100) and inter.sum() == pytest.approx(100)


# ------------------------------------------------------------------------------------------------ stepper
@pytest.mark.parametrize("n,include", [(1, []), (10, [3]), (1000, [517]), (100, [50])])
def test_frame_index_caps_and_keeps_the_ends_and_the_start(n, include):
    idx = stepper.frame_index(n, include=include)
    assert idx[0] == 0 and idx[-1] == n - 1 and all(i in idx for i in include)
    assert min(n, MAX_FRAMES - len(include)) <= len(idx) <= min(n, MAX_FRAMES) and (np.diff(idx) > 0).all()


def test_place_renumbers_axes_and_moves_paper_items_into_the_box():
    import plotly.graph_objects as go
    fig = go.Figure([go.Scatter(x=[1], y=[2]), go.Scatter(x=[1], y=[2], xaxis="x2", yaxis="y2")],
                    dict(xaxis=dict(domain=[0, 0.5]), xaxis2=dict(domain=[0.5, 1], anchor="y2", matches="x"),
                         yaxis2=dict(anchor="x2"), annotations=[dict(text="a", x=1, y=1, xref="paper", yref="paper"),
                                                                 dict(text="b", x=3, y=0, xref="x2", yref="y2 domain")],
                         shapes=[dict(type="rect", x0=0, x1=1, y0=0, y1=1, xref="x", yref="paper")]))
    p = stepper.place(fig, (0.2, 0.6, 0.5, 1.0), 3)
    assert [(t["xaxis"], t["yaxis"]) for t in p["data"]] == [("x4", "y4"), ("x5", "y5")]
    assert p["axes"]["xaxis4"]["domain"] == [0.2, 0.4] and p["axes"]["xaxis5"]["domain"] == [0.4, 0.6]
    assert p["axes"]["xaxis5"]["anchor"] == "y5" and p["axes"]["xaxis5"]["matches"] == "x4"
    assert p["axes"]["yaxis4"]["domain"] == [0.5, 1.0]
    a, b = p["annotations"]
    assert (a["x"], a["y"]) == (0.6, 1.0) and (b["xref"], b["yref"], b["x"]) == ("x5", "y5 domain", 3)
    sh = p["shapes"][0]
    assert sh["xref"] == "x4" and (sh["y0"], sh["y1"]) == (0.5, 1.0)


def test_controls_play_from_the_current_frame_and_scrub_in_the_browser():
    menus, sliders = stepper.controls(["a", "b", "c"], ["1", "2", "3"], 1, "step ", 300, redraw=True)
    play, pause = menus[0]["buttons"]
    assert play["method"] == "animate" and play["args"][0] is None
    assert play["args"][1]["fromcurrent"] is True and play["args"][1]["frame"] == {"duration": 300, "redraw": True}
    assert pause["args"][0] == [None]
    s = sliders[0]
    assert s["active"] == 1 and [st["args"][0] for st in s["steps"]] == [["a"], ["b"], ["c"]]
    assert all(st["args"][1]["frame"]["redraw"] is True for st in s["steps"])
    assert 100 <= stepper.play_duration(1000) <= stepper.play_duration(10) <= 600


def test_forward_stepper_figure_frames_move_every_panel():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES, uidata.item_popularity(s))
    d = GaussianDiffusion(PRESETS["image-DDPM (linear 1e-4..0.02, T=1000)"])
    steps = forward.frame_steps(d.T, include=[517])
    x0 = s.rows([0])[0].astype(np.float64)
    states = forward.forward_states(d, x0, steps, forward.noise_draw(12, 0))
    kinds = forward.item_kinds(p, 12)
    fig = forward.stepper_figure(states, steps, ax, kinds, d.schedule_table(), s.item_titles, current_t=517, T=d.T)
    assert len(fig.frames) == len(steps) <= MAX_FRAMES
    ci = int(np.flatnonzero(steps == 517)[0])
    assert fig.layout.sliders[0].active == ci and fig.layout.sliders[0].steps[ci].label == "517"
    assert fig.data[-1].text[0].startswith("<b>t = 517 of 1000</b>")
    last = fig.frames[-1]
    assert last.name == "t=1000" and len(last.traces) == len(last.data)
    assert last.data[-1].text[0].startswith("<b>t = 1000 of 1000</b>")
    assert np.allclose(last.data[2].y, states[-1][[5]])                  # the noise item at t = T
    bars = [tr for tr in last.data if tr.type == "bar"]
    assert len(bars) == 2 and sum(bars[1].y) == pytest.approx(100, rel=1e-5)
    # one set of bins for every frame: the x positions are the figure's, only heights move
    assert all(getattr(tr, "x", None) is None for tr in bars)
    with pytest.raises(ValueError):
        forward.stepper_figure(states, steps, ax, kinds, d.schedule_table(), current_t=518, T=d.T)



def test_hovering_an_item_shows_its_own_arithmetic():
    """With x0 and ε, each hero point carries (item, x0_i, ε_i) and a hover line x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε in
    those numbers; the arithmetic reproduces the plotted x_t at every frame (so the hover line is true)."""
    from tolerances import F32_NET

    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES, uidata.item_popularity(s))
    d = GaussianDiffusion(PRESETS["image-DDPM (linear 1e-4..0.02, T=1000)"])
    steps = forward.frame_steps(d.T, include=[300])
    x0 = s.rows([0])[0].astype(np.float64)
    eps = forward.noise_draw(12, 0)
    states = forward.forward_states(d, x0, steps, eps)
    kinds = forward.item_kinds(p, 12)
    table = d.schedule_table()
    fig = forward.stepper_figure(states, steps, ax, kinds, table, s.item_titles, current_t=300, T=d.T, x0=x0,
                                 noise=eps)
    hero = [fig.data[i] for i in range(3)]
    assert all("√ᾱ<sub>t</sub>·%{customdata[1]" in tr.hovertemplate and "= %{y:.4f}" in tr.hovertemplate
               for tr in hero)
    by = schedule.by_step(table)
    for frame, t in zip(fig.frames, steps):
        for j, tr in enumerate(hero):
            cd = np.asarray(tr.customdata, dtype=np.float64)
            items = cd[:, 0].astype(int)
            assert np.array_equal(cd[:, 1], x0[items]) and np.allclose(cd[:, 2], eps[items], **F32_NET)
            shown = by["sqrt_alpha_bar"][int(t)] * cd[:, 1] + by["noise_std"][int(t)] * cd[:, 2]
            assert np.allclose(shown, np.asarray(frame.data[j].y, dtype=np.float64), **F32_NET), int(t)
    grey = next(m for m in fig.layout.updatemenus if m.buttons[0].label == forward.MODEL_VIEW)
    assert grey.buttons[0].args[0]["hovertemplate"][0].startswith("item %{customdata[0]}")

def test_step_numbers_say_the_separability():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    d = GaussianDiffusion(PRESETS["visible noise (teaching)"])
    kinds = forward.item_kinds(p, 12)
    x0 = s.rows([0])[0].astype(np.float64)
    clean = forward.step_numbers(d.schedule_table(), 0, d.T, x0, kinds, 12)
    assert "clean history" in clean and "AUC 1.000" in clean and "do not overlap" in clean
    assert "balanced accuracy 100.0 %" in clean and "plain accuracy 100.0 % of the 12 items" in clean
    assert "75.0 % for “no interaction” everywhere" in clean           # 9 of the 12 items are not in the history


def test_balanced_accuracy_and_the_all_zeros_baseline():
    """At pure noise a sparse history's plain accuracy looks decent only because most items are negatives: the
    balanced accuracy is at chance and the all-zeros baseline beats the threshold."""
    rng = np.random.default_rng(1)
    pos = np.zeros(500, bool)
    pos[rng.choice(500, 25, replace=False)] = True
    x = rng.normal(size=500)                                        # no signal left
    sep = forward.separability(x, pos, threshold=0.01)
    assert sep["baseline"] == 475 / 500
    assert abs(sep["balanced_accuracy"] - 0.5) < 0.15
    assert sep["accuracy"] < sep["baseline"]
    hand = (np.mean(x[pos] > 0.01) + np.mean(x[~pos] <= 0.01)) / 2
    assert abs(sep["balanced_accuracy"] - hand) < 1e-12
    one_sided = forward.separability(np.array([1.0, 0.0, 0.0, 0.0]), np.array([True, False, False, False]), 2.0)
    assert one_sided["accuracy"] == 0.75 and one_sided["balanced_accuracy"] == 0.5 and one_sided["baseline"] == 0.75
    assert np.isnan(forward.separability(x[:3], np.zeros(3, bool), 0.1)["balanced_accuracy"])


def test_step_numbers_at_pure_noise_show_the_baseline_beating_the_threshold():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    d = GaussianDiffusion(ScheduleConfig("linear_var", 1000, 1.0, 1e-4, 0.02, None))
    kinds = forward.item_kinds(p, 12)
    x = forward.forward_states(d, s.rows([0])[0].astype(np.float64), [1000], forward.noise_draw(12, 0))[0]
    half = schedule.terms_at(d.schedule_table(), 1000)["sqrt_alpha_bar"] / 2
    sep = forward.separability(x, kinds > 0, threshold=half)
    text = forward.step_numbers(d.schedule_table(), 1000, 1000, x, kinds, 12)
    assert f"balanced accuracy {100 * sep['balanced_accuracy']:.1f} %" in text
    assert "75.0 % for “no interaction” everywhere" in text


def test_model_view_greys_the_ground_truth_and_reveal_restores_it():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES, np.arange(12, dtype=float))
    d = GaussianDiffusion(PRESETS["visible noise (teaching)"])
    kinds = forward.item_kinds(p, 12)
    steps = forward.frame_steps(d.T)
    states = forward.forward_states(d, s.rows([0])[0].astype(np.float64), steps, forward.noise_draw(12, 0))
    fig = forward.stepper_figure(states, steps, ax, kinds, d.schedule_table(), current_t=int(steps[-1]), T=d.T)
    menu = next(m for m in fig.layout.updatemenus if any(b.label == forward.MODEL_VIEW for b in m.buttons))
    hide, reveal = menu.buttons
    assert hide.method == reveal.method == "restyle" and reveal.label == forward.REVEAL
    style, idx = hide.args
    names = [fig.data[i].name for i in idx]
    assert {"not interacted", "interacted", "injected noise"} <= set(names)          # every ground-truth kind
    assert any(fig.data[i].type == "bar" for i in idx)                                # and the histogram's groups
    assert set(style["marker.color"]) == {forward.GREY} and not any(style["showlegend"])
    assert all("interacted" not in h and "noise" not in h for h in style["hovertemplate"])
    back, idx2 = reveal.args
    assert idx2 == idx and back["marker.color"] == [fig.data[i].marker.color for i in idx]
    assert len(set(back["marker.color"])) >= 3                                        # the kinds' own colours


def test_forward_caption_is_data_driven():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    sep = {"auc": 1.0, "min_pos": 0.95, "max_neg": 0.05}
    c = forward.forward_caption(p, 10, 10, sep, 0.006, seed=7)
    assert "User 0" in c and "3 items" in c and "1 of them injected noise" in c and "do not overlap" in c
    assert "seed 7" in c and "0.95" in c
    noisy = forward.forward_caption(p, 10, 10, {"auc": 0.71, "min_pos": -1.0, "max_neg": 2.0}, 0.7, 0)
    assert "overlap" in noisy and "0.710" in noisy
    assert "clean history" in forward.forward_caption(p, 0, 10, sep, 0.0, 0)
    empty = forward.forward_caption(uidata.user_profile(s, 3), 5, 10, {}, 0.1, 0)
    assert "no training interactions" in empty
