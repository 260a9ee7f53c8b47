"""The shapes every dataset loader returns: splits, a data card, and actionable errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.io import sha256_file


class DataError(RuntimeError):
    """A dataset file is missing or corrupt. The message names the file and the fix."""


@dataclass
class Split:
    """Inputs ``x`` (float32) and integer labels ``y`` (int64) of one split."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, n: int, seed: int = 0) -> "Split":
        """A class-stratified random subset of ``min(n, len(self))`` examples (:func:`stratified_indices`)."""
        if n >= len(self):
            return self
        idx = stratified_indices(self.y, n, seed)
        return Split(self.x[idx], self.y[idx])


@dataclass
class DataCard:
    """What a learner should know before trusting a dataset; ``data/*.md`` is generated from these."""

    name: str
    source: str                 # where the data comes from (package, generator, file)
    real_or_synthetic: str      # an honest statement of what is real and what is synthetic
    input_description: str      # shape and units of one example
    license: str
    caveats: list[str] = field(default_factory=list)
    splits: str = ""            # how train/validation/test are cut, and what quick mode changes
    checksums: str = ""         # what is verified, against which recorded digests

    def to_markdown(self) -> str:
        """The short card a chapter prints."""
        lines = [f"**{self.name}**", "", f"- Source: {self.source}",
                 f"- Real or synthetic: {self.real_or_synthetic}",
                 f"- One example: {self.input_description}", f"- License: {self.license}"]
        lines += [f"- Caveat: {c}" for c in self.caveats]
        return "\n".join(lines)

    def page(self, level: int = 1) -> str:
        """The full card as a Markdown section (``data/<name>.md``), wrapped at 100 columns."""
        import textwrap

        items = [("Source", self.source), ("License", self.license), ("Real or synthetic", self.real_or_synthetic),
                 ("Input", self.input_description), ("Splits", self.splits), ("Checksums", self.checksums)]
        lines = [f"{'#' * level} {self.name}", ""]
        caveats = "; ".join(c.rstrip(".") for c in self.caveats) + "." if self.caveats else ""
        for label, text in items + [("Caveats", caveats)]:
            if text:
                lines += textwrap.wrap(f"- **{label}**: {text}", 100, subsequent_indent="  ",
                                       break_on_hyphens=False, break_long_words=False)
        return "\n".join(lines) + "\n"


@dataclass
class Dataset:
    """Train/val/test splits plus class names and a data card. ``meta`` holds extras (e.g. sample rate)."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: list[str]
    card: DataCard
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self):
        """Examples per class and split, as a pandas DataFrame."""
        import pandas as pd

        data = {s: np.bincount(getattr(self, s).y, minlength=self.num_classes)
                for s in ("train", "val", "test")}
        return pd.DataFrame(data, index=self.classes)


def check_finite(x: np.ndarray, who: str, fix: str) -> None:
    """A ``ValueError`` naming how many values of ``x`` are NaN/Inf and the first one's index."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{who}: {int(bad.sum())} NaN/Inf value(s) (first at index {first}): {fix}")


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Exactly ``min(n, len(y))`` sorted indices spread as evenly over the classes as their sizes allow: k classes
    give ``n // k`` each, the ``n % k`` left over come from random classes, a class too small is made up by others."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    class_order = rng.permutation(len(perms))
    rank = np.concatenate([np.arange(len(p)) for p in perms])
    tie = np.concatenate([np.full(len(p), class_order[i]) for i, p in enumerate(perms)])
    take = np.lexsort((tie, rank))[:min(int(n), len(y))]
    return np.sort(np.concatenate(perms)[take])


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices into parts with the given fractions, stratified by label, deterministic."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        bounds = np.round(np.cumsum((0,) + tuple(fractions)) * len(idx)).astype(int)
        for i in range(len(fractions)):
            parts[i].append(idx[bounds[i]:bounds[i + 1]])
    return [np.sort(np.concatenate(p)) for p in parts]


def verify_checksum(path: Path, expected_sha256: str, fix: str) -> None:
    """A :class:`DataError` naming the file and ``fix`` if it is missing or its SHA-256 differs."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Missing dataset file: {path}. {fix}")
    got = sha256_file(path)
    if got != expected_sha256:
        raise DataError(f"Corrupt dataset file: {path} has SHA-256 {got[:12]}…, expected "
                        f"{expected_sha256[:12]}…. {fix}")
