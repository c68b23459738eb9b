"""The method specification docs/methods.md and the citations of it: every "docs/methods.md §X.Y" in the tree names
a section that exists, every Reference-page link too, the contents table matches the headings, and the quirk
tables' switch names are fields of the method's config (so the document stays true of the code)."""
import dataclasses
import re
import subprocess

import pytest

from conftest import REPO
from ui import cite

TEXT = cite.read_doc()
SECTIONS = cite.by_number(TEXT)

# section -> registry key of the method it specifies
METHOD_SECTIONS = {"2.1": "diffrec", "2.2": "tdiffrec", "2.3": "ldiffrec", "2.4": "diffkg", "2.5": "diffurec",
                   "2.6": "dreamrec", "2.7": "dcdr"}


def _tree_files():
    """Tracked and untracked (not ignored) text files of the repository, the specification itself excluded."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if ".git" not in p.parts]
    for f in out:
        p = REPO / f
        if p.suffix in (".py", ".md", ".txt", ".toml", ".sh") and p.is_file() and f != "docs/methods.md":
            yield f, p.read_text(encoding="utf-8", errors="replace")


FILES = dict(_tree_files())


def test_the_tree_cites_the_specification_and_every_cited_section_exists():
    cited = {}
    for f, text in FILES.items():
        for n in cite.citations(text):
            cited.setdefault(n, set()).add(f)
    assert len(cited) >= 20 and sum(map(len, cited.values())) >= 40      # the code really cites it, widely
    missing = {n: sorted(fs) for n, fs in cited.items() if n not in SECTIONS}
    assert not missing, missing


def test_every_mention_of_methods_md_is_the_repository_file():
    """Only docs/methods.md (or the path built from "docs" / "methods.md"); nothing outside the repository."""
    bad = []
    for f, text in FILES.items():
        if f == "tests/test_docs_citations.py":
            continue
        for m in re.finditer(r"[\w./-]*methods\.md", text):
            before = text[max(0, m.start() - 12):m.start()]
            if m.group(0) != "docs/methods.md" and not (m.group(0) == "methods.md" and before.endswith('"docs" / "')):
                bad.append((f, text[max(0, m.start() - 30):m.end() + 10]))
    assert not bad, bad
    outside = "/".join(("shared", "docs"))      # the folder beside the repository, which a clone does not have
    assert not [f for f, text in FILES.items() if outside in text]


def test_reference_page_links_name_existing_sections():
    links = [(f, n) for f, text in FILES.items() for n in re.findall(rf"\({cite.PAGE}\?section=([\d.]+)\)", text)]
    links += [("ui.cite.link", n) for n in re.findall(r"link\([\"'](\d+(?:\.\d+)?)[\"']", "\n".join(FILES.values()))]
    assert links, "the app shows no link to the Reference page"
    assert not [x for x in links if x[1] not in SECTIONS], links


def test_contents_table_lists_every_section_with_its_anchor():
    secs = cite.sections(TEXT)
    anchors = [s.anchor for s in secs]
    assert all(anchors) and len(set(anchors)) == len(anchors), anchors
    all_ids = re.findall(r'<a id="([^"]+)"></a>', TEXT)
    assert len(set(all_ids)) == len(all_ids)
    rows = dict(re.findall(r"^\| (\d+(?:\.\d+)?) \| `([a-z0-9-]+)` \|", TEXT, flags=re.M))
    assert rows == {s.number: s.anchor for s in secs}
    # every in-document link points at an anchor that exists
    assert set(re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", TEXT)) <= set(all_ids)


def test_the_sections_the_code_relies_on_hold_what_it_cites():
    expect = {"2.7": "DCDR", "2.5": "DiffuRec", "2.6": "DreamRec", "2.4": "DiffKG", "2.1": "DiffRec",
              "3.4": "protocol", "4.1": "Accuracy", "1.6": "denoise from the history", "5.6": "reproducibility"}
    for n, words in expect.items():
        assert words in SECTIONS[n].title, (n, SECTIONS[n].title)
    assert "no public code" in SECTIONS["2.7"].title and "reconstruction" in SECTIONS["2.7"].title


# config fields a section names in its text where it has no quirk table
NAMED_FIELDS = {
    "tdiffrec": {"w_min", "w_max"},
    "dcdr": {"variant", "steps", "beta_start", "beta_end", "use_rank", "d", "layers", "heads", "ff", "dropout",
             "cond_drop", "k_per_list", "eval_rank", "eval_pal", "eval_novelty", "eval_causal", "infer_steps", "beam",
             "condition"},
}


# prose lines that list further switches ("Other switches: `t_sampler` ...")
SWITCH_LINES = re.compile(r"^(?:Other switches|Also|Two more protocol switches[^:\n]*):([^\n]*(?:\n[^\n*|][^\n]*)*)",
                          flags=re.M)


def _body(number: str) -> str:
    return "\n".join(TEXT.splitlines()[SECTIONS[number].start:SECTIONS[number].end])


@pytest.mark.parametrize("number,name", sorted(METHOD_SECTIONS.items()))
def test_method_sections_match_the_registry_and_name_real_switches(number, name):
    from diffrec_core import registry

    spec = registry.get(name)
    body = _body(number)
    assert spec.title in SECTIONS[number].title, (spec.title, SECTIONS[number].title)
    arxiv = re.search(r"arXiv (\d{4}\.\d{5})", spec.paper)
    assert arxiv and arxiv.group(1) in body, (name, spec.paper)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    switches = set()
    for table in re.findall(r"(\|[^\n]*\| switch \|\n(?:\|[^\n]*\n)+)", body):
        for row in table.splitlines()[2:]:
            last = row.rstrip().rstrip("|").rsplit(" | ", 1)[-1]
            switches |= {t for t in re.findall(r"`([^`]+)`", last) if re.fullmatch(r"[a-z][a-z0-9_]*", t)}
    for line in SWITCH_LINES.findall(body):
        switches |= {t for t in re.findall(r"`([a-z][a-z0-9_]*)`", line)}
    if name in NAMED_FIELDS:
        switches = NAMED_FIELDS[name]
        assert all(re.search(rf"`{s}(=[^`]*)?`", body) for s in switches), [s for s in switches
                                                                            if f"`{s}" not in body]
    assert len(switches) >= 2, (name, switches)
    assert switches <= fields, (name, sorted(switches - fields))


def test_presets_named_in_method_sections_exist():
    from diffrec_core import registry

    total = 0
    for number, name in METHOD_SECTIONS.items():
        body = _body(number)
        named = set(re.findall(r"preset `([a-z0-9_-]+)`", body))
        named |= set(re.findall(r"`([a-z0-9_-]+)`\** preset", body))
        named |= set(re.findall(r"\*\*CPU configuration\*\* \(`([a-z0-9_-]+)`", body))
        for para in re.findall(r"^Presets:([^\n]*(?:\n[^\n]+)*)", body, flags=re.M):
            named |= set(re.findall(r"`([a-z0-9_-]+)`", para))
        known = set(registry.get(name).presets)
        if name == "diffrec":
            known |= set(registry.get("tdiffrec").presets)
        assert named <= known, (name, sorted(named - known))
        total += len(named)
    assert total >= 15


# ------------------------------------------------------------------------------------------------ ui.cite units
def test_citation_parsing_handles_ranges_and_lists():
    text = "see docs/methods.md §2.7; docs/methods.md §4.1-4.2 and (docs/methods.md §1.4, §2.6) but not methods.md 9.9"
    assert cite.citations(text) == ["2.7", "4.1", "4.2", "1.4", "2.6"]
    assert cite.link("2.7") == "[docs/methods.md §2.7](reference?section=2.7)"
    assert cite.citations(cite.link("3.4")) == ["3.4"]


def test_sections_nest_and_render_strips_anchors():
    two = SECTIONS["2"]
    assert all(two.start < SECTIONS[f"2.{i}"].start < two.end for i in range(1, 9))
    assert SECTIONS["2.7"].end <= SECTIONS["2.8"].start and SECTIONS["2.8"].end <= SECTIONS["3"].start
    one = cite.render(TEXT, "2.7")
    assert one.startswith("### 2.7 DCDR") and "### 2.8" not in one and "<a id" not in one
    whole = cite.render(TEXT)
    assert "<a id" not in whole and "](#" not in whole and "](reference?section=2.7)" in whole
    with pytest.raises(KeyError, match="no section"):
        cite.render(TEXT, "9.9")


def test_read_doc_refuses_missing_and_oversized_files(tmp_path):
    with pytest.raises(cite.DocError, match="missing"):
        cite.read_doc(tmp_path / "nope.md")
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (cite.MAX_DOC_BYTES + 1))
    with pytest.raises(cite.DocError, match="more than"):
        cite.read_doc(big)
    with pytest.raises(cite.DocError, match="no numbered sections"):
        cite.sections("# a title\n\nno sections here\n")
