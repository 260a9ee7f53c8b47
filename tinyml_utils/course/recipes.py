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
    skip: tuple[str, ...] = ()       # layers kept dense (targets stay fractions of all weights)
    augment: bool = False            # fine-tune with the baseline's shift/rotate augmentation

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

#: Chapter 03, gradual: Zhu & Gupta's polynomial schedule s_k = s_f + (s_i - s_f)(1 - k/n)^3 with
#: s_i = 10 %, s_f = 90 %, n = 10 (= prune.polynomial_schedule(0.1, 0.9, 10); k = n/2 hits 80 % exactly):
#: prune every 2 epochs, then 30 epochs at 90 %; the 144-weight first conv stays dense; augmented fine-tunes.
_GRADUAL = (0.1, 0.3168, 0.4904, 0.6256, 0.7272, 0.8, 0.8488, 0.8784, 0.8936, 0.8992, 0.9)
UNSTRUCTURED = Modes(
    full=IterativePrune(schedule=_GRADUAL, epochs_per_step=(2,) * 10 + (30,), lr=1e-2, batch_size=64,
                        skip=("features.0",), augment=True),
    quick=IterativePrune(schedule=_GRADUAL, epochs_per_step=(2,) * 10 + (30,), lr=1e-2, batch_size=32,
                         skip=("features.0",), augment=True))
#: The sparsity of chapter 03's saved unstructured artifact (a step of the gradual path).
UNSTRUCTURED_ARTIFACT_SPARSITY = 0.8

#: Chapter 03, structured: half the MACs, then a short fine-tune.
STRUCTURED = Modes(full=ChannelPrune(target_macs_ratio=0.5, epochs=8, lr=5e-3, batch_size=64),
                   quick=ChannelPrune(target_macs_ratio=0.5, epochs=2, lr=5e-3, batch_size=32))

#: Chapter 04, PT2E QAT (and tfmot QAT): a few epochs at a small rate from the trained float model.
QAT = Modes(full=Train(epochs=3, lr=5e-4, batch_size=64), quick=Train(epochs=2, lr=5e-4, batch_size=32))
#: Calibration images of the saved PTQ artifacts.
CALIB_N = 512

#: Chapter 05, the width-8 student with every label (distilled or from scratch: the same recipe).
STUDENT = Modes(full=Train(epochs=30, lr=1e-2, batch_size=64), quick=Train(epochs=10, lr=1e-2, batch_size=32))
#: The (T, alpha) a rebuilt distilled student uses (chapter 05 records its own choice).
TEMPERATURE, ALPHA = 4.0, 0.9


@dataclass(frozen=True)
class FewLabels(Recipe):
    """Chapter 05's few-label setting: ``n_labelled`` labelled digits (the rest of the training
    images unlabelled, for the teacher's soft targets), ``n_seeds`` paired seeds, one training recipe
    for both arms (the scratch arm's few labels repeated to the same steps per epoch)."""

    n_labelled: int
    n_seeds: int
    epochs: int
    lr: float
    batch_size: int

    def train_kwargs(self) -> dict:
        return {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size}


#: Chapter 05: 5 labelled digits a class. Full: 3,500 training images; quick: 1,000 (more epochs).
FEW_LABELS = Modes(full=FewLabels(n_labelled=50, n_seeds=5, epochs=6, lr=1e-2, batch_size=32),
                   quick=FewLabels(n_labelled=50, n_seeds=5, epochs=10, lr=1e-2, batch_size=32))

#: Chapter 05, the closing pipeline.
PIPELINE = Modes(full=Pipeline(prune_ratios=(0.0, 0.125, 0.25), finetune_epochs=20, finetune_lr=1e-2, batch_size=64),
                 quick=Pipeline(prune_ratios=(0.0, 0.25), finetune_epochs=3, finetune_lr=5e-3, batch_size=32))


@dataclass(frozen=True)
class Keywords(Recipe):
    """Chapter 08: everything keyword spotting trains, for one mode. Epochs, learning rates, seconds."""

    per_class: int | None        # training clips per class (None: the keyword set's quick size)
    epochs: int                  # DS-CNN from scratch
    lr: float
    batch_size: int
    teacher_width: int           # DS-CNN teacher channels (the student has 64)
    teacher_epochs: int
    distill_epochs: int          # per seed, distilled and scratch alike
    distill_seeds: tuple[int, ...]
    temperature: float
    alpha: float
    qat_epochs: int
    prune_macs_ratio: float      # keep this share of the MACs
    prune_epochs: int
    stream_s: float              # streaming test length, seconds
    stride: int                  # frames (20 ms each) between inferences


#: Chapter 08. Quick: the keyword set's 30 clips a class, two distillation seeds.
KEYWORDS = Modes(
    full=Keywords(per_class=500, epochs=20, lr=3e-3, batch_size=64, teacher_width=128, teacher_epochs=12,
                  distill_epochs=8, distill_seeds=(0, 1, 2, 3, 4), temperature=4.0, alpha=0.7, qat_epochs=2,
                  prune_macs_ratio=0.5, prune_epochs=8, stream_s=60.0, stride=2),
    quick=Keywords(per_class=None, epochs=20, lr=3e-3, batch_size=32, teacher_width=128, teacher_epochs=12,
                   distill_epochs=8, distill_seeds=(0, 1), temperature=4.0, alpha=0.7, qat_epochs=1,
                   prune_macs_ratio=0.5, prune_epochs=4, stream_s=60.0, stride=2))
