"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): a small student learns from a big teacher.

The loss, for student logits $z_s$, teacher logits $z_t$, hard labels $y$, temperature $T$, weight $\\alpha$::

    p_t = softmax(z_t / T)                  # the teacher's soft targets
    log p_s = log_softmax(z_s / T)          # the student's soft predictions
    soft = KL(p_t || p_s) = sum_k p_t[k] * (log p_t[k] - log p_s[k])      (mean over the batch)
    hard = cross_entropy(z_s, y)            # ordinary loss at T = 1
    loss = alpha * T**2 * soft + (1 - alpha) * hard

The ``T**2`` keeps the soft term's gradients the same size whatever ``T`` is (they shrink as
``1/T**2``), so ``alpha`` means the same thing at every temperature.

>>> teacher = recipes.vision_model("teacher", quick=True).model
>>> student = models.vision_cnn("student")
>>> hist = distill(student, teacher, ds.train, ds.val, temperature=4, alpha=0.9, epochs=20)

The teacher runs in eval mode under ``no_grad``; its logits are cached per (augmented) batch in a
:class:`TeacherCache`, so a sweep over ``T`` and ``alpha`` with the same seed (same batches, same
augmentation) runs the teacher only once.

Also here: :func:`sweep` and :func:`compare_seeds` (distilled vs from scratch), the saved student
(:func:`load_distilled_student`, reused by chapter 07), :func:`keras_twin` (PyTorch weights into the
Keras twin) and the chapter's closing pipeline (:func:`closing_pipeline`: distil → prune channels →
QAT → int8 ``.pte`` and ``.tflite``; :func:`smallest_within` picks the smallest file inside a bound).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import paths

# The chapter's training recipe for the width-8 student (distilled or from scratch: the same one).
# Full mode: 3,500 digits; quick mode: the 1,000-digit subset.
STUDENT_RECIPE = {
    False: dict(epochs=30, lr=1e-2, batch_size=64),
    True: dict(epochs=10, lr=5e-3, batch_size=32),
}
# The (T, alpha) the saved distilled student uses when it has to be rebuilt (chapter 05 picks and records it).
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.9
DISTILLED_NAME = "vision_student_distilled.pt"


# ----------------------------------------------------------------------------- the loss
def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class probabilities softened by ``temperature``: ``softmax(logits / T)`` (rows sum to 1)."""
    return F.softmax(logits / temperature, dim=1)


def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                       temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the loss, unweighted: ``(KL(p_t || p_s) at T, cross-entropy with y at T=1)``.

    Both are means over the batch (KL in nats per example).
    """
    T = float(temperature)
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / T, dim=1)
    p_t = log_p_t.exp()
    soft = (p_t * (log_p_t - log_p_s)).sum(dim=1).mean()
    hard = F.cross_entropy(student_logits, y)
    return soft, hard


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                      temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """``alpha * T**2 * KL(softmax(z_t/T) || softmax(z_s/T)) + (1 - alpha) * CE(z_s, y)``.

    ``alpha = 0`` is ordinary training on labels; ``alpha = 1`` learns from the teacher alone.
    The teacher's logits are treated as constants (no gradient flows into the teacher).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    soft, hard = distillation_terms(student_logits, teacher_logits, y, temperature)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


# ----------------------------------------------------------------------------- the teacher
class TeacherCache:
    """The teacher's logits per input batch, keyed by a hash of the batch's bytes.

    :func:`tinyml_utils.train.fit` draws the same batches and the same augmentation for the same
    seed and epochs, so every run of a sweep after the first gets the teacher's answers for free.
    ``hits``/``misses`` count how often the teacher was spared / run.
    """

    def __init__(self, teacher: nn.Module, max_items: int = 200_000):
        self.teacher = teacher
        self.max_items = max_items
        self._store: dict[bytes, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(x: torch.Tensor) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(str(tuple(x.shape)).encode())
        h.update(x.detach().contiguous().numpy().tobytes())
        return h.digest()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = self._key(x)
        out = self._store.get(key)
        if out is not None:
            self.hits += 1
            return out
        self.misses += 1
        self.teacher.eval()  # BatchNorm uses running statistics; dropout (if any) is off
        out = self.teacher(x).detach()
        if len(self._store) < self.max_items:
            self._store[key] = out
        return out


def make_loss_fn(teacher: nn.Module | TeacherCache, temperature: float = DEFAULT_TEMPERATURE,
                 alpha: float = DEFAULT_ALPHA):
    """A ``loss_fn(logits, y, x)`` for :func:`tinyml_utils.train.fit` that distils ``teacher``.

    Pass a :class:`TeacherCache` to share the teacher's logits between runs (a sweep); a plain
    module gets its own cache. The teacher runs in eval mode under ``torch.no_grad``.
    """
    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    for p in cache.teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return distillation_loss(logits, cache(x), y, temperature, alpha)

    loss_fn.cache = cache  # type: ignore[attr-defined]
    return loss_fn


# ----------------------------------------------------------------------------- training
def distill(student: nn.Module, teacher: nn.Module | TeacherCache, train, val=None, *,
            temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA, epochs: int = 30,
            seed: int = 0, lr: float = 1e-2, batch_size: int = 64, augment="default", desc: str | None = None,
            **fit_kwargs):
    """Train ``student`` in place on ``train`` with the distillation loss; returns the
    :class:`tinyml_utils.train.History`. Same loop, optimizer and (by default) augmentation as
    ordinary training, so a from-scratch run differs only in the loss (use :func:`train_scratch`)."""
    from . import train as train_mod

    if augment == "default":
        augment = train_mod.random_affine()
    return train_mod.fit(student, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, loss_fn=make_loss_fn(teacher, temperature, alpha),
                         desc=desc or f"distill T={temperature:g} a={alpha:g}", **fit_kwargs)


def train_scratch(student: nn.Module, train, val=None, *, epochs: int = 30, seed: int = 0, lr: float = 1e-2,
                  batch_size: int = 64, augment="default", desc: str = "scratch", **fit_kwargs):
    """The control: the same student, loop and recipe as :func:`distill`, with cross-entropy on labels only."""
    from . import train as train_mod

    if augment == "default":
        augment = train_mod.random_affine()
    return train_mod.fit(student, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, desc=desc, **fit_kwargs)


def new_student(width: int | str = "student", seed: int = 0) -> nn.Module:
    """A freshly initialised student; the initialisation depends only on ``seed``."""
    from . import models

    torch.manual_seed(seed)
    return models.vision_cnn(width)


@dataclass
class SeedRun:
    """One seed of the distilled-vs-scratch comparison (accuracies in [0, 1])."""

    seed: int
    method: str
    val_accuracy: float
    test_accuracy: float
    seconds: float


def compare_seeds(teacher: nn.Module | TeacherCache, ds, seeds, *, temperature: float, alpha: float,
                  epochs: int, lr: float, batch_size: int, width: int | str = "student",
                  keep: dict | None = None):
    """Distilled vs from-scratch students over ``seeds`` (same init per seed); a pandas DataFrame with
    one row per (seed, method). If ``keep`` is a dict, the trained students go into it by (method, seed)."""
    import pandas as pd

    from . import train as train_mod

    rows = []
    for seed in seeds:
        for method in ("scratch", "distilled"):
            student = new_student(width, seed)
            t0 = time.perf_counter()
            common = dict(epochs=epochs, seed=seed, lr=lr, batch_size=batch_size)
            if method == "distilled":
                hist = distill(student, teacher, ds.train, ds.val, temperature=temperature, alpha=alpha,
                               desc=f"distilled seed {seed}", **common)
            else:
                hist = train_scratch(student, ds.train, ds.val, desc=f"scratch seed {seed}", **common)
            rows.append(SeedRun(seed, method, hist.best_val_accuracy, train_mod.evaluate(student, ds.test),
                                time.perf_counter() - t0).__dict__)
            if keep is not None:
                keep[(method, seed)] = student
    return pd.DataFrame(rows)


def sweep(teacher: nn.Module | TeacherCache, ds, temperatures, alphas, *, epochs: int, lr: float,
          batch_size: int, seed: int = 0, width: int | str = "student", include_scratch: bool = True):
    """Validation and test accuracy of the student for every (T, alpha); a pandas DataFrame.

    With ``include_scratch`` a row with ``alpha = 0`` (labels only, T irrelevant) is added as the
    reference. Every run uses the same seed, so the same initialisation and batches.
    """
    import pandas as pd

    from . import train as train_mod

    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    rows = []
    configs = [(float(t), float(a)) for t in temperatures for a in alphas]
    if include_scratch:
        configs = [(1.0, 0.0)] + configs
    for T, a in train_mod.progress(configs, desc="sweep"):
        student = new_student(width, seed)
        if a == 0.0:
            hist = train_scratch(student, ds.train, ds.val, epochs=epochs, seed=seed, lr=lr,
                                 batch_size=batch_size, desc="sweep scratch")
        else:
            hist = distill(student, cache, ds.train, ds.val, temperature=T, alpha=a, epochs=epochs, seed=seed,
                           lr=lr, batch_size=batch_size, desc=f"sweep T={T:g} a={a:g}")
        rows.append({"temperature": T if a > 0 else float("nan"), "alpha": a,
                     "val_accuracy": hist.best_val_accuracy, "test_accuracy": train_mod.evaluate(student, ds.test)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the saved student
def distilled_student_path(quick: bool) -> Path:
    return paths.artifacts_dir(quick) / DISTILLED_NAME


def save_distilled_student(student: nn.Module, quick: bool, info: dict) -> Path:
    """Save the distilled student's state dict (``.pt``) and what produced it (``.json``)."""
    path = distilled_student_path(quick)
    torch.save(student.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=1, default=float))
    return path


def load_distilled_student(quick: bool = False, rebuild: bool = False, data=None):
    """The chapter-05 distilled width-8 student, as a :class:`tinyml_utils.recipes.Checkpoint`.

    Loaded from ``artifacts_dir(quick)/vision_student_distilled.pt``; if it is missing, distilled
    again from the teacher (:func:`tinyml_utils.recipes.vision_model`) with :data:`STUDENT_RECIPE`,
    :data:`DEFAULT_TEMPERATURE` and :data:`DEFAULT_ALPHA`, seed 0, and saved.
    """
    from . import data as data_mod
    from . import models, recipes
    from . import train as train_mod

    path = distilled_student_path(quick)
    meta = path.with_suffix(".json")
    if path.exists() and not rebuild:
        model = models.vision_cnn("student")
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        info = json.loads(meta.read_text()) if meta.exists() else {}
        return recipes.Checkpoint(model, path, info)
    ds = data if data is not None else data_mod.load("vision", quick=quick, seed=0)
    teacher = recipes.vision_model("teacher", quick=quick, data=ds).model
    student = new_student("student", 0)
    recipe = STUDENT_RECIPE[bool(quick)]
    hist = distill(student, teacher, ds.train, ds.val, temperature=DEFAULT_TEMPERATURE, alpha=DEFAULT_ALPHA,
                   seed=0, **recipe)
    info = {"width": models.VISION_WIDTHS["student"], "seed": 0, "quick": bool(quick),
            "temperature": DEFAULT_TEMPERATURE, "alpha": DEFAULT_ALPHA, "recipe": recipe,
            "val_accuracy": hist.best_val_accuracy, "test_accuracy": train_mod.evaluate(student, ds.test),
            "teacher": str(recipes.vision_checkpoint_path("teacher", quick))}
    save_distilled_student(student, quick, info)
    return recipes.Checkpoint(student, path, info)


# ----------------------------------------------------------------------------- the TFLite route
def keras_twin(model: nn.Module, keras=None, batch_size: int | None = 1):
    """A Keras twin of a trained :class:`tinyml_utils.models.VisionCNN` (any width) with its weights
    copied by :func:`tinyml_utils.prune.keras_from_torch` (conv OIHW → HWIO, batch norm γ/β/running
    statistics and ε, linear transposed), for the TFLite route (:func:`tinyml_utils.quantize.tflite_int8`). NHWC input; logits out.

    The model's conv channels must keep the family's shape (w, 2w, 4w), which a uniform channel
    pruning of a family member does (e.g. 50% of width 8 is width 4).
    """
    from .keras_models import vision_cnn_keras

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    chans = [c.out_channels for c in convs]
    w = chans[0]
    if len(convs) != 3 or len(bns) != 3 or chans != [w, 2 * w, 4 * w] or linear.in_features != 4 * w:
        raise ValueError(f"keras_twin needs the vision family's shape (channels w, 2w, 4w); got {chans}. "
                         "Prune channels by the same ratio in every layer to keep it.")
    km = vision_cnn_keras(w, num_classes=linear.out_features, keras=keras, batch_size=batch_size,
                          input_shape=(28, 28, convs[0].in_channels))
    from .prune import keras_from_torch  # chapter 03's weight copy (OIHW→HWIO, BN stats and ε)

    return keras_from_torch(model, km)


# ----------------------------------------------------------------------------- closing pipeline
# distill → prune channels (+ distilled fine-tune) → QAT int8 → ExecuTorch .pte and TFLite int8.
PIPELINE_RECIPE = {
    False: dict(prune_ratios=(0.0, 0.125, 0.25), finetune_epochs=20, finetune_lr=1e-2, batch_size=64),
    True: dict(prune_ratios=(0.0, 0.25), finetune_epochs=3, finetune_lr=5e-3, batch_size=32),
}


def _accuracy(logits, y) -> float:
    import numpy as np

    return float((np.asarray(logits).argmax(1) == np.asarray(y)).mean())


def closing_pipeline(student: nn.Module, teacher: nn.Module | TeacherCache, ds, *, quick: bool,
                     prune_ratios=None, finetune_epochs: int | None = None, finetune_lr: float | None = None,
                     batch_size: int | None = None, temperature: float = DEFAULT_TEMPERATURE,
                     alpha: float = DEFAULT_ALPHA, seed: int = 0, calib_n: int = 512, out_dir: Path | None = None,
                     prefix: str = "vision_student", tflite: str = "qat"):
    """Shrink a distilled student to deployable int8 files, once per channel-pruning ratio.

    For each ratio ``r`` in ``prune_ratios``:

    1. prune ``r`` of the channels of every conv layer (:func:`tinyml_utils.prune.prune_channels`,
       the same ratio everywhere, so the result keeps the family's (w, 2w, 4w) shape) and, if
       ``r > 0``, fine-tune it with the distillation loss (the teacher keeps teaching);
    2. PT2E quantization-aware training (:func:`tinyml_utils.quantize.qat_pt2e`, its recipe for
       ``quick``) and lowering to an int8 XNNPACK ``.pte``, run with ExecuTorch;
    3. the same pruned float weights copied into a Keras twin (:func:`keras_twin`), then with
       ``tflite="qat"`` quantization-aware training with tfmot on tf-keras (:func:`tflite_qat`, needs
       :func:`tinyml_utils.quantize.legacy_keras` before TensorFlow is first imported; falls back to
       PTQ with a warning otherwise) or with ``tflite="ptq"`` post-training quantization
       (:func:`tinyml_utils.quantize.tflite_int8`, ``calib_n`` calibration images), converted to a
       full-integer (int8 in/out) TFLite file and run with LiteRT.

    Returns ``(table, variants)``: a DataFrame with one row per ratio (accuracies in [0, 1] on the
    test split, bytes of each file on disk, params, MACs, channels) and ``{ratio: dict(model=float
    model, converted=PT2E model, pte=Path, tflite=Path)}``.
    """
    import numpy as np
    import pandas as pd

    from . import prune, quantize
    from . import train as train_mod
    from .export import ExecuTorchRunner
    from .keras_models import to_nhwc
    from .profile import count_macs, count_params, file_bytes

    r = {**PIPELINE_RECIPE[bool(quick)]}
    prune_ratios = r["prune_ratios"] if prune_ratios is None else prune_ratios
    finetune_epochs = r["finetune_epochs"] if finetune_epochs is None else finetune_epochs
    finetune_lr = r["finetune_lr"] if finetune_lr is None else finetune_lr
    batch_size = r["batch_size"] if batch_size is None else batch_size
    out_dir = Path(out_dir) if out_dir is not None else paths.artifacts_dir(quick)
    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    example = torch.as_tensor(ds.test.x[:1])
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=seed).x
    x_test_nhwc = to_nhwc(ds.test.x)
    tf_keras = None
    if tflite == "qat":
        try:
            tf_keras = quantize.legacy_keras()
        except RuntimeError as e:  # TensorFlow already imported with Keras 3: tfmot cannot run here
            warnings.warn(f"TFLite files fall back to post-training quantization: {e}")
    elif tflite != "ptq":
        raise ValueError(f"tflite must be 'qat' or 'ptq', got {tflite!r}")
    rows, variants = [], {}
    for ratio in train_mod.progress(list(prune_ratios), desc="pipeline"):
        t0 = time.perf_counter()
        tag = f"{prefix}_p{int(round(100 * ratio))}"
        model = prune.prune_channels(student, example, ratio) if ratio > 0 else copy_module(student)
        model.eval()
        acc_pruned = train_mod.evaluate(model, ds.test)
        if ratio > 0 and finetune_epochs > 0:
            distill(model, cache, ds.train, ds.val, temperature=temperature, alpha=alpha, epochs=finetune_epochs,
                    seed=seed, lr=finetune_lr, batch_size=batch_size, desc=f"fine-tune {tag}")
        acc_float = train_mod.evaluate(model, ds.test)
        converted = quantize.qat_pt2e(model, ds.train, ds.val, seed=seed, augment=train_mod.random_affine(),
                                      desc=f"QAT {tag}", **quantize.QAT_RECIPE[bool(quick)])
        fq_logits = train_mod.predict(converted, ds.test.x, set_eval=quantize.set_eval)
        pte = quantize.to_executorch_int8(converted, example, out_dir / f"{tag}_int8.pte")
        pte_logits = ExecuTorchRunner(pte).predict(ds.test.x)
        tfl, tfl_method = out_dir / f"{tag}_int8.tflite", "ptq"
        with contextlib.redirect_stdout(io.StringIO()):  # the TF converter prints its SavedModel signature
            if tf_keras is not None:
                tfl = tflite_qat(model, ds, tfl, quick=quick, seed=seed, keras=tf_keras)
                tfl_method = "qat"
            else:
                tfl = quantize.tflite_int8(keras_twin(model, batch_size=1), to_nhwc(calib), tfl, int8_io=True,
                                           n_representative=len(calib))
        tfl_logits = quantize.LiteRTRunner(tfl).predict(x_test_nhwc)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        rows.append({
            "prune_ratio": float(ratio), "channels": "/".join(str(c.out_channels) for c in convs),
            "params": count_params(model), "macs": count_macs(model, example),
            "acc_pruned": acc_pruned, "acc_float": acc_float, "acc_qat_fakequant": _accuracy(fq_logits, ds.test.y),
            "acc_pte_int8": _accuracy(pte_logits, ds.test.y), "pte_bytes": file_bytes(pte),
            "acc_tflite_int8": _accuracy(tfl_logits, ds.test.y), "tflite_bytes": file_bytes(tfl),
            "tflite_method": tfl_method,
            "pte_agrees_fakequant": float((pte_logits.argmax(1) == fq_logits.argmax(1)).mean()),
            "pte_max_abs_diff": float(np.abs(pte_logits - fq_logits).max()),
            "seconds": time.perf_counter() - t0,
        })
        variants[float(ratio)] = dict(model=model, converted=converted, pte=Path(pte), tflite=Path(tfl), tag=tag)
    return pd.DataFrame(rows), variants


def copy_module(model: nn.Module) -> nn.Module:
    """A deep copy (the pipeline never changes the student it is given)."""
    import copy

    return copy.deepcopy(model)


def smallest_within(table, baseline_accuracy: float, bound: float):
    """The smallest artifact (by bytes on disk) whose test accuracy is at least
    ``baseline_accuracy - bound``, among the .pte and .tflite files of a :func:`closing_pipeline`
    table. Returns a one-row-per-artifact DataFrame sorted by bytes with a ``within`` column, and
    the chosen row (a Series) or ``None`` if none qualifies."""
    import pandas as pd

    rows = []
    for _, r in table.iterrows():
        for kind, acc, size in (("executorch-int8", r["acc_pte_int8"], r["pte_bytes"]),
                                ("tflite-int8", r["acc_tflite_int8"], r["tflite_bytes"])):
            rows.append({"prune_ratio": r["prune_ratio"], "runtime": kind, "accuracy": acc, "bytes": int(size),
                         "drop_vs_baseline": baseline_accuracy - acc})
    df = pd.DataFrame(rows).sort_values(["bytes", "accuracy"], ascending=[True, False]).reset_index(drop=True)
    df["within"] = df["drop_vs_baseline"] <= bound + 1e-12
    ok = df[df["within"]]
    return df, (ok.iloc[0] if len(ok) else None)


def tflite_qat(model: nn.Module, ds, path, *, quick: bool, seed: int = 0, keras=None) -> Path:
    """Full-integer TFLite file of a (pruned) vision student through tfmot QAT: the float weights
    copied into a tf-keras twin (:func:`keras_twin`), ``tfmot.quantization.keras.quantize_model``,
    fine-tuned with :func:`tinyml_utils.keras_models.fit_keras` on chapter 04's QAT recipe, then
    :func:`tinyml_utils.quantize.tflite_from_qat` on a batch-1 copy (int8 input and output). Needs
    :func:`tinyml_utils.quantize.legacy_keras` before TensorFlow is first imported."""
    from . import quantize
    from .keras_models import fit_keras

    tf_keras = keras if keras is not None else quantize.legacy_keras()
    import tensorflow_model_optimization as tfmot

    r = quantize.QAT_RECIPE[bool(quick)]
    qat = tfmot.quantization.keras.quantize_model(keras_twin(model, keras=tf_keras, batch_size=None))
    fit_keras(qat, ds.train, ds.val, epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"], seed=seed,
              keras=tf_keras)
    # convert a batch-1 copy (same layers, the trained weights, ranges and step counters copied):
    # a fixed batch keeps SHAPE/PACK ops out of the file (STACK.md)
    qat_b1 = tfmot.quantization.keras.quantize_model(keras_twin(model, keras=tf_keras, batch_size=1))
    qat_b1.set_weights(qat.get_weights())
    return quantize.tflite_from_qat(qat_b1, path, int8_io=True)
