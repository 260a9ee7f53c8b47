"""The offline datasets behind one API, ``load(name, quick=..., seed=...)``: vision, motion, keywords."""
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
    """Dataset ``name`` of :data:`DATASETS`; ``quick`` is a smaller version, ``seed`` fixes every random choice."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Valid names: {', '.join(sorted(DATASETS))}")
    return import_module(DATASETS[name]).load(quick=quick, seed=seed, **kwargs)
