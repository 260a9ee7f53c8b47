"""Every training/compression recipe of the course, typed, with its quick and full values.

>>> recipes.VISION(quick)            # Train(epochs=8, lr=0.01, batch_size=32, patience=None)
>>> training.fit(model, ..., **recipes.VISION(quick).kwargs())

Quick mode (CI, a first pass) uses the 1,000-digit subset and fewer epochs; its numbers are
weaker and its claims say so. Changing a recipe changes the content key of every artifact built
with it (:mod:`tinyml_utils.course.artifacts`), so those are rebuilt.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Recipe:
    """Base: ``kwargs()`` gives the fields that are set, for ``**`` into a training function."""

    def kwargs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Train(Recipe):
    """A training run: epochs, learning rate (AdamW + cosine decay), batch size, early stopping."""

    epochs: int
    lr: float
    batch_size: int
    patience: int | None = None


@dataclass(frozen=True)
class IterativePrune(Recipe):
    """Iterative magnitude pruning: a schedule of total sparsities with fine-tune epochs each."""

    schedule: tuple[float, ...]
    epochs_per_step: tuple[int, ...]
    lr: float
    batch_size: int
    scope: str = "global"

    def upto(self, sparsity: float | None) -> IterativePrune:
        """The same recipe cut after the last target <= ``sparsity`` (``None``: unchanged)."""
        keep = [i for i, s in enumerate(self.schedule) if sparsity is None or s <= sparsity + 1e-9]
        return replace(self, schedule=tuple(self.schedule[i] for i in keep),
                       epochs_per_step=tuple(self.epochs_per_step[i] for i in keep))


@dataclass(frozen=True)
class ChannelPrune(Recipe):
    """Structured pruning to a MAC budget, then a fine-tune."""

    target_macs_ratio: float
    epochs: int
    lr: float
    batch_size: int


@dataclass(frozen=True)
class Pipeline(Recipe):
    """Chapter 05's closing pipeline: channel-pruning ratios and the distilled fine-tune."""

    prune_ratios: tuple[float, ...]
    finetune_epochs: int
    finetune_lr: float
    batch_size: int


@dataclass(frozen=True)
class Modes(Generic[R]):
    """A recipe's full and quick values; call with ``quick`` to pick one."""

    full: R
    quick: R

    def __call__(self, quick: bool) -> R:
        return self.quick if quick else self.full


#: The vision family (chapter 02; also the teacher). Quick: a few epochs on the 1,000-digit subset.
VISION = Modes(full=Train(epochs=40, lr=1e-2, batch_size=64), quick=Train(epochs=8, lr=1e-2, batch_size=32))

#: Chapter 03, iterative: climb gradually, most epochs at 80 % (the artifact), then on to 95 %.
UNSTRUCTURED = Modes(
    full=IterativePrune(schedule=(0.5, 0.7, 0.8, 0.9, 0.95), epochs_per_step=(2, 3, 12, 6, 6), lr=5e-3,
                        batch_size=64),
    quick=IterativePrune(schedule=(0.5, 0.8, 0.95), epochs_per_step=(1, 1, 1), lr=5e-3, batch_size=32))
#: The sparsity of chapter 03's saved unstructured artifact.
UNSTRUCTURED_ARTIFACT_SPARSITY = 0.8

#: Chapter 03, structured: half the MACs, then a short fine-tune.
STRUCTURED = Modes(full=ChannelPrune(target_macs_ratio=0.5, epochs=8, lr=5e-3, batch_size=64),
                   quick=ChannelPrune(target_macs_ratio=0.5, epochs=2, lr=5e-3, batch_size=32))

#: Chapter 04, PT2E QAT (and tfmot QAT): a few epochs at a small rate from the trained float model.
QAT = Modes(full=Train(epochs=3, lr=5e-4, batch_size=64), quick=Train(epochs=2, lr=5e-4, batch_size=32))
#: Calibration images of the saved PTQ artifacts.
CALIB_N = 512

#: Chapter 05, the width-8 student (distilled or from scratch: the same recipe).
STUDENT = Modes(full=Train(epochs=30, lr=1e-2, batch_size=64), quick=Train(epochs=10, lr=5e-3, batch_size=32))
#: The (T, alpha) a rebuilt distilled student uses (chapter 05 records its own choice).
TEMPERATURE, ALPHA = 4.0, 0.9

#: Chapter 05, the closing pipeline.
PIPELINE = Modes(full=Pipeline(prune_ratios=(0.0, 0.125, 0.25), finetune_epochs=20, finetune_lr=1e-2, batch_size=64),
                 quick=Pipeline(prune_ratios=(0.0, 0.25), finetune_epochs=3, finetune_lr=5e-3, batch_size=32))
