"""The side-by-side reproduction results: the statistics and verdict follow the per-seed runs, the file reader
refuses what it cannot read with a clear message, and benchmarks/side_by_side.py --save writes a row the reader
accepts (appending, or replacing the row of the same method, data and budget)."""
import json
import sys
from pathlib import Path

import pytest

from diffrec_core import reproduction as R
from ui import compare as U

REPO = Path(__file__).resolve().parent.parent


def run(seed, r20, best=10):
    return {"seed": seed, "test": {"recall@10": r20 * 0.6, "recall@20": r20, "ndcg@10": r20 * 0.5,
                                   "ndcg@20": r20 * 0.65}, "best_epoch": best, "epochs_run": 10, "epoch_s": 1.0}


def doc(ours=(0.1719, 0.1745, 0.1723), theirs=(0.1697, 0.1691, 0.1707)):
    row = {"method": "diffrec", "data": "d", "seeds": [1, 2, 3], "budget_epochs": 10, "date": "2026-01-01",
           "ours_commit": "abc1234", "authors": {"repository": "github.com/x/y", "commit": "d35a6c6"},
           "machine": {"cpu": "Test CPU"},
           "runs": {"ours": [run(i + 1, v) for i, v in enumerate(ours)],
                    "authors": [run(i + 1, v) for i, v in enumerate(theirs)]}}
    return R.parse(R.dumps(R.upsert(None, row, [{"method": "diffkg", "reason": "needs a CPU shim"}])))


def sentence(d):
    return U.reproduction_sentence(d["rows"][0], "recall@20", "DiffRec")


def test_statistics_follow_the_runs():
    c = doc()["rows"][0]["summary"]["recall@20"]
    ours, theirs = (0.1719, 0.1745, 0.1723), (0.1697, 0.1691, 0.1707)
    import statistics as s
    se = (s.stdev(ours) ** 2 / 3 + s.stdev(theirs) ** 2 / 3) ** 0.5
    assert c["diff"] == pytest.approx(s.mean(ours) - s.mean(theirs), rel=1e-12)
    assert c["two_se"] == pytest.approx(2 * se, rel=1e-12)
    assert c["within"] is False and c["separation"] == "above" and c["n"] == [3, 3]


def test_the_sentence_follows_the_data():
    beyond = sentence(doc())
    assert "ours is 0.0031 Recall@20 above theirs" in beyond and "just beyond the combined spread" in beyond
    assert "every one of our runs is above every one of theirs" in beyond and "budget 10 epochs" in beyond
    # one of our runs lower: the samples overlap and the gap is inside the spread
    within = sentence(doc(ours=(0.1719, 0.1745, 0.1690)))
    assert within != beyond and "within the combined spread" in within and "overlap" in within
    assert U.reproduction_frame(doc(ours=(0.1719, 0.1745, 0.1690)))["within spread?"].tolist() == ["yes"]
    below = sentence(doc(ours=(0.1600, 0.1610, 0.1605)))
    assert "below theirs" in below and "every one of our runs is below" in below and "just beyond" not in below
    assert "beyond the combined spread" in below
    one = doc(ours=(0.1719,), theirs=(0.1697,))
    assert "spread is not measured" in sentence(one)
    assert U.reproduction_frame(one)["within spread?"].tolist() == ["not measured (one seed)"]


def test_the_file_summary_is_recomputed_from_the_runs():
    d = doc()
    raw = json.loads(R.dumps(d))
    raw["rows"][0]["summary"]["recall@20"].update(within=True, diff=0.0)   # a hand edit of the summary is ignored
    assert R.parse(json.dumps(raw))["rows"][0]["summary"]["recall@20"] == d["rows"][0]["summary"]["recall@20"]
    raw["rows"][0]["runs"]["ours"][2]["test"]["recall@20"] = 0.1690    # a changed run is not
    back = R.parse(json.dumps(raw))["rows"][0]["summary"]["recall@20"]
    assert back["within"] is True and back["diff"] < d["rows"][0]["summary"]["recall@20"]["diff"]
    assert U.reproduction_not_run_frame(d, {"diffkg": "DiffKG"})["method"].tolist() == ["DiffKG"]


@pytest.mark.parametrize("text, msg", [
    ("{not json", "not valid JSON"),
    ('[1, 2]', "not a side-by-side results file"),
    ('{"schema": "diffrec-compare"}', "not a side-by-side results file"),
    ('{"schema": "diffrec-side-by-side", "version": 99, "rows": []}', "version 99"),
    ('{"schema": "diffrec-side-by-side", "version": 1, "rows": {}}', "must be lists"),
    ('{"schema": "diffrec-side-by-side", "version": 1, "rows": [{"runs": {}}]}', "no method name"),
])
def test_malformed_files_are_clear_errors(text, msg):
    with pytest.raises(R.ReproductionError, match=msg):
        R.parse(text)


def test_non_numbers_and_size_and_absence(tmp_path):
    raw = json.loads(R.dumps(doc()))
    raw["rows"][0]["runs"]["authors"][0]["test"]["recall@20"] = "0.17"
    with pytest.raises(R.ReproductionError, match="not a finite number"):
        R.parse(json.dumps(raw))
    with pytest.raises(R.ReproductionError, match="no side-by-side results file"):
        R.load(tmp_path / "absent.json")
    big = tmp_path / "big.json"
    big.write_text(" " * (R.MAX_BYTES + 1))
    with pytest.raises(R.ReproductionError, match="larger than"):
        R.load(big)


def test_the_shipped_file_reads():
    d = R.load()
    assert d["rows"] and all(r["runs"]["ours"] and r["runs"]["authors"] for r in d["rows"])
    assert {n["method"] for n in d["not_run"]} <= set(__import__("diffrec_core.registry").registry.names())


def test_save_appends_and_replaces(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import side_by_side as S

    def part(side, runs, **kw):
        info = {"date": "2026-01-01", "cpu": "Test CPU", "threads": 1, "python": "3", "torch": "2", "seeds": [1, 2],
                "max_epochs": 5, "command": f"--{side}-only", "authors_commit": "d35a6c6", "preset": "ml-1m",
                "ours_commit": "abc1234", "data": "d", **kw}
        p = tmp_path / f"{side}{info['max_epochs']}.json"
        p.write_text(json.dumps({"info": info, "ours": runs if side == "ours" else [],
                                 "authors": runs if side == "authors" else []}))
        return str(p)

    out = tmp_path / "results" / "sbs.json"
    o = part("ours", [run(1, 0.17), run(2, 0.18)])
    a = part("authors", [run(1, 0.16), run(2, 0.165)])
    assert S.main(["--combine", o, a, "--save", str(out), "--note", "first"]) == 0
    d = R.load(out)
    assert len(d["rows"]) == 1 and d["rows"][0]["note"] == "first" and d["rows"][0]["budget_epochs"] == 5
    assert d["rows"][0]["summary"]["recall@20"]["diff"] == pytest.approx(0.0125, rel=1e-9)
    assert "diffrec" not in {n["method"] for n in d["not_run"]} and d["not_run"]
    assert S.main(["--combine", o, a, "--save", str(out), "--note", "second"]) == 0    # same key: replaced
    assert [r["note"] for r in R.load(out)["rows"]] == ["second"]
    o10 = part("ours", [run(1, 0.17), run(2, 0.18)], max_epochs=10)
    a10 = part("authors", [run(1, 0.16), run(2, 0.165)], max_epochs=10)
    assert S.main(["--combine", o10, a10, "--save", str(out)]) == 0                    # another budget: appended
    assert sorted(r["budget_epochs"] for r in R.load(out)["rows"]) == [5, 10]
    with pytest.raises(SystemExit, match="differ in max_epochs"):
        S.main(["--combine", o, a10, "--save", str(out)])
    with pytest.raises(SystemExit, match="runs of both sides"):
        S.main(["--combine", o, "--save", str(out)])


def test_a_metric_one_side_lacks_falls_back_and_test_selection_is_said():
    """The authors' DiffKG code reports only @20: at the page's @10 the sentence speaks of @20, not of 'no runs';
    a row selected on test says so; a variant outside the registry gets its readers' title."""
    d = doc()
    row = dict(d["rows"][0])
    for side in ("ours", "authors"):
        for r in row["runs"][side]:
            r["test"] = {k: v for k, v in r["test"].items() if k.endswith("@20")}
    row = R.parse(R.dumps(R.upsert(None, {k: v for k, v in row.items() if k != "summary"})))["rows"][0]
    s = U.reproduction_sentence(row, "recall@10", "DiffKG")
    assert "no runs" not in s and "Recall@20" in s and "test score" not in s
    s = U.reproduction_sentence({**row, "select_on": "test (authors' protocol)"}, "recall@10", "DiffKG")
    assert "best test score" in s
    titles = U.reproduction_titles({"diffrec": "DiffRec"})
    assert titles["ltdiffrec"] == "LT-DiffRec" and titles["diffrec"] == "DiffRec"
    assert U.reproduction_label({"method": "ltdiffrec", "budget_epochs": 10}, titles) == "LT-DiffRec, 10-epoch budget"
    assert U.reproduction_label({"method": "diffrec", "budget_epochs": None}, titles) == "DiffRec, full protocol"
