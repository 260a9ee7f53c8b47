"""One course: the roadmap (intro page and chapter 00), the teacher page and the glossary cover every
chapter, and each chapter's summary leads to the next. Read from the chapters themselves."""
from __future__ import annotations

import json
import re

import pytest

from tinyml_utils.core import paths
from tinyml_utils.report import roadmap

CHAPTERS = roadmap.chapters()
NUMBERS = [c.number for c in CHAPTERS]
#: bold labels that structure a chapter rather than name a term
STRUCTURE = {"learning goals", "run time", "prerequisites", "next", "why it matters", "solution"}


def _cells(number: str) -> list[dict]:
    nb_path = next(paths.NOTEBOOKS.glob(f"{number}_*.ipynb"))
    return json.loads(nb_path.read_text(encoding="utf-8"))["cells"]


def _expand(text: str) -> set[str]:
    """"02–04, 07" → {"02", "03", "04", "07"}."""
    out: set[str] = set()
    for a, b in re.findall(r"(\d\d)(?:[–-](\d\d))?", text):
        out |= {f"{n:02d}" for n in range(int(a), int(b or a) + 1)}
    return out


def test_intro_roadmap_lists_every_chapter_with_its_prerequisites():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (\d\d) [^|]*\|[^|]*\| ([^|]*) \|$",
                                                        (paths.BOOK / "intro.md").read_text(), re.M)}
    assert sorted(rows) == NUMBERS, "book/intro.md's roadmap table has one row per chapter"
    for c in CHAPTERS:
        assert _expand(rows[c.number]) == set(c.prerequisites), (
            f"intro.md says chapter {c.number} builds on {rows[c.number]!r}; its notebook says {c.prerequisites}")


def test_chapter_00_roadmap_and_teacher_page_cover_every_chapter():
    first = "".join(_cells("00")[0]["source"])
    assert all(re.search(rf"^\| {n} \|", first, re.M) or f"· {n} " in first for n in NUMBERS[1:])
    teachers = (paths.BOOK / "teachers.md").read_text()
    timed = set(re.findall(r"^\| (\d\d) [A-Za-z]", teachers, re.M))
    assert timed >= set(NUMBERS), f"teacher page: no time row for chapters {sorted(set(NUMBERS) - timed)}"


@pytest.mark.parametrize("number", NUMBERS[:-1])
def test_each_summary_leads_to_the_next_chapter(number):
    nxt = f"{int(number) + 1:02d}"
    summary = [s for s in ("".join(c["source"]) for c in _cells(number) if c["cell_type"] == "markdown")
               if s.lstrip().startswith("## Summary")]
    assert summary, f"chapter {number} has a '## Summary' cell"
    assert re.search(rf"\*\*Next:\*\* chapter {nxt}\b", summary[0]), f"chapter {number}'s summary leads to {nxt}"


def _glossary() -> set[str]:
    text = (paths.BOOK / "glossary.md").read_text(encoding="utf-8")
    blocks = re.findall(r":::\{glossary\}\n(.*?)\n:::", text, re.S)
    names = [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip() and not ln.startswith(" ")]
    assert len(names) == len({n.lower() for n in names}), "a glossary term is defined twice"
    return {n.lower() for n in names}


def _bold_terms(number: str) -> list[str]:
    """A chapter's bold phrases that read as terms: up to four words, not a sentence or a label."""
    seen: list[str] = []
    for c in _cells(number):
        if c["cell_type"] != "markdown":
            continue
        text = re.sub(r"```.*?```", "", "".join(c["source"]), flags=re.S)
        for raw in re.findall(r"\*\*([^*\n]+)\*\*", text):
            t = " ".join(raw.split())
            if t.endswith((":", ".", "?", "!", ",")) or len(t.split()) > 4 or t.lower() in STRUCTURE:
                continue
            if t.lower() not in (s.lower() for s in seen):
                seen.append(t)
    return seen


@pytest.mark.parametrize("number", NUMBERS)
def test_every_bold_term_is_in_the_glossary(number):
    terms = _glossary()

    def known(t: str) -> bool:
        t = t.lower()
        return bool({t, t.rstrip("s"), t + "s", t.replace("-", " ")} & terms)

    missing = [t for t in _bold_terms(number) if not known(t)]
    assert not missing, (f"chapter {number} bolds {missing} on first use: add them to book/glossary.md, "
                         "or use *italics* for emphasis")
