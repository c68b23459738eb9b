"""benchmarks/side_by_side_seq.py: the files written for the authors' DiffuRec and DreamRec loaders hold exactly our
leave-one-out split (checked against the CSV rows themselves, not through our loader), and their logs are parsed
as printed. The authors' code is not run here; the written pickles are compared as bytes, never loaded."""
from __future__ import annotations

import pickle
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import side_by_side_seq as sbs  # noqa: E402
from diffrec_core.pipeline import build_model, load_split  # noqa: E402

# user -> chronological items (original ids 1..N, 0 free; no repeats within a user, as in the release); the last is
# test, the one before valid; user 7's history is longer than DreamRec's window of 10
SEQS = {7: [3, 1, 4, 10, 5, 9, 2, 6, 13, 11, 8, 12, 7], 3: [2, 7, 1, 8], 12: [6, 4, 3]}
N_ITEMS = 13


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    rows = [(u, i, p, "test" if p == len(s) - 1 else "valid" if p == len(s) - 2 else "train")
            for u, s in SEQS.items() for p, i in enumerate(s)]
    random.Random(0).shuffle(rows)                      # file order must not matter: positions do
    f = tmp_path_factory.mktemp("beauty") / "interactions.csv"
    f.write_text("user,item,position,split\n" + "".join(f"{u},{i},{p},{s}\n" for u, i, p, s in rows))
    return load_split(str(f.parent), how="loo")


def users_in_order():
    return sorted(SEQS)                                 # our user index = rank of the original id


def test_diffurec_dataset_is_the_csv(split, tmp_path):
    assert (split.n_users, split.n_items) == (3, N_ITEMS)
    expected = {"train": {k: SEQS[u][:-2] for k, u in enumerate(users_in_order())},
                "val": {k: [SEQS[u][-2]] for k, u in enumerate(users_in_order())},
                "test": {k: [SEQS[u][-1]] for k, u in enumerate(users_in_order())},
                "umap": {k: k for k in range(3)}, "smap": {i: i for i in range(1, N_ITEMS + 1)}}
    assert sbs.diffurec_dataset(sbs.sequences(split), split.n_items) == expected
    (path,) = sbs.write_authors_data("diffurec", split, tmp_path / "DiffuRec" / "src")
    assert path == tmp_path / "DiffuRec" / "datasets" / "data" / sbs.DATA_NAME / "dataset.pkl"  # ../datasets/data
    assert path.read_bytes() == pickle.dumps(expected, protocol=sbs.PICKLE_PROTOCOL)


def _pad(hist):
    h = hist[-10:]
    return h + [N_ITEMS] * (10 - len(h)), max(len(h), 1)


def test_dreamrec_frames_are_the_csv(split, tmp_path):
    ids = [[i - 1 for i in SEQS[u]] for u in users_in_order()]     # 0-based items, pad id N
    train = [(*_pad(s[:p]), s[p]) for s in ids for p in range(len(s) - 2)]
    val = [(*_pad(s[:-2]), s[-2]) for s in ids]
    test = [(*_pad(s[:-1]), s[-1]) for s in ids]
    frames = sbs.dreamrec_frames(sbs.sequences(split), split.n_items)
    for name, want in (("train_data", train), ("val_data", val), ("test_data", test)):
        df = frames[name]
        assert list(df.columns) == ["seq", "len_seq", "next"]
        got = [(list(map(int, s)), int(n), int(t)) for s, n, t in zip(df["seq"], df["len_seq"], df["next"])]
        assert got == want, name
    assert frames["test_data"]["seq"].iloc[1] == [3, 9, 4, 8, 1, 5, 12, 10, 7, 11]  # user 7: the last 10
    assert frames["data_statis"].to_dict("list") == {"seq_size": [10], "item_num": [N_ITEMS]}
    paths = sbs.write_authors_data("dreamrec", split, tmp_path / "DreamRec")
    assert [p.name for p in paths] == ["data_statis.df", "train_data.df", "val_data.df", "test_data.df"]
    for p in paths:
        assert p.parent == tmp_path / "DreamRec" / "data" / sbs.DATA_NAME
        assert p.read_bytes() == pickle.dumps(frames[p.stem], protocol=sbs.PICKLE_PROTOCOL)


def test_dreamrec_files_hold_our_training_samples(split):
    """Our 'beauty-authors' DreamRec trains on exactly the rows of their train_data.df (empty histories too)."""
    from diffrec_core.methods.seq_common import window
    model = build_model("dreamrec", split, preset="beauty-authors", seed=1)
    data = model.seq_data(split)
    starts, ends = model.train_samples(data)
    hist, n = window(data.train.items, starts, ends, model.config.seq_len, -1, left_pad=False)
    ours = sorted((tuple(np.where(h < 0, split.n_items, h).tolist()), max(int(k), 1), int(data.train.items[e]))
                  for h, k, e in zip(hist, n, ends))
    df = sbs.dreamrec_frames(sbs.sequences(split), split.n_items)["train_data"]
    theirs = sorted((tuple(s), int(k), int(t)) for s, k, t in zip(df["seq"], df["len_seq"], df["next"]))
    assert ours == theirs


def test_parse_the_authors_logs():
    dr = [(1.0, "Epoch: 0"), (1.5, "[0/3] Loss: 9.4"), (4.0, "loss in epoch 0: 9.1"), (4.1, "Epoch: 1"),
          (6.6, "loss in epoch 1: 8.9"), (7.0, "Test------------------------------------------------------"),
          (7.0, "{'HR@5': 1.5, 'NDCG@5': 0.9, 'HR@10': 2.5, 'NDCG@10': 1.2, 'HR@20': 4.0, 'NDCG@20': 1.6}")]
    got = sbs.parse_diffurec(dr)
    assert got["test"] == pytest.approx({"recall@10": 0.025, "recall@20": 0.04, "ndcg@10": 0.012, "ndcg@20": 0.016})
    assert got["epochs"] == pytest.approx([3.0, 2.5])
    numpy2 = dr[:-1] + [(7.0, "{'HR@5': np.float64(1.5), 'NDCG@5': np.float64(0.9), 'HR@10': np.float64(2.5), "
                              "'NDCG@10': np.float64(1.2), 'HR@20': np.float64(4.0), 'NDCG@20': np.float64(1.6)}")]
    assert sbs.parse_diffurec(numpy2)["test"] == got["test"]      # NumPy >= 2 prints np.float64(...)
    header = "HR@10      NDCG@10    HR@20      NDCG@20    HR@50      NDCG@50"
    dm = [(2.0, "Epoch 000; Train loss: 1.0; Time cost: 00: 00: 02"), (5.0, "Epoch 001; Train loss: 0.9; ..."),
          (6.0, "-------------------------- VAL PHRASE --------------------------"), (6.0, header),
          (6.0, "0.010000   0.005000   0.020000   0.007000   0.040000   0.010000"),
          (9.0, "-------------------------- TEST PHRASE -------------------------"), (9.0, header),
          (9.0, "0.011000   0.006000   0.021000   0.008000   0.041000   0.011000"),
          (20.0, "Epoch 002; Train loss: 0.8; ...")]
    got = sbs.parse_dreamrec(dm)
    assert got["test"] == {"recall@10": 0.011, "ndcg@10": 0.006, "recall@20": 0.021, "ndcg@20": 0.008}
    assert got["epochs"] == [3.0] and got["n_epochs"] == 3          # epoch 002's gap holds an evaluation


def test_budget_and_overrides_are_refused_where_they_cannot_hold():
    with pytest.raises(SystemExit, match="multiple of 10"):
        sbs._dreamrec_cmd(1, 5, {})
    with pytest.raises(SystemExit, match="no DiffuRec"):
        sbs._diffurec_cmd(1, 1, {"use_pos_emb": True})
    assert "--hidden_size=32" in sbs._diffurec_cmd(1, 1, {"hidden": 32})


def test_save_writes_a_row_and_keeps_the_other_scripts_not_run(tmp_path):
    from diffrec_core import reproduction as repro
    path = tmp_path / "side_by_side.json"
    other = {"method": "tdiffrec", "reason": "another script's reason"}
    path.write_text(repro.dumps({"schema": repro.SCHEMA, "version": repro.VERSION, "rows": [], "not_run": [other]}))
    info = {"method": "dreamrec", "epochs": 10, "preset": "beauty-authors", "sets": {}, "data": "beauty",
            "seeds": [1, 2], "command": "x"}

    def run(seed, hr):
        return {"seed": seed, "test": {"recall@10": hr, "recall@20": 2 * hr, "ndcg@10": hr / 2, "ndcg@20": hr},
                "best_epoch": 10, "epochs_run": 10, "epoch_s": 1.0}

    sbs.save(path, "dreamrec", [info], [run(1, 0.01), run(2, 0.02)], [run(1, 0.015), run(2, 0.025)])
    doc = repro.load(path)
    (row,) = doc["rows"]
    assert (row["method"], row["budget_epochs"], row["seeds"]) == ("dreamrec", 10, [1, 2])
    assert row["summary"]["recall@10"]["diff"] == pytest.approx(-0.005)
    assert [n["method"] for n in doc["not_run"]] == ["tdiffrec", "diffurec"]     # dreamrec has a row now
    with pytest.raises(SystemExit, match="repeat a seed"):
        sbs.save(path, "dreamrec", [info], [run(1, 0.01), run(1, 0.02)], [run(1, 0.015)])
