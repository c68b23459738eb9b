"""Reference: the method specification ``docs/methods.md``, read from the repository and rendered here, so that
every citation the app shows ("docs/methods.md §2.7") opens the section it names. ``?section=2.7`` selects one
section with its subsections; the default shows the whole document."""
from __future__ import annotations

import streamlit as st

from views import _common as C
from ui import cite

WHOLE = "all"


@st.cache_data(show_spinner=False, max_entries=4)
def _doc(mtime_ns: int) -> str:
    """The specification's text (the modification time is the cache key, so an edited file is read again)."""
    return cite.read_doc()


def _label(number: str, title: str) -> str:
    plain = title.replace("**", "").replace("`", "").replace("*", "")
    return f"§{number} {plain}" if number != WHOLE else "the whole document"


st.title("Reference: the method specification")
try:
    text = _doc(cite.DOC.stat().st_mtime_ns)
    secs = cite.sections(text)
except (OSError, cite.DocError) as err:
    st.error(f"The method specification cannot be shown: {err}")
    st.stop()

options = [WHOLE] + [s.number for s in secs]
titles = {s.number: s.title for s in secs}
C.url_state({"section": C.Param(str, WHOLE, C.one_of(options))})
st.markdown("What every method diffuses, its equations and network, the authors' quirks with the switch that "
            "selects each, the evaluation protocols and the reference figures with their status. The code and the "
            "app cite it by section number; the file is `docs/methods.md` in the repository.")
choice = st.selectbox("Section", options, format_func=lambda n: _label(n, titles.get(n, "")), key="section")
if choice != WHOLE:
    C.page_link("reference", "Show the whole document", icon=":material/article:", query_params={"section": WHOLE})
st.divider()
st.markdown(cite.render(text, None if choice == WHOLE else choice))
