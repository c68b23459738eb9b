"""The knowledge-graph baseline: KGAT-style relation-aware KG attention feeding LightGCN, **without diffusion**.

This is DiffKG's own recommender (docs/methods.md §2.4, ``Model`` with ``RGAT``; :class:`kg_common.KGRecommender`) on
the original KG only: relation-aware attention ``a = LeakyReLU(sum((W [e_h || e_t]) * e_r))`` with a softmax over each
head's edges (the attentive KG aggregation of KGAT, Wang et al., KDD 2019, arXiv 1905.07854), its item rows next to the
user table, a LightGCN-style propagation with self-loops summed over layers, BPR with one uniform negative and ``reg`` x
squared norms. The KG view is drawn once (at most ``triplet_num`` tails per head), message dropout in training. No
denoiser, no KG rebuild, no contrastive loss.

It is **not** the full KGAT: no TransR loss, no bi-interaction aggregator, no user nodes in the attention graph.
It is the ablation that isolates what DiffKG's diffusion (and its contrastive views) add on top of the same
KG encoder - the comparison an honest claim for DiffKG needs, under the same split, masking and validation selection.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import MethodSpec, register
from ..train_config import TrainConfig
from .kg_common import KGRecommender


@dataclass
class KGATConfig(TrainConfig):
    latdim: int = 32
    gnn_layer: int = 2
    layer_num_kg: int = 1
    mess_dropout: float = 0.1
    res_lambda: float = 0.5
    triplet_num: int = 10
    reg: float = 1e-7
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    # --- the training protocol: DiffKG's, so the two compare on one schedule (TrainConfig: 40 / 5 / 15) ---
    epochs: int = 10
    eval_every: int = 1
    patience: int = 5
    # derived from the data by prepare(), saved with the checkpoint
    n_entities: int = 0
    n_relations: int = 0
    n_kg_edges: int = 0


KGAT_PRESETS = {
    "sample": dict(lr=5e-3, batch_size=512, epochs=20, patience=5),     # lr picked on validation Recall@20
    "ml-100k": dict(lr=2e-3, batch_size=1024, epochs=20, patience=4),
    "authors": dict(latdim=64, epochs=25, patience=25),
}


class KGAT(KGRecommender):
    name = "kgat"


register(MethodSpec(
    name="kgat", title="KG attention (KGAT-style)", paper="DiffKG's KG encoder without diffusion; attention after "
    "Wang et al., KDD 2019 (arXiv 1905.07854)", diffused="", model_cls=KGAT, config_cls=KGATConfig,
    kind="baseline", needs=("interactions", "kg"),
    idea="Relation-aware attention over the original KG feeds item embeddings into LightGCN: DiffKG minus the "
         "diffusion.", page="knowledge graph", presets=KGAT_PRESETS))
