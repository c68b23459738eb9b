"""AppTest of the Compare page."""
from test_pages_app import charts, fresh_caches, messages, no_exception, page, texts  # noqa: F401


def test_compare_shows_the_labelled_results():
    at = page("compare").run()
    no_exception(at)
    assert "one seed" in texts(at) and "validation-selected" in texts(at)
    bars = charts(at)["cmp_bars"]
    assert "one seed" in bars["layout"]["title"]["text"]
    assert len(at.dataframe) == 1
    before = bars["layout"]["xaxis"]["title"]["text"]
    at.radio(key="cmp_metric").set_value("test NDCG@10").run()
    no_exception(at)
    assert charts(at)["cmp_bars"]["layout"]["xaxis"]["title"]["text"] != before


def test_compare_without_results(monkeypatch, fresh_caches):
    from views import _common as C
    monkeypatch.setattr(C, "get_results", lambda: {"methods": {}})
    at = page("compare").run()
    no_exception(at)
    assert any("No pretrained results" in i for i in messages(at, "info"))


def test_compare_never_mixes_protocols(monkeypatch, fresh_caches):
    from views import _common as C
    res = {"seed": 1, "methods": {
        "diffrec": {"test": {"recall@20": 0.2}, "valid": {}, "diffusion_steps": 10, "protocol": "chrono 80/10/10"},
        "dreamrec": {"test": {"recall@20": 0.5}, "valid": {}, "diffusion_steps": 100, "protocol": "leave-one-out"}}}
    monkeypatch.setattr(C, "get_results", lambda: res)
    at = page("compare").run()
    no_exception(at)
    assert at.radio(key="cmp_protocol").options == ["chrono 80/10/10", "leave-one-out"]
    names = [t["name"] for t in charts(at)["cmp_bars"]["data"]]
    ys = [y for t in charts(at)["cmp_bars"]["data"] for y in t["y"]]
    assert ys == ["DiffRec"] and names
