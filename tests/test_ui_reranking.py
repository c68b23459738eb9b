"""Reranking builders (ui.reranking) on a hand-made DCDR trajectory and on a real pretrained run."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffrec_core.trajectory import Trajectory  # noqa: E402
from ui import reranking as R  # noqa: E402
from ui.theme import CATEGORICAL, COLORS, GREY  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TITLES = [f"Item number {i}" for i in range(20)]
GENRE = [i % 4 for i in range(20)]
GENRES = ["A", "B", "C", "D"]


def make_traj(variant="P"):
    """x_init [0..4]; step k=3 swaps positions 1 and 3; step k=2 swaps 4 and 5; the evaluator picks step 1."""
    init = [0, 1, 2, 3, 4]
    s1 = [2, 1, 0, 3, 4]
    s2 = [2, 1, 0, 4, 3]
    states = np.array([init, s1, s1], dtype=np.float32)[:, None, :]
    x0 = np.array([s1, s2, s1], dtype=np.float32)[:, None, :]
    beams = [[{"items": init, "logp": 0.0, "u_hat": 1.0, "move": "start", "parent": -1}],
             [{"items": s1, "logp": -1.5, "u_hat": 1.4, "move": "swap 1 ↔ 3", "parent": 0},
              {"items": init, "logp": -1.7, "u_hat": 1.0, "move": "no-op", "parent": 0}],
             [{"items": s2, "logp": -3.0, "u_hat": 1.3, "move": "swap 4 ↔ 5", "parent": 0},
              {"items": s1, "logp": -3.2, "u_hat": 1.4, "move": "no-op", "parent": 0}]]
    meta = {"variant": variant, "condition": "like", "beam": 2, "beams": beams, "stop": "evaluator",
            "stop_text": "the evaluator's best Û did not improve on the previous step",
            "output_from": "step 1, beam 1", "output_at": [1, 0],
            "u_init": 1.0, "u_output": 1.4, "step_kinds": ["reverse", "reverse", "select"], "init": init}
    betas = np.linspace(0.3, 0.9, 6)
    return Trajectory(method="dcdr", steps=np.array([3, 2, 0]), states=states, x0_hat=x0, final=x0[-1],
                      users=np.array([7]), betas=betas, alphas_cumprod=np.cumprod(1 - betas), topk=x0.astype(int),
                      final_topk=x0[-1].astype(int), meta=meta)


def test_grid_rows_and_changed_masks():
    tr = make_traj()
    rows = R.grid_rows(tr)
    assert [r["kind"] for r in rows] == ["start", "reverse", "reverse", "select"]
    assert [r["k"] for r in rows] == [None, 3, 2, 0]
    assert rows[0]["items"] == [0, 1, 2, 3, 4] and rows[-1]["items"] == [2, 1, 0, 3, 4]
    masks = R.changed_mask(rows)
    assert masks[0].sum() == 0
    np.testing.assert_array_equal(np.flatnonzero(masks[1]), [0, 2])
    np.testing.assert_array_equal(np.flatnonzero(masks[2]), [3, 4])
    np.testing.assert_array_equal(np.flatnonzero(masks[3]), [3, 4])        # the pick goes back to step 1's list
    assert R.step_moves(tr) == ["swap 1 ↔ 3", "swap 4 ↔ 5", "picked k = 3 · beam 1"]    # the grid's labels


def test_beam_rows_and_steps_figure():
    tr = make_traj()
    tr.meta["output_at"] = [1, 0]
    rows = R.beam_rows(tr)
    assert [r["group"] for r in rows] == [0, 1, 1, 2, 2, 3]                  # x_init, 2 + 2 beams, the pick
    assert [r["chosen"] for r in rows] == [False, True, False, False, False, False]
    assert rows[1]["parent"] == [0, 1, 2, 3, 4] and rows[-1]["parent"] == [0, 1, 2, 3, 4]
    assert "swap 1 ↔ 3" in rows[1]["sub"] and "1.40" in rows[1]["sub"]
    fig = R.steps_figure(tr, TITLES, GENRE, GENRES, current=2)
    grid = fig.data[0]
    assert grid.type == "bar" and len(grid.x) == 6 * 5
    widths = np.asarray(grid.marker.line.width)
    # changed vs parent: beam 1 of k=3 (2 swapped), beam 1 of k=2 (2), beam 2 of k=2 = its parent (0), pick (2)
    assert (widths > 0).sum() == 2 + 0 + 2 + 0 + 2
    assert list(grid.marker.color[:5]) == [R.GENRE_COLORS[g] for g in GENRE[:5]]
    assert COLORS["noise"] not in set(grid.marker.color)               # vermillion means "injected noise / wrong"
    assert CATEGORICAL[3] == COLORS["noise"] and R.GENRE_COLORS[3] != COLORS["noise"]
    assert grid.text[0] == "Item<br>number 0"
    assert [t.name for t in fig.data[1:]] == ["A", "B", "C", "D", "changed"]
    shape = fig.layout.shapes[0]
    assert shape.y0 == 2.5 and shape.y1 == 4.5                               # the two beams of step 2
    assert list(fig.layout.yaxis.range) == [5.5, -0.5]                       # x_init on top
    assert fig.layout.yaxis.ticktext[1].startswith("★ ")
    assert not R.steps_figure(tr, TITLES, GENRE, GENRES).layout.shapes       # no current step, no band


def test_beams_frame_and_captions():
    tr = make_traj()
    df = R.beams_frame(tr, 1, TITLES)
    assert list(df.columns) == ["beam", "move", "log-prob", "Û (evaluator)", "list"]
    assert df["move"].tolist() == ["swap 1 ↔ 3", "no-op"] and df["log-prob"].tolist() == [-1.5, -1.7]
    assert R.beams_frame(tr, 99, TITLES)["move"].tolist() == ["swap 4 ↔ 5", "no-op"]      # clamped
    cap = R.run_caption(tr, TITLES)
    assert "beam width B = 2" in cap and "2 reverse steps" in cap and "did not improve" in cap
    assert "k = 3 · beam 1" in cap
    assert "step 1, beam 1" not in cap
    tr.meta["output_at"] = [2, 1]
    assert "k = 2 · beam 2" in R.run_caption(tr, TITLES) and "k = 2 · beam 2" in R.step_caption(tr, 3, TITLES)
    assert "x_init" in R.step_caption(tr, 0, TITLES)
    assert "k = 3" in R.step_caption(tr, 1, TITLES) and "swap 1 ↔ 3" in R.step_caption(tr, 1, TITLES)
    assert "keeps the best" in R.step_caption(tr, 3, TITLES)


def test_stop_sentence_follows_the_beam_width():
    meta = {"stop": "no-op", "beam": 3, "stop_text": "core text (with B = 1: the most likely move was the no-op)"}
    s3 = R.stop_sentence(meta)
    assert "all 3 beams" in s3 and "B = 1" not in s3
    assert "most likely move was the no-op" in R.stop_sentence({**meta, "beam": 1})
    assert R.stop_sentence({"stop": "steps", "stop_text": "all reverse steps were run"}) == "all reverse steps were run"
    tr = make_traj()
    tr.meta.update(stop="no-op", beam=3, stop_text=meta["stop_text"])
    cap = R.run_caption(tr, TITLES)
    assert "B = 3" in cap and "with B = 1" not in cap


@pytest.mark.parametrize("variant", ["P", "T"])
def test_step_equation_live_numbers(variant):
    tr = make_traj(variant)
    eq = R.step_equation(tr, 1)
    v = eq.values()
    assert eq.title.endswith("k = 3") and v["βₖ"] == "0.54"
    assert "k = 3" in eq.live and ("0.54" in eq.live if variant == "P" else "0.46" in eq.live)
    assert v["best move"] == "swap 1 ↔ 3" and v["beam B"] == "2"
    if variant == "P":
        assert "o_k" in eq.general and v["P(no-op) prior"] == "0.46"
    else:
        assert r"\bar\alpha_{k-1}" in eq.general and v["ᾱₖ₋₁"] == "0.406"
    sel = R.step_equation(tr, 3)
    assert sel.title.endswith("selection") and "1.4" in sel.live and r"\arg\max" in sel.live


def test_compare_frame_moves_diversity_and_figures():
    before = [0, 1, 2, 3, 4]
    entries = {"_input": {"items": before, "utility": 2.0, "u_hat": 1.0},
               "input": {"items": before, "utility": 2.0, "u_hat": 1.0},
               "DCDR-P": {"items": [2, 1, 0, 3, 4], "utility": 2.5, "u_hat": 1.4},
               "DCDR-T": {"items": [9, 1, 2, 3, 4], "utility": 2.2, "u_hat": 1.2}}
    df = R.compare_frame(entries, before, GENRE, TITLES)
    assert df["method"].tolist() == ["input", "DCDR-P", "DCDR-T"]
    row = df.set_index("method").loc["DCDR-P"]
    assert row["moved"] == 2 and row["positions moved"] == "1, 3" and row["gain vs input"] == 0.5
    assert df.set_index("method").loc["DCDR-T", "new items"] == 1
    assert df.set_index("method").loc["input", "same-genre repeats"] == 1     # genres 0,1,2,3,0
    fig = R.utility_figure(df, best=3.0, start=2.0)
    assert list(fig.data[0].y) == ["input", "DCDR-T", "DCDR-P"]               # sorted, best at the top
    assert fig.data[0].marker.color[-1] == COLORS["diffusion"] and fig.data[0].marker.color[0] == COLORS["baseline"]
    lo, hi = fig.layout.xaxis.range
    assert lo == 0 and hi >= 3.0 and len(fig.layout.shapes) == 2          # zero-based: lengths are the utilities
    cap = R.compare_caption(df, 3.0)
    assert "best method is DCDR-P" in cap and "3.00" in cap and "0.5 above it" in cap
    entries["best list of all candidates (ground truth)"] = {"items": [4, 3, 2, 1, 0], "utility": 3.0, "u_hat": 0}
    with_ref = R.compare_frame(entries, before, GENRE, TITLES)
    cap = R.compare_caption(with_ref, 3.0)
    assert "best method is DCDR-P" in cap and "ground truth" not in cap.split("best method is")[1].split("(")[0]
    assert "a ground-truth reference, not a method" in cap
    ref_fig = R.utility_figure(with_ref, best=3.0)
    assert ref_fig.data[0].marker.color[list(ref_fig.data[0].y).index(
        "best list of all candidates (ground truth)")] == GREY
    mv = R.moves_figure(before, [9, 1, 2, 3, 4], TITLES)
    moved = next(t for t in mv.data if t.name == "moved")
    assert list(moved.y[:2]) == [1, 6] and list(moved.y[3:5]) == [6, 1]         # item 0 out, item 9 in
    kept = next(t for t in mv.data if t.name == "kept its position")
    assert len(kept.x) == 4 * 3


def test_candidates_frame():
    df = R.candidates_frame(list(range(6)), [3, 1], TITLES, GENRE, GENRES, scores={3: 0.5}, truth=np.arange(6.0))
    assert df["ranker rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert df.loc[3, "in list at"] == 1 and df.loc[1, "in list at"] == 2 and pd.isna(df.loc[0, "in list at"])
    assert df.loc[3, "evaluator score"] == 0.5 and np.isnan(df.loc[0, "evaluator score"])
    assert "true relevance s (ground truth)" in df.columns


def test_builders_on_a_real_pretrained_run():
    from diffrec_core.methods.dcdr import load_pretrained_rerank, run_to_trajectory
    from diffrec_core.rerank import load_rerank_data

    if not (REPO / "pretrained" / "dcdr_p" / "model.safetensors").exists():
        pytest.skip("no pretrained DCDR checkpoint")
    data = load_rerank_data()
    models, _ = load_pretrained_rerank(None, data.n_users, data.n_items)
    for key in ("dcdr_p", "dcdr_t"):
        m = models[key]
        req = data.request(3500)
        run = m.run(req, beam=4)
        tr = run_to_trajectory(run, m.list_schedule(req.L))
        rows = R.grid_rows(tr)
        assert len(rows) == run.n_steps + 2 and rows[-1]["items"] == req.items(run.output).tolist()
        fig = R.steps_figure(tr, data.titles, data.item_genre, data.genres, current=1)
        assert len(fig.data[0].x) == len(R.beam_rows(tr)) * req.L
        assert sum(r["chosen"] for r in R.beam_rows(tr)) == (run.output_from != "x_init")
        assert len(R.beams_frame(tr, 1, data.titles)) <= 4
        eq = R.step_equation(tr, 1)
        assert eq.terms and eq.live
