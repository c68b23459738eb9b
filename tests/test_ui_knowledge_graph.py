"""The Knowledge-graph page's pure builders (ui/knowledge_graph.py) on small hand-made inputs."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from diffrec_core.trajectory import Trajectory
from ui import knowledge_graph as kgviews
from ui import kg_subgraph as kgsub
from ui import kg_row as kgrow

# entities: items 0..3, genres 4..5, studio 6; triples (canonical) and their inverses
TRIPLES = pd.DataFrame({"head": [0, 0, 1, 2, 3, 3], "relation": [0, 1, 0, 0, 0, 1], "tail": [4, 6, 4, 5, 5, 6],
                        "is_wrong": [0, 0, 1, 0, 0, 1]})
NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Drama", "Comedy", "Studio X"]
TYPES = ["item"] * 4 + ["genre"] * 2 + ["studio"]


def state(rebuilt_pairs=((0, 4), (2, 5), (3, 5)), coin_false=((3, 5),)):
    h = np.r_[TRIPLES["head"], TRIPLES["tail"]]
    t = np.r_[TRIPLES["tail"], TRIPLES["head"]]
    r = np.r_[TRIPLES["relation"], TRIPLES["relation"] + 2]
    pairs = set(rebuilt_pairs) | {(b, a) for a, b in rebuilt_pairs}
    rebuilt = np.array([(a, b) in pairs for a, b in zip(h, t)])
    nocoin = set(coin_false)
    coin = np.array([(a, b) not in nocoin for a, b in zip(h, t)])
    return {"head": h, "tail": t, "relation": r, "sampled": np.ones(len(h), bool), "rebuilt": rebuilt,
            "coin": coin, "denoised": rebuilt & coin}


def edges():
    return kgviews.edge_table(state(), TRIPLES, ["has_genre", "by_studio"], NAMES)


def test_edge_table_names_truth_and_status():
    e = edges()
    assert len(e) == 12 and e["inverse"].sum() == 6
    assert e.loc[~e["inverse"], "relation_name"].tolist() == ["has_genre", "by_studio", "has_genre", "has_genre",
                                                              "has_genre", "by_studio"]
    assert set(e.loc[e["inverse"], "relation_name"]) == {"~has_genre", "~by_studio"}
    # ground truth reaches inverse edges too
    assert e.loc[(e["head"] == 4) & (e["tail"] == 1), "wrong"].item() == 1
    st = dict(zip(zip(e["head"], e["tail"]), e["status"]))
    assert st[(0, 4)] == kgviews.KEPT and st[(3, 5)] == kgviews.COIN and st[(1, 4)] == kgviews.DROPPED
    assert kgviews.has_truth(e)
    assert not kgviews.has_truth(kgviews.edge_table(state(), TRIPLES.drop(columns="is_wrong"), None))


def test_truth_metrics_against_hand_counts_and_the_hypergeometric_baseline():
    tr = kgviews.truth_metrics(edges())
    r = tr["rebuilt"]
    # canonical triples: 6, of which 2 wrong (1->4, 3->6); rebuilt keeps (0,4), (2,5), (3,5): all correct
    assert (r.total, r.wrong_total, r.kept, r.wrong_kept) == (6, 2, 3, 0)
    assert r.precision == 1.0 and r.recall == pytest.approx(3 / 4) and r.wrong_removed == 1.0
    assert r.random_precision == pytest.approx(4 / 6) and r.random_wrong_removed == pytest.approx(0.5)
    assert r.p_value == pytest.approx(hypergeom(6, 2, 3).cdf(0))
    d = tr["denoised"]
    assert d.kept == 2 and d.recall == pytest.approx(2 / 4)
    assert tr["original view"].kept == 6 and tr["original view"].wrong_removed == 0
    tab = kgviews.truth_table(tr)
    assert tab["KG"].tolist() == [kgviews.STAGE_LABELS[k] for k in ("rebuilt", "denoised", "original view")]
    assert tab["KG"].str.startswith("rebuilt").sum() == 1 and "keep step" in tab["KG"].iloc[1]
    fig = kgviews.truth_figure(tr)
    assert [t.name for t in fig.data] == ["wrong triples removed", "correct triples removed",
                                         "random keeping (either kind)"]
    assert list(fig.data[0].y) == [1.0, 1.0]
    cap = kgviews.truth_caption(tr, 0.5)
    assert "removes 100 % of the 2 injected wrong triples" in cap and "keep step (probability 0.5)" in cap
    assert "rebuilt KG (top-k of the denoised rows) keeps 3 of 6 triples" in cap
    assert "2 triples in the denoised KG" in cap
    assert kgviews.truth_metrics(kgviews.edge_table(state(), None, None)) == {}


def test_item_subgraph_rings_and_figure():
    e = edges()
    g = kgsub.subgraph(e, 0, "item", NAMES, TYPES, 4, second_hop=2)
    assert g.nodes.iloc[0]["id"] == 0 and g.nodes.iloc[0]["ring"] == 0
    ring1 = set(g.nodes.loc[g.nodes["ring"] == 1, "id"])
    assert ring1 == {4, 6}
    ring2 = set(g.nodes.loc[g.nodes["ring"] == 2, "id"])
    assert ring2 == {1, 3}                              # other items of Drama and Studio X
    assert np.allclose(np.hypot(g.nodes["x"], g.nodes["y"]), g.nodes["ring"])
    ids = set(g.nodes["id"])
    assert set(g.edges["src"]) | set(g.edges["dst"]) <= ids
    assert len(g.edges) == 4                            # canonical edges only: 0-4, 0-6, 1-4, 3-6
    fig = kgsub.subgraph_figure(g, "t")
    names = [t.name for t in fig.data]
    assert "injected wrong triple" in names and "has_genre" in names and "by_studio" in names
    wrong_trace = fig.data[names.index("injected wrong triple")]
    assert len(wrong_trace.x) == 2                      # 1->4 and 3->6
    dashes = {t.line.dash for t in fig.data if t.mode == "lines" and t.x and t.x[0] is not None}
    assert dashes <= {"solid", "dash", "dot"} and "dot" in dashes
    cap = kgsub.subgraph_caption(g, len(e))
    assert cap.startswith("4 triples drawn") and "2 of them are injected wrong" in cap


def test_user_subgraph_has_the_user_and_interaction_edges():
    e = edges()
    g = kgsub.subgraph(e, 7, "user", NAMES, TYPES, 4, user_items=np.array([2, 0]), max_items=8)
    assert g.nodes.iloc[0]["type"] == "user" and g.nodes.iloc[0]["id"] == -8
    assert set(g.nodes.loc[g.nodes["ring"] == 1, "id"]) == {0, 2}
    assert set(g.nodes.loc[g.nodes["ring"] == 2, "id"]) == {4, 5, 6}
    ui = g.edges[g.edges["kind"] == "ui"]
    assert len(ui) == 2 and set(ui["dst"]) == {0, 2}
    fig = kgsub.subgraph_figure(g)
    assert any(t.name == "user" for t in fig.data) and any(t.name == "interacted (user–item)" for t in fig.data)
    # a user without history: just the user node
    g0 = kgsub.subgraph(e, 1, "user", NAMES, TYPES, 4, user_items=np.array([], dtype=int))
    assert len(g0.nodes) == 1 and kgsub.subgraph_caption(g0, len(e)).startswith("No KG edges")


def test_entity_order_gives_small_blocks_room():
    pos, bands = kgrow.entity_order(TYPES, 7, 4, min_share=0.2)
    assert [b[0] for b in bands] == ["item", "genre", "studio"] and [b[3] for b in bands] == [4, 2, 1]
    assert bands[1][2] - bands[1][1] == pytest.approx(max(2, 0.2 * 7))
    assert (np.diff(pos[:4]) > 0).all() and pos[4:].min() > pos[:4].max()
    pos2, bands2 = kgrow.entity_order(None, 7, 4)
    assert [b[0] for b in bands2] == ["item", "entity"]


def _traj(E=7, S=3, ent=0):
    rng = np.random.default_rng(0)
    x0 = rng.normal(0, 0.05, (S, 1, E))
    x0[:, 0, 4] = np.linspace(0.2, 0.9, S)     # the true genre rises
    x0[:, 0, 6] = 0.1
    st = rng.normal(0, 0.1, (S, 1, E))
    return Trajectory("diffkg", np.arange(S)[::-1].copy(), st, x0, x0[-1], np.array([ent]), np.full(S, 0.01),
                      np.linspace(0.99, 0.9, S), scores=x0, topk=np.argsort(-x0, -1)[..., :3])


def test_row_figure_table_and_caption():
    e = edges()
    tr = _traj()
    nb = kgrow.row_neighbours(e, 0)
    assert set(nb["tail"]) == {4, 6}
    pos, bands = kgrow.entity_order(TYPES, 7, 4)
    fig = kgrow.row_figure(tr, 2, pos, bands, nb, NAMES, rebuild_k=1)
    top = [t for t in fig.data if t.name.startswith("top-1")][0]
    assert len(top.x) == 1 and top.x[0] == pytest.approx(pos[4])
    true_bottom = [t for t in fig.data if t.name == "true neighbour" and t.yaxis == "y"][0]
    assert len(true_bottom.x) == 2
    whole = kgrow.row_figure(tr, 0, pos, bands, nb, NAMES, scope="whole trajectory").layout.yaxis.range
    per = kgrow.row_figure(tr, 0, pos, bands, nb, NAMES, scope="per step").layout.yaxis.range
    assert whole[1] >= per[1]
    tab = kgrow.row_table(tr, 2, nb, NAMES)
    assert tab["neighbour"].iloc[0] == "Drama" and tab["rank in the row"].iloc[0] == 1
    cap = kgrow.row_caption(tr, 2, nb, NAMES, 1)
    assert "Alpha has 2 neighbours" in cap and "Drama (an original edge)" in cap


def test_topk_and_metrics_tables():
    df = kgviews.topk_table(np.array([0, 1, 2]), np.array([0, 3, 1]), NAMES, [3])
    assert df["denoised KG"].tolist() == ["Alpha", "✓ Delta", "Beta"] and df["moved"].tolist() == ["", "new", ""]
    assert kgviews.topk_caption(np.array([0, 1, 2]), np.array([0, 3, 1]), [3]) == (
        "2 of the 3 items appear in both lists; the original-KG list holds 0 and the denoised-KG list 1 of the "
        "user's 1 held-out item.")
    res = {"methods": {"diffkg": {"test": {"recall@20": 0.25, "ndcg@20": 0.13}, "valid": {"recall@20": 0.27}},
                       "lightgcn": {"test": {"recall@20": 0.30, "ndcg@20": 0.16}, "valid": {"recall@20": 0.31}}}}
    mt = kgviews.metrics_table(res, ["diffkg", "kgat", "lightgcn"], {"diffkg": "DiffKG", "lightgcn": "LightGCN"})
    assert mt["method"].tolist() == ["DiffKG", "LightGCN"]
    assert kgviews.metrics_caption(mt).startswith(
        "On the sample world, LightGCN has the highest test Recall@20 (0.300)")
    assert "pretrain" in kgviews.metrics_caption(mt.iloc[0:0])
    vt = kgviews.views_table({"original KG": {"recall@20": 0.2, "ndcg@20": 0.1}, "denoised KG": {"recall@20": 0.25}})
    assert vt["DiffKG scored with"].tolist() == ["original KG", "denoised KG"] and np.isnan(vt["ndcg@20"].iloc[1])


def test_kg_counts_and_the_units_sentence():
    c = kgviews.kg_counts(edges())
    # 6 triples = 12 edges; rebuilt (0,4), (2,5), (3,5) both ways; the keep step drops (3,5) forward only
    assert (c["triples"], c["edges"]) == (6, 12)
    assert (c["rebuilt_triples"], c["rebuilt_edges"]) == (3, 6)
    assert (c["denoised_triples"], c["denoised_edges"], c["denoised_both"]) == (2, 5, 2)
    s = kgviews.units_sentence(c)
    assert "the 6 triples are 12 edges" in s and "3 triples = 6 edges" in s
    assert "5 edges survive" in s and "2 triples keep their forward edge (2 of them both directions)" in s
    tr = kgviews.truth_metrics(edges())
    assert c["rebuilt_triples"] == tr["rebuilt"].kept and c["denoised_triples"] == tr["denoised"].kept
    one_way = kgviews.kg_counts(kgviews.edge_table(state(coin_false=((5, 3), (4, 0))), TRIPLES, None, NAMES))
    assert one_way["denoised_both"] == 1 and one_way["denoised_triples"] == 3


def test_diffkg_equation_counts_triples_and_explains_edges_once():
    c = kgviews.kg_counts(edges())
    eq = kgviews.diffkg_equation(0.5, 1, 0.5, c)
    assert "CKGC" not in eq.general and r"\lambda" in eq.general and "top" in eq.general
    assert r"6\ \to\ 3\ \to\ 2\ \text{triples}" in eq.live
    v = eq.values()
    assert v["original triples"] == "6" and v["rebuilt KG"] == "3" and v["denoised KG"] == "2"
    assert v["p (keepRate)"] == "0.5" and "12 → 6 → 5 edges" in eq.note
    big = dict(c, triples=2701, edges=5402, rebuilt_triples=485, rebuilt_edges=970, denoised_triples=240,
               denoised_edges=487)
    assert "2{,}701" in kgviews.diffkg_equation(0.5, 1, 0.5, big).live
