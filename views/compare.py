"""Compare: the pretrained sample-world models side by side, with the protocol stated."""
from __future__ import annotations

import streamlit as st

from views import _common as C
from ui import compare


st.title("Compare methods")
results = C.get_results()
st.markdown(f"**{compare.LABEL.capitalize()}.** Every model was trained on the same split of the sample world with "
            f"seed {results.get('seed', '?')}, selected on validation Recall@20, and evaluated on the test items "
            "once. Training items are masked for every method.")

specs = {s.name: s for s in C.method_specs()}
df = compare.results_frame(results, titles={k: s.title for k, s in specs.items()},
                           kinds={k: s.kind for k, s in specs.items()})
if not len(df):
    st.info("No pretrained results yet: run `python -m diffrec_core pretrain`.")
    st.stop()
protocols = sorted({p for p in df["protocol"] if p})
if len(protocols) > 1:      # never rank methods evaluated under different protocols in one chart
    chosen = st.radio("evaluation protocol", protocols, horizontal=True, key="cmp_protocol", persist_state="session")
    df = df[df["protocol"] == chosen].reset_index(drop=True)
metric = st.radio("metric", [c for c in df.columns if c.startswith("test ")], index=1, horizontal=True,
                  key="cmp_metric", persist_state="session")
C.chart(compare.results_figure(df, metric), key="cmp_bars", filename="sample_world_results")
C.say(compare.results_caption(df, metric))
st.dataframe(df.drop(columns=["key"] + ([] if protocols else ["protocol"])), hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.4f") for c in df.columns
                            if c.startswith(("test", "valid"))})
# reranking methods are compared on the Reranking page (a different task and protocol)
missing = [s.title for k, s in specs.items() if k not in results.get("methods", {}) and "lists" not in s.needs]
if missing:
    st.caption("Registered but not yet in results.json: " + ", ".join(missing) + ".")
st.markdown("**Read with care.** One seed on a small synthetic world: differences of a few thousandths are noise. "
            "Published comparisons of diffusion recommenders found that well-tuned simple baselines (EASE, ItemKNN, "
            "Mult-VAE) often match or beat them (Benigni, Ferrari Dacrema & Jannach, arXiv 2505.09364).")
