"""Home: what diffusion in recommendation is, the methods, the sample world, and a 10-minute tour."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from diffrec_core.diffusion import GaussianDiffusion
from views import _common as C
from views import page_params
from ui import data as uidata
from ui import forward, home, reverse, tour


st.title("Diffusion models in recommender systems")
st.markdown(
    "A **diffusion model** learns to undo noise. In image generation, a picture is noised step by step until it is "
    "pure static, and a network learns to reverse each step - so it can paint new pictures from static. "
    "**In recommendation**, the 'picture' is what a user did: a vector x0 with a 1 for every item they interacted "
    "with. The model noises that vector and learns to denoise it; the denoised x̂0 gives every item a score, and the "
    "highest-scoring unseen items become the recommendations. Other methods diffuse an item embedding, a row of a "
    "knowledge graph or a whole ranked list (cards below).")

dataset = C.current("dataset")
split = C.get_split(dataset)
ax = C.get_item_axis(dataset)
user = int(C.current("user"))
if not 0 <= user < split.n_users:
    user = C.default_user(dataset)

# ---------------------------------------------------------------- tour (its entry first: a lecturer starts here)
stops = tour.stops(C.default_user(dataset))
with st.container(border=True, key="home_tour"):
    st.header(f"A {tour.TOTAL_MINUTES}-minute tour for a class")
    t1, t2 = st.columns([2, 3], vertical_alignment="center")
    with t1:
        C.page_link(stops[0].page, f"▶ Start the tour: stop 1 of {len(stops)}", icon=":material/tour:",
                    query_params=page_params.expand(stops[0].page, tour.link_params(stops, 1)))
    t2.markdown(f"{len(stops)} stops over {len({s.page for s in stops})} pages. Each opens its page with exactly the "
                "settings it talks about, and a banner at the top says what to look at, what to ask the class and "
                "where to go next. Presentation mode (sidebar) enlarges everything for a projector.")
    with st.expander("All stops and their links (right-click a link to copy it into your slides)"):
        links = []
        for n, stop in enumerate(stops, start=1):
            params = page_params.expand(stop.page, tour.link_params(stops, n))
            c1, c2 = st.columns([1, 6])
            with c1:
                st.markdown(f"**{n} · {stop.minutes:g} min**")
            with c2:
                C.page_link(stop.page, f"{stop.title} — {home.PAGE_NAMES.get(stop.page, 'Home')}",
                            icon=":material/arrow_forward:", query_params=params)
                st.markdown(f"**Set:** {stop.set}. **Look at:** {stop.look}  \n**Ask:** *{stop.question}*")
            page = C.PAGES.get(stop.page)
            path = "" if stop.page == "home" else page.url_path if page is not None else stop.page.replace(" ", "_")
            links.append(f"{n}. /{path}?{urlencode(params)}")
        st.markdown("The links as text (append them to the app's address):")
        st.code("\n".join(links), language=None)

# ---------------------------------------------------------------- one picture
try:
    model = C.get_model("diffrec", dataset)
except C.MissingModel:
    model = None
if model is not None:
    profile = uidata.user_profile(split, user)
    traj = C.get_trajectory("diffrec", dataset, user, 0, 0, False, "all_T", 10, C.pretrained_root())
    diffusion = GaussianDiffusion(model.config.schedule())
    x0 = split.rows([user], "train")[0].astype(np.float64)
    T = diffusion.T
    xT = forward.forward_states(diffusion, x0, [T], forward.noise_draw(split.n_items, 0))[0]
    xhat = reverse.item_x0hat(traj)[-1]
    heldout = profile.heldout()
    kinds = forward.item_kinds(profile, split.n_items, heldout)
    std = float(diffusion.schedule_table()["noise_std"][-1])
    C.chart(home.hero_figure(x0, xT, xhat, ax, kinds, traj.final_topk[0], split.item_titles, noise_std=std),
            key="home_hero", filename=f"diffrec_user{user}_overview")
    hits = len(np.intersect1d(traj.final_topk[0], heldout))
    C.say(home.hero_caption(user, len(profile.train), len(profile.noise), std, hits, len(heldout), 10))
else:
    st.info("The pretrained DiffRec checkpoint is missing, so the overview picture cannot be drawn "
            "(`python -m diffrec_core pretrain`).")

# ---------------------------------------------------------------- methods
st.header("The methods")
specs = C.method_specs()
_files = {"forward": "forward", "reverse": "reverse", "embeddings": "embeddings", "knowledge graph": "knowledge_graph",
          "reranking": "reranking"}
# pages app.py registered; run on its own (tests), the page files that exist
available = {k for k, f in _files.items()
             if ((k in C.PAGES) if C.PAGES else (Path(__file__).resolve().parent / f"{f}.py").exists())}
cards = home.method_cards(specs, available)
for n, card in enumerate(cards):
    if n % 3 == 0:
        cols = st.columns(3)
    with cols[n % 3].container(border=True, height="stretch"):
        st.markdown(f"#### {card['title']}")
        st.markdown(f"**Diffuses:** {card['diffused']}")
        st.markdown(card["idea"])
        st.caption(card["paper"])
        page_name = home.PAGE_NAMES.get(card["page"], card["page"])
        if card["status"] == "open":
            C.page_link(card["page"], f"Open: {page_name}", icon=":material/arrow_forward:")
base = home.baselines(specs)
if base:
    st.markdown("**Baselines** for an honest comparison: " + ", ".join(base) + " (see Compare).")

# ---------------------------------------------------------------- the sample world
st.header("The sample world at a glance")
w = C.get_world_summary(dataset)
m = st.columns(5)
m[0].metric("users", f"{w['users']:,}")
m[1].metric("items", f"{w['items']:,}")
m[2].metric("interactions", f"{w['interactions']:,}")
m[3].metric("density", f"{100 * w['density']:.2f} %")
if w.get("noise") is not None:
    m[4].metric("injected noise", f"{w['noise']:,}", help="training interactions injected from each user's "
                "least-liked genres; ground truth the app shows, never the models")
C.say(home.world_caption(w))
