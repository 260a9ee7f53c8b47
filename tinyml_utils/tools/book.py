"""Build the course book (Jupyter Book 1.x) offline from the papermill-executed chapters.

The book is never built from ``notebooks/`` (clean sources, no outputs). ``build_book`` stages a
copy of ``book/`` into ``build/book-src/{quick|full}/``, adds the executed chapters from
``paths.executed_dir(quick)``, a generated ``_toc.yml`` and the results dashboard
(:mod:`.dashboard`), copies MathJax 3 (from the pip package ``django-static-mathjax``,
pinned in the environment) into ``_static/mathjax/`` so math renders without a CDN or npm, then
runs::

    jupyter-book build --all -W -n --keep-going <staged copy>

and returns ``<staged copy>/_build/html``.
"""
from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core import paths
from ..report import roadmap
from . import dashboard

#: Chapter notebooks are ``NN_slug.ipynb`` (two or three leading digits).
CHAPTER_RE = re.compile(r"^(\d{2,3})_[A-Za-z0-9][A-Za-z0-9_-]*\.ipynb$")
#: Files in ``notebooks/`` that a chapter's Markdown may reference and the book must carry.
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".csv", ".json"}
#: The parts of MathJax 3 (under ``es5/``) the book copies.
#: ``tex-chtml.js`` and its fonts are what every page needs; ``input/tex/extensions`` (TeX
#: packages MathJax autoloads, e.g. ``\require{physics}``), ``a11y`` (assistive MathML, loaded by
#: the menu on every page by default) and ``ui`` are loaded on demand and would otherwise 404.
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts", "input/tex/extensions", "a11y", "ui")
MATHJAX_VERSION = "3"
#: Output MIME types of ipywidgets (tqdm.auto bars). They render only with JavaScript from a CDN,
#: so the staged copies keep their text/plain fallback instead.
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
RUN_HINT = "python -m tinyml_utils run --quick"
QUICK_BANNER = ("Quick-mode book: every chapter ran on less data and fewer epochs, and checks stated weaker "
                "bounds. The full-mode numbers are in results/ (python -m tinyml_utils run; book).")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class BookBuildError(RuntimeError):
    """The book could not be built; the message says why and what to do."""


def _log(msg: str) -> None:
    print(f"[book] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# MathJax
# --------------------------------------------------------------------------------------------
MATHJAX_DIST = "django-static-mathjax"  # pip package (no dependencies) that ships MathJax 3's es5/ build


def ensure_mathjax(prefix: Path | None = None) -> Path:
    """Return the ``es5/`` folder of MathJax 3 from the pinned environment; never downloads.

    MathJax comes with the course environment: the pip package ``django-static-mathjax``
    (pinned in requirements/base.txt, installed by ``make setup``) ships MathJax's ``es5/``
    build under ``mathjax/static/mathjax``. ``prefix`` may name another folder holding a
    ``mathjax`` package (an npm ``node_modules`` prefix or a copy of that folder). Raises
    :class:`BookBuildError` with the fix if none is found.
    """
    cands: list[Path] = []
    if prefix is not None:
        cands += [Path(prefix), Path(prefix) / "node_modules" / "mathjax"]
    else:
        import importlib.util

        spec = importlib.util.find_spec("mathjax")
        if spec is not None and spec.origin:
            cands.append(Path(spec.origin).parent / "static" / "mathjax")
    for c in cands:
        es5 = _mathjax_es5(c)
        if es5 is not None:
            return es5
    raise BookBuildError(
        "MathJax 3 is not installed, and the book needs it to render math offline. It is part of "
        f"the course environment: run `make setup` (or `pip install -r requirements/base.txt`, which "
        f"pins {MATHJAX_DIST}). Looked in: " + (", ".join(map(str, cands)) or "no 'mathjax' package found"))


def _mathjax_es5(pkg: Path) -> Path | None:
    """``pkg/es5`` if ``pkg`` is a MathJax 3 package folder (its package.json says 3.x)."""
    try:
        version = json.loads((pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    es5 = pkg / "es5"
    if not version.startswith(MATHJAX_VERSION + ".") or not (es5 / "tex-chtml.js").is_file():
        return None
    return es5


def copy_mathjax(static_dir: Path, es5: Path | None = None) -> Path:
    """Copy MathJax's ``tex-chtml.js`` and the files it loads into ``static_dir/mathjax/``.

    The layout under ``mathjax/`` mirrors ``es5/``, because MathJax resolves its fonts
    (``output/chtml/fonts/woff-v2``) and extensions relative to the script's own URL.
    """
    es5 = es5 or ensure_mathjax()
    dest = static_dir / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    for part in MATHJAX_PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, dest / part)
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
        else:
            raise BookBuildError(f"MathJax file {src} is missing; reinstall {MATHJAX_DIST} (make setup)")
    return dest / "tex-chtml.js"


# --------------------------------------------------------------------------------------------
# Chapters and table of contents
# --------------------------------------------------------------------------------------------
def _chapter_key(name: str) -> tuple[int, str]:
    m = CHAPTER_RE.match(name)
    assert m is not None
    return int(m.group(1)), name


def chapter_files(folder: Path) -> list[Path]:
    """Chapter notebooks ``NN_slug.ipynb`` in ``folder``, in number order."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and CHAPTER_RE.match(p.name)]
    return sorted(found, key=lambda p: _chapter_key(p.name))


def execution_problem(path: Path) -> str | None:
    """Why an executed copy must not be published, or ``None`` if it is complete and clean.

    Papermill records each run in the notebook's metadata: ``exception`` is true when a cell
    raised, and ``end_time`` is missing when the run was interrupted (Ctrl-C, a killed kernel).
    A copy with no papermill metadata, an errored cell output or a cell that never ran is refused too.
    """
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"unreadable ({type(e).__name__})"
    pm = nb.get("metadata", {}).get("papermill")
    if not pm:
        return "not executed by papermill (no papermill metadata)"
    if pm.get("exception"):
        return "a cell raised an exception"
    if not pm.get("end_time"):
        return "the run was interrupted (no end time)"
    for i, c in enumerate(nb.get("cells", [])):
        if c.get("cell_type") != "code":
            continue
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            return f"cell {i} has an error output"
        status = c.get("metadata", {}).get("papermill", {}).get("status")
        if status in ("pending", "running"):
            return f"cell {i} never finished ({status})"
    return None


def executed_chapters(quick: bool = True, partial: bool = False) -> list[Path]:
    """Executed chapters in ``paths.executed_dir(quick)`` that ran to completion.

    Raises :class:`BookBuildError` listing every chapter that is missing, failed, was interrupted or
    whose notebook is gone (renamed), unless ``partial`` (those left out with a note; only "no
    chapter at all" raises)."""
    exe_dir = paths.executed_dir(quick)
    mode = "quick" if quick else "full"
    run = RUN_HINT if quick else "python -m tinyml_utils run"
    executed = {p.name: p for p in chapter_files(exe_dir)}
    problems = {n: f"its chapter notebooks/{n} no longer exists (deleted or renamed): delete {exe_dir / n}"
                for n in executed.keys() - {p.name for p in chapter_files(paths.NOTEBOOKS)}}
    executed = {n: p for n, p in executed.items() if n not in problems}   # an orphan is never published
    for src in chapter_files(paths.NOTEBOOKS):
        if src.name not in executed:
            failed = exe_dir / f"{src.stem}.failed.ipynb"
            problems[src.name] = ("its last run failed (see " + failed.name + ")") if failed.exists() \
                else "not executed"
    why_not = {name: execution_problem(p) for name, p in executed.items()}
    problems.update({name: why for name, why in why_not.items() if why is not None})
    good = [executed[name] for name, why in why_not.items() if why is None]
    if problems and not partial:
        listing = "\n".join(f"  - {n}: {why}" for n, why in sorted(problems.items()))
        raise BookBuildError(
            f"{len(problems)} chapter(s) in {exe_dir} ({mode} mode) cannot be published:\n{listing}\n"
            f"Run them again (`{run} NN`), or build a partial book with `--partial`.")
    for n, why in sorted(problems.items()):
        _log(f"note: left out of the book: {n} ({why})")
    if not good:
        raise BookBuildError(
            f"No executed chapters in {exe_dir} ({mode} mode) can be published. The book is built only "
            f"from papermill-executed copies; run `{run}` first (or `make course`).")
    return sorted(good, key=lambda p: _chapter_key(p.name))


def _load_toc_template(book_dir: Path) -> tuple[str, list[dict]]:
    """Root page and extra chapters of ``book/_toc.yml`` (the template)."""
    import yaml  # a dependency of jupyter-book

    tpl = book_dir / "_toc.yml"
    if not tpl.is_file():
        return "intro", []
    data = yaml.safe_load(tpl.read_text()) or {}
    root = str(data.get("root", "intro"))
    extra = list(data.get("chapters") or [])
    return root, extra


def write_toc(staged: Path, root: str, chapters: list[str], extra: list[dict]) -> Path:
    """Write ``staged/_toc.yml``: ``root``, then ``chapters`` (paths without suffix), then ``extra``."""
    import yaml

    entries = [{"file": c} for c in chapters] + [copy.deepcopy(e) for e in extra]
    toc = {"format": "jb-book", "root": root}
    if entries:
        toc["chapters"] = entries
    text = "# Generated by tinyml_utils.tools.book.build_book(); edit book/_toc.yml instead.\n"
    text += yaml.safe_dump(toc, sort_keys=False)
    path = staged / "_toc.yml"
    path.write_text(text)
    return path


def _html_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value or ""))


def _widget_text(model_id: str, state: dict) -> str | None:
    """Final state of a progress-bar widget (tqdm.auto's HBox) as one line of text, else None.

    The widget's own text/plain fallback is its repr at creation time (a tqdm bar at 0%); the
    notebook's saved widget state has the values it ended with.
    """
    model = state.get(model_id)
    if not model or model.get("model_name") != "HBoxModel":
        return None
    parts, has_bar = [], False
    for child in model.get("state", {}).get("children", []):
        cstate = state.get(str(child).removeprefix("IPY_MODEL_"), {})
        name, st = cstate.get("model_name", ""), cstate.get("state", {})
        if name in ("FloatProgressModel", "IntProgressModel"):
            lo, hi, val = st.get("min", 0) or 0, st.get("max", 0) or 0, st.get("value", 0) or 0
            frac = min(max((val - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.0
            filled = int(round(frac * 10))
            parts.append("|" + "█" * filled + " " * (10 - filled) + "|")
            has_bar = True
        elif name in ("HTMLModel", "LabelModel"):
            parts.append(_html_text(st.get("value", "")))
    return "".join(parts) if has_bar else None


def _clean_notebook(src: Path, dest: Path) -> list[str]:
    """Copy an executed notebook, replacing ipywidgets outputs with text.

    Widgets render only with JavaScript from a CDN. Progress bars (tqdm.auto) become their final
    line of text, from the saved widget state; other widgets keep their text/plain fallback.
    Returns notes (e.g. papermill recorded a failure) for the build log.
    """
    import nbformat

    nb = nbformat.read(src, as_version=4)
    notes = []
    if nb.metadata.get("papermill", {}).get("exception"):
        notes.append(f"{src.name}: papermill recorded an exception; the page shows the failing cell")
    widgets = nb.metadata.pop("widgets", None) or {}
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    # papermill's injected-parameters cell repeats the parameters cell: drop it from the page
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or WIDGET_MIME not in data:
                continue
            view = data.pop(WIDGET_MIME)
            model_id = view.get("model_id", "") if isinstance(view, dict) else ""
            text = _widget_text(model_id, state)
            if text is not None:
                data["text/plain"] = text
            elif not data:  # no fallback at all: say so rather than show an empty output
                data["text/plain"] = "[interactive widget: not shown in the static book]"
    nbformat.write(nb, dest)
    return notes


def stage_book(quick: bool = True, out: Path | None = None, partial: bool = False) -> Path:
    """Assemble the book's source folder (book/ + executed chapters + toc + MathJax); return it."""
    chapters = executed_chapters(quick, partial=partial)
    staged = Path(out) if out is not None else paths.build_dir() / "book-src" / ("quick" if quick else "full")
    staged = staged.resolve()
    if staged == paths.BOOK.resolve():
        raise BookBuildError("build_book(out=...) must not be the book/ source folder")
    if staged.exists():
        if any(staged.iterdir()) and not (staged / "_config.yml").is_file():
            raise BookBuildError(
                f"{staged} exists and is not a staged book (no _config.yml); refusing to replace it"
            )
        shutil.rmtree(staged)
    shutil.copytree(
        paths.BOOK, staged,
        ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__", "notebooks"),
    )
    nb_dir = staged / "notebooks"
    nb_dir.mkdir()
    # Images and small files that chapters' Markdown may reference by relative path.
    if paths.NOTEBOOKS.is_dir():
        for asset in paths.NOTEBOOKS.rglob("*"):
            rel = asset.relative_to(paths.NOTEBOOKS)
            if (asset.is_file() and asset.suffix.lower() in ASSET_SUFFIXES
                    and not any(part.startswith((".", "_")) for part in rel.parts)):
                (nb_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(asset, nb_dir / rel)
    notes = []
    for nb in chapters:
        notes += _clean_notebook(nb, nb_dir / nb.name)
    for n in notes:
        _log("note: " + n)

    if quick:
        cfg = staged / "_config.yml"
        cfg.write_text(cfg.read_text().replace(
            'announcement: ""', f'announcement: "{QUICK_BANNER}"'))
    root, extra = _load_toc_template(paths.BOOK)
    write_toc(staged, root, [f"notebooks/{p.stem}" for p in chapters], extra)
    dashboard.write_page(staged, quick)  # book/_toc.yml lists the page
    roadmap.figure(path=staged / "roadmap.png")   # intro.md shows it: read from the chapters themselves
    copy_mathjax(staged / "_static")
    return staged


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------
def jupyter_book_exe() -> str:
    """The ``jupyter-book`` executable of this environment (next to ``sys.executable``)."""
    # Do not resolve symlinks: a venv's bin/python is a link to the base interpreter.
    here = Path(sys.executable).parent / "jupyter-book"
    if here.is_file():
        return str(here)
    found = shutil.which("jupyter-book")
    if found:
        return found
    raise BookBuildError(
        f"jupyter-book is not installed next to {sys.executable}; install the course environment "
        "(requirements/base.txt pins jupyter-book==1.0.4.post1)."
    )


def build_book(quick: bool = True, out: Path | None = None, strict: bool = True, partial: bool = False) -> Path:
    """Build the HTML book from the executed chapters; return the ``html`` folder.

    Args:
        quick: use ``build/executed/quick`` (True) or ``build/executed/full`` (False).
        out: the staged source folder (default ``build/book-src/{quick|full}``); it is replaced.
            The HTML lands in ``out/_build/html``.
        strict: pass ``-W`` (warnings are errors). ``-n --keep-going`` are always passed, so a
            strict build reports every warning before failing.
        partial: publish the chapters that ran to completion even if others failed, were
            interrupted or never ran (default: refuse, listing them).

    Raises:
        BookBuildError: no executed chapters, MathJax unavailable, or jupyter-book failed (the
            message carries the tail of the build log, saved in full at ``out/_build/build.log``).
    """
    t0 = time.perf_counter()
    staged = stage_book(quick, out, partial=partial)
    cmd = [jupyter_book_exe(), "build", "--all"]
    if strict:
        cmd.append("-W")
    cmd += ["-n", "--keep-going", str(staged)]
    _log("running " + " ".join(cmd))
    env = {**os.environ, "NO_COLOR": "1"}  # plain log text (Sphinx colours otherwise)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=staged, env=env)
    log = _ANSI.sub("", proc.stdout + ("\n" + proc.stderr if proc.stderr else ""))
    log_path = staged / "_build" / "build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log)
    html = staged / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").is_file():
        warnings = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
        tail = "\n".join(log.rstrip().splitlines()[-60:])
        summary = ("\nWarnings/errors:\n" + "\n".join(warnings[:40])) if warnings else ""
        raise BookBuildError(
            f"jupyter-book failed (exit {proc.returncode}) on {staged}. Full log: {log_path}"
            f"{summary}\nLog tail:\n{tail}"
        )
    _log(f"built {html / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return html
