"""Citations of the method specification ``docs/methods.md``: its numbered sections, the in-app link to one, and
the Markdown the Reference page renders. Pure (no Streamlit).

The code cites the specification as ``docs/methods.md §X.Y`` (ranges ``§4.1-4.2``, lists ``§1.4, §2.6``). Where
the app shows such a citation to a reader, :func:`link` turns it into a link to the Reference page
(``views/reference.py``), which opens that section with the ``section`` query parameter. The section numbers are
read from the document's headings, so a citation of a section that does not exist can be found by a test
(``tests/test_docs_citations.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional
from diffrec_core.errors import DiffRecError
from diffrec_core.paths import METHODS_DOC

DOC = METHODS_DOC
DOC_NAME = "docs/methods.md"
PAGE = "reference"              # the Reference page's URL path (app.py registers views/reference.py)
MAX_DOC_BYTES = 1_000_000       # the specification is ~70 kB; refuse anything far larger before reading it

_HEADING = re.compile(r"^(#{2,4}) (\d+(?:\.\d+)?)\.? +(.+?)\s*$")
_ANCHOR = re.compile(r'^<a id="([A-Za-z0-9_-]+)"></a>\s*$')
_NUM = r"\d+(?:\.\d+)?"
# one citation: "docs/methods.md §2.7", "… §4.1-4.2", "… §1.4, §2.6"
CITATION = re.compile(rf"docs/methods\.md §({_NUM}(?:-{_NUM})?(?:, §{_NUM}(?:-{_NUM})?)*)")


class DocError(DiffRecError, RuntimeError):
    """The specification file is missing, too large, or has no numbered sections."""


@dataclass(frozen=True)
class Section:
    number: str         # "2.7"
    title: str          # "DCDR (WWW'24 Companion) — a reconstruction; …"
    anchor: str         # "dcdr" (the <a id> before the heading; "" where there is none)
    level: int          # 2 for "##", 3 for "###"
    start: int          # line index of the heading
    end: int            # line index after the section (its subsections included)


def read_doc(path: Optional[Path] = None) -> str:
    p = Path(path) if path is not None else DOC
    try:
        size = p.stat().st_size
    except OSError as err:
        raise DocError(f"{DOC_NAME} is missing ({p})") from err
    if size > MAX_DOC_BYTES:
        raise DocError(f"{p} is {size} bytes, more than the {MAX_DOC_BYTES} a specification may have")
    return p.read_text(encoding="utf-8")


def sections(text: str) -> List[Section]:
    """Every numbered heading (``## 2. Methods``, ``### 2.7 DCDR …``) in document order. A section ends where the
    next heading of the same or a higher level begins, so ``2`` contains ``2.1``…``2.8``."""
    lines = text.splitlines()
    heads = []
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            prev = _ANCHOR.match(lines[i - 1]) if i else None
            heads.append((i, len(m.group(1)), m.group(2), m.group(3), prev.group(1) if prev else ""))
    out = []
    for j, (i, level, num, title, anchor) in enumerate(heads):
        end = next((h[0] for h in heads[j + 1:] if h[1] <= level), len(lines))
        if end < len(lines) and _ANCHOR.match(lines[end - 1]):
            end -= 1                        # the next section's anchor line belongs to the next section
        out.append(Section(num, title, anchor, level, i, end))
    if not out:
        raise DocError(f"{DOC_NAME} has no numbered sections")
    return out


def by_number(text: str) -> Dict[str, Section]:
    return {s.number: s for s in sections(text)}


def cited_numbers(citation_body: str) -> List[str]:
    """The section numbers one citation names: "4.1-4.2" -> ["4.1", "4.2"]; "1.4, §2.6" -> ["1.4", "2.6"]."""
    return re.findall(_NUM, citation_body)


def citations(text: str) -> List[str]:
    """Every section number cited as ``docs/methods.md §…`` in ``text``, in order (repeats kept)."""
    return [n for m in CITATION.finditer(text) for n in cited_numbers(m.group(1))]


def link(number: str, label: Optional[str] = None) -> str:
    """A Markdown link to a section on the Reference page, labelled as the code cites it. The target is relative
    (``reference?section=2.7``), so it resolves beside the current page wherever the app is served."""
    return f"[{label or f'{DOC_NAME} §{number}'}]({PAGE}?section={number})"


def render(text: str, number: Optional[str] = None) -> str:
    """The Markdown the Reference page shows: the whole document or one section (with its subsections), with the
    HTML anchor lines removed (Streamlit would print them as text) and in-document links ``(#anchor)`` turned
    into Reference-page links, so the contents table and cross-references keep working in the app."""
    secs = sections(text)
    lines = text.splitlines()
    if number is not None:
        sec = next((s for s in secs if s.number == number), None)
        if sec is None:
            raise KeyError(f"{DOC_NAME} has no section {number!r}")
        lines = lines[sec.start:sec.end]
    to_num = {s.anchor: s.number for s in secs if s.anchor}
    kept = [ln for ln in lines if not _ANCHOR.match(ln)]
    body = "\n".join(kept)

    def _target(m: re.Match) -> str:
        num = to_num.get(m.group(1))
        return f"]({PAGE}?section={num})" if num else f"]({PAGE})"

    return re.sub(r"\]\(#([A-Za-z0-9_-]+)\)", _target, body)
