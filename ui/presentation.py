"""Presentation mode on a 1280×720 projector: what each page shows on its first screen, and the CSS and the small
script that make it fit.

Why CSS ``order`` and not a second layout per page: Streamlit lays a page out as one flex column, so moving the
page's *key element* (its stepper figure, its main chart, the Lab's Train button) up to just below the title is a
style rule, and every page keeps one code path for both modes. The rest of the page (prose, captions, settings)
follows below the key element in its usual order. The key element of each page is named once, in
:data:`KEY_ELEMENTS`; ``tests/test_presentation_fit.py`` checks in a real browser that it lies within the first
screen and that no text overflows its box.

The script fits what CSS cannot: a KaTeX equation wider than its box is scaled down to the box (display math
cannot wrap, and a clipped ``N(√ᾱ x0, (1−ᾱ)I)`` loses its ``I)``), and a metric value wider than its tile is set
in a smaller size instead of being cut to "0.999…".
"""
from __future__ import annotations

from typing import Optional

from .theme import PRESENT_SCALE, present_css, scale_figure

# page URL path (as app.py registers it; "" = Home) -> CSS selector of the element its first screen must show
KEY_ELEMENTS = {
    "": ".st-key-home_hero",                        # the hero figure
    "forward": ".st-key-fw_hero",                   # the forward stepper (▶, scrubber, every panel)
    "reverse": ".st-key-rv_vectors",                # the reverse stepper
    "embeddings": ".st-key-em_reverse",             # the reverse trajectory on the item map, stepped in the browser
    "knowledge_graph": ".st-key-kg_row",            # an entity's KG row, stepped in the browser
    "reranking": ".st-key-rr_steps_fig",            # DCDR's list at every reverse step
    "compare": ".st-key-cmp_bars",                  # the methods' bars
    "lab": ".st-key-lab_train",                     # the Train button (the Lab has no figure before a run)
    "reference": ".st-key-section",                 # the section picker
}
SCREEN = (1280, 720)        # the projector the layout is made for (width, height in CSS px)
KEY_HEIGHT = 590            # px: the tallest a key figure may be so that title + figure fit in SCREEN[1]
KEY_HEIGHTS = {"rr_steps_fig": 480}     # key figures with controls above them in their column: less room


def key_chart(selector: str) -> Optional[str]:
    """The chart key of a ``.st-key-<key>`` selector (None for other selectors)."""
    return selector[len(".st-key-"):] if selector.startswith(".st-key-") else None


KEY_CHARTS = frozenset(k for k in map(key_chart, KEY_ELEMENTS.values()) if k)


def fit_key_figure(fig, max_height: int = KEY_HEIGHT, factor: float = PRESENT_SCALE):
    """A page's key figure for the projector: scaled like every figure (fonts, margins, markers times ``factor``)
    where that still fits in ``max_height``; a taller figure gets less of the font scale (never below 1) and is
    set to ``max_height`` (its panels are placed in paper fractions, so they shrink with it). Changes ``fig`` in
    place and returns it."""
    h = float(fig.layout.height or 450)
    f = min(max(max_height / h, 1.0), factor)
    scale_figure(fig, f)
    if (fig.layout.height or 450) > max_height:
        fig.layout.height = int(max_height)
    return fig


def _layout_css(page: Optional[str]) -> str:
    main = "[data-testid='stMainBlockContainer'] > [data-testid='stVerticalBlock']"
    rules = [
        # the header bar keeps only the sidebar's expand button; the page starts right under it
        "[data-testid='stHeader'] { background: transparent; height: 2.2rem; }",
        ".stMainBlockContainer { padding-top: 2.4rem; padding-bottom: 3rem; }",
        # one line of title on a 1280 px screen
        "h1 { font-size: 1.75rem !important; padding: 0 0 0.2rem 0 !important; line-height: 1.25 !important; }",
        # metric tiles: labels and deltas at >= 16 px, values never cut with an ellipsis
        "[data-testid='stMetricLabel'], [data-testid='stMetricDelta'] { font-size: 0.85rem; }",
        "[data-testid='stMetricValue'] > div { overflow: visible; text-overflow: clip; }",
        ".katex-display { overflow: hidden; }",
        f"{main} > :has(.st-key-tour_banner) {{ order: -3; }}",
        f"{main} > :nth-child(1 of :has(h1)) {{ order: -2; }}",     # the title, not a document's h1
    ]
    sel = KEY_ELEMENTS.get((page or "").strip("/"))
    if sel:
        rules.append(f"{main} > :has({sel}), {main} > {sel} {{ order: -1; }}")
    return "<style>" + " ".join(rules) + "</style>"


# scales KaTeX blocks and metric values that are wider than their box; re-run whenever Streamlit redraws
FIT_SCRIPT = """<script>(() => {
  if (window.__diffrecFit) { window.__diffrecFit(); return; }
  // a few passes: struts and spacing do not scale linearly. ``width`` measures what is drawn: for KaTeX the visible
  // HTML (its hidden MathML copy adds a pixel or two to scrollWidth), else the element's scrollWidth
  const shrink = (box, el, base, width) => {
    el.style.fontSize = '';
    let size = base;
    for (let k = 0; k < 4; k++) {
      const w = box.clientWidth, s = width();
      if (!(w > 0 && s > w + 0.5)) break;
      size *= 0.98 * w / s;
      el.style.fontSize = size.toFixed(3) + 'em';
    }
  };
  const fit = () => {
    document.querySelectorAll('.katex-display').forEach(d => {
      const k = d.querySelector(':scope > .katex'), h = k && k.querySelector('.katex-html');
      if (h) shrink(d, k, 1.21, () => h.getBoundingClientRect().width); });
    document.querySelectorAll('[data-testid="stMetricValue"] > div').forEach(v => shrink(v, v, 1, () => v.scrollWidth));
  };
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(fit, 60); };
  new MutationObserver(later).observe(document.body, {childList: true, subtree: true, characterData: true});
  window.addEventListener('resize', later);
  window.__diffrecFit = later;
  later();
})();</script>"""


def page_html(page: Optional[str], factor: float = PRESENT_SCALE) -> str:
    """Everything presentation mode adds to a page: the projector's type sizes, the first-screen layout of
    ``page`` (its URL path) and the fit script."""
    return present_css(factor) + _layout_css(page) + FIT_SCRIPT
