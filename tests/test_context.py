"""The run's context: one mode, one seed, folders per mode that never mix."""
from __future__ import annotations

import dataclasses

import pytest

from tinyml_utils.core import paths
from tinyml_utils.core.context import Context


@pytest.fixture(autouse=True)
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path))
    monkeypatch.delenv("TINYML_RESULTS", raising=False)
    monkeypatch.delenv(paths.PUBLISH_RESULTS, raising=False)
    return tmp_path


def test_folders_per_mode_never_mix(build):
    quick, full = Context(quick=True), Context(quick=False)
    assert (quick.mode, full.mode) == ("quick", "full")
    assert quick.store == build / "artifacts" / "quick" and full.store == build / "artifacts" / "full"
    assert quick.results == build / "results-quick" and full.results == build / "results-full"
    assert quick.executed == build / "executed" / "quick" and full.executed == build / "executed" / "full"
    assert quick.scratch("08_keywords") == build / "08_keywords" / "quick"
    assert full.scratch("08_keywords") == build / "08_keywords" / "full"
    assert all(p.is_dir() for p in (quick.store, full.results, quick.scratch("x")))


def test_the_context_is_frozen_and_compares_by_value():
    ctx = Context(quick=True, seed=0)
    assert ctx == Context(quick=True, seed=0) and ctx != Context(quick=True, seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.quick = False
