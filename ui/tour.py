"""A guided 10-minute tour for a lecturer: an ordered list of stops, each a page opened with exactly the settings
the stop talks about (its URL parameters), what to look at, and a question for the class.

Pure content: no Streamlit. The Home page draws the stops as links (``st.page_link(..., query_params=...)``); every
link also carries ``tour=n``, and the page it opens shows a banner with the stop's number, what to look at, the
question and links to the previous and next stops (``views/_tour.py``). A test checks that every stop's page is
registered and every parameter passes that page's validator (``views/page_params.py``). Parameters are URL strings,
exactly as they travel in a link.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List


@dataclass(frozen=True)
class Stop:
    page: str                      # app.py's page key
    minutes: float
    title: str
    set: str                       # what the link sets (so the lecturer can say it out loud)
    look: str                      # what to look at
    question: str                  # a question for the class
    params: Dict[str, str] = field(default_factory=dict)


TOTAL_MINUTES = 10
TUNED = "diffrec ml-1m (tuned)"
IMAGE = "image-DDPM (linear 1e-4..0.02, T=1000)"


def stops(user: int) -> List[Stop]:
    """The tour for the data set's demo user ``user`` (every link fixes user, method and seed, so every student
    sees the same view)."""
    who = {"user": str(int(user)), "seed": "0", "method": "diffrec"}
    return [
        Stop("home", 1, "What is diffused?",
             "the demo user", "The three panels: the history x0, the noised x_T, the denoised scores x̂0 with the "
             "recommended items ringed.",
             "Which of the ringed items would you have guessed from the history alone?", dict(who)),
        Stop("forward", 1.5, "DiffRec barely noises",
             f"preset “{TUNED}”, step t = T", "The vector at t = T still looks like the history, and the AUC at "
             "the top of the figure stays 1; then the noise-std bars under the figure.",
             "Why would a recommender want so little noise, when image models noise to pure static?",
             dict(who, fw_preset=TUNED, fw_step="40")),
        Stop("forward", 1, "Image diffusion noises everything",
             f"preset “{IMAGE}”, step t = T", "Press ▶ on the figure: by t = T the history is gone. Watch the "
             "histogram's two groups merge and the AUC at the top fall towards 0.5.",
             "At which step can you no longer tell the history from the noise?",
             dict(who, fw_preset=IMAGE, fw_step="1000")),
        Stop("reverse", 1.5, "Denoising, step by step",
             "DiffRec, T′ = 0 (the authors' setting), first reverse step",
             "Press ▶ play on the figure: the top-10 rings move on x̂0, the bump chart's cursor and "
             "Recall@10 follow; below the figure, which training items x̂0 demotes at the last step.",
             "Does the model demote the injected-noise interactions more than the genuine ones?",
             dict(who, rv_tprime="0", rv_noise="0", rv_reverse="all_T", rv_k="10", rv_step="1")),
        Stop("reverse", 1, "Generating from noise",
             "T′ = T = 10, sampling noise on, last step",
             "The start is now a noised history, as in image diffusion (the x_t strip at step 1); read "
             "Recall@10 at the top of the figure at the last step.",
             "Does accuracy survive starting from noise? What does that say about DiffRec as a 'generator'?",
             dict(who, rv_tprime="10", rv_noise="1", rv_reverse="all_T", rv_k="10", rv_step="10")),
        Stop("embeddings", 1, "Generating an item embedding",
             "DreamRec on the demo user's history, guidance w = 4, the map of DreamRec's item embeddings",
             "Section 3: the dotted path of x̂0 crossing the item map from pure noise to the recommended items; "
             "section 4: the same start with only w changed.",
             "Does stronger guidance pull the final embedding closer to the held-out item, or only further from "
             "the crowd?",
             dict(who, em_method="dreamrec", em_map_method="dreamrec", em_source="user", em_w="4.0")),
        Stop("knowledge graph", 1, "Denoising a knowledge graph",
             "DiffKG, an item with an injected wrong triple, T′ = 0",
             "The red ✕ edges are the injected wrong triples; below, what the rebuild removes against random "
             "keeping.",
             "Does diffusion remove the wrong triples better than keeping the same number at random?",
             dict(who, kg_center="item", kg_tprime="0", kg_reverse="all_T")),
        Stop("reranking", 1, "Diffusion over a ranked list",
             "DCDR-P on the first held-out session, the ranker's list",
             "Step through the swaps; then the utility bars: DCDR against the ranker's order and the best list.",
             "How close does DCDR get to the best list, and how much of that is the evaluator's choice?",
             dict(who, rr_source="ranker", rr_variant="P")),
        Stop("compare", 1, "Is diffusion needed here?",
             "the sample world, every method", "Diffusion models against simple baselines on the same split, "
             "selected on validation, scored once on test.",
             "Which baseline is closest to DiffRec, and what does it cost to train?", dict(who)),
    ]


def link_params(all_stops: List[Stop], n: int) -> Dict[str, str]:
    """The URL parameters of stop ``n`` (1-based): its settings and ``tour=n``, so its page shows the banner."""
    return dict(all_stops[int(n) - 1].params, tour=str(int(n)))


def count() -> int:
    """How many stops the tour has (the ``tour`` parameter's range)."""
    return len(stops(0))
