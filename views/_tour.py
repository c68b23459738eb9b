"""The guided tour inside the pages: on the page a tour link opens (``?tour=n``, declared in
``views/page_params.py``), a banner says which stop it is, what to look at, what to ask, and links to the previous
and next stops. Drawn by the shared frame (``_common.sidebar``) above every page, so each page needs no code of
its own; the stops' content is ``ui/tour.py``."""
from __future__ import annotations

from typing import Optional

import streamlit as st

from ui import tour
from views import _common as C
from views import page_params
from views import url_state as URL


def page_key(url_path: Optional[str]) -> Optional[str]:
    """app.py's page key of the page at ``url_path`` ('' is Home)."""
    for key, page in C.PAGES.items():
        if page.url_path == (url_path or ""):
            return key
    return None


def _forget() -> None:
    """Leave the tour: the banner goes, and a later link to the same stop is applied again."""
    st.session_state.pop("tour", None)
    st.session_state.get(URL.SEEN, {}).pop("tour", None)


def banner(url_path: Optional[str]) -> None:
    """The tour banner for the page about to run (nothing when the link named no stop or another page's stop)."""
    C.url_state(page_params.TOUR)
    n = st.session_state.get("tour")
    if n is None:
        return
    stops = tour.stops(C.default_user(C.current("dataset")))
    here = page_key(url_path)
    stop = stops[int(n) - 1]
    if here is not None and stop.page != here:         # the user left the stop's page: the tour pauses
        _forget()
        return
    N = len(stops)
    with st.container(border=True, key="tour_banner"):
        st.markdown(f"**Tour · stop {n} / {N} · {stop.title}** ({stop.minutes:g} min)  \n"
                    f"**Look at:** {stop.look}  \n**Ask:** *{stop.question}*")
        c1, c2, c3 = st.columns([1, 1, 1])
        if n > 1:
            with c1:
                C.page_link(stops[n - 2].page, f"◀ previous: {stops[n - 2].title}",
                            query_params=page_params.expand(stops[n - 2].page, tour.link_params(stops, n - 1)))
        if n < N:
            with c2:
                C.page_link(stops[n].page, f"next ▶ {stops[n].title}",
                            query_params=page_params.expand(stops[n].page, tour.link_params(stops, n + 1)))
        with c3:
            st.button("leave the tour", key="tour_leave", on_click=_forget, type="tertiary",
                      icon=":material/close:")
