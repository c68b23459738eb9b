"""AppTest of the Reference page (views/reference.py): it renders docs/methods.md from the repository, opens one
section from the ``section`` query parameter, and is registered in app.py under the URL path the app's citation
links point at."""
import pytest
from test_pages_app import no_exception, page, texts
from test_url_state import app_on, toasts

from ui import cite

TEXT = cite.read_doc()
SECTIONS = cite.by_number(TEXT)


def _headings(at) -> list:
    return [ln for m in at.markdown for ln in m.value.splitlines() if ln.startswith("#")]


def test_reference_shows_the_whole_specification_by_default():
    at = page("reference").run()
    no_exception(at)
    heads = _headings(at)
    # every numbered section of the file is on the page, in the file's order
    nums = [h.split(" ", 2)[1].rstrip(".") for h in heads if h.split(" ", 2)[1][:1].isdigit()]
    assert nums == [s.number for s in cite.sections(TEXT)]
    md = texts(at)
    assert "<a id=" not in md                                     # the HTML anchors are not printed as text
    assert "](reference?section=2.7)" in md and "](#" not in md   # contents links open sections in the app
    assert at.selectbox(key="section").value == "all"


def test_reference_selectbox_opens_one_section():
    at = page("reference").run()
    at.selectbox(key="section").select("2.5").run()
    no_exception(at)
    heads = _headings(at)
    assert heads[0].startswith("### 2.5 DiffuRec") and not [h for h in heads if h.startswith("### 2.6")]
    assert "lambda_uncertainty" in texts(at)


def test_a_citation_link_opens_its_section_in_the_app():
    # app.py registers the page under the path the links use (st.Page's URL path is the file's stem)
    from test_pages_home import _registered_pages
    files = _registered_pages()
    assert files["reference"] == f"views/{cite.PAGE}.py"
    at = app_on(cite.PAGE, section="2.7")
    no_exception(at)
    heads = _headings(at)
    assert heads[0].startswith("### 2.7 DCDR") and len([h for h in heads if h.startswith("### ")]) == 1
    assert "no public code" in heads[0] and "reconstruction" in texts(at)
    assert at.query_params.get("section") == "2.7" and not at.toast


def test_a_bad_section_falls_back_to_the_whole_document_with_a_notice():
    at = app_on(cite.PAGE, section="9.9")
    no_exception(at)
    assert "section=9.9" in toasts(at)
    numbered = [h for h in _headings(at) if h.startswith("## ") and h[3:4].isdigit()]
    assert len(numbered) == len([s for s in SECTIONS.values() if s.level == 2]) and "## Contents" in texts(at)


def test_the_reranking_caption_links_to_the_dcdr_section():
    from conftest import REPO
    from ui import reranking

    assert cite.link("2.7") in reranking.RECON_NOTE
    assert "st.info(R.RECON_NOTE" in (REPO / "views" / "reranking.py").read_text()


@pytest.mark.slow
def test_the_reranking_page_shows_the_linked_caption():
    at = page("reranking").run()
    no_exception(at)
    assert any(cite.link("2.7") in i.value for i in at.info)
