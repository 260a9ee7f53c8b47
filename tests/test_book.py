"""The book builds offline (-W: warnings are errors) from executed notebooks only.

Uses the session fixture ``built_book`` from ``tests/conftest_book.py``.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest


class _Refs(HTMLParser):
    """Collects <img src>, <script src> and <link href> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []  # (rel, href)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.links.append(((a.get("rel") or "").lower(), a["href"]))


def _refs(page: Path) -> _Refs:
    p = _Refs()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def test_pages_exist(built_book):
    assert (built_book.html / "index.html").is_file()
    assert (built_book.html / "intro.html").is_file()
    assert built_book.chapter_html.is_file(), f"no chapter page at {built_book.chapter_html}"
    text = built_book.chapter_html.read_text(encoding="utf-8")
    assert built_book.title in text
    assert built_book.printed in text, "the code cell's text output is not on the page"
    # the generated toc links the chapter from the intro page
    assert built_book.chapter_rel in (built_book.html / "intro.html").read_text(encoding="utf-8")


def test_png_output_is_an_image_file(built_book):
    images = sorted((built_book.html / "_images").glob("*.png"))
    assert images, "no PNG in _images: the notebook's image output was not written"
    assert any(p.read_bytes() == built_book.png for p in images), "the chapter's PNG is not in _images"
    srcs = _refs(built_book.chapter_html).imgs
    ours = [s for s in srcs if "_images/" in s]
    assert ours, f"the chapter page references no _images/ file; <img> srcs: {srcs}"
    for src in ours:
        target = (built_book.chapter_html.parent / src).resolve()
        assert target.is_file(), f"<img src={src!r}> points to a missing file {target}"


def test_mathjax_is_local(built_book):
    refs = _refs(built_book.chapter_html)
    mj = [s for s in refs.scripts if "mathjax" in s.lower()]
    # exactly one: book/_ext/tinyml_book.py stops Jupyter Book adding every MathJax component
    assert len(mj) == 1, f"expected one MathJax script on the chapter page, got {mj}"
    for src in mj:
        assert not re.match(r"^(https?:)?//", src), f"MathJax comes from the network: {src}"
        target = (built_book.chapter_html.parent / src.split("?")[0]).resolve()
        assert target.is_file(), f"MathJax script {src} is missing at {target}"
    fonts = built_book.html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert sorted(fonts.glob("*.woff")), f"MathJax fonts missing under {fonts}"
    # the math itself reached the page in MathJax's delimiters
    text = built_book.chapter_html.read_text(encoding="utf-8")
    assert r"\mathrm{size}" in text


@pytest.mark.parametrize("page", ["index.html", "intro.html", "CHAPTER"])
def test_no_remote_scripts_or_styles(built_book, page):
    """Nothing the page loads (scripts, stylesheets, fonts) comes from the network."""
    path = built_book.chapter_html if page == "CHAPTER" else built_book.html / page
    refs = _refs(path)
    remote = [s for s in refs.scripts if re.match(r"^(https?:)?//", s)]
    loaded = ("stylesheet", "preload", "preconnect", "icon", "modulepreload")
    remote += [h for rel, h in refs.links
               if re.match(r"^(https?:)?//", h) and any(r in rel for r in loaded)]
    assert not remote, f"{page} loads from the network: {remote}"


def test_missing_executed_chapters_is_a_clear_error(tmp_path, monkeypatch):
    from tinyml_utils.tools import book

    monkeypatch.setenv("TINYML_BUILD", str(tmp_path))
    with pytest.raises(book.BookBuildError, match=r"tinyml_utils run --quick"):
        book.build_book(quick=True)


def _executed_copy(folder, name, **papermill):
    import json

    from conftest_book import _png_bytes, make_executed_notebook

    path = folder / name
    make_executed_notebook(path, _png_bytes())
    nb = json.loads(path.read_text())
    nb["metadata"]["papermill"].update(papermill)
    for k, v in papermill.items():
        if v is None:
            nb["metadata"]["papermill"].pop(k)
    path.write_text(json.dumps(nb))
    return path


def test_book_refuses_failed_interrupted_and_missing_chapters(tmp_path, monkeypatch):
    """An interrupted copy (no end_time), a failed one (exception) and a chapter never run are
    listed and refused; --partial publishes only the good one."""
    from tinyml_utils.core import paths
    from tinyml_utils.tools import book

    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    src = tmp_path / "notebooks"
    src.mkdir()
    for n in ("01_good", "02_interrupted", "03_failed", "04_never_run"):
        (src / f"{n}.ipynb").write_text("{}")
    monkeypatch.setattr(paths, "NOTEBOOKS", src)
    exe = paths.executed_dir(True)
    _executed_copy(exe, "01_good.ipynb")
    interrupted = _executed_copy(exe, "02_interrupted.ipynb", end_time=None)
    _executed_copy(exe, "03_failed.ipynb", exception=True)
    assert book.execution_problem(exe / "01_good.ipynb") is None
    assert "interrupted" in book.execution_problem(interrupted)
    with pytest.raises(book.BookBuildError) as err:
        book.executed_chapters(quick=True)
    msg = str(err.value)
    for n, why in (("02_interrupted", "interrupted"), ("03_failed", "raised"), ("04_never_run", "not executed")):
        assert n in msg and why in msg, msg
    assert "01_good" not in msg and "--partial" in msg
    assert [p.name for p in book.executed_chapters(quick=True, partial=True)] == ["01_good.ipynb"]


def test_mathjax_comes_from_the_environment():
    """MathJax 3 is found in the pinned environment (no npm, no network at book time)."""
    from tinyml_utils.tools import book

    es5 = book.ensure_mathjax()
    assert (es5 / "tex-chtml.js").is_file()
    with pytest.raises(book.BookBuildError, match="make setup"):
        book.ensure_mathjax(prefix=Path("/nonexistent"))


def test_quick_book_says_so(built_book):
    """A book built from quick-mode runs carries a banner on every page."""
    from tinyml_utils.tools.book import QUICK_BANNER

    page = built_book.chapter_html.read_text()
    assert QUICK_BANNER.split(":")[0] in page
