"""The interactive classroom for diffusion models in recommendation: `streamlit run app.py`.

This file only registers the pages (st.navigation), draws the shared sidebar and, after each run, writes the
page's settings into the URL (views/url_state.py); each page lives in views/.
"""
import streamlit as st

from views import _common as C

# presentation mode (a link's ?present=1 or the sidebar switch) opens with the sidebar collapsed: the projector's
# 1280 px go to the page (ui/presentation.py)
_present = st.session_state.get("present", st.query_params.get("present", "").lower() in ("1", "true", "yes", "on"))
st.set_page_config(page_title="Diffusion in RecSys · classroom", page_icon="🌫️", layout="wide",
                   initial_sidebar_state="collapsed" if _present else "expanded")

# (section, key, file, title, icon)
PAGES = [
    ("", "home", "views/home.py", "Home", ":material/home:"),
    ("Learn", "forward", "views/forward.py", "Forward noising", ":material/blur_on:"),
    ("Learn", "reverse", "views/reverse.py", "Reverse denoising", ":material/auto_fix_high:"),
    ("Learn", "embeddings", "views/embeddings.py", "Embeddings", ":material/scatter_plot:"),
    ("Learn", "knowledge graph", "views/knowledge_graph.py", "Knowledge graph", ":material/hub:"),
    ("Learn", "reranking", "views/reranking.py", "Reranking", ":material/swap_vert:"),
    ("Compare", "compare", "views/compare.py", "Compare methods", ":material/leaderboard:"),
    ("Lab", "lab", "views/lab.py", "Lab", ":material/science:"),
    ("Reference", "reference", "views/reference.py", "Method specification", ":material/menu_book:"),
]

sections: dict = {}
for section, key, path, title, icon in PAGES:
    page = st.Page(path, title=title, icon=icon, default=(key == "home"))
    sections.setdefault(section, []).append(page)
    C.PAGES[key] = page

nav = st.navigation(sections)
C.start_warm_up()       # once per process: every page's cached loads in a background thread (views/_loaders.py)
C.sidebar(nav.url_path)
try:
    nav.run()
finally:                # also after st.stop(): the address bar always shows the settings of the view on screen
    C.sync_url()
