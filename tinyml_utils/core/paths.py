"""Where things live; every folder but ``results/`` is git-ignored. Overrides: ``TINYML_BUILD``,
``TINYML_DATA_CACHE``, ``TINYML_RESULTS``. A run's folders are :class:`.context.Context`'s."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
BOOK = REPO / "book"
DATA = REPO / "data"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def build_dir() -> Path:
    """Root of every build product (executed notebooks, artifacts, the book): ``build/``."""
    return _env_path("TINYML_BUILD", REPO / "build")


def data_cache() -> Path:
    """Generated or downloaded datasets (keyword audio, full public sets): ``data/cache/``."""
    return _env_path("TINYML_DATA_CACHE", DATA / "cache")


def artifacts_dir(quick: bool) -> Path:
    """Checkpoints and exported models shared between chapters; quick and full runs never mix."""
    p = build_dir() / "artifacts" / ("quick" if quick else "full")
    p.mkdir(parents=True, exist_ok=True)
    return p


#: Set to ``1`` by the explicit full-mode commands (``python -m tinyml_utils run`` without ``--quick``,
#: ``reproduce``): only then does a full-mode run write the committed ``results/``.
PUBLISH_RESULTS = "TINYML_PUBLISH_RESULTS"


def committed_results_dir() -> Path:
    """The committed full-mode results (``results/``, in git): what later chapters quote."""
    return REPO / "results"


def results_dir(quick: bool) -> Path:
    """Where this run writes its results: ``build/results-quick/``; in full mode ``results/`` (in git)
    only under :data:`PUBLISH_RESULTS`, else ``build/results-full/``; ``TINYML_RESULTS`` overrides."""
    if "TINYML_RESULTS" in os.environ:
        p = _env_path("TINYML_RESULTS", REPO / "results")
    elif quick:
        p = build_dir() / "results-quick"
    elif os.environ.get(PUBLISH_RESULTS) == "1":
        p = committed_results_dir()
    else:
        p = build_dir() / "results-full"
    p.mkdir(parents=True, exist_ok=True)
    return p


def executed_dir(quick: bool) -> Path:
    """Papermill-executed copies of the chapters."""
    p = build_dir() / "executed" / ("quick" if quick else "full")
    p.mkdir(parents=True, exist_ok=True)
    return p
