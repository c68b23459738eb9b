"""The sample world: a small, fully known recommendation world that the app ships in ``sample_data/``.

Real data sets have no ground truth for the questions the app asks ("did the denoiser drop the noisy clicks?",
"did DiffKG drop the wrong triples?", "how close is the reranked list to the best one?"). This world is generated
from a seed, so every one of those answers is known:

* **Catalogue** - items grouped into franchises (a title plus sequels), each with a genre, an era (decade), a
  studio and 1-3 people; a latent quality and a Zipf-like popularity.
* **Users** - a genre taste (Dirichlet, a few dominant genres) that drifts toward a second taste over the user's
  history, a few favourite studios (a Dirichlet studio affinity, fixed), and a lognormal activity level.
* **Interactions** - a first-order chain: with probability ``p_seq`` the next item is a neighbour of the previous
  one (same franchise, studio, people or genre), otherwise a draw from the current genre taste x studio affinity x
  popularity. The genre x studio niches and the franchise continuation are the personal signal that lets
  personalised methods beat popularity by ~1.9x (README); popularity is still long-tailed. About 10 %
  of each user's interactions are injected noise from genres the user dislikes, at random places in the history
  (``is_noise`` = 1: ground truth).
* **Knowledge graph** - item -> genre / era / studio / person triples, plus about 10 % wrong triples (an item linked
  to a wrong genre, studio or person; ``is_wrong`` = 1: ground truth). Items are entities ``0..n_items-1``.
* **Logged reranking sessions** - 20 candidates, the 10 an imperfect ranker showed, and click / like responses drawn
  from a known utility model (docs/methods.md §2.7), so the best list is exactly computable (:func:`best_list`).

Everything is drawn from one ``numpy.random.Generator`` and written with fixed float formats, so the same seed gives
byte-identical files. Run ``python -m diffrec_core sample-world [--out sample_data] [--seed 2024]``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..paths import SAMPLE_DATA
from .sample_world_readme import README, personal_signal
from .sample_world_utility import (  # noqa: F401 - the response model, importable from here as before
    best_list, item_arrays, list_probs, list_utility, load_world, position_bias, relevance, response_probs, sigmoid)

DEFAULT_SEED = 2024

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "Thriller", "Romance", "Animation", "Documentary"]
GENRE_SHARE = [0.16, 0.15, 0.17, 0.13, 0.12, 0.10, 0.09, 0.08]
ERAS = ["1950s", "1960s", "1970s", "1980s", "1990s", "2000s", "2010s", "2020s"]
ERA_SHARE = [0.03, 0.05, 0.07, 0.10, 0.14, 0.18, 0.21, 0.22]
RELATIONS = ["has_genre", "from_era", "made_by_studio", "features_person"]

# Title words per genre, so that a title hints at its genre ("Neon Circuit II" is science fiction).
TITLE_WORDS = {
    "Action": (["Iron", "Crimson", "Burning", "Steel", "Rogue", "Savage", "Thunder", "Final", "Broken", "Rapid",
                "Black", "Renegade"],
               ["Fist", "Vendetta", "Strike", "Convoy", "Siege", "Outlaw", "Pursuit", "Hammer", "Bullet", "Frontier",
                "Legion", "Reckoning"]),
    "Comedy": (["Awkward", "Lucky", "Crazy", "Sunny", "Tiny", "Bumbling", "Merry", "Clumsy", "Fancy", "Jolly",
                "Sneaky", "Accidental"],
               ["Wedding", "Neighbours", "Holiday", "Roommates", "Picnic", "Mixup", "Reunion", "Vacation", "Llama",
                "Bakery", "Road Trip", "Inheritance"]),
    "Drama": (["Quiet", "Distant", "Fading", "Hollow", "Gentle", "Bitter", "Golden", "Lonely", "Winter", "Fragile",
               "Borrowed", "Last"],
              ["Garden", "Years", "River", "Orchard", "Silence", "Daughter", "Harvest", "Window", "Lighthouse",
               "Testament", "Homecoming", "Field"]),
    "Sci-Fi": (["Neon", "Quantum", "Orbital", "Digital", "Stellar", "Infinite", "Chrome", "Zero", "Binary", "Solar",
                "Synthetic", "Outer"],
               ["Circuit", "Horizon", "Signal", "Colony", "Drift", "Machine", "Nebula", "Paradox", "Echo", "Station",
                "Protocol", "Singularity"]),
    "Thriller": (["Silent", "Deadly", "Cold", "Dark", "Twisted", "Secret", "Midnight", "Perfect", "Fatal", "Empty",
                  "Glass", "Sleepless"],
                 ["Witness", "Alibi", "Cipher", "Room", "Harbor", "Stranger", "Mirror", "Confession", "Motive",
                  "Passenger", "Key", "Trace"]),
    "Romance": (["Sweet", "Endless", "Summer", "Second", "Tender", "Autumn", "Starlit", "Lovely", "Moonlit",
                 "Unexpected", "Paper", "Little"],
                ["Serenade", "Kiss", "Affair", "Letters", "Season", "Waltz", "Promise", "Heart", "Chance", "Bouquet",
                 "Balcony", "Song"]),
    "Animation": (["Brave", "Magic", "Flying", "Clever", "Sleepy", "Cosmic", "Giggling", "Woolly", "Marvelous",
                   "Bouncy", "Curious", "Tiny"],
                  ["Dragon", "Penguin", "Kingdom", "Fox", "Robot", "Island", "Balloon", "Forest", "Teapot", "Whale",
                   "Owl", "Snowman"]),
    "Documentary": (["Hidden", "Vanishing", "Deep", "Wild", "Forgotten", "Frozen", "Urban", "Ancient", "Living",
                     "Great", "Invisible", "Restless"],
                    ["Oceans", "Cities", "Planet", "Kingdoms", "Rivers", "Empires", "Coral", "Migration", "Frontiers",
                     "Machines", "Voices", "Deserts"]),
}
SEQUEL_SUFFIX = ["", " II", " III", " IV"]
STUDIOS = ["Lanternfish Pictures", "Copperline Studios", "Bluewater Films", "Northgate Media", "Red Kite Productions",
           "Silverbirch Films", "Paper Moon Animation", "Tidewater Docs", "Foxglove Studios", "Ironbridge Pictures",
           "Halcyon Works", "Obsidian Frame", "Marigold Features", "Starwell Studios", "Greyhaven Films",
           "Juniper Reel", "Quarry Lane Pictures", "Brightside Company"]
STUDIO_GENRE = np.arange(len(STUDIOS)) % len(GENRES)   # the genre each studio specialises in
FIRST_NAMES = ["Ada", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonah", "Kira", "Lars",
               "Mira", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tova", "Umar", "Vera", "Wim", "Yara"]
LAST_NAMES = ["Arden", "Blackwood", "Castell", "Dunmore", "Ellery", "Falk", "Garrow", "Holt", "Ivers", "Jansen",
              "Kestrel", "Lindqvist", "Marlow", "Novak", "Okafor", "Pryce", "Quade", "Rowan", "Sorensen", "Thorne",
              "Ulrich", "Vance", "Whitlock", "Zeller"]

# Generation parameters (all written to world.json). Defaults give ~1,000 users, ~500 items, ~4.5 % density.
# The personal signal (what a user's history says about their held-out items beyond popularity) comes from three
# places: a sharp genre taste, a few favourite studios per user (genre x studio niches, much finer than 8 genres)
# and the franchise / studio continuation of the chain. With the old defaults (alpha 0.35, no studio affinity,
# p_seq 0.5, neighbour weights 8/2/2/1, Zipf 0.8) TopPop was as good as every personalised method.
PARAMS = dict(
    n_users=1000, n_items=500, n_people=144,
    franchise_size_probs=[0.55, 0.25, 0.12, 0.08],  # P(franchise has 1, 2, 3, 4 items)
    zipf_exponent=0.9,               # popularity weight of the r-th most popular item: r ** -zipf_exponent
    taste_concentration=0.2,         # Dirichlet alpha: small -> a few dominant genres per user
    taste_floor=0.01,                # every genre (and every studio) keeps at least this much taste
    studio_concentration=0.15,       # Dirichlet alpha (per studio) of each user's studio affinity: 2-4 favourites
    studio_genre_mix=0.5,            # share of the affinity's prior mean that follows the user's genre tastes
    studio_weight=1.3,               # fresh draws weigh an item by (n_studios * affinity[studio]) ** studio_weight
    min_interactions=8, activity_median=10.0, activity_sigma=0.85, max_interactions=150,
    p_seq=0.4,                       # P(next item is a neighbour of the previous one)
    neighbour_weights=dict(franchise=30.0, studio=4.0, person=3.0, genre=0.5),
    noise_share=0.10, n_disliked=3,  # injected noise: 10 % of each history, from the 3 least-liked genres
    wrong_triple_share=0.10,
    n_sessions=4000, n_candidates=20, list_length=10, ranker_noise=1.0, n_swaps=2,
    start_time=1609459200,           # 2021-01-01 00:00:00 UTC
)

# The response model of the logged sessions (docs/methods.md §2.7); world.json stores it, best_list() relies on it.
UTILITY = dict(
    w_taste=1.0, w_quality=0.5, b_click=-0.5, b_like=-1.0, gamma=0.5,
    weights=dict(click=1.0, like=2.0),
    formula=("s = b_click + w_taste*log(n_genres*taste_now[u, genre_i]) + w_quality*quality_i; "
             "P(click at p) = theta_p * sigmoid(s) * exp(-gamma * #earlier items of the same genre); "
             "theta_p = 1/log2(p+1) (p = 1-based position); P(like | click) = sigmoid(s + b_like); "
             "U(list) = sum_p weights.click*P(click_p) + weights.like*P(click_p)*P(like | click_p)"),
)


# ------------------------------------------------------------------------------------------------------ generation
def _choice(rng: np.random.Generator, weights: np.ndarray) -> int:
    """One index drawn proportionally to non-negative ``weights`` (cheaper than ``rng.choice`` in a loop)."""
    c = np.cumsum(weights)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(c) - 1))


def _catalogue(rng: np.random.Generator, p: dict):
    """Franchises -> items with title, genre, era, studio, people, quality and popularity."""
    n_items, n_g = p["n_items"], len(GENRES)
    people = []
    while len(people) < p["n_people"]:
        name = f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(len(LAST_NAMES))]}"
        if name not in people:
            people.append(name)
    person_genre = np.arange(p["n_people"]) % n_g          # each person mostly works in one genre
    studio_genre = STUDIO_GENRE                            # and so does each studio

    used_titles: set = set()
    rows = []
    franchise = 0
    while len(rows) < n_items:
        g = int(rng.choice(n_g, p=GENRE_SHARE))
        adjs, nouns = TITLE_WORDS[GENRES[g]]
        while True:
            base = f"{adjs[rng.integers(len(adjs))]} {nouns[rng.integers(len(nouns))]}"
            if rng.random() < 0.4:
                base = "The " + base
            if base not in used_titles:
                used_titles.add(base)
                break
        size = min(int(rng.choice(4, p=p["franchise_size_probs"])) + 1, n_items - len(rows))
        own = np.flatnonzero(studio_genre == g)
        studio = int(rng.choice(own) if rng.random() < 0.75 else rng.integers(len(STUDIOS)))
        era0 = int(rng.choice(len(ERAS), p=ERA_SHARE))
        pool = np.flatnonzero(person_genre == g)
        lead = int(rng.choice(pool))
        f_quality = rng.normal(0.0, 0.8)
        for k in range(size):
            cast = [lead]
            for _ in range(int(rng.choice(3, p=[0.3, 0.45, 0.25]))):
                src = pool if rng.random() < 0.8 else np.arange(p["n_people"])
                extra = int(rng.choice(src))
                if extra not in cast:
                    cast.append(extra)
            era = min(era0 + (k + 1) // 2 * int(rng.random() < 0.6), len(ERAS) - 1)
            rows.append(dict(title=base + SEQUEL_SUFFIX[k], genre=g, era=era, studio=studio, people=cast,
                             franchise=franchise, quality=f_quality + rng.normal(0.0, 0.6)))
        franchise += 1
    perm = rng.permutation(n_items)                         # item ids do not reveal franchises
    rows = [rows[i] for i in perm]
    quality = np.array([r["quality"] for r in rows])
    # Popularity correlates with quality but is mostly luck; Zipf-like over the resulting rank.
    rank = np.empty(n_items, dtype=np.int64)
    rank[np.argsort(-(0.6 * quality + rng.normal(0.0, 1.0, n_items)), kind="stable")] = np.arange(1, n_items + 1)
    pop = rank.astype(np.float64) ** -p["zipf_exponent"]
    return rows, quality, pop / pop.max(), people, person_genre


def _neighbours(rows: list, p: dict) -> np.ndarray:
    """Item x item weights of the sequential step: same franchise / studio / person / genre."""
    w = p["neighbour_weights"]
    n = len(rows)
    fr = np.array([r["franchise"] for r in rows])
    st = np.array([r["studio"] for r in rows])
    ge = np.array([r["genre"] for r in rows])
    cast = np.zeros((n, p["n_people"]), dtype=np.float64)
    for i, r in enumerate(rows):
        cast[i, r["people"]] = 1.0
    m = (w["franchise"] * (fr[:, None] == fr[None]) + w["studio"] * (st[:, None] == st[None])
         + w["genre"] * (ge[:, None] == ge[None]) + w["person"] * np.minimum(cast @ cast.T, 1.0))
    np.fill_diagonal(m, 0.0)
    return m


def _interactions(rng, p, genre, studio, pop, neigh):
    """Per-user histories: a taste-drifting first-order chain plus injected noise at random places.

    A fresh draw weighs item i by ``taste_t[genre_i] * (n_studios * affinity[studio_i]) ** studio_weight *
    popularity_i``; a sequential step by the neighbour weights of the previous item times ``sqrt(popularity)``.
    """
    n_users, n_items, n_g = p["n_users"], p["n_items"], len(GENRES)

    def taste_draw(size):
        t = rng.dirichlet(np.full(n_g, p["taste_concentration"]), size=size)
        return (1 - n_g * p["taste_floor"]) * t + p["taste_floor"]

    taste_a, taste_b = taste_draw(n_users), taste_draw(n_users)
    drift = rng.beta(2.0, 3.0, n_users)
    # Favourite studios (house styles): a Dirichlet whose mean leans toward the studios of the user's genres, so
    # that two fans of the same genre still like different corners of it. Fixed over the history.
    n_s = len(STUDIOS)
    own = (taste_a + taste_b)[:, STUDIO_GENRE]
    mean = p["studio_genre_mix"] * own / own.sum(1, keepdims=True) + (1 - p["studio_genre_mix"]) / n_s
    affinity = np.stack([rng.dirichlet(p["studio_concentration"] * n_s * m) for m in mean])
    affinity = (1 - n_s * p["taste_floor"]) * affinity + p["taste_floor"]
    studio_w = (n_s * affinity[:, studio]) ** p["studio_weight"]           # [users, items]
    taste_now = (1 - drift[:, None]) * taste_a + drift[:, None] * taste_b
    # Disliked genres: lowest taste at any point of the history (the noise must contradict the taste throughout).
    disliked = np.argsort(np.maximum(taste_a, taste_now), axis=1, kind="stable")[:, : p["n_disliked"]]
    activity = np.minimum(p["min_interactions"] + np.floor(
        rng.lognormal(np.log(p["activity_median"]), p["activity_sigma"], n_users)).astype(np.int64),
        p["max_interactions"])
    seq_w = neigh * np.sqrt(pop)[None]
    users, items, times, noise = [], [], [], []
    for u in range(n_users):
        n = int(activity[u])
        n_noise = int(round(p["noise_share"] * n))
        n_clean = n - n_noise
        seen = np.zeros(n_items, dtype=bool)
        chain = []
        for t in range(n_clean):
            lam = drift[u] * t / max(1, n_clean - 1)
            w = None
            if chain and rng.random() < p["p_seq"]:
                w = seq_w[chain[-1]] * ~seen
                if w.sum() <= 0:
                    w = None
            if w is None:
                w = ((1 - lam) * taste_a[u] + lam * taste_b[u])[genre] * studio_w[u] * pop * ~seen
            i = _choice(rng, w)
            chain.append(i)
            seen[i] = True
        bad = np.isin(genre, disliked[u]) & ~seen
        picked = []
        for _ in range(n_noise):
            i = _choice(rng, pop * bad)
            picked.append(i)
            bad[i] = False
        is_noise = np.zeros(n, dtype=np.int8)
        is_noise[rng.choice(n, n_noise, replace=False)] = 1
        seq = np.empty(n, dtype=np.int64)
        seq[is_noise == 0] = chain
        seq[is_noise == 1] = picked
        # Timestamps: a random start, a random active span, exponential gaps; strictly increasing int seconds.
        start = p["start_time"] + rng.integers(0, 400 * 86400)
        span = rng.uniform(30, 540) * 86400
        gaps = rng.exponential(1.0, n)
        ts = start + np.floor(np.cumsum(gaps) / gaps.sum() * span).astype(np.int64)
        ts = np.maximum.accumulate(ts + np.arange(n)) if n else ts  # + position keeps them strictly increasing
        users.append(np.full(n, u))
        items.append(seq)
        times.append(ts)
        noise.append(is_noise)
    events = pd.DataFrame({"user": np.concatenate(users), "item": np.concatenate(items),
                           "timestamp": np.concatenate(times), "is_noise": np.concatenate(noise)})
    return events, dict(taste_start=taste_a, taste_target=taste_b, drift=drift, taste_now=taste_now,
                        disliked=disliked, activity=activity, studio_affinity=affinity)


def _knowledge_graph(rng, p, rows, people):
    """Entities (items first) and triples with ~10 % wrong ones flagged ``is_wrong``."""
    n_items, n_g, n_e, n_s = p["n_items"], len(GENRES), len(ERAS), len(STUDIOS)
    off_g, off_e = n_items, n_items + n_g
    off_s, off_p = off_e + n_e, off_e + n_e + n_s
    names = ([r["title"] for r in rows] + GENRES + ERAS + STUDIOS + people)
    types = ["item"] * n_items + ["genre"] * n_g + ["era"] * n_e + ["studio"] * n_s + ["person"] * len(people)
    entities = pd.DataFrame({"entity": np.arange(len(names)), "name": names, "type": types})
    true = []
    for i, r in enumerate(rows):
        true += [(i, 0, off_g + r["genre"]), (i, 1, off_e + r["era"]), (i, 2, off_s + r["studio"])]
        true += [(i, 3, off_p + q) for q in r["people"]]
    known = set(true)
    n_wrong = int(round(len(true) * p["wrong_triple_share"] / (1 - p["wrong_triple_share"])))
    wrong = []
    rel_tail = {0: (off_g, n_g), 2: (off_s, n_s), 3: (off_p, len(people))}
    while len(wrong) < n_wrong:
        h = int(rng.integers(n_items))
        rel = int(rng.choice([0, 2, 3], p=[0.3, 0.3, 0.4]))
        off, n = rel_tail[rel]
        trip = (h, rel, off + int(rng.integers(n)))
        if trip not in known:
            known.add(trip)
            wrong.append(trip)
    kg = pd.DataFrame(true + wrong, columns=["head", "rel", "tail"])
    kg["is_wrong"] = np.r_[np.zeros(len(true), np.int8), np.ones(len(wrong), np.int8)]
    kg = kg.sort_values(["head", "rel", "tail"], kind="stable").reset_index(drop=True)
    kg.insert(1, "relation", [RELATIONS[r] for r in kg.pop("rel")])
    return entities, kg


def _sessions(rng, p, world, events):
    """Logged reranking sessions in long format (20 rows per session)."""
    n_users, n_items = p["n_users"], p["n_items"]
    S, C, L = p["n_sessions"], p["n_candidates"], p["list_length"]
    taste_now = np.asarray(world["users"]["taste_now"])
    genre, quality = item_arrays(world)
    pop = np.asarray(world["items"]["popularity"])
    ut = world["utility"]
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[events["user"].to_numpy(), events["item"].to_numpy()] = True
    users = rng.integers(0, n_users, S)
    # Upstream retrieval: taste x popularity, unseen items only (Gumbel top-C = sampling without replacement).
    logw = 0.8 * np.log(taste_now[users][:, genre]) + 0.5 * np.log(pop)[None]
    keys = np.where(seen[users], -np.inf, logw + rng.gumbel(size=(S, n_items)))
    cand = np.argpartition(-keys, C, axis=1)[:, :C]
    cand = np.take_along_axis(cand, np.argsort(-np.take_along_axis(keys, cand, 1), axis=1, kind="stable"), 1)
    s = (ut["b_click"] + ut["w_taste"] * np.log(len(GENRES) * np.take_along_axis(taste_now[users][:, genre], cand, 1))
         + ut["w_quality"] * quality[cand])
    # The imperfect ranker: the true logit plus noise, blind to the diversity effect; its top-L, a few swaps.
    est = s + rng.normal(0.0, p["ranker_noise"], s.shape)
    order = np.argsort(-est, axis=1, kind="stable")
    cand, s = np.take_along_axis(cand, order, 1), np.take_along_axis(s, order, 1)   # columns = candidate rank
    shown_idx = np.tile(np.arange(L), (S, 1))
    for _ in range(p["n_swaps"]):
        a, b = rng.integers(0, L, S), rng.integers(0, L, S)
        r = np.arange(S)
        shown_idx[r, a], shown_idx[r, b] = shown_idx[r, b], shown_idx[r, a].copy()
    shown_s = np.take_along_axis(s, shown_idx, 1)
    probs = list_probs(world, shown_s, genre[np.take_along_axis(cand, shown_idx, 1)])
    click = rng.random((S, L)) < probs[..., 0]
    like = click & (rng.random((S, L)) < sigmoid(shown_s + ut["b_like"]))
    position = np.full((S, C), -1, dtype=np.int64)
    position[np.arange(S)[:, None], shown_idx] = np.arange(1, L + 1)
    clk = np.zeros((S, C), dtype=np.int8)
    lik = np.zeros((S, C), dtype=np.int8)
    clk[np.arange(S)[:, None], shown_idx] = click
    lik[np.arange(S)[:, None], shown_idx] = like
    df = pd.DataFrame({
        "session": np.repeat(np.arange(S), C), "user": np.repeat(users, C),
        "cand_rank": np.tile(np.arange(C), S), "position": position.ravel(), "item": cand.ravel(),
        "shown": (position.ravel() > 0).astype(np.int8), "click": clk.ravel(), "like": lik.ravel()})
    key = np.where(df["position"] > 0, df["position"], L + 1 + df["cand_rank"])
    return df.assign(_k=key).sort_values(["session", "_k"], kind="stable").drop(columns="_k").reset_index(drop=True)


def top10_share(events: pd.DataFrame) -> float:
    """Share of the interactions that go to the 10 % most interacted-with items (the long tail's head)."""
    counts = np.sort(events["item"].value_counts().to_numpy())[::-1]
    return counts[: max(1, len(counts) // 10)].sum() / counts.sum()


def _r(a, nd=6):
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def generate_world(seed: int = DEFAULT_SEED, **overrides) -> dict:
    """Build the world in memory: a dict of DataFrames (the CSV files) plus ``world`` (the world.json dict)."""
    p = {**PARAMS, **overrides}
    rng = np.random.default_rng(seed)
    rows, quality, pop, people, _ = _catalogue(rng, p)
    genre = np.array([r["genre"] for r in rows])
    studio = np.array([r["studio"] for r in rows])
    events, u = _interactions(rng, p, genre, studio, pop, _neighbours(rows, p))
    entities, kg = _knowledge_graph(rng, p, rows, people)
    world = {
        "seed": int(seed), "version": 1, "params": p, "genres": GENRES, "eras": ERAS, "studios": STUDIOS,
        "relations": RELATIONS, "utility": UTILITY,
        "items": {"genre": genre.tolist(), "quality": _r(quality), "popularity": _r(pop),
                  "franchise": [r["franchise"] for r in rows]},
        "users": {"taste_start": _r(u["taste_start"]), "taste_target": _r(u["taste_target"]),
                  "drift": _r(u["drift"]), "taste_now": _r(u["taste_now"]),
                  "studio_affinity": _r(u["studio_affinity"]), "disliked_genres": u["disliked"].tolist()},
    }
    sessions = _sessions(rng, p, world, events)

    items = pd.DataFrame({
        "item": np.arange(p["n_items"]), "title": [r["title"] for r in rows],
        "genre": [GENRES[r["genre"]] for r in rows], "era": [ERAS[r["era"]] for r in rows],
        "studio": [STUDIOS[r["studio"]] for r in rows],
        "people": ["|".join(people[q] for q in r["people"]) for r in rows],
        "popularity": pop, "franchise": [r["franchise"] for r in rows]})

    def top(t, k):
        return ["|".join(GENRES[g] for g in row) for row in np.argsort(-t, axis=1, kind="stable")[:, :k]]

    users = pd.DataFrame({
        "user": np.arange(p["n_users"]), "activity": u["activity"], "top_genres": top(u["taste_start"], 2),
        "late_top_genres": top(u["taste_now"], 2),
        "favourite_studios": ["|".join(STUDIOS[s] for s in row)
                              for row in np.argsort(-u["studio_affinity"], axis=1, kind="stable")[:, :2]],
        "disliked_genres": ["|".join(GENRES[g] for g in row) for row in u["disliked"]]})
    world["stats"] = {
        "users": p["n_users"], "items": p["n_items"], "interactions": int(len(events)),
        "density": round(len(events) / (p["n_users"] * p["n_items"]), 6),
        "noise_share": round(float(events["is_noise"].mean()), 6),
        "entities": int(len(entities)), "non_item_entities": int(len(entities) - p["n_items"]),
        "kg_triples": int(len(kg)), "wrong_triples": int(kg["is_wrong"].sum()),
        "sessions": p["n_sessions"], "session_rows": int(len(sessions)),
        "ctr_shown": round(float(sessions.loc[sessions["shown"] == 1, "click"].mean()), 6),
        "top10_share": round(float(top10_share(events)), 6),
    }
    return {"items": items, "users": users, "interactions": events, "kg": kg, "entities": entities,
            "rerank_sessions": sessions, "world": world}



def write_sample_world(out_dir=SAMPLE_DATA, seed: int = DEFAULT_SEED) -> dict:
    """Generate the world and write its files into ``out_dir``; returns ``world["stats"]``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = generate_world(seed)
    csv = dict(index=False, float_format="%.6f", lineterminator="\n")
    for name in ["items", "users", "interactions", "kg", "entities", "rerank_sessions"]:
        w[name].to_csv(out / f"{name}.csv", **csv)
    world = w["world"]
    (out / "world.json").write_text(json.dumps(world, indent=1, sort_keys=True) + "\n")
    p, st = world["params"], world["stats"]
    nw = {f"nw_{k}": v for k, v in p["neighbour_weights"].items()}
    text = README.format(
        seed=seed, **st, **{k: v for k, v in p.items() if k not in st}, **nw,
        franchises=int(w["items"]["franchise"].max()) + 1, n_genres=len(GENRES), n_eras=len(ERAS),
        n_studios=len(STUDIOS), noise_share_p=p["noise_share"], wrong_share=p["wrong_triple_share"],
        last_item=p["n_items"] - 1, personal_signal=personal_signal(seed, st["top10_share"], DEFAULT_SEED),
        formula="\n".join(f"   * `{part.strip()}`" for part in UTILITY["formula"].split(";")))
    (out / "README.md").write_text(text)
    return st
