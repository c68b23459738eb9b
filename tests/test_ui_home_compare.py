"""Home-page content (ui.home), the comparison table (ui.compare) and the theme helpers (ui.theme)."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui import compare, home, theme  # noqa: E402
from ui import data as uidata  # noqa: E402
from ui import forward  # noqa: E402

from test_ui_forward import GENRES, tiny_split  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def spec(name, kind="diffusion", page="reverse"):
    return SimpleNamespace(name=name, title=name.upper(), paper="p", diffused="d", idea="i", page=page, kind=kind)


def test_method_cards_registered_first_then_coming_without_duplicates():
    specs = [spec("tdiffrec"), spec("diffrec"), spec("dreamrec", page="embeddings"), spec("ease", kind="baseline")]
    cards = home.method_cards(specs, available_pages={"forward", "reverse"})
    names = [c["name"] for c in cards]
    assert names == ["diffrec", "tdiffrec", "diffkg", "diffurec", "dreamrec", "dcdr"]   # fixed teaching order
    assert "ease" not in names and names.count("dreamrec") == 1
    status = {c["name"]: c["status"] for c in cards}
    assert status["diffrec"] == "open" and status["dreamrec"] == "page coming" and status["dcdr"] == "page coming"
    assert home.method_cards(specs, {"embeddings", "reverse"})[4]["status"] == "open"
    assert home.baselines(specs) == ["EASE"]


def test_world_caption_and_tour():
    w = uidata.world_summary(tiny_split())
    cap = home.world_caption(w)
    assert "4 made-up users" in cap and "12 made-up items" in cap and "3 genres" in cap and "1 noise" in cap
    stops = home.tour()
    assert sum(s["minutes"] for s in stops) == 10
    assert {s["page"] for s in stops} <= {"home", "forward", "reverse", "compare"}


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
        assert "umap" not in src, path
