"""Home-page content (ui.home), the comparison table (ui.compare) and the theme helpers (ui.theme)."""
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui import compare, home, theme  # noqa: E402
from ui import data as uidata  # noqa: E402
from ui import forward  # noqa: E402

from test_ui_forward import GENRES, tiny_split  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def spec(name, kind="diffusion", page="reverse", order=0):
    return SimpleNamespace(name=name, title=name.upper(), paper="p", diffused="d", idea="i", page=page, kind=kind,
                           order=order)


def test_method_cards_are_the_registered_diffusion_methods_in_teaching_order():
    specs = [spec("tdiffrec", order=2), spec("dreamrec", page="embeddings", order=6), spec("diffrec", order=1),
             spec("ease", kind="baseline")]
    cards = home.method_cards(specs, available_pages={"forward", "reverse"})
    names = [c["name"] for c in cards]
    assert names == ["diffrec", "tdiffrec", "dreamrec"]            # fixed teaching order, baselines apart
    status = {c["name"]: c["status"] for c in cards}
    assert status["diffrec"] == "open" and status["dreamrec"] == "no page"
    assert home.method_cards(specs, {"embeddings", "reverse"})[2]["status"] == "open"
    assert home.baselines(specs) == ["EASE"]


def test_world_caption():
    w = uidata.world_summary(tiny_split())
    cap = home.world_caption(w)
    assert "4 made-up users" in cap and "12 made-up items" in cap and "3 genres" in cap and "1 noise" in cap


def test_hero_figure_has_three_panels_and_the_recommendations():
    s = tiny_split()
    p = uidata.user_profile(s, 0)
    ax = uidata.item_axis(GENRES)
    kinds = forward.item_kinds(p, 12, p.heldout())
    x0 = s.rows([0])[0]
    xhat = np.linspace(1, 0, 12)
    fig = home.hero_figure(x0, x0 + 0.01, xhat, ax, kinds, [1, 3, 4], s.item_titles, noise_std=0.0059)
    assert len(fig.data) == 3 * 4 + 1
    assert {t.yaxis for t in fig.data} == {"y", "y2", "y3"}
    rec = fig.data[-1]
    assert rec.name == "recommended (top-3)" and list(rec.y) == pytest.approx(list(xhat[[1, 3, 4]]))
    assert any("0.0059" in a.text for a in fig.layout.annotations)
    for ya, vec in (("yaxis", x0), ("yaxis3", xhat)):
        lo, hi = fig.layout[ya].range
        assert lo <= vec.min() and hi >= vec.max()
    cap = home.hero_caption(5, 3, 1, 0.0059, 2, 4, 10)
    assert "User 5" in cap and "2 of the user's 4 held-out" in cap


def results():
    path = REPO / "pretrained" / "results.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"methods": {"diffrec": {"test": {"recall@20": 0.19, "ndcg@20": 0.1}, "valid": {}, "diffusion_steps": 10}}}


def test_results_frame_figure_caption():
    res = {"methods": {
        "diffrec": {"test": {"recall@10": 0.1, "recall@20": 0.19, "ndcg@10": 0.08, "ndcg@20": 0.1},
                    "valid": {"recall@20": 0.2}, "best_epoch": 25, "parameters": 10, "diffusion_steps": 10},
        "ease": {"test": {"recall@10": 0.12, "recall@20": 0.21, "ndcg@10": 0.09, "ndcg@20": 0.11},
                 "valid": {"recall@20": 0.22}, "best_epoch": 0, "parameters": 0, "diffusion_steps": 0}}}
    df = compare.results_frame(res, titles={"diffrec": "DiffRec", "ease": "EASE"},
                               kinds={"diffrec": "diffusion", "ease": "baseline"})
    assert df["method"].tolist() == ["EASE", "DiffRec"]                    # best test Recall@20 first
    assert df.loc[0, "test Recall@20"] == 0.21 and df.loc[1, "valid Recall@20"] == 0.2
    fig = compare.results_figure(df, "test Recall@20")
    assert [t.name for t in fig.data] == ["diffusion", "baseline"]
    assert fig.layout.xaxis.range[1] == pytest.approx(0.21 * 1.2)
    assert compare.LABEL in fig.layout.title.text
    cap = compare.results_caption(df, "test Recall@20")
    assert "EASE leads" in cap and "below the best baseline" in cap and "One seed" in cap
    only = compare.results_frame({"methods": {k: v for k, v in res["methods"].items() if k == "diffrec"}})
    assert "No baseline results yet" in compare.results_caption(only)
    assert "No pretrained results" in compare.results_caption(compare.results_frame({"methods": {}}))


def test_results_frame_reads_the_shipped_results():
    df = compare.results_frame(results())
    assert len(df) >= 1 and df["test Recall@20"].between(0, 1).all()


def test_theme_is_colour_blind_safe_and_large():
    assert set(theme.OKABE_ITO.values()) >= {theme.COLORS[k] for k in ("interacted", "noise", "heldout", "topk")}
    assert len({theme.SYMBOLS[k] for k in ("interacted", "noise", "heldout", "topk")}) == 4   # not colour alone
    lay = theme.base_layout("t")
    assert lay["font"]["size"] >= 16 and lay["title"]["font"]["size"] >= 20 and lay["template"] == "none"
    assert lay["uirevision"] == "keep"
    cfg = theme.plotly_config("fig")
    assert cfg["toImageButtonOptions"]["filename"] == "fig" and cfg["displaylogo"] is False


def test_ui_layer_has_no_streamlit_and_no_umap():
    for path in (REPO / "ui").glob("*.py"):
        src = path.read_text()
        assert "import streamlit" not in src and "from streamlit" not in src, path
        assert not re.search(r"^\s*(import umap|from umap)", src, re.M), path   # a label "umap" is fine


# ------------------------------------------------------------------------------------------------ harness tables
def harness_results():
    from test_compare import table

    t = table()
    for r in t["rows"]:
        if r.get("test"):
            r.update(train_seconds={"mean": 2.0, "std": 0.1}, infer_ms_per_user={"mean": 0.1, "std": None},
                     parameters=100, state_size=100, diffusion_steps=10 if r["kind"] == "diffusion" else 0,
                     best_epoch=[5, 5, 5], page="reverse" if r["method"] == "diffrec" else "compare")
    return t


def test_table_frame_holds_one_protocol_sorted_by_the_metric():
    res = harness_results()
    df = compare.table_frame(res, "chrono", "recall@20", page_urls={"reverse": "reverse"})
    assert df["method"].tolist() == ["DiffRec", "EASE", "L-DiffRec", "TopPop"]         # no leave-one-out row
    assert df.loc[0, "Recall@20"] == 0.20 and df.loc[0, "± Recall@20"] == 0.001
    assert df.loc[0, "page"] == "reverse" and pd.isna(df.loc[1, "page"])
    loo = compare.table_frame(res, "leave_one_out", "ndcg@10")
    assert loo["method"].tolist() == ["SASRec", "DreamRec"]
    assert compare.protocols(res) == ["chrono", "leave_one_out"]
    na = compare.not_applicable_frame(res)
    assert na["method"].tolist() == ["DiffKG"] and na.loc[0, "status"] == "not applicable"
    res["rows"].append({"method": "multvae", "title": "Mult-VAE", "kind": "baseline", "protocol": "chrono",
                        "applicable": True, "not_run": True, "status": "not run (budget)", "n_seeds": 0,
                        "reason": "not run (the time budget ran out, or a stop was asked, before its turn)"})
    assert compare.not_applicable_frame(res)["method"].tolist() == ["DiffKG"]      # never "not applicable"
    nr = compare.not_run_frame(res)
    assert nr["method"].tolist() == ["Mult-VAE"] and nr.loc[0, "status"] == "not run (budget)"



def test_one_ranking_for_every_page_and_its_sentence():
    """core.ranking is the order the table, the bars and the Knowledge-graph page state; the sentence follows it."""
    import copy

    from diffrec_core import compare as core

    res = harness_results()
    ranked = core.ranking(res, ["ldiffrec", "ease", "diffrec"], "recall@20")
    assert [e["method"] for e in ranked] == ["diffrec", "ease", "ldiffrec"]
    assert [e["method"] for e in core.ranking(res, ["sasrec", "dreamrec"])] == ["sasrec", "dreamrec"]
    assert {e["protocol"] for e in core.ranking(res, ["diffrec", "sasrec"])} == {"chrono"}      # never mixed
    table_order = compare.table_frame(res, "chrono", "recall@20")["key"].tolist()
    assert [m for m in table_order if m in ("ldiffrec", "ease", "diffrec")] == [e["method"] for e in ranked]
    s = compare.ranking_sentence(ranked, res)
    assert s.startswith("On ") and "mean of 3 seeds" in s and "DiffRec ranks first" in s
    assert "more than their spread" in s
    wide = copy.deepcopy(res)
    for r in wide["rows"]:
        if r["method"] in ("diffrec", "ease"):
            r["test"]["recall@20"]["std"] = 0.02
    assert "cannot tell the two apart" in compare.ranking_sentence(core.ranking(wide, ["diffrec", "ease"]), wide)
    swapped = copy.deepcopy(res)
    next(r for r in swapped["rows"] if r["method"] == "ease")["test"]["recall@20"]["mean"] = 0.5
    again = core.ranking(swapped, ["ldiffrec", "ease", "diffrec"], "recall@20")
    assert again[0]["method"] == "ease" and "EASE ranks first" in compare.ranking_sentence(again, swapped)
    assert compare.ranking_frame(again)["method"].tolist()[0] == "EASE"
    assert "has a result" in compare.ranking_sentence([], res)

def test_bars_and_cost_figures_show_the_spread_and_the_cost():
    res = harness_results()
    df = compare.table_frame(res, "chrono", "recall@20")
    fig = compare.bars_figure(df, "recall@20", "toy")
    assert [t.name for t in fig.data] == ["diffusion", "baseline"]
    diff = fig.data[0]
    assert list(diff.y) == ["L-DiffRec", "DiffRec"] and list(diff.error_x.array) == [0.001, 0.001]
    assert fig.layout.xaxis.range[1] == pytest.approx((0.20 + 0.001) * 1.25)
    assert list(fig.layout.yaxis.categoryarray) == ["TopPop", "L-DiffRec", "EASE", "DiffRec"]   # one ranking
    cost = compare.cost_figure(df, "recall@20")
    assert cost.layout.xaxis.type == "log" and sum(len(t.x) for t in cost.data) == 4
    assert list(cost.data[0].y) == list(diff.y)                   # the same row order as the accuracy bars
    assert cost.data[0].text[0].startswith("2.0 s · 0.10 ms/user")
    assert "toy" in fig.layout.title.text and "no time budget" not in compare.results_label(res)


def test_from_pretrained_reads_the_one_seed_file():
    res = compare.from_pretrained(results())
    assert compare.protocols(res)
    assert all(r["n_seeds"] == 1 for r in res["rows"])


# ------------------------------------------------------------------------------------------------ same user
def fake_traj(T, K=3, n_items=12, shift=0):
    from diffrec_core.trajectory import Trajectory

    S = T
    topk = np.array([[[(s + j + shift) % n_items for j in range(K)]] for s in range(S)])
    return Trajectory(method="m", steps=np.arange(T)[::-1], states=np.zeros((S, 1, 4)), x0_hat=np.zeros((S, 1, 4)),
                      final=np.zeros((1, 4)), users=np.zeros(1, int), betas=np.linspace(1e-4, 0.02, T),
                      alphas_cumprod=np.cumprod(1 - np.linspace(1e-4, 0.02, T)), topk=topk,
                      meta={"sampler": "ancestral", "start": "N(0, I)"})


def test_same_user_view_uses_a_common_step_fraction():
    from ui import compare_steps as S

    a, b = fake_traj(10), fake_traj(100)
    assert S.step_index(a, 0.5) == 5 and S.step_index(b, 0.5) == 50        # 4.5 and 49.5 round half up
    assert S.step_index(a, 0.0) == 0 and S.step_index(b, 1.0) == 99 and S.step_index(a, 7) == 9
    trajs = {"a": a, "b": b}
    titles = {"a": "A", "b": "B"}
    fig = S.grid_figure(trajs, titles, 0.45, [f"item {i}" for i in range(12)], heldout=[4, 5], seen=[6])
    pts = sum(len(t.x) for t in fig.data)
    assert pts == 2 * 3                                                    # K items per method
    held = next(t for t in fig.data if t.name.startswith("held-out"))
    # A at step index 4 shows items 4, 5, 6 -> two held-out hits; B at step 45 shows 9, 10, 11 -> none
    assert sorted(zip(held.x, held.y)) == [(0, 1), (0, 2)]
    assert "step 5/10" in fig.layout.annotations[0].text and "step 46/100" in fig.layout.annotations[1].text
    np.testing.assert_array_equal(S.hits_by_step(a, [4, 5])[:6], [0, 0, 1, 2, 2, 1])
    hits = S.hits_figure(trajs, titles, [4, 5], 0.5)
    assert len(hits.data) == 2 and hits.layout.shapes[0].x0 == 0.5
    cap = S.grid_caption(trajs, titles, 0.5, [4, 5])
    assert "A 1 (step 6 of 10)" in cap and "B 1 (step 51 of 100)" in cap   # A: items 5, 6, 7; B: 2, 3, 4


def test_schedules_figure_is_the_noise_std_of_each_method():
    from ui import compare_steps as S

    trajs = {"a": fake_traj(10), "b": fake_traj(100)}
    fig = S.schedules_figure(trajs, {"a": "A", "b": "B"})
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 10))
    np.testing.assert_allclose(fig.data[0].y, np.sqrt(1 - ab))
    assert fig.data[1].x[-1] == pytest.approx(1.0) and fig.data[0].x[0] == pytest.approx(0.1)
    spec = SimpleNamespace(title="A", diffused="x")
    df = S.diffuses_frame({"a": spec}, {"a": trajs["a"]}, {"a": {"parameters": 7, "train_seconds": {"mean": 1.5}}})
    assert df.loc[0, "T"] == 10 and df.loc[0, "parameters"] == 7 and df.loc[0, "train s"] == 1.5
    assert df.loc[0, "noise std at T"] == pytest.approx(np.sqrt(1 - ab[-1]))


def test_papers_beside_ours_is_labelled():
    from ui import papers

    fig = papers.beside_figure({"DiffRec": (0.17, 0.002)}, "ML-1M clean", "Recall@20", "ours")
    reported = fig.data[1]
    assert reported.name == "reported" and len(reported.x) == 4          # paper DiffRec, Mult-VAE, authors' run, L
    assert any("[recalled]" in t for t in reported.text) and any("[run]" in t for t in reported.text)
    assert list(fig.data[0].error_x.array) == [0.002]
    df = papers.papers_frame("DiffKG")
    assert len(df) and (df["dataset"] != "ML-1M clean").all()


def test_hits_lesson_follows_the_hits():
    from types import SimpleNamespace
    from ui import compare_steps as CS
    flat = SimpleNamespace(topk=np.array([[[1, 2]], [[2, 1]], [[1, 2]]]))        # item 1 held out at every step
    rising = SimpleNamespace(topk=np.array([[[5, 6]], [[1, 6]], [[1, 2]]]))
    s = CS.hits_lesson({"a": flat, "b": rising}, {"a": "A", "b": "B"}, [1, 2])
    assert s.startswith("A (2): the same number") and "one-shot denoising autoencoder" in s
    assert "B (0 → 2, at most 2)" in s
    assert "A (" not in CS.hits_lesson({"a": flat}, {"a": "A"}, [9])                  # never a hit: no lesson
    assert CS.hits_lesson({"a": flat}, {"a": "A"}, []) == ""
