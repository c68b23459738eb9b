"""Presentation mode on a 1280×720 projector, in a real browser: on every registered page the key element named
in ``ui/presentation.KEY_ELEMENTS`` (a stepper figure with its ▶ and scrubber, the page's main chart, the Lab's
Train button) lies within the first screen, and no text element overflows its box (a paragraph, a caption, a
metric value cut to "0.999…", a KaTeX equation clipped at its right edge).

One server and one browser page for all pages (the fixtures of ``test_browser``); they skip like the other browser
tests where Playwright or chromium is absent.
"""
from __future__ import annotations

import pytest

from test_browser import FIRST_LOAD_MS, LOAD_MS, _registered_pages, _settle, expect
from test_browser import browser, server  # noqa: F401,F811 - the fixtures: one server for this module
from ui.presentation import KEY_ELEMENTS, SCREEN

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

# app.py's page key -> its URL path (Streamlit derives the path from the file name; Home is the root)
PAGES = {key: ("" if key == "home" else path.removeprefix("views/").removesuffix(".py"))
         for key, path, _title in _registered_pages()}

# every text box of Streamlit's that must fit its content: paragraphs and list items, headings, captions, widget
# labels, metric tiles, KaTeX display blocks (code blocks and tables scroll by design and are left out)
_OVERFLOW = """() => {
  const sel = ['[data-testid="stMarkdownContainer"] p', '[data-testid="stMarkdownContainer"] li', 'h1', 'h2', 'h3',
               '[data-testid="stCaptionContainer"]', '[data-testid="stWidgetLabel"]',
               '[data-testid="stMetricValue"] > div', '[data-testid="stMetricLabel"]'];
  const out = [];
  for (const el of document.querySelectorAll(sel.join(','))) {
    if (el.closest('pre, [data-testid="stSidebar"], .katex') || el.clientWidth === 0) continue;
    if (el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.className || el.tagName}: ${el.scrollWidth} > ${el.clientWidth}: ${el.innerText.slice(0, 60)}`);
  }
  // KaTeX: the drawn equation (its HTML; the hidden MathML copy is not drawn) must lie inside its display box
  for (const d of document.querySelectorAll('.katex-display')) {
    const h = d.querySelector('.katex-html');
    if (!h || d.clientWidth === 0) continue;
    const box = d.getBoundingClientRect(), eq = h.getBoundingClientRect();
    if (eq.left < box.left - 1 || eq.right > box.right + 1)
      out.push(`clipped KaTeX: ${eq.width.toFixed(0)} px in ${box.width.toFixed(0)} px: ${d.textContent.slice(0, 40)}`);
  }
  const small = [...document.querySelectorAll('[data-testid="stMetricLabel"], [data-testid="stMetricValue"]')]
    .filter(el => el.clientWidth > 0 && parseFloat(getComputedStyle(el).fontSize) < 16)
    .map(el => `tile text ${getComputedStyle(el).fontSize}: ${el.innerText.slice(0, 40)}`);
  return out.concat(small);
}"""

# the box of the key element as drawn: a chart's Plotly root, else the element's own container
_BOX = """sel => { const host = document.querySelector(sel); if (!host) return null;
  const el = host.querySelector('.js-plotly-plot') || host;
  const r = el.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height, sidebar: (() => {
    const s = document.querySelector('[data-testid="stSidebar"]');
    return s ? s.getAttribute('aria-expanded') : null; })()}; }"""


@pytest.fixture(scope="module")
def screen(browser, server):  # noqa: F811
    """One browser page at the projector's size for every test of this module."""
    context = browser.new_context(viewport={"width": SCREEN[0], "height": SCREEN[1]})
    context.set_default_timeout(LOAD_MS)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    # a cold server imports torch and loads the models on the first page: open Home once before the tests
    pg.goto(server["url"] + "/?present=1")
    expect(pg.locator(KEY_ELEMENTS[""])).to_be_visible(timeout=FIRST_LOAD_MS)
    yield pg
    context.close()


def test_every_registered_page_names_its_key_element():
    assert set(PAGES.values()) == set(KEY_ELEMENTS), (sorted(PAGES.values()), sorted(KEY_ELEMENTS))


@pytest.mark.parametrize("key", list(PAGES))
def test_the_key_element_is_on_the_first_screen_and_no_text_overflows(screen, server, key):  # noqa: F811
    path = PAGES[key]
    sel = KEY_ELEMENTS[path]
    screen.goto(f"{server['url']}/{path}?present=1")
    target = screen.locator(sel).first
    expect(target).to_be_visible(timeout=LOAD_MS)
    if target.locator(".js-plotly-plot").count():
        expect(target.locator(".js-plotly-plot .main-svg .trace").first).to_be_attached(timeout=LOAD_MS)
    _settle(screen)
    expect(screen.get_by_test_id("stException")).to_have_count(0)
    screen.evaluate("() => new Promise(r => setTimeout(r, 300))")          # the fit script runs 60 ms after a redraw
    box = screen.evaluate(_BOX, sel)
    assert box and box["height"] > 0, f"{key}: {sel} not drawn"
    assert box["sidebar"] != "true", f"{key}: the sidebar is open in presentation mode"
    assert box["x"] >= 0 and box["y"] >= 0, (key, box)
    assert box["y"] + box["height"] <= SCREEN[1], f"{key}: {sel} ends at y = {box['y'] + box['height']:.0f}"
    assert box["x"] + box["width"] <= SCREEN[0], f"{key}: {sel} ends at x = {box['x'] + box['width']:.0f}"
    if target.locator(".js-plotly-plot .updatemenu-button").count():     # a stepper: ▶ and the scrubber too
        for part in (".updatemenu-button", ".slider-rail-rect"):
            b = target.locator(part).first.bounding_box()
            assert b and b["y"] + b["height"] <= SCREEN[1] and b["x"] + b["width"] <= SCREEN[0], (key, part, b)
    bad = screen.evaluate(_OVERFLOW)
    assert not bad, f"{key}: " + "; ".join(bad)
    assert not screen.errors, screen.errors
