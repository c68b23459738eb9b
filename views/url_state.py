"""Shareable state: a page's settings live in the URL query, so a prepared link reproduces the exact view.

Why a layer of our own and not Streamlit's ``bind="query-params"``: a lecturer's link must survive a change of
range (T′ of a model with another T, a session id of another log), and a student who opens a stale link must be
*told* which parameter was dropped. Streamlit's binding silently drops an invalid value; sticky sliders keep their
value under ``_<key>_value``; and the shared sidebar's keys belong to every page. So:

* a page declares its parameters once, ``url_state({key: Param(...)})``, at its top, before its widgets;
* on the first run of a session, or when the query holds a value this session has not seen yet (a tour link, an
  edited URL), the value is parsed and validated and written into ``st.session_state`` (a sticky slider's shadow
  key for sticky parameters). A bad value falls back to the default. The rule for every page: one notice names
  each bad parameter, the value as the link had it (shortened, stripped of markup) and the value in effect
  instead. The notice is shown by ``sync()`` after the page's widgets are drawn, because a parameter without a
  default of ours takes its widget's default (a data-dependent one: the first session, the last item), which is
  only known then; a parameter no widget of this view uses is named as ignored;
* ``sync()`` writes the current values back into ``st.query_params`` after the widgets are drawn (``app.py`` calls
  it after every full run; a fragment calls it at its end), and drops parameters of other pages.

The query uses the widget keys as names (``?user=12&rv_tprime=10&rv_noise=1``). Values: integers and floats as
text, booleans as 1/0, options by their value. Parameters only ever hold indices and settings, never data.

Wiring a page (one line): ``C.url_state({"em_guidance": Param(float, 1.0, between(0, 10))})`` at the top of the
page; widgets with the same keys pick the values up; nothing else is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional

import streamlit as st

SEEN = "_url_seen"        # key -> the raw query value this session last applied or wrote
EXTRA = "_url_link_extra"  # key -> value a page adds to the shared link only (a built list picked, not typed)
RUN_KEYS = "_url_run_keys"  # key -> Param of the parameters declared in the current page run
PENDING = "_url_bad"      # key -> (shown raw value, what was expected) of bad link values not yet reported
_KNOWN: set = set()       # every parameter name any page has declared (to drop other pages' keys)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


# ------------------------------------------------------------------------------------------------ validators
@dataclass(frozen=True)
class Check:
    """A validator with a readable description for the fallback notice."""
    fn: Callable[[Any], bool]
    text: str

    def __call__(self, v) -> bool:
        try:
            return bool(self.fn(v))
        except (TypeError, ValueError):
            return False


def between(lo: float, hi: float) -> Check:
    return Check(lambda v: lo <= v <= hi and not (isinstance(v, float) and math.isnan(v)), f"between {lo} and {hi}")


def one_of(options: Iterable) -> Check:
    opts = list(options)
    shown = ", ".join(map(str, opts[:6])) + (", …" if len(opts) > 6 else "")
    return Check(lambda v: v in opts, f"one of {shown}")


def id_list(max_n: int, hi: int, max_chars: int = 300) -> Check:
    """Comma-separated ids (a built list or history in a link): at most ``max_n`` ids, each an integer 0…``hi``,
    the whole value at most ``max_chars`` characters; '' (no ids) is allowed. A hostile link can therefore
    never make a page parse or allocate more than a short list; whether the ids fit the data is the page's check."""
    def ok(v) -> bool:
        if not isinstance(v, str) or len(v) > max_chars:
            return False
        parts = [t for t in v.replace(";", ",").replace(" ", ",").split(",") if t]
        return len(parts) <= max_n and all(t.isdigit() and len(t) <= len(str(hi)) and int(t) <= hi for t in parts)
    return Check(ok, f"at most {max_n} comma-separated ids 0…{hi}")


def ids_text(ids: Iterable[int]) -> str:
    """The link form of an id list (what :func:`id_list` accepts)."""
    return ",".join(str(int(i)) for i in ids)


@dataclass(frozen=True)
class Param:
    """One URL parameter: its type, its default (a value, a zero-argument callable, or None = leave it to the
    widget), a validator (a :class:`Check`, a callable returning bool, or a container of allowed values), and
    whether a ``sticky_slider`` owns it (its value then lives under ``_<key>_value``)."""
    kind: type
    default: Any = None
    check: Any = None
    sticky: bool = False

    def parse(self, raw: str):
        raw = raw.strip()
        if self.kind is bool:
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if self.kind is int:
            return int(raw)                                  # "3.5" and "abc" raise
        if self.kind is float:
            v = float(raw)
            if not math.isfinite(v):
                raise ValueError(raw)
            return v
        return self.kind(raw)

    def format(self, v) -> str:
        if self.kind is bool:
            return "1" if v else "0"
        if self.kind is float:
            return repr(float(v))
        return str(v)

    def valid(self, v) -> bool:
        c = self.check
        if c is None:
            return True
        if callable(c):
            try:
                return bool(c(v))
            except (TypeError, ValueError):
                return False
        return v in c

    def describe(self) -> str:
        c = self.check
        if isinstance(c, Check):
            return c.text
        if isinstance(c, range):
            return f"an integer {c.start}…{c.stop - 1}"
        if c is not None and not callable(c):
            return one_of(c).text
        return {bool: "1 or 0", int: "an integer", float: "a number"}.get(self.kind, "a valid value")

    def default_value(self):
        return self.default() if callable(self.default) else self.default

    def accepts(self, raw: str) -> bool:
        """Whether a raw query value would be applied (the tour's links are checked with this)."""
        try:
            return self.valid(self.parse(raw))
        except (TypeError, ValueError):
            return False


def _coerce(spec) -> Param:
    """Accept ``Param`` or a plain ``(type, default, validator[, sticky])`` tuple."""
    return spec if isinstance(spec, Param) else Param(*spec)


def _shadow(key: str) -> str:
    return f"_{key}_value"


def _set(key: str, p: Param, v) -> None:
    if p.sticky:
        st.session_state[_shadow(key)] = v
    else:
        st.session_state[key] = v


def _reset(key: str, p: Param) -> None:
    d = p.default_value()
    if d is not None:
        _set(key, p, d)
    else:                                   # no default of ours: the widget's own default applies
        st.session_state.pop(_shadow(key) if p.sticky else key, None)


def read(key: str, p: Param):
    """The parameter's current value in this session (None where no widget or page has set it)."""
    v = st.session_state.get(key)
    if v is None and p.sticky:
        v = st.session_state.get(_shadow(key))
    return v


# ------------------------------------------------------------------------------------------------ the mechanism
def begin(page: Optional[str] = None) -> None:
    """Start of a full run (app.py): forget the previous page's declared parameters; remember which page this
    run draws (the Lab's models are offered by page)."""
    st.session_state[RUN_KEYS] = {}
    st.session_state[EXTRA] = {}
    if page is not None:
        st.session_state["_url_page"] = page


def url_state(params: Dict[str, Any], notify: bool = True) -> set:
    """Declare a page's URL parameters and apply new query values to session state (before the widgets are
    drawn). Returns the set of keys applied from the query in this run (pages may react, e.g. a preset)."""
    params = {k: _coerce(p) for k, p in params.items()}
    seen = st.session_state.setdefault(SEEN, {})
    run = st.session_state.setdefault(RUN_KEYS, {})
    applied = set()
    for key, p in params.items():
        _KNOWN.add(key)
        run[key] = p
        raw = st.query_params.get(key)
        if raw is None or seen.get(key) == raw:
            continue                        # nothing new: the session's own value stands
        seen[key] = raw
        try:
            v = p.parse(raw)
            ok = p.valid(v)
        except (TypeError, ValueError):
            ok = False
        if ok:
            _set(key, p, v)
            applied.add(key)
        else:
            _reset(key, p)
            if notify:
                st.session_state.setdefault(PENDING, {})[key] = (shown(raw), p.describe())
    return applied


def shown(raw: str, limit: int = 40) -> str:
    """A raw query value as a notice may quote it: printable characters only, no backticks (the notice puts it
    in a code span, which Markdown would otherwise leave), at most ``limit`` characters."""
    clean = "".join(c if c.isprintable() and c != "`" else "?" for c in str(raw))
    return clean if len(clean) <= limit else clean[:limit - 1] + "…"


def notice() -> Optional[str]:
    """The bad-link notice for the values reported so far (and forgets them): each names the parameter, the link's
    value, what it should be and the value in effect now. None when there is nothing to report."""
    pending = st.session_state.pop(PENDING, None)
    if not pending:
        return None
    run: dict = st.session_state.get(RUN_KEYS, {})
    parts = []
    for key, (raw, expected) in pending.items():
        p = run.get(key)
        v = read(key, p) if p is not None else None
        if v is None and p is not None:
            v = p.default_value()
        now = f"using {p.format(v)}" if v is not None and p is not None else "it is not used in this view, ignored"
        parts.append(f"`{key}={raw}` is not {expected}; {now}.")
    return "This link had a bad setting: " + " ".join(parts)


def sync(final: bool = True) -> None:
    """Write the declared parameters' current values into the URL; drop other pages' parameters; keep foreign
    query keys (``embed`` …) untouched. ``final`` (the end of a
    full run, app.py): also show the bad-link notice, now that every widget has its value; a fragment that syncs
    in the middle of a page passes False."""
    run: dict = st.session_state.get(RUN_KEYS, {})
    seen = st.session_state.setdefault(SEEN, {})
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    want = {k: v for k, v in current.items() if k not in _KNOWN or k in run}
    for key, p in run.items():
        v = read(key, p)
        if v is None or not p.valid(v):     # e.g. typed titles where a link holds ids: not a link's value
            want.pop(key, None)
            continue
        want[key] = seen[key] = p.format(v)
    if want != current:
        for k in [k for k in current if k not in want]:
            del st.query_params[k]
        changed = {k: v for k, v in want.items() if current.get(k) != v}
        if changed:
            st.query_params.update(changed)
    text = notice() if final else None
    if text:
        st.toast(text, icon=":material/link_off:", duration="long")


# ------------------------------------------------------------------------------------------------ the shared link
def link_extra(key: str, value: str) -> None:
    """Add ``key=value`` to this view's shared link (:func:`share_url`) without writing it into the address bar:
    a list the student built with clicks travels in the link as the typed id list that rebuilds it."""
    st.session_state.setdefault(EXTRA, {})[key] = str(value)


def share_url(base: Optional[str] = None) -> str:
    """The link that reproduces this view: the page's address (``st.context.url`` without its query, else a
    relative link) with the current parameters and the page's :func:`link_extra` values."""
    from urllib.parse import urlencode

    if base is None:
        try:
            base = (st.context.url or "").split("?", 1)[0]
        except Exception:  # noqa: BLE001 - no browser context (a test, a bare script): a relative link
            base = ""
    query = {k: st.query_params.get(k) for k in st.query_params.keys()}
    query.update(st.session_state.get(EXTRA, {}))
    return (base or "") + ("?" + urlencode(query) if query else "")

