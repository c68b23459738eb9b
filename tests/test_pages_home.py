"""AppTest of the Home page."""
from test_pages_app import charts, metrics, no_exception, page, texts


def test_home_runs_with_picture_cards_world_and_tour():
    at = page("home").run()
    no_exception(at)
    c = charts(at)
    assert list(c) == ["home_hero"]
    hero = c["home_hero"]
    assert {t.get("yaxis") for t in hero["data"]} == {"y", "y2", "y3"}
    assert any(t["name"].startswith("recommended") for t in hero["data"])
    md = texts(at)
    for title in ("DiffRec", "T-DiffRec", "L-DiffRec", "DiffKG", "DiffuRec", "DreamRec", "DCDR"):
        assert f"#### {title}" in md, title
    m = metrics(at)
    assert m["users"] == "1,000" and m["items"] == "500" and "injected noise" in m
    assert "A 10-minute tour" in [h.value for h in at.header][0]          # the tour's entry comes first
    assert "held-out" in md and "injected" in md


def test_home_follows_the_sidebar_user():
    a = page("home")
    a.session_state["user"] = 1
    a.run()
    b = page("home")
    b.session_state["user"] = 2
    b.run()
    no_exception(a)
    no_exception(b)
    assert "User 1:" in texts(a) and "User 2:" in texts(b)


# ------------------------------------------------------------------------------------------------ the tour
def _registered_pages() -> dict:
    """app.py's PAGES list, read without running Streamlit: page key -> file."""
    import ast

    from conftest import REPO
    tree = ast.parse((REPO / "app.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PAGES")
    return {row[1]: row[2] for row in ast.literal_eval(node.value)}


def _tour():
    from ui import tour
    from views import _common as C
    return tour.stops(C.default_user("sample"))


def test_every_tour_stop_opens_a_registered_page_with_valid_parameters():
    from conftest import REPO
    from ui import tour
    from views import _common as C
    from views import page_params
    pages = _registered_pages()
    split = C.get_split("sample")
    names = [m for m in C.REVERSE_METHODS if m in {s.name for s in C.method_specs()}]
    side = page_params.sidebar(C.DATASETS, names, split.n_users, C.default_user("sample"))
    stops = _tour()
    assert sum(s.minutes for s in stops) == tour.TOTAL_MINUTES == 10
    assert len({s.page for s in stops}) >= 5                       # it really tours the app
    for s in stops:
        assert s.page in pages and (REPO / pages[s.page]).exists(), s.page
        assert s.look and s.question.endswith("?") and s.set
        spec = {**side, **page_params.PAGE_PARAMS.get(s.page, {})}
        for k, raw in page_params.expand(s.page, s.params).items():
            assert k in spec, (s.page, k)
            assert isinstance(raw, str) and spec[k].accepts(raw), (s.page, k, raw)


def test_home_draws_the_tour_with_its_links():
    at = page("home").run()
    no_exception(at)
    stops = _tour()
    md = texts(at)
    for s in stops:
        assert s.question in md
    code = at.code[0].value.splitlines()
    assert len(code) == len(stops) and "rv_tprime=10" in code[4] and "fw_preset=image-DDPM" in code[2]
    assert all(f"tour={n}" in line for n, line in enumerate(code, start=1))     # each link opens its banner


def test_following_each_tour_stop_gives_its_view_without_a_notice():
    from test_url_state import app_on
    files = _registered_pages()
    for s in _tour():
        at = app_on(files[s.page][len("views/"):-3], **s.params)
        no_exception(at)
        assert not at.toast, (s.page, [t.proto.body for t in at.toast])
        assert not [w for w in at.warning if "link" in w.value], s.page
        for k, raw in s.params.items():
            assert at.query_params.get(k) == raw, (s.page, k, at.query_params.get(k), raw)


# ------------------------------------------------------------------------------------------------ the tour banner
def _banner(at) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("**Tour · stop"))


def _links(at) -> list:
    return [el.proto.label for el in at.get("page_link")]


def test_a_tour_link_shows_its_stop_banner_with_previous_and_next():
    from test_url_state import app_on
    stops = _tour()
    N = len(stops)
    files = _registered_pages()
    for n in (1, 4, N):
        s = stops[n - 1]
        at = app_on(files[s.page][len("views/"):-3], **s.params, tour=n)
        no_exception(at)
        assert not at.toast, [t.proto.body for t in at.toast]
        text = _banner(at)
        assert f"stop {n} / {N}" in text and s.title in text and s.look in text and s.question in text
        links = _links(at)
        assert any(lab.startswith("◀ previous") for lab in links) == (n > 1), links
        assert any(lab.startswith("next ▶") for lab in links) == (n < N), links
        if n < N:
            assert f"next ▶ {stops[n].title}" in links
        assert at.query_params.get("tour") == str(n)


def test_a_bad_tour_value_gives_a_notice_and_no_banner():
    from test_url_state import app_on
    n = len(_tour())
    at = app_on("reverse", tour=n + 5)
    no_exception(at)
    note = "\n".join(t.proto.body for t in at.toast)
    assert f"tour={n + 5}" in note and "1…" in note
    assert not _banner(at) and "tour" not in at.query_params
    at = app_on("reverse", tour="zebra")
    assert "tour=zebra" in "\n".join(t.proto.body for t in at.toast) and not _banner(at)


def test_leaving_the_stops_page_ends_the_banner():
    from test_url_state import app_on
    stops = _tour()
    n = next(i for i, s in enumerate(stops, start=1) if s.page == "forward")
    at = app_on("forward", **stops[n - 1].params, tour=n)
    assert _banner(at)
    at.switch_page("views/compare.py").run()                 # not this stop's page
    no_exception(at)
    assert not _banner(at) and "tour" not in at.query_params
