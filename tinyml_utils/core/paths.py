"""Where things live. Every folder here except ``results/`` (full-mode results) is git-ignored.

Environment overrides (handy for tests and CI): ``TINYML_BUILD`` (build folder),
``TINYML_DATA_CACHE`` (generated/downloaded data), ``TINYML_RESULTS`` (results folder).
"""
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


def results_dir(quick: bool) -> Path:
    """Full-mode results go to ``results/`` (kept in git); quick-mode results to ``build/results-quick/``."""
    if "TINYML_RESULTS" in os.environ:
        p = _env_path("TINYML_RESULTS", REPO / "results")
    else:
        p = build_dir() / "results-quick" if quick else REPO / "results"
    p.mkdir(parents=True, exist_ok=True)
    return p


def executed_dir(quick: bool) -> Path:
    """Papermill-executed copies of the chapters (build products, never the source notebooks)."""
    p = build_dir() / "executed" / ("quick" if quick else "full")
    p.mkdir(parents=True, exist_ok=True)
    return p
