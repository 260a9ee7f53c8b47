"""Shared pytest setup: the --runslow switch, a quiet CI mode, and the book fixture."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TINYML_QUIET", "1")

from conftest_book import built_book  # noqa: E402,F401  (session fixture for test_book/test_browser)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run slow tests (full-mode chapters, full dataset generation)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: opt in with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
