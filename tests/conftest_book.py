"""Shared fixture for the book tests: one small book built from a fake executed chapter.

Wire it into ``tests/conftest.py`` with ``from conftest_book import built_book  # noqa: F401``
(or ``pytest_plugins = ["conftest_book"]``). The fixture is session-scoped, so
``test_book.py`` and ``test_browser.py`` share one build.
"""
from __future__ import annotations

import base64
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CHAPTER = "00_fake_chapter"
TITLE = "Fake chapter: measuring a tiny model"
PRINTED = "accuracy 0.931 on 200 samples"


@dataclass
class BuiltBook:
    html: Path            #: the html folder (index.html lives here)
    chapter_html: Path    #: the fake chapter's page
    chapter_rel: str      #: its path relative to ``html`` (for URLs)
    title: str
    printed: str          #: text the code cell printed
    png: bytes            #: the PNG the code cell displayed
    build_seconds: float


def _png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=80)
    ax.plot([0, 1, 2, 3], [0.5, 0.8, 0.9, 0.93], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def make_executed_notebook(path: Path, png: bytes) -> None:
    """Write a notebook shaped like a papermill-executed chapter (outputs, kernel metadata)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    nb = new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.language_info = {
        "name": "python", "version": "3.11", "mimetype": "text/x-python",
        "file_extension": ".py", "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3}, "nbconvert_exporter": "python",
    }
    nb.metadata.papermill = {"exception": None, "parameters": {"QUICK": True},
                             "start_time": "2026-01-01T00:00:00", "end_time": "2026-01-01T00:00:05"}
    params = new_code_cell("QUICK = False\nSEED = 0", execution_count=1)
    params.metadata.tags = ["parameters"]
    plot = new_code_cell(
        "import matplotlib.pyplot as plt\n"
        f"print('{PRINTED}')\n"
        "plt.plot([0, 1, 2, 3], [0.5, 0.8, 0.9, 0.93]);",
        execution_count=2,
    )
    plot.outputs = [
        new_output("stream", name="stdout", text=PRINTED + "\n"),
        new_output(
            "display_data",
            data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure size 240x160>"},
        ),
    ]
    nb.cells = [
        new_markdown_cell(
            f"# {TITLE}\n\n"
            "**Prerequisites:** none.\n\n"
            "A model with $n$ int8 weights needs about\n\n"
            "$$\n\\mathrm{size} = n + 4 \\cdot c \\quad \\text{bytes}\n$$\n\n"
            "where $c$ is the number of per-channel scales."
        ),
        params,
        new_markdown_cell("## Training curve\n\nThe plot below shows accuracy per epoch."),
        plot,
        new_markdown_cell("## Summary\n\n- The fake model reached 93% accuracy."),
    ]
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """Build the book once from a fake executed chapter in a temporary TINYML_BUILD folder."""
    from tinyml_utils.core import paths
    from tinyml_utils.tools import book

    build = tmp_path_factory.mktemp("tinyml_build")
    png = _png_bytes()
    old = os.environ.get("TINYML_BUILD")
    os.environ["TINYML_BUILD"] = str(build)  # only for the duration of the build
    # the book publishes only executed copies of chapters that exist: the fake chapter gets a source
    # folder of its own (never a file in the repository's notebooks/)
    sources, real_notebooks = build / "notebooks-src", paths.NOTEBOOKS
    make_executed_notebook(sources / f"{CHAPTER}.ipynb", png)
    paths.NOTEBOOKS = sources
    try:
        make_executed_notebook(paths.executed_dir(True) / f"{CHAPTER}.ipynb", png)
        t0 = time.perf_counter()
        # partial: the real chapters of notebooks/ are not executed in this folder, only the fake one
        html = book.build_book(quick=True, out=build / "book-src" / "quick", strict=True, partial=True)
        seconds = time.perf_counter() - t0
    finally:
        paths.NOTEBOOKS = real_notebooks
        if old is None:
            os.environ.pop("TINYML_BUILD", None)
        else:
            os.environ["TINYML_BUILD"] = old
    print(f"\n[book] test book built in {seconds:.1f} s")
    rel = f"notebooks/{CHAPTER}.html"
    return BuiltBook(html=html, chapter_html=html / rel, chapter_rel=rel, title=TITLE,
                     printed=PRINTED, png=png, build_seconds=seconds)
