"""Download buttons for any figure, for every page: PNG and SVG (and a GIF for an animated figure) rendered on the
server by kaleido only when clicked, or one line saying why static export is not available here and what to use
instead. The conversions live in ``ui/export.py`` (pure, no Streamlit); this is their one widget.

    from views._export import export_buttons
    export_buttons(fig, "reverse_user7_step3", key="rv_vectors_img")
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from ui import export as E


def figures_note() -> str:
    """The one sentence a page says about saving its figures, true on this server: the Download button under each
    chart where the server renders images, else why not and the toolbar's camera icon (a PNG from the browser)."""
    ok, why = E.kaleido_status()
    if ok:
        return ("Figures: the Download button under each chart saves it as PNG or SVG, titled for a slide "
                "(stepped figures also as a GIF, one labelled frame per step).")
    return f"Figures: {why}"


def export_buttons(fig, name: str, key: Optional[str] = None, container=None, formats=("png", "svg"),
                   title: Optional[str] = None) -> None:
    """Download buttons for a figure, for any page: PNG and SVG where kaleido works (rendered only when clicked),
    and a GIF where the figure has animation frames; else one line saying why and what to use instead. ``name`` is
    the file name without extension; ``key`` keeps the buttons' keys unique on a page; ``title`` (method, user,
    step) heads every exported image and GIF frame (``ui.export.titled``), so a slide says what it shows."""
    where = container or st
    ok, why = E.kaleido_status()
    if not ok:
        where.caption(why)
        return
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)) or "figure"
    formats = list(formats) + (["gif"] if getattr(fig, "frames", None) else [])
    cols = where.columns(len(formats))
    mimes = {"png": "image/png", "svg": "image/svg+xml", "gif": "image/gif"}
    for col, fmt in zip(cols, formats):
        make = ((lambda: E.gif_from_plotly_frames(fig, title=title)) if fmt == "gif" else
                (lambda f=fmt: E.figure_to_image(E.titled(fig, title), f)))
        col.download_button(fmt.upper(), data=make, file_name=f"{safe}.{fmt}", mime=mimes[fmt],
                            key=f"{key or safe}_{fmt}", icon=":material/animation:" if fmt == "gif" else
                            ":material/image:", on_click="ignore",
                            help="the animation, one frame per step (rendered on the server)" if fmt == "gif" else
                            f"this figure as {fmt.upper()} (rendered on the server)")
