"""Every supported format, its malformed variants, and the real benchmark files in ../shared/data (if present)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffrec_core.data import DataFormatError, load_dataset, load_rerank_sessions, make_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"benchmark data {path} not present")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def raises(match_file: str, line=None, *, contains: str = ""):
    """Expect a DataFormatError naming the file (and the line)."""
    pattern = match_file.replace(".", r"\.") + (f" line {line}:" if line else "")
    return pytest.raises(DataFormatError, match=pattern + ".*" + contains)


# --------------------------------------------------------------------------------------------------------- MovieLens
ML100K = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t302\t5\t881250950\n"


def test_movielens_u_data(tmp_path):
    f = write(tmp_path / "ml" / "u.data", ML100K)
    write(tmp_path / "ml" / "u.item", "242|Kolya (1996)|24-Jan-1997||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                                      "302|L.A. Confidential (1997)|01-Jan-1997||http://x|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|1|0|0\n"
                                      "377|Heavyweights (1994)|01-Jan-1994||http://x|0|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    log = load_dataset(str(f))
    assert (log.n_users, log.n_items, len(log.events)) == (3, 3, 4)
    assert log.meta["user_ids"].tolist() == [22, 186, 196]       # sorted original ids -> 0, 1, 2
    assert log.meta["item_ids"].tolist() == [242, 302, 377]
    assert log.events["timestamp"].dtype == np.int64 and "rating" in log.events
    assert log.items["title"].tolist() == ["Kolya (1996)", "L.A. Confidential (1997)", "Heavyweights (1994)"]
    assert log.items["genre"].tolist() == ["Comedy", "Crime", "Children's"]
    assert len(load_dataset(str(f), min_rating=3).events) == 3   # implicit by default; min_rating filters


def test_ratings_dat_and_its_errors(tmp_path):
    rows = [f"{u}::{i}::4::97830{u}{i}" for u in range(1, 5) for i in range(1, 6)]
    f = write(tmp_path / "ratings.dat", "\n".join(rows) + "\n")
    write(tmp_path / "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n")
    log = load_dataset(str(f))
    assert (log.n_users, log.n_items, len(log.events)) == (4, 5, 20)
    assert log.items["title"].iloc[0] == "Toy Story (1995)" and log.items["genre"].iloc[0] == "Animation"
    assert log.items["title"].iloc[4] == "item 5"               # not in movies.dat

    bad = rows.copy()
    bad[16] = "3::2::4"
    write(tmp_path / "ratings.dat", "\n".join(bad) + "\n")
    with pytest.raises(DataFormatError, match=r"ratings\.dat line 17: expected 4 fields separated by '::', got 3"):
        load_dataset(str(f))
    bad[16] = "3::two::4::978300000"
    write(tmp_path / "ratings.dat", "\n".join(bad) + "\n")
    with raises("ratings.dat", 17, contains="integer item id, got 'two'"):
        load_dataset(str(f))


def test_blank_lines_keep_line_numbers(tmp_path):
    f = write(tmp_path / "u.data", "1\t1\t5\t10\n\n1\t2\t5\t11\n1\t3\n")
    with raises("u.data", 4, contains="expected 4 fields separated by tabs, got 2"):
        load_dataset(str(f))


def test_empty_and_oversized_files(tmp_path):
    with raises("u.data", contains="empty"):
        load_dataset(str(write(tmp_path / "u.data", "\n\n")))
    with raises("plain.csv", contains="empty"):
        load_dataset(str(write(tmp_path / "plain.csv", "")))
    with raises("h.csv", contains="header line but no data"):
        load_dataset(str(write(tmp_path / "h.csv", "user,item,timestamp\n")))
    f = write(tmp_path / "big" / "u.data", ML100K)
    with raises("u.data", contains="max_bytes"):
        load_dataset(str(f), max_bytes=10)
    assert len(load_dataset(str(f), max_bytes=None).events) == 4
    with pytest.raises(FileNotFoundError):
        load_dataset(str(tmp_path / "nope.csv"))
    with raises("u.data", contains="no interactions left"):
        load_dataset(str(f), min_rating=9)


# ---------------------------------------------------------------------------------------------------------- RecBole
def _recbole(folder: Path, inter_extra: str = "") -> Path:
    write(folder / "toy.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                "u1\tA\t5\t100\nu1\tB\t3\t90\nu2\tB\t4\t120\nu2\tC\t1\t130\n" + inter_extra)
    write(folder / "toy.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                               "A\tAlpha\t1990\tDrama Comedy\nB\tBeta\t1991\tAction\nC\tGamma\t1992\tHorror\n"
                               "Z\tNever Rated\t1993\tDrama\n")
    write(folder / "toy.link", "item_id:token\tentity_id:token\nA\tm.a\nC\tm.c\nZ\tm.z\n")
    write(folder / "toy.kg", "head_id:token\trelation_id:token\ttail_id:token\n"
                             "m.a\tfilm.genre\tm.drama\nm.c\tfilm.genre\tm.horror\nm.drama\tgenre.of\tm.c\n"
                             "m.z\tfilm.genre\tm.drama\n")
    return folder


def test_recbole_atomic_files(tmp_path):
    folder = _recbole(tmp_path / "toy")
    log = load_dataset(str(folder))
    assert (log.n_users, log.n_items, len(log.events)) == (2, 3, 4)
    assert log.meta["item_ids"].tolist() == ["A", "B", "C"]
    assert log.items["title"].tolist() == ["Alpha", "Beta", "Gamma"]        # 'Z' is not in the interactions
    assert log.items["genres"].iloc[0] == "Drama|Comedy" and log.items["genre"].iloc[0] == "Drama"
    # items are entities 0..2; the other entities follow in sorted token order (m.drama, m.horror, m.z)
    assert log.meta["relation_names"] == ["film.genre", "genre.of"]
    assert log.entity_names == ["Alpha", "Beta", "Gamma", "m.drama", "m.horror", "m.z"]
    assert log.kg.values.tolist() == [[0, 0, 3], [2, 0, 4], [3, 1, 2], [5, 0, 3]]
    assert load_dataset(str(folder / "toy.inter")).events.equals(log.events)


def test_recbole_errors(tmp_path):
    folder = _recbole(tmp_path / "toy", inter_extra="u3\tA\t4\n")
    with raises("toy.inter", 6, contains="expected 4 fields separated by tabs, got 3"):
        load_dataset(str(folder))
    write(folder / "toy.inter", "user_id\titem_id\nu1\tA\n")
    with raises("toy.inter", 1, contains="typed RecBole header"):
        load_dataset(str(folder))
    write(folder / "toy.inter", "user_id:token\titem_id:token\trating:float\nu1\tA\tgood\n")
    with raises("toy.inter", 2, contains="a number rating, got 'good'"):
        load_dataset(str(folder))


def test_recbole_extra_trailing_field_is_ignored_with_a_note(tmp_path):
    folder = _recbole(tmp_path / "toy", inter_extra="u3\tA\t4\t140\t1")   # as in RecBole's own test data
    log = load_dataset(str(folder))
    assert len(log.events) == 5 and "toy.inter line 6" in log.meta["warnings"][0]


# ------------------------------------------------------------------------------------------------ DiffRec, DiffuRec
def test_diffrec_release(tmp_path):
    np.save(tmp_path / "train_list.npy", np.array([[0, 0], [0, 1], [1, 2], [2, 0]]))
    np.save(tmp_path / "valid_list.npy", np.array([[0, 2], [1, 0]]))
    np.save(tmp_path / "test_list.npy", np.array([[2, 1]]))
    np.save(tmp_path / "item_emb.npy", np.ones((3, 4), dtype=np.float32))
    log = load_dataset(str(tmp_path))
    assert (log.n_users, log.n_items) == (3, 3) and log.item_emb.shape == (3, 4)
    assert log.events["split"].tolist() == ["train"] * 4 + ["valid"] * 2 + ["test"]
    assert log.events["timestamp"].tolist() == list(range(7))            # file order
    split = make_split(log)
    assert (split.train.nnz, split.valid.nnz, split.test.nnz) == (4, 2, 1)
    assert split.item_emb.shape == (3, 4)

    np.save(tmp_path / "valid_list.npy", np.array([[0.5, 2.0]]))
    with raises("valid_list.npy", contains=r"integer array of shape \[N, 2\]"):
        load_dataset(str(tmp_path))
    np.save(tmp_path / "valid_list.npy", np.array([[0, 2]]))
    np.save(tmp_path / "item_emb.npy", np.ones((2, 4), dtype=np.float32))
    with raises("item_emb.npy", contains="n_items=3"):
        load_dataset(str(tmp_path))
    (tmp_path / "train_list.npy").write_bytes(b"not numpy")
    with raises("train_list.npy", contains="not a readable"):
        load_dataset(str(tmp_path))


def test_diffurec_csv(tmp_path):
    rows = ["user,item,position,split"]
    for u, seq in enumerate([[3, 1, 2, 5], [2, 4, 1]]):
        for p, i in enumerate(seq):
            s = "test" if p == len(seq) - 1 else "valid" if p == len(seq) - 2 else "train"
            rows.append(f"{u},{i},{p},{s}")
    f = write(tmp_path / "interactions.csv", "\n".join(rows) + "\n")
    log = load_dataset(str(tmp_path))                                     # the folder works too
    assert (log.n_users, log.n_items) == (2, 5)
    assert log.meta["item_ids"].tolist() == [1, 2, 3, 4, 5]              # 1-based ids -> 0-based
    assert log.events.loc[log.events["user"] == 0, "item"].tolist() == [2, 0, 1, 4]
    rows[3] = "0,2,2,training"
    write(f, "\n".join(rows) + "\n")
    with raises("interactions.csv", 4, contains="expected split train, valid or test, got 'training'"):
        load_dataset(str(f))


# --------------------------------------------------------------------------------------------------------- plain CSV
def test_plain_csv_variants(tmp_path):
    log = load_dataset(str(write(tmp_path / "a.csv", "alice,book1,30\nbob,book2,10\nalice,book2,20\n")))
    assert log.meta["user_ids"].tolist() == ["alice", "bob"] and log.meta["header"] is False
    assert log.events.sort_values(["user", "timestamp"])["item"].tolist() == [1, 0, 1]

    log = load_dataset(str(write(tmp_path / "b.csv", "userId,movieId,rating,timestamp\n10,7,4.5,5\n2,7,1,6\n")))
    assert log.meta["user_ids"].tolist() == ["2", "10"]                  # numeric order, original spelling
    assert log.events["rating"].tolist() == [4.5, 1.0]

    log = load_dataset(str(write(tmp_path / "c.csv", "u1,i1\nu1,i2\nu1,i1\n")))
    assert len(log.events) == 2 and log.meta["dropped_duplicates"] == 1
    assert log.events["timestamp"].tolist() == [0, 1]                    # file order

    log = load_dataset(str(write(tmp_path / "d.tsv", "user\titem\ttime\nx\ty\t2024-01-02\nx\tz\t2024-01-01\n")))
    assert log.events["timestamp"].tolist() == [1704153600, 1704067200]


def test_plain_csv_errors(tmp_path):
    with raises("e.csv", 2, contains="expected 2 or 3 fields separated by commas, got 4"):
        load_dataset(str(write(tmp_path / "e.csv", "a,b\nc,d,1,2\n")))
    with raises("f.csv", 3, contains="expected 3 fields like line 1, got 2"):
        load_dataset(str(write(tmp_path / "f.csv", "a,b,1\nc,d,2\ne,f\n")))
    with raises("g.csv", 3, contains="timestamp"):
        load_dataset(str(write(tmp_path / "g.csv", "user,item,timestamp\na,b,1\nc,d,soon\n")))
    with raises("h.csv", 1, contains="naming a user and an item"):
        load_dataset(str(write(tmp_path / "h.csv", "user,thing\na,b\n")))
    with raises("x.parquet", contains="unknown format"):
        load_dataset(str(write(tmp_path / "x.parquet", "x")))


# ------------------------------------------------------------------------------------------------------------ sample
def test_sample_world_log():
    log = load_dataset("sample")
    assert (log.n_users, log.n_items) == (1000, 500)
    assert {"title", "genre", "era", "studio"} <= set(log.items.columns)
    assert set(log.events.columns) >= {"user", "item", "timestamp", "is_noise"}
    assert list(log.kg.columns) == ["head", "relation", "tail", "is_wrong"]
    assert log.kg["relation"].dtype == np.int64 and log.meta["relation_names"][0] == "has_genre"
    assert len(log.entity_names) == log.meta["n_entities"] == int(log.kg["tail"].max()) + 1
    assert log.entity_names[0] == log.items["title"].iloc[0]
    sessions = load_rerank_sessions()
    assert {"session", "user", "cand_rank", "position", "item", "shown", "click", "like"} <= set(sessions.columns)


def test_sample_world_root_argument(tmp_path):
    with raises(tmp_path.name, contains="not a sample world"):
        load_dataset("sample", root=tmp_path)


# ------------------------------------------------------------------------------------------ real benchmark files
def test_real_diffrec_ml1m_clean():
    log = load_dataset(str(shared("diffrec_ml-1m_clean")))
    split = make_split(log)
    assert (split.n_users, split.n_items) == (5949, 2810)
    assert (split.train.nnz, split.valid.nnz, split.test.nnz) == (403277, 110722, 57532)
    assert split.item_emb.shape == (2810, 64)


def test_real_diffurec_beauty():
    log = load_dataset(str(shared("diffurec_amazon_beauty")))
    assert (log.n_users, log.n_items, len(log.events)) == (22363, 12101, 198502)
    assert log.meta["item_ids"][0] == 1 and log.meta["item_ids"][-1] == 12101   # index k <-> original id k+1
    split = make_split(log)
    assert split.valid.nnz == split.test.nnz == 22363


def test_real_ml100k_with_kg():
    log = load_dataset(str(shared("ml-100k")))
    assert (log.n_users, log.n_items, len(log.events)) == (943, 1682, 100000)
    assert len(log.kg) == 91631 and log.meta["linked_items"] == 1598
    assert log.items["title"].iloc[0] == "Toy Story"
    assert len(log.entity_names) == log.meta["n_entities"] > log.n_items
    assert log.kg[["head", "tail"]].to_numpy().max() < log.meta["n_entities"]


def test_real_recbole_test_kg():
    log = load_dataset(str(shared("recbole_test_kg")))
    # The data README says 6,016 interactions / 11,337 triples: that is `wc -l` minus the header, and both files
    # lack a final newline, so the true counts are one higher. The last .inter line has a stray 5th field.
    assert (log.n_users, log.n_items, len(log.events)) == (171, 200, 6017)
    assert len(log.kg) == 11338 and len(log.meta["relation_names"]) == 24
    assert log.meta["warnings"] == ["test.inter line 6018: 1 extra field(s) ignored"]
