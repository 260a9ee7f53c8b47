"""Every chapter executes in quick mode with papermill, in order, into a fresh build folder; then
the Jupyter Book builds from those executed chapters and every chapter page carries its figures.

A failing chapter fails its own test with the notebook, the cell and the error
(:class:`tinyml_utils.tools.cli.ChapterFailed`). Full mode is opt-in: ``pytest --runslow -k full``.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from test_browser import chromium  # noqa: F401  (fixture: finds or installs Debian chromium)

from tinyml_utils.tools import cli

CHAPTERS = cli.chapters()
TIMES: dict[str, float] = {}


@contextlib.contextmanager
def _serve(html: Path):
    """``python -m http.server`` over the built book's html folder on 127.0.0.1; yields the base URL."""
    import subprocess
    import sys
    import urllib.request

    from test_browser import _free_port

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(html)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "index.html", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    """A build folder of its own: chapters must rebuild every artifact they need."""
    build = tmp_path_factory.mktemp("course-build")
    old = os.environ.get("TINYML_BUILD")
    os.environ["TINYML_BUILD"] = str(build)  # papermill kernels inherit the environment
    yield build
    if old is None:
        os.environ.pop("TINYML_BUILD", None)
    else:
        os.environ["TINYML_BUILD"] = old


def test_chapters_exist():
    assert [p.stem[:2] for p in CHAPTERS][:3] == ["00", "01", "02"], [p.stem for p in CHAPTERS]


def test_notebooks_are_clean():
    """Sources in git carry no outputs and have a papermill parameters cell with QUICK."""
    import nbformat

    for p in CHAPTERS:
        nb = nbformat.read(p, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.outputs or c.execution_count for c in code), f"{p.name} has outputs: clear them"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert tagged and "QUICK" in tagged[0].source, f"{p.name}: no 'parameters' cell defining QUICK"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
            f"{p.name} must open with a '# Title' markdown cell"


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_quick(nb: Path, fresh_build):
    from tinyml_utils.core import paths
    from tinyml_utils.core.context import Context
    from tinyml_utils.report import results

    try:
        run = cli.execute(nb, quick=True)
    except cli.ChapterFailed as e:
        pytest.fail(str(e), pytrace=False)
    TIMES[nb.stem] = run.seconds
    doc = results.load(nb.stem, Context(quick=True))
    assert doc["quick"] is True and doc["claims"], f"{nb.stem} wrote no claims"
    assert all(c["passed"] for c in doc["claims"])
    assert str(paths.build_dir()) == str(fresh_build)


@pytest.mark.book
def test_book_from_executed_chapters(fresh_build):
    """Runs after the chapter tests (file order): the real book, one page per executed chapter."""
    from tinyml_utils.core import paths
    from tinyml_utils.tools.book import build_book

    executed = sorted(paths.executed_dir(True).glob("*.ipynb"))
    if len(executed) != len(CHAPTERS):
        pytest.skip("not every chapter executed in this session (see the chapter tests)")
    t0 = time.perf_counter()
    html = build_book(quick=True)
    print(f"book built in {time.perf_counter() - t0:.1f} s; chapter times: {TIMES}")
    for nb in CHAPTERS:
        page = html / "notebooks" / f"{nb.stem}.html"
        assert page.exists(), f"no page for {nb.stem} in {html}"
        text = page.read_text()
        imgs = re.findall(r'<img[^>]+src="([^"]+)"', text)
        assert imgs, f"{nb.stem}: the page shows no figure"
        for src in imgs:
            if not src.startswith("data:"):
                assert (page.parent / src).resolve().exists(), f"{nb.stem}: image {src} missing"


def test_no_native_log_lines_in_cell_outputs(fresh_build):
    """Runs after the chapter tests: no executed chapter's cell output holds a native library's log
    line (the kernel's filter, :data:`tinyml_utils.tools.kernel.NOISE`, sends them to build/logs)."""
    import nbformat

    from tinyml_utils.core import paths
    from tinyml_utils.tools.kernel import NOISE

    executed = sorted(paths.executed_dir(True).glob("[0-9][0-9]_*.ipynb"))
    executed = [p for p in executed if not p.name.endswith((".failed.ipynb", ".partial.ipynb"))]
    if len(executed) != len(CHAPTERS):
        pytest.skip("not every chapter executed in this session (see the chapter tests)")
    noisy = {}
    for path in executed:
        nb = nbformat.read(path, 4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                lines = [ln for ln in text.splitlines() if NOISE.search(ln)]
                if lines:
                    noisy.setdefault(path.stem, []).append((i, lines[0][:120]))
    assert not noisy, f"native log lines in cell outputs (chapter: [(cell, first line)]): {noisy}"


def test_no_absolute_path_in_cell_outputs(fresh_build):
    """Runs after the chapter tests: no executed chapter prints an absolute path of this machine (the
    checkout, the build folder or the virtual environment); chapters print paths relative to the repository."""
    import sys

    import nbformat

    from tinyml_utils.core import paths

    executed = sorted(paths.executed_dir(True).glob("[0-9][0-9]_*.ipynb"))
    executed = [p for p in executed if not p.name.endswith((".failed.ipynb", ".partial.ipynb"))]
    if len(executed) != len(CHAPTERS):
        pytest.skip("not every chapter executed in this session (see the chapter tests)")
    places = {str(paths.REPO), str(fresh_build), sys.prefix}
    found = {}
    for path in executed:
        for i, cell in enumerate(nbformat.read(path, 4).cells):
            for out in cell.get("outputs", []):
                text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
                text = text.replace("../", "")   # a relative path that climbs out of the checkout is fine
                hit = next((place for place in places if place in text), None)
                if hit:
                    line = next(ln for ln in text.splitlines() if hit in ln)
                    found.setdefault(path.stem, []).append((i, line[:120]))
    assert not found, f"absolute paths in cell outputs (chapter: [(cell, line)]): {found}"


@pytest.mark.browser
def test_real_chapter_renders_in_browser(fresh_build, chromium, tmp_path):
    """Headless Chromium opens the real chapter 02 page from a local server: title and figures load."""
    import urllib.request

    from test_browser import PNG_MAGIC, _chromium, _Dom

    from tinyml_utils.core import paths

    html = paths.build_dir() / "book-src" / "quick" / "_build" / "html"
    page = html / "notebooks" / "02_baseline.html"
    if not page.exists():
        pytest.skip("the quick-mode book was not built in this session (see test_book_from_executed_chapters)")
    with _serve(html) as base:
        url = base + "notebooks/02_baseline.html"
        dump = _chromium(chromium, tmp_path / "profile", "--virtual-time-budget=8000", "--dump-dom", url)
        assert dump.returncode == 0 and "<html" in dump.stdout, dump.stderr[-2000:]
        dom = _Dom()
        dom.feed(dump.stdout)
        assert any("The baseline" in h for h in dom.h1), f"h1s: {dom.h1}"
        figures = [s for s in dom.imgs if "_images/" in s]
        assert len(figures) >= 3, f"chapter 02 should show its figures; <img> srcs: {dom.imgs}"
        for src in figures:
            with urllib.request.urlopen(base + "notebooks/" + src, timeout=10) as r:
                assert r.status == 200 and r.read().startswith(PNG_MAGIC), src


#: Injected into a copy of each page: after layout, record every code/output block wider than its box.
_OVERFLOW_PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const pres = [...document.querySelectorAll('div.cell pre, div.cell_output pre, div.output pre')];
  const wide = pres.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 80));
  const page = document.documentElement.scrollWidth > window.innerWidth + 1;
  document.body.setAttribute('data-overflow', JSON.stringify({blocks: pres.length, wide: wide, page: page}));
}, 300));
</script></body>"""


@pytest.mark.browser
def test_no_page_scrolls_sideways(fresh_build, chromium, tmp_path):
    """Every real chapter page, laid out by Chromium at a laptop's window width: no code cell or
    output block is wider than its box, and the page itself does not scroll sideways."""
    import html as html_lib
    import json

    from test_browser import _chromium

    from tinyml_utils.core import paths

    html = paths.build_dir() / "book-src" / "quick" / "_build" / "html"
    pages = [html / "notebooks" / f"{nb.stem}.html" for nb in CHAPTERS]
    if not all(p.exists() for p in pages):
        pytest.skip("the quick-mode book was not built in this session (see test_book_from_executed_chapters)")
    probes = []
    for page in pages:
        probe = page.with_name(f"_overflow_{page.name}")
        probe.write_text(page.read_text().replace("</body>", _OVERFLOW_PROBE, 1))
        probes.append(probe)
    problems = {}
    with _serve(html) as base:
        for probe in probes:
            dump = _chromium(chromium, tmp_path / "profile", "--virtual-time-budget=4000", "--window-size=1280,900",
                             "--dump-dom", base + "notebooks/" + probe.name)
            found = re.search(r"data-overflow=\"([^\"]*)\"", dump.stdout)
            assert found, f"{probe.name}: the probe did not run (exit {dump.returncode}): {dump.stderr[-1000:]}"
            info = json.loads(html_lib.unescape(found.group(1)))
            assert info["blocks"] > 0, f"{probe.name}: no code blocks found (selectors out of date?)"
            if info["wide"] or info["page"]:
                problems[probe.name.removeprefix("_overflow_")] = info
    assert not problems, f"pages that scroll sideways: {problems}"


@pytest.mark.slow
@pytest.mark.parametrize("nb", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_full(nb: Path):
    """Full mode (minutes per chapter): writes results/ — opt in with --runslow."""
    try:
        cli.execute(nb, quick=False)
    except cli.ChapterFailed as e:
        pytest.fail(str(e), pytrace=False)
