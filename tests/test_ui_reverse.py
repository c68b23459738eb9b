"""Reverse-denoising builders (ui.reverse), on hand-made trajectories and on a real pretrained run."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core import trajectory_io  # noqa: E402
from diffrec_core.trajectory import Trajectory  # noqa: E402
from ui import data as uidata  # noqa: E402
from ui import forward, reverse, reverse_noise, reverse_stepper, reverse_variants  # noqa: E402
from ui.theme import COLORS  # noqa: E402

from test_ui_forward import GENRES, tiny_split  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
I = 12


def make_traj(S=4, K=3, latent=False):
    """S steps over 12 items; user 0 of tiny_split (train 0, 2, 5; noise 5; held out 7, 9). x̂0 puts item 7 first
    from step 2 on, and the noise item 5 lowest among the training items."""
    betas = np.linspace(1e-4, 2e-2, S)
    ab = np.cumprod(1 - betas)
    x0_hat = np.zeros((S, 1, I))
    for s in range(S):
        x0_hat[s, 0] = np.linspace(0.5, 0.0, I)            # item 0 highest ... item 11 lowest
        x0_hat[s, 0, [0, 2]] = 0.9                         # genuine history kept
        x0_hat[s, 0, 5] = 0.2 - 0.05 * s                   # injected noise demoted more and more
        if s >= 2:
            x0_hat[s, 0, 7] = 0.8                          # held-out item rises to the top
    states = x0_hat + 0.01 * np.arange(S)[:, None, None]
    seen = np.zeros(I, bool)
    seen[[0, 2, 5]] = True
    scores = np.where(seen, -np.inf, x0_hat)
    topk = np.argsort(-scores, axis=-1, kind="stable")[..., :K]
    meta = {"T_prime": 0, "reverse": "all_T", "sampling_noise": False}
    if latent:
        states = np.random.default_rng(0).normal(size=(S, 1, 6))
        x0_l = states * 0.5
        meta.update(space="latent", latent_size=6, item_cluster=[0] * 6 + [1] * 6, latent_slices=[[0, 3], [3, 6]],
                    cluster_source="svd")
        return Trajectory("ldiffrec", np.arange(S - 1, -1, -1), states, x0_l, x0_l[-1], np.array([0]), betas, ab,
                          scores=scores, topk=topk, final_scores=scores[-1], final_topk=topk[-1], meta=meta)
    return Trajectory("diffrec", np.arange(S - 1, -1, -1), states, x0_hat, states[-1], np.array([0]), betas, ab,
                      scores=scores, topk=topk, final_scores=scores[-1], final_topk=topk[-1], meta=meta)


@pytest.fixture
def setup():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES)
    return s, p, ax, make_traj()


def test_record_helpers(setup):
    s, p, ax, tr = setup
    assert not reverse.is_latent(tr) and reverse.is_latent(make_traj(latent=True))
    assert reverse.n_items(tr) == I
    assert reverse.step_t(tr, 0) == 4 and reverse.step_label(tr, 3) == "reverse step 4 of 4"
    assert reverse.changed_in_topk(tr, 0) == 0
    assert reverse.changed_in_topk(tr, 2) == 1                    # item 7 enters the top-3 at step 3
    lat = reverse.item_x0hat(make_traj(latent=True))
    assert np.isnan(lat[:, [0, 2, 5]]).all() and np.isfinite(lat[:, 7]).all()



def test_one_step_numbering_in_the_caption_the_figure_and_the_csv(setup):
    """Reverse step n (1 … S, as the chain runs) everywhere; t only as x_t's subscript, its relation said once and
    computed from the run (a chain of 3 steps out of T = 4 says so)."""
    s, p, ax, tr = setup
    cap = reverse.numbering_caption(tr)
    assert "reverse step n (1 … 4)" in cap and "t = 5 − n" in cap and "step 1 reads x₄" in cap
    assert "step 4 reads x₁" in cap and "clean history" in cap
    short = Trajectory("diffrec", np.array([2, 1, 0]), tr.states[:3], tr.x0_hat[:3], tr.final, tr.users, tr.betas,
                       tr.alphas_cumprod, topk=tr.topk[:3], meta={"T_prime": 3, "reverse": "from_T_prime"})
    cap3 = reverse.numbering_caption(short)
    assert "t = 4 − n" in cap3 and "step 1 reads x₃" in cap3 and "clean history" not in cap3
    kinds = forward.item_kinds(p, I, p.heldout())
    metrics = reverse.step_metrics(tr, p.heldout(), (3,))
    fig = reverse_stepper.stepper_figure(tr, ax, kinds, heldout=p.heldout(), metrics=metrics)
    text = fig.data[-1].text[0]
    assert text.startswith("<b>reverse step 4 of 4</b>") and "x<sub>0</sub> = " in text and "·x<sub>1</sub>" in text
    assert "k =" not in text and "(t =" not in text
    assert fig.layout.sliders[0].currentvalue.prefix.strip() == "reverse step"
    rows = trajectory_io.to_csv(tr, [0]).decode().splitlines()
    user = int(tr.users[0])
    assert rows[0].startswith("user,reverse_step,t,item,")
    assert rows[1].startswith(f"{user},1,4,0,") and rows[-1].startswith(f"{user},4,1,")

def test_value_range_scope(setup):
    _, _, _, tr = setup
    arr = np.array([[0.0, 1.0], [5.0, 6.0]])
    lo, hi = reverse.value_range(arr, 0, "per step", pad=0)
    assert (lo, hi) == (0.0, 1.0)
    lo, hi = reverse.value_range(arr, 0, "whole trajectory", pad=0)
    assert (lo, hi) == (0.0, 6.0)
    lo, hi = reverse.value_range(np.array([[-np.inf, 1.0, 2.0]]), 0, pad=0)
    assert (lo, hi) == (1.0, 2.0)
    with pytest.raises(ValueError):
        reverse.value_range(arr, 0, "sometimes")


def test_step_metrics_against_hand_computed_values(setup):
    _, p, _, tr = setup
    m = reverse.step_metrics(tr, p.heldout(), (3,))
    # held out {7, 9}: 7 is at rank 1 from step 3 on, 9 never in the top-3
    np.testing.assert_allclose(m["recall@3"], [0, 0, 0.5, 0.5])
    np.testing.assert_allclose(m["ndcg@3"], [0, 0, 1 / (1 + 1 / math.log2(3)), 1 / (1 + 1 / math.log2(3))],
                               rtol=1e-6)
    none = reverse.step_metrics(tr, [], (3,))
    assert np.isnan(none["recall@3"]).all()


def test_metrics_figure_and_caption(setup):
    _, p, _, tr = setup
    m = reverse.step_metrics(tr, p.heldout(), (3,))
    fig = reverse.metrics_figure(tr, m, 2)
    assert [t.name for t in fig.data] == ["Recall@3", "NDCG@3"]
    assert list(fig.data[0].x) == [1, 2, 3, 4]
    assert fig.layout.yaxis.range[0] == 0 and fig.layout.yaxis.range[1] >= 0.5 * 1.2 - 1e-9
    assert fig.layout.shapes[0].x0 == 3
    cap = reverse.metrics_caption(m, 2, 2)
    assert "rose from 0.000" in cap and "0.500" in cap and "2 held-out items" in cap
    empty = reverse.metrics_figure(tr, reverse.step_metrics(tr, [], (3,)), 0)
    assert any("undefined" in a.text for a in empty.layout.annotations)
    assert "no held-out items" in reverse.metrics_caption(reverse.step_metrics(tr, [], (3,)), 0, 0)


def test_vectors_figure_follows_the_step_and_the_scope(setup):
    _, p, ax, tr = setup
    kinds = forward.item_kinds(p, I, p.heldout())
    f1 = reverse.vectors_figure(tr, 1, ax, kinds, [f"T{i}" for i in range(I)])
    f3 = reverse.vectors_figure(tr, 3, ax, kinds)
    assert len(f1.data) == 9                        # 4 kinds on top + 4 kinds below + the top-K rings
    top_noise = [t for t in f1.data if t.name == "injected noise" and t.yaxis == "y2"][0]
    bot_noise = [t for t in f1.data if t.name == "injected noise" and t.yaxis == "y"][0]
    assert bot_noise.y[0] == pytest.approx(tr.x0_hat[1, 0, 5]) and top_noise.y[0] == pytest.approx(tr.states[1, 0, 5])
    bot3 = [t for t in f3.data if t.name == "injected noise" and t.yaxis == "y"][0]
    assert bot3.y[0] == pytest.approx(tr.x0_hat[3, 0, 5]) and bot3.y[0] != bot_noise.y[0]
    rings = [t for t in f3.data if t.name.startswith("in the top-")][0]
    assert sorted(rings.customdata) == sorted(tr.topk[3, 0]) and rings.marker.color == COLORS["topk"]
    per = reverse.vectors_figure(tr, 0, ax, kinds, scope="per step").layout.yaxis2.range
    whole = reverse.vectors_figure(tr, 0, ax, kinds, scope="whole trajectory").layout.yaxis2.range
    assert whole[1] > per[1]                        # later states are larger: the whole range is wider
    assert per[0] <= tr.states[0, 0].min() and per[1] >= tr.states[0, 0].max()


def test_vectors_figure_for_a_latent_run(setup):
    _, p, ax, _ = setup
    lt = make_traj(latent=True)
    kinds = forward.item_kinds(p, I, p.heldout())
    ic, slices, col = reverse_variants.latent_clusters(lt.meta, I)
    fig = reverse.vectors_figure(lt, 2, ax, kinds, cluster_of_latent=col)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1 and len(bars[0].y) == 6 and bars[0].y[4] == pytest.approx(lt.states[2, 0, 4])
    assert len(set(bars[0].marker.color)) == 2      # two clusters, two colours


def test_reverse_caption(setup):
    _, p, _, tr = setup
    assert reverse.reverse_caption(tr, 0, p.heldout()).startswith("At reverse step 1 of 4, this is the first top-3")
    c = reverse.reverse_caption(tr, 2, p.heldout())
    assert "1 of the top-3 items changed" in c and "1 of the user's 2 held-out items is in the top-3" in c
    assert "no held-out items" in reverse.reverse_caption(tr, 2, [])


def test_bump_figure_ranks(setup):
    _, p, _, tr = setup
    fig = reverse.bump_figure(tr, 1, [f"T{i}" for i in range(I)], p.heldout())
    items = np.unique(tr.topk[:, 0])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == len(items) and len(fig.data) == len(items) + 1       # + the label trace
    hit = [t for t in lines if t.line.color == COLORS["heldout"]]
    assert len(hit) == 1 and list(hit[0].y) == [None, None, 1, 1]             # item 7: rank 1 from step 3
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]              # rank 1 on top
    assert fig.layout.shapes[0].x0 == 2
    assert [t.showlegend for t in lines].count(True) == 2                     # one legend entry per group
    labels = fig.data[-1]
    assert list(labels.text)[0] == "T7"
    cap = reverse.bump_caption(tr, p.heldout())
    assert f"{len(items)} different items" in cap and "shares 2 of its 3" in cap and "1 held-out item" in cap


def test_demotion_table_stats_figure_caption(setup):
    s, p, _, tr = setup
    df = reverse_noise.demotion_table(tr, 3, p, titles=s.item_titles)
    assert df["item"].tolist()[0] == 5 and df["injected_noise"].tolist() == [True, False, False]
    assert df["demotion_rank"].tolist() == [1, 2, 3]
    st = reverse_noise.demotion_stats(df)
    assert st == {"n": 3, "n_noise": 1, "auc": 1.0, "noise_in_bottom": 1}
    fig = reverse_noise.demotion_figure(df, "step 4")
    assert len(fig.data) == 3 and list(fig.data[0].marker.pattern.shape) == ["/", "", ""]
    assert fig.layout.xaxis.range[0] <= 0 and fig.layout.xaxis.range[1] >= 1.05
    cap = reverse_noise.demotion_caption(st)
    assert "1 of the user's 1 injected-noise interaction rank among the 1 most demoted of 3" in cap and "1.00" in cap
    # x0 weights (T-DiffRec): kept = x̂0 / x0
    x0 = np.zeros(I)
    x0[[0, 2, 5]] = [0.5, 1.0, 0.1]
    df2 = reverse_noise.demotion_table(tr, 3, p, x0=x0)
    assert df2.set_index("item").loc[5, "kept"] == pytest.approx(tr.x0_hat[3, 0, 5] / 0.1)
    assert reverse_noise.demotion_table(make_traj(latent=True), 3, p) is None
    assert "mask" in reverse_noise.demotion_caption(reverse_noise.demotion_stats(None), latent=True)
    assert "no training" in reverse_noise.demotion_caption(reverse_noise.demotion_stats(None))
    empty = reverse_noise.demotion_figure(None)
    assert len(empty.data) == 0


def test_demotion_figure_caps_long_histories():
    import pandas as pd
    n = 80
    df = pd.DataFrame({"item": np.arange(n), "title": ["x"] * n, "x0": 1.0, "x0_hat": np.linspace(0, 1, n),
                       "kept": np.linspace(0, 1, n), "injected_noise": np.arange(n) % 20 == 0,
                       "demotion_rank": np.arange(1, n + 1)})
    fig = reverse_noise.demotion_figure(df, max_items=30)
    assert len(fig.data[0].y) == 30
    assert any("showing 30 of 80" in a.text for a in fig.layout.annotations)


def test_latent_cluster_views():
    lt = make_traj(latent=True)
    ic, slices, col = reverse_variants.latent_clusters(lt.meta, I)
    assert ic.tolist() == [0] * 6 + [1] * 6 and slices == [(0, 3), (3, 6)] and col.tolist() == [0, 0, 0, 1, 1, 1]
    alt = reverse_variants.latent_clusters({"item_clusters": [1] * I, "latent_bounds": [[0, 6]]}, I)
    assert alt[0].tolist() == [1] * I and alt[1] == [(0, 6)]
    assert reverse_variants.latent_clusters({}, I) == (None, [], None)
    assert reverse_variants.latent_clusters({"item_cluster": [0, 1]}, I)[0] is None    # wrong length: ignored
    fig = reverse_variants.cluster_figure(ic, GENRES)
    assert len(fig.data) == 2 and sum(sum(t.y) for t in fig.data) == I
    cap = reverse_variants.cluster_caption(ic, GENRES, "svd")
    assert cap.startswith("2 clusters (k-means on truncated-SVD") and "cluster 0: 6 items" in cap
    lf = reverse_variants.latent_figure(lt, 1, slices)
    z = lf.data[0]
    assert np.asarray(z.z).shape == (4, 6) and z.zmin == -z.zmax
    assert z.zmax == pytest.approx(np.abs(lt.states).max(), rel=1e-6)
    assert lf.layout.shapes[-1].y0 == 1.5
    assert "moves by" in reverse_variants.latent_caption(lt)


def test_time_weights_view():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    w = np.zeros(I)
    w[[2, 5, 0]] = [0.1, 0.55, 1.0]                 # oldest -> newest
    fig = reverse_variants.time_weights_figure(w, p, s.item_titles)
    assert list(fig.data[0].y) == pytest.approx([0.1, 0.55, 1.0])
    assert list(fig.data[0].marker.pattern.shape) == ["", "/", ""]     # item 5 is injected noise
    cap = reverse_variants.time_weights_caption(w, p)
    assert "0.1" in cap and "1.00" in cap and "3 training" in cap
    assert "no training history" in reverse_variants.time_weights_caption(w, uidata.user_profile(s, 3))


def test_start_caption():
    tr = make_traj()
    assert "clean history" in reverse.start_caption(tr)
    tr.meta.update(T_prime=4, reverse="from_T_prime", sampling_noise=True)
    c = reverse.start_caption(tr)
    assert "T′ = 4" in c and "clean option" in c and "σ̃" in c


def test_on_a_real_pretrained_trajectory():
    ck = REPO / "pretrained" / "diffrec" / "model.safetensors"
    if not ck.exists():
        pytest.skip("no pretrained diffrec checkpoint")
    from diffrec_core.pipeline import load_pretrained, load_split
    split = load_split("sample")
    model = load_pretrained("diffrec", split)
    u = uidata.demo_user(split)
    p = uidata.user_profile(split, u)
    tr = model.trajectory(split, [u], k=10, seed=0)
    assert np.array_equal(tr.topk[-1, 0], tr.final_topk[0])
    m = reverse.step_metrics(tr, p.heldout(), (10,))
    assert all(((v >= 0) & (v <= 1)).all() for v in m.values())
    ax = uidata.item_axis(split.item_genres, uidata.item_popularity(split))
    fig = reverse.vectors_figure(tr, tr.n_steps - 1, ax, forward.item_kinds(p, split.n_items, p.heldout()))
    assert sum(len(t.x) for t in fig.data if t.yaxis == "y" and not t.name.startswith("in the top")) == split.n_items
    assert reverse_noise.demotion_table(tr, 0, p) is not None


# ------------------------------------------------------------------------------------------------ the stepper
def test_stepper_figure_has_a_frame_per_step_and_opens_on_the_start(setup):
    s, p, ax, tr = setup
    kinds = forward.item_kinds(p, I, p.heldout())
    m = reverse.step_metrics(tr, p.heldout(), (3,))
    fig = reverse_stepper.stepper_figure(tr, ax, kinds, s.item_titles, p.heldout(), m, start=1, profile=p)
    assert [f.name for f in fig.frames] == ["step 1", "step 2", "step 3", "step 4"]
    assert fig.layout.sliders[0].active == 1 and fig.data[-1].text[0].startswith("<b>reverse step 2 of 4</b>")
    f3 = fig.frames[2]
    assert len(f3.traces) == len(f3.data)
    rings = f3.data[f3.traces.index(next(i for i, t in enumerate(fig.data) if t.name.startswith("in the top-")))]
    assert sorted(rings.customdata) == sorted(tr.topk[2, 0])
    top = f3.data[-1].text[0]
    assert "Recall@3 = 0.500" in top and "1 of the top-3 items changed" in top
    assert "noise-vs-genuine AUC" in top                                   # the demotion AUC of that step
    assert all("layout" in f and f.layout.yaxis.range for f in fig.frames)   # 'per step': ranges per frame
    whole = reverse_stepper.stepper_figure(tr, ax, kinds, heldout=p.heldout(), metrics=m, scope="whole trajectory")
    assert whole.layout.sliders[0].active == 3 and all(f.layout.yaxis.range is None for f in whole.frames)


def test_stepper_figure_caps_the_frames_of_a_long_run(setup):
    _, p, ax, _ = setup
    long = make_traj(S=250, K=3)
    kinds = forward.item_kinds(p, I, p.heldout())
    fig = reverse_stepper.stepper_figure(long, ax, kinds, heldout=p.heldout(), start=137, scope="whole trajectory")
    from ui.stepper import MAX_FRAMES
    names = [f.name for f in fig.frames]
    assert MAX_FRAMES - 1 <= len(names) <= MAX_FRAMES
    assert names[0] == "step 1" and names[-1] == "step 250" and "step 138" in names
    assert fig.layout.sliders[0].steps[fig.layout.sliders[0].active].label == "138"


def test_stepper_figure_for_a_latent_run(setup):
    _, p, ax, _ = setup
    lt = make_traj(latent=True)
    kinds = forward.item_kinds(p, I, p.heldout())
    _, _, col = reverse_variants.latent_clusters(lt.meta, I)
    fig = reverse_stepper.stepper_figure(lt, ax, kinds, heldout=p.heldout(), cluster_of_latent=col)
    assert fig.frames[1].data[0].type == "bar" and fig.frames[1].data[0].y[4] == pytest.approx(lt.states[1, 0, 4])
    assert "z<sub>" in fig.data[-1].text[0]


def test_metrics_caption_without_a_current_step(setup):
    _, p, _, tr = setup
    m = reverse.step_metrics(tr, p.heldout(), (3,))
    cap = reverse.metrics_caption(m, None, 2)
    assert "rose from 0.000" in cap and "at this step" not in cap


def test_one_shot_lesson_follows_the_data():
    """The sentence appears only where Recall is the same at every step, and says whether the list itself moved."""
    from types import SimpleNamespace
    same = SimpleNamespace(topk=np.array([[[1, 2, 3]], [[1, 2, 3]], [[3, 2, 1]]]))
    flat = {"recall@3": np.array([0.5, 0.5, 0.5]), "ndcg@3": np.array([0.3, 0.4, 0.4])}
    s = reverse.one_shot_lesson(same, flat)
    assert "one-shot denoising autoencoder" in s and "0.500" in s and "3 steps" in s
    moved = SimpleNamespace(topk=np.array([[[1, 2, 3]], [[1, 2, 4]], [[1, 5, 4]]]))
    s = reverse.one_shot_lesson(moved, flat)
    assert "swaps 2 items" in s and "one-shot" not in s
    rising = {"recall@3": np.array([0.0, 0.5, 1.0]), "ndcg@3": np.array([0.0, 0.3, 0.6])}
    assert reverse.one_shot_lesson(same, rising) == ""
    assert reverse.one_shot_lesson(same, {"recall@3": np.full(3, np.nan)}) == ""      # no held-out items
    assert reverse.one_shot_lesson(same, {"recall@3": np.zeros(3)}) == ""             # nothing found at all
