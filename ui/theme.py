"""One colour scheme and one set of font sizes for every figure in the app.

Colours are the Okabe-Ito palette (Okabe & Ito 2008), which stays distinguishable under the common forms of
colour blindness; every role that matters also has its own marker symbol, so no view relies on colour alone.
Font sizes are chosen for a projector at the back of a classroom.
"""
from __future__ import annotations

from typing import Optional

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",      # bluish green
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",     # reddish purple
}
GREY = "#9A9A9A"
LIGHT_GREY = "#C8C8C8"
BAND = "rgba(0, 0, 0, 0.045)"

# Roles: what a colour means is the same on every page.
COLORS = {
    "interacted": OKABE_ITO["blue"],        # a genuine training interaction
    "noise": OKABE_ITO["vermillion"],       # an injected-noise interaction (sample-world ground truth)
    "heldout": OKABE_ITO["green"],          # a held-out (validation / test) item
    "other": LIGHT_GREY,                    # an item the user never interacted with
    "topk": OKABE_ITO["orange"],            # in the current top-K
    "current": OKABE_ITO["black"],          # the current step marker
    "alpha_bar": OKABE_ITO["blue"],
    "noise_std": OKABE_ITO["vermillion"],
    "snr": OKABE_ITO["purple"],
    "recall": OKABE_ITO["blue"],
    "ndcg": OKABE_ITO["orange"],
    "diffusion": OKABE_ITO["blue"],
    "baseline": OKABE_ITO["orange"],
}
SYMBOLS = {
    "interacted": "circle",
    "noise": "x",
    "heldout": "diamond",
    "other": "circle",
    "topk": "circle-open",
}
# categorical order for clusters / genres (black last: it reads as "text")
CATEGORICAL = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple", "yellow", "black")]
# categories drawn beside the role colours (genres, relations): vermillion, which means "injected noise / wrong" on
# every page, is replaced by a dark grey (distinct from GREY and LIGHT_GREY), so that no category reads as an error
# and eight categories still get eight colours
DARK_GREY = "#5A5A5A"
GENRE_COLORS = [DARK_GREY if c == COLORS["noise"] else c for c in CATEGORICAL]
SEQUENTIAL = "Cividis"          # perceptually uniform and colour-blind safe
DIVERGING = "RdBu_r"            # red/blue stays distinct for red-green colour blindness

FONT = dict(family="Source Sans Pro, Helvetica, Arial, sans-serif", size=17, color="#1F1F1F")
TITLE_SIZE = 21
TICK_SIZE = 15


def base_layout(title: Optional[str] = None, height: int = 420, legend: bool = True, **extra) -> dict:
    """A plain white layout with large fonts, a horizontal legend on top and room for axis titles."""
    layout = dict(
        template="none",          # no template: plotly deep-copies a named one into every figure (slow)
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=CATEGORICAL,
        font=FONT,
        height=height,
        margin=dict(l=70, r=30, t=(100 if legend else 70) if title else 50, b=60),
        showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, font=dict(size=15),
                    bgcolor="rgba(255,255,255,0.6)"),
        hoverlabel=dict(font_size=15),
        uirevision="keep",   # keep the user's zoom across reruns
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=TITLE_SIZE), x=0, xanchor="left", xref="container",
                               y=1, yref="container", yanchor="top", pad=dict(t=12, l=12))
    layout.update(extra)
    return layout


def axis(title: str = "", **kw) -> dict:
    d = dict(title=dict(text=title, font=dict(size=FONT["size"])), tickfont=dict(size=TICK_SIZE), zeroline=False,
             showline=True, linecolor="#666", gridcolor="#E6E6E6", showgrid=True, ticks="outside", tickcolor="#999",
             automargin=True)
    d.update(kw)
    return d


def vline(x: float, xref: str = "x", yref: str = "paper", color: str = "#000000", width: float = 2,
          dash: str = "dot") -> dict:
    """A vertical line shape (cheaper than ``fig.add_vline``, which re-validates the whole figure)."""
    return dict(type="line", xref=xref, yref=yref, x0=x, x1=x, y0=0, y1=1, line=dict(color=color, width=width,
                                                                                      dash=dash))


def plotly_config(filename: str) -> dict:
    """The Plotly mode bar: keep the PNG download (at 2x, named after the view), drop tools a class never needs."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    }


# ------------------------------------------------------------------------------------------------ presentation
PRESENT_SCALE = 1.3      # presentation mode: fonts, markers and figure heights grow by this factor


def _scale_fonts(obj, factor: float, under_font: bool = False):
    """Scale every ``size`` inside a font dict (font, tickfont, title.font, legend.font, annotation fonts, …)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if under_font and k == "size" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = round(v * factor, 1)
            else:
                out[k] = _scale_fonts(v, factor, k.endswith("font"))
        return out
    if isinstance(obj, (list, tuple)):
        return [_scale_fonts(v, factor, under_font) for v in obj]
    return obj


def scale_figure(fig, factor: float = PRESENT_SCALE):
    """A figure for a projector: every font, the figure height, its margins and scalar marker sizes times
    ``factor``. Changes ``fig`` in place (builders return a new figure per call) and returns it. Fonts that a
    figure leaves unset inherit ``layout.font``, which is scaled, so nothing is missed."""
    if factor == 1:
        return fig
    lay = _scale_fonts(fig.layout.to_plotly_json(), factor)
    if not (lay.get("font") or {}).get("size"):                # unset: Plotly's default 12 px, scaled
        lay.setdefault("font", {})["size"] = round(12 * factor, 1)
    lay["height"] = int(round((fig.layout.height or 450) * factor))
    if fig.layout.margin is not None:
        lay["margin"] = {k: (int(round(v * factor)) if k in ("l", "r", "t", "b") and isinstance(v, (int, float)) else v)
                         for k, v in (fig.layout.margin.to_plotly_json() or {}).items()}
    fig.layout = lay
    for tr in fig.data:
        t = tr.to_plotly_json()
        upd = {k: _scale_fonts(v, factor, True) for k, v in t.items() if k.endswith("font")}
        m = t.get("marker") or {}
        if isinstance(m.get("size"), (int, float)):
            upd["marker"] = {"size": m["size"] * factor}
        if upd:
            tr.update(upd)
    return fig


def present_css(factor: float = PRESENT_SCALE) -> str:
    """Body text, captions, metrics and tables for a projector: Streamlit sizes its text in rem, so scaling the
    root font size scales it all; the main column also uses the full width."""
    return (f"<style>html {{ font-size: {16 * factor:.1f}px; }} "
            ".stMainBlockContainer { max-width: 100%; padding-left: 2rem; padding-right: 2rem; } "
            "[data-testid='stCaptionContainer'] { font-size: 0.95rem; }</style>")
