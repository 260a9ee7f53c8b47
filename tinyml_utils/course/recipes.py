"""Every recipe of the course with its quick and full values (``recipes.VISION(ctx)``).
Trap: a recipe is part of the store key of every artifact built with it; changing one rebuilds them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Generic, TypeVar

from ..core.context import Context

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
    """A recipe's full and quick values; call with the run's ``Context`` to pick one."""

    full: R
    quick: R

    def __call__(self, ctx: Context) -> R:
        return self.quick if ctx.quick else self.full


#: The vision family (chapter 02; also the teacher).
VISION = Modes(full=Train(epochs=40, lr=1e-2, batch_size=64), quick=Train(epochs=8, lr=1e-2, batch_size=32))

#: Chapter 03, gradual: prune.polynomial_schedule(0.1, 0.9, 10) (k = n/2 hits 80 % exactly), pruning every
#: 2 epochs, then 30 epochs at 90 %; the 144-weight first conv stays dense; augmented fine-tunes.
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
    """Chapter 05's few-label setting: one training recipe for both arms."""

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

PIPELINE = Modes(full=Pipeline(prune_ratios=(0.0, 0.125, 0.25), finetune_epochs=20, finetune_lr=1e-2, batch_size=64),
                 quick=Pipeline(prune_ratios=(0.0, 0.25), finetune_epochs=3, finetune_lr=5e-3, batch_size=32))


@dataclass(frozen=True)
class Keywords(Recipe):
    """Chapter 08: everything keyword spotting trains, for one mode. Epochs, learning rates, seconds."""

    per_class: int | None        # training clips per class (None: the keyword set's quick size, 30)
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
    stride: int                  # frames (20 ms each) between inferences


KEYWORDS = Modes(
    full=Keywords(per_class=500, epochs=20, lr=3e-3, batch_size=64, teacher_width=128, teacher_epochs=12,
                  distill_epochs=8, distill_seeds=(0, 1, 2, 3, 4), temperature=4.0, alpha=0.7, qat_epochs=2,
                  prune_macs_ratio=0.5, prune_epochs=8, stride=2),
    quick=Keywords(per_class=None, epochs=20, lr=3e-3, batch_size=32, teacher_width=128, teacher_epochs=12,
                   distill_epochs=8, distill_seeds=(0, 1), temperature=4.0, alpha=0.7, qat_epochs=1,
                   prune_macs_ratio=0.5, prune_epochs=4, stride=2))


# ---- Each chapter's other knobs. Bounds are fractions (0.01 = 1 point) unless a field's name says points.


@dataclass(frozen=True)
class Compare(Recipe):
    """Interleaved timing (``measure.compare`` / ``timing.compare``): rounds, and calls per round."""

    rounds: int
    calls: int


@dataclass(frozen=True)
class Intro:
    """Chapter 00: timed calls of the latency protocol and of the histogram."""

    lat_repeats: int
    hist_calls: int


INTRO = Modes(full=Intro(lat_repeats=1000, hist_calls=1000), quick=Intro(lat_repeats=200, hist_calls=300))


@dataclass(frozen=True)
class Baseline:
    """Chapter 02: accuracy bars and the two interleaved timings (eager vs ExecuTorch; Keras too)."""

    acc_bound: float             # the PyTorch baseline's test accuracy, at least
    keras_gap: float             # |PyTorch - Keras twin| test accuracy, at most
    et_lat: Compare
    keras_lat: Compare


BASELINE = Modes(full=Baseline(acc_bound=0.975, keras_gap=0.015, et_lat=Compare(rounds=9, calls=40),
                               keras_lat=Compare(rounds=9, calls=30)),
                 quick=Baseline(acc_bound=0.80, keras_gap=0.15, et_lat=Compare(rounds=7, calls=20),
                                keras_lat=Compare(rounds=5, calls=10)))


@dataclass(frozen=True)
class Pruning:
    """Chapter 03: sparsity grids, the tfmot run, timing calls and accuracy-drop bounds."""

    sweep: tuple[float, ...]              # one-shot sparsities swept
    sensitivity: tuple[float, ...]        # per-layer sensitivity sparsities
    keras_epochs: int
    keras_batch_size: int
    latency_calls: int                    # calls per interleaved round
    structured_bound: float               # accuracy drop of halving the MACs, at most
    keras_bound: float                    # accuracy drop of tfmot's 80 %, at most


PRUNING = Modes(
    full=Pruning(sweep=(0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95), sensitivity=(0.3, 0.5, 0.7, 0.8, 0.9),
                 keras_epochs=4, keras_batch_size=64, latency_calls=60, structured_bound=0.015, keras_bound=0.03),
    quick=Pruning(sweep=(0.0, 0.5, 0.8, 0.95), sensitivity=(0.5, 0.9), keras_epochs=2, keras_batch_size=32,
                  latency_calls=30, structured_bound=0.10, keras_bound=0.30))


@dataclass(frozen=True)
class Quantization:
    """Chapter 04: calibration sizes, fine-tuning seeds, tfmot QAT epochs, timing repeats, bounds."""

    calib_sizes: tuple[int, ...]
    n_seeds: int                 # fine-tuning seeds of QAT and its float control: SEED, SEED + 1, ...
    tf_qat_epochs: int
    lat_repeats: int
    ptq_bound: float             # int8 PTQ accuracy drop, at most
    qat_bound: float             # |int8 QAT - the float model fine-tuned with the same recipe|, at most


QUANTIZATION = Modes(
    full=Quantization(calib_sizes=(1, 4, 16, 64, 256, 1024), n_seeds=3, tf_qat_epochs=2, lat_repeats=200,
                      ptq_bound=0.01, qat_bound=0.005),
    quick=Quantization(calib_sizes=(1, 64), n_seeds=1, tf_qat_epochs=1, lat_repeats=50, ptq_bound=0.03,
                       qat_bound=0.01))


@dataclass(frozen=True)
class Distillation:
    """Chapter 05: seeds of the every-label comparison and the closing pipeline's bounds."""

    n_seeds: int                 # SEED, SEED + 1, ...
    pipeline_bound: float        # closing pipeline vs baseline accuracy, at most
    qat_bound: float             # PT2E QAT vs the pruned float student, at most


DISTILLATION = Modes(full=Distillation(n_seeds=3, pipeline_bound=0.01, qat_bound=0.01),
                     quick=Distillation(n_seeds=1, pipeline_bound=0.15, qat_bound=0.02))

#: Chapter 06: the interleaved rounds of every runtime comparison.
FRAMEWORKS = Modes(full=Compare(rounds=9, calls=40), quick=Compare(rounds=5, calls=20))


@dataclass(frozen=True)
class Npu:
    """Chapter 07: images per measurement, timing and the deployment choice's accuracy tolerance."""

    n_test: int                  # test images for the int8 accuracy of each TFLite file
    n_tflm: int                  # TFLite Micro's Python interpreter is slow: fewer images
    calib_n: int                 # calibration images for the PT2E Arm quantizer
    n_tosa: int                  # images run through the TOSA reference model
    lat_repeats: int
    lat_max_seconds: int
    choice_bound: float          # a deployment candidate's accuracy below the baseline's, at most


NPU = Modes(full=Npu(n_test=1000, n_tflm=300, calib_n=128, n_tosa=100, lat_repeats=300, lat_max_seconds=15,
                     choice_bound=0.01),
            quick=Npu(n_test=200, n_tflm=100, calib_n=32, n_tosa=20, lat_repeats=100, lat_max_seconds=5,
                      choice_bound=0.03))


@dataclass(frozen=True)
class KeywordsChapter:
    """Chapter 08 beside :data:`KEYWORDS` (which is part of artifact keys): sizes and claim bounds."""

    n_mfcc_compare: int          # clips the MFCC front ends are compared on
    acc_bound: float             # DS-CNN float top-1, at least
    q15_tol: float               # q15-trained vs f32-trained on q15 features, within
    int8_drop: float             # int8 TFLite top-1 drop, at most
    fa_budget: float             # false accepts per hour at the operating point
    need_neg_h: float            # hours of test negatives, at least
    need_keywords: int           # test keywords, at least
    ladder_epochs: int           # the accuracy ladder's two extra models


KEYWORDS_CHAPTER = Modes(
    full=KeywordsChapter(n_mfcc_compare=200, acc_bound=0.90, q15_tol=0.02, int8_drop=0.01, fa_budget=1.0,
                         need_neg_h=1.0, need_keywords=200, ladder_epochs=KEYWORDS.full.epochs),
    quick=KeywordsChapter(n_mfcc_compare=40, acc_bound=0.40, q15_tol=0.05, int8_drop=0.05, fa_budget=60.0,
                          need_neg_h=5 / 60, need_keywords=20, ladder_epochs=8))


@dataclass(frozen=True)
class Sensors:
    """Chapter 09: classifier seeds and epochs, autoencoder epochs, accuracy bounds."""

    n_seeds: int                 # classifier runs: SEED, SEED + 1, ...
    epochs: int                  # classifier epochs
    ae_epochs: int               # autoencoder epochs
    acc_bound: float             # float accuracy on held-out recordings, at least
    int8_points: float           # int8 within this many points of float


SENSORS = Modes(full=Sensors(n_seeds=3, epochs=100, ae_epochs=300, acc_bound=0.90, int8_points=1.0),
                quick=Sensors(n_seeds=1, epochs=40, ae_epochs=100, acc_bound=0.80, int8_points=2.0))


@dataclass(frozen=True)
class OnDevice:
    """Chapter 10: device steps, federated rounds, the localhost deployment and claim bounds."""

    steps: int                   # personalization steps on the device
    fl_rounds: int               # FedAvg rounds (4 clients)
    deploy_clients: int          # localhost SuperNodes
    deploy_rounds: int
    fl_extra: bool               # the BatchNorm, participation and DP runs
    gain_bar: float              # the new user's accuracy gain, at least
    loss_bar: float              # the old users' accuracy loss, at most
    recover: float               # AdaBN within this of the undrifted accuracy
    gap_bar: float               # FedAvg vs centralized, at most
    int8_gap: float              # int8-update FedAvg vs fp32 FedAvg, at most


ON_DEVICE = Modes(
    full=OnDevice(steps=150, fl_rounds=15, deploy_clients=4, deploy_rounds=15, fl_extra=True, gain_bar=0.25,
                  loss_bar=0.03, recover=0.03, gap_bar=0.02, int8_gap=0.02),
    quick=OnDevice(steps=60, fl_rounds=5, deploy_clients=2, deploy_rounds=2, fl_extra=False, gain_bar=0.15,
                   loss_bar=0.05, recover=0.05, gap_bar=0.15, int8_gap=0.1))


@dataclass(frozen=True)
class LanguageModel:
    """Chapter 11: model depth, training steps, held-out scoring, variants, bound and timing."""

    n_layers: int
    steps: int                   # training steps of 16 windows x 128 tokens
    eval_every: int
    eval_tokens: int             # held-out tokens scored per variant
    variants: tuple[str, ...]
    ppl_bound: float             # relative perplexity increase of 8da4w over fp32, at most
    lat: Compare


LANGUAGE_MODEL = Modes(
    full=LanguageModel(n_layers=4, steps=600, eval_every=50, eval_tokens=8192,
                       variants=("fp32", "int8", "8da8w", "8da4w"), ppl_bound=0.15, lat=Compare(rounds=9, calls=32)),
    quick=LanguageModel(n_layers=2, steps=40, eval_every=10, eval_tokens=1024, variants=("fp32", "8da4w"),
                        ppl_bound=0.50, lat=Compare(rounds=3, calls=16)))


@dataclass(frozen=True)
class Microcontroller:
    """Chapter 12: inputs compared bit-exactly with LiteRT (None: the whole test split) and counted."""

    n_exact_vision: int
    n_exact_keywords: int
    n_exact_motion: int | None
    n_count: int                 # inputs counted with the hook per model x kernel


MICROCONTROLLER = Modes(full=Microcontroller(n_exact_vision=1000, n_exact_keywords=1000, n_exact_motion=None,
                                             n_count=3),
                        quick=Microcontroller(n_exact_vision=40, n_exact_keywords=40, n_exact_motion=100, n_count=1))
