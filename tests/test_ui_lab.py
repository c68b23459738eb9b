"""The Lab's figure builders: curves follow the history, the selected epoch is marked, the data report adds up."""
from __future__ import annotations

import numpy as np

from ui import lab as ul

HISTORY = [
    {"epoch": 1, "loss": 5.0, "kl": 0.1, "seconds": 0.1},
    {"epoch": 2, "loss": 4.0, "kl": 0.2, "seconds": 0.1, "valid_recall@20": 0.20, "valid_ndcg@20": 0.1,
     "valid_recall@10": 0.12, "valid_mrr@10": 0.05},
    {"epoch": 3, "loss": 3.5, "kl": 0.3, "seconds": 0.1},
    {"epoch": 4, "loss": 3.0, "kl": 0.3, "seconds": 0.1, "valid_recall@20": 0.25, "valid_ndcg@20": 0.12,
     "valid_recall@10": 0.15, "valid_mrr@10": 0.06},
]


def test_loss_figure_follows_history_with_extra_terms_on_a_second_axis():
    fig = ul.loss_figure(HISTORY, max_epochs=10)
    assert [t.name for t in fig.data] == ["training loss", "kl"]
    assert list(fig.data[0].x) == [1, 2, 3, 4] and list(fig.data[0].y) == [5.0, 4.0, 3.5, 3.0]
    assert fig.data[1].yaxis == "y2" and tuple(fig.layout.xaxis.range) == (0.5, 10.5)


def test_metric_figure_selection_first_and_the_kept_epoch_marked():
    fig = ul.metric_figure(HISTORY, "recall@20", best_epoch=4, max_epochs=4)
    names = [t.name for t in fig.data]
    assert names[0] == "Recall@20 (selects the epoch)" and len(names) == 3
    assert names[1:] == ["Recall@10", "NDCG@20"]                   # recall / ndcg before MRR
    assert list(fig.data[0].x) == [2, 4] and list(fig.data[0].y) == [0.20, 0.25]
    assert fig.layout.shapes[0].x0 == 4
    assert not ul.metric_figure(HISTORY[:1], "recall@20").data       # nothing validated yet


def test_run_caption_running_and_done():
    s = {"method": "diffrec", "data": "sample world", "eval_every": 5, "patience": 15, "select": "recall@20",
         "best_epoch": 0, "valid": {}, "test": {}}
    assert "No validation yet" in ul.run_caption(s, running=True)
    s.update(best_epoch=4, valid={"recall@20": 0.25}, test={"recall@20": 0.2}, stopped="epoch limit")
    assert "Best so far: validation Recall@20 0.25 at epoch 4" in ul.run_caption(s, running=True)
    done = ul.run_caption(s, running=False)
    assert done.startswith("Done (epoch limit)") and "epoch 4" in done and "Recall@20 0.2" in done


def test_report_rows_and_activity_figure():
    rep = {"name": "x", "users": 3, "items": 4, "interactions": 6, "density": 0.5, "time_span_text": "a … b",
           "per_user": {"min": 1, "median": 2.0, "max": 3}, "users_under_3": 2, "kg_triples": 0}
    rows = dict((r[0], r[1]) for r in ul.report_rows(rep))
    assert rows["density"] == "50.00 %" and rows["per user"] == "1 / 2.00 / 3"
    assert "2 users have fewer than 3" in ul.report_caption(rep)
    per_user, per_item = np.array([1, 2, 3]), np.array([3, 1, 1, 1, 0])
    fig = ul.activity_figure(per_user, per_item)
    assert [t.name for t in fig.data] == ["users", "items"]
    assert int(np.sum(fig.data[0].y)) == 3 and int(np.sum(fig.data[1].y)) == 4      # zero-count items left out
