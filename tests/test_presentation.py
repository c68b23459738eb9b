"""Presentation mode: one sidebar switch (also a URL parameter) scales every figure and the body text and hides
the advanced controls, whose values stay in effect."""
import numpy as np
import plotly.graph_objects as go

from test_pages_app import charts, no_exception
from test_url_state import app_on
from ui.presentation import KEY_CHARTS, KEY_HEIGHT, fit_key_figure
from ui.theme import PRESENT_SCALE, axis, base_layout, scale_figure


def test_scale_figure_scales_every_font_the_height_and_the_markers():
    fig = go.Figure([go.Scatter(x=[1, 2], y=[3, 4], marker=dict(size=10), textfont=dict(size=11))],
                    base_layout("a title", height=400, xaxis=axis("x"),
                                annotations=[dict(text="note", font=dict(size=16))]))
    before = fig.to_dict()["layout"]
    scale_figure(fig, 1.5)
    lay = fig.layout
    assert lay.height == 600 and lay.font.size == before["font"]["size"] * 1.5
    assert lay.title.font.size == before["title"]["font"]["size"] * 1.5
    assert lay.xaxis.tickfont.size == before["xaxis"]["tickfont"]["size"] * 1.5
    assert lay.annotations[0].font.size == 24 and lay.legend.font.size == before["legend"]["font"]["size"] * 1.5
    assert lay.margin.l == round(before["margin"]["l"] * 1.5)
    assert fig.data[0].marker.size == 15 and fig.data[0].textfont.size == 16.5
    bare = scale_figure(go.Figure(), 2)                 # Plotly's defaults (12 px, 450 px) are scaled too
    assert bare.layout.font.size == 24 and bare.layout.height == 900
    assert scale_figure(fig, 1) is fig


def test_fit_key_figure_keeps_a_short_figure_scaled_and_caps_a_tall_one():
    short = fit_key_figure(go.Figure(layout=base_layout("a", height=300)))
    assert short.layout.height == 300 * PRESENT_SCALE and short.layout.font.size == 17 * PRESENT_SCALE
    tall = fit_key_figure(go.Figure(layout=base_layout("a", height=1200)))
    assert tall.layout.height == KEY_HEIGHT and tall.layout.font.size == 17          # fonts not below normal
    mid = fit_key_figure(go.Figure(layout=base_layout("a", height=500)), max_height=550)
    assert mid.layout.height == 550 and abs(mid.layout.font.size - 17 * 1.1) < 0.1


def _sizes(spec) -> list:
    lay = spec["layout"]
    return [lay["font"]["size"], lay["height"]]


def test_presentation_mode_from_a_link_scales_figures_and_hides_advanced_controls():
    normal = app_on("reverse", rv_scope="whole trajectory", rv_step=1)
    at = app_on("reverse", present=1, rv_scope="whole trajectory", rv_step=1)
    no_exception(at)
    assert at.toggle(key="present").value is True
    a, b = _sizes(charts(normal)["rv_demotion"]), _sizes(charts(at)["rv_demotion"])
    assert np.allclose(b, [v * PRESENT_SCALE for v in a], atol=1), (a, b)
    # the page's key figure (ui/presentation.KEY_ELEMENTS) fits the first screen: no taller than KEY_HEIGHT, its
    # fonts never smaller than outside presentation mode
    assert "rv_vectors" in KEY_CHARTS
    a, b = _sizes(charts(normal)["rv_vectors"]), _sizes(charts(at)["rv_vectors"])
    assert b[1] <= KEY_HEIGHT < a[1] * PRESENT_SCALE and a[0] <= b[0] <= a[0] * PRESENT_SCALE, (a, b)
    # advanced controls are gone; their (linked) values still apply: the same whole-trajectory axis range
    keys = {w.key for w in at.radio}
    assert "rv_scope" not in keys and "rv_reverse" not in keys and "rv_heldout" in keys
    assert at.slider(key="rv_tprime") and at.toggle(key="rv_noise")
    assert (charts(at)["rv_vectors"]["layout"]["yaxis2"]["range"]
            == charts(normal)["rv_vectors"]["layout"]["yaxis2"]["range"])
    assert any("font-size" in h.proto.body for h in at.get("html"))          # the body-text CSS
    assert not any("font-size" in h.proto.body for h in normal.get("html"))


def test_switching_presentation_mode_on_and_off_in_the_sidebar():
    at = app_on("forward")
    assert at.select_slider(key="fw_min")
    normal = _sizes(charts(at)["fw_hero"])
    at.toggle(key="present").set_value(True).run()
    no_exception(at)
    assert at.query_params["present"] == "1"
    assert not [w for w in at.select_slider if w.key in ("fw_min", "fw_max")]
    assert not [w for w in at.toggle if w.key == "fw_b1"]
    projected = _sizes(charts(at)["fw_hero"])           # the key figure: fitted to the first screen
    assert projected != normal and projected[1] <= KEY_HEIGHT and projected[0] >= normal[0]
    assert any("order: -1" in h.proto.body and ".st-key-fw_hero" in h.proto.body for h in at.get("html"))
    at.toggle(key="present").set_value(False).run()
    assert at.select_slider(key="fw_min") and _sizes(charts(at)["fw_hero"]) == normal
    no_exception(at)


def test_presentation_mode_on_the_knowledge_graph_and_reranking_pages():
    kg = app_on("knowledge_graph", present=1)
    no_exception(kg)
    assert "kg_reverse" not in {w.key for w in kg.radio} and "kg_scope" not in {w.key for w in kg.radio}
    explain = [e for e in kg.expander if e.label == "explain"]                 # the intro waits behind "explain"
    assert explain and "one row of the knowledge graph" in explain[0].markdown[0].value
    assert not [e for e in app_on("knowledge_graph").expander if e.label == "explain"]
    rr = app_on("reranking", present=1, rr_beam=2)
    no_exception(rr)
    assert "rr_beam" not in {w.key for w in rr.slider} and "rr_cond" not in {w.key for w in rr.radio}
    assert rr.query_params["rr_beam"] == "2"                                 # hidden, still in the link
