"""One run of the course: its mode, its seed and the folders that follow from them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import paths


@dataclass(frozen=True)
class Context:
    """What every builder needs to know about the run; quick and full runs never share a folder."""

    quick: bool = False
    seed: int = 0

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def store(self) -> Path:
        """The artifact store's folder: keyed files only (``build/artifacts/<mode>``)."""
        return paths.artifacts_dir(self.quick)

    @property
    def results(self) -> Path:
        return paths.results_dir(self.quick)

    @property
    def executed(self) -> Path:
        return paths.executed_dir(self.quick)

    def scratch(self, name: str) -> Path:
        """A folder for files nothing reuses, without a key: ``build/<name>/<mode>``."""
        p = paths.build_dir() / name / self.mode
        p.mkdir(parents=True, exist_ok=True)
        return p
