"""Chapter 08's composition: keyword spotting from audio to an int8 model and a streaming detector.

- :class:`Recipe` / :func:`recipe` — the quick and full training recipes in one place.
- :func:`load` and :func:`featurize` — the synthesized keyword set and its MFCC maps
  (N, 1, 49, 10) through one of the front ends of :mod:`tinyml_utils.frontend`.
- :func:`train_dscnn` — MLPerf Tiny's DS-CNN (:func:`tinyml_utils.models.ds_cnn`) trained with
  :func:`tinyml_utils.train.fit` and a time-shift + noise augmentation of the MFCC map.
- :func:`distill_vs_scratch` — the DS-CNN student distilled from a wider DS-CNN teacher vs trained
  from labels only, over seeds (:func:`tinyml_utils.distill.distill`).
- :func:`keras_twin` and :func:`tflite_int8` — the TFLite route (Keras 3 twin with the PyTorch
  weights, full-integer conversion by :func:`tinyml_utils.quantize.tflite_int8`).
- :func:`synthesize_words` and :func:`check_new_keyword` — the exercise: a new keyword from the
  generator, a retrained last layer, a check that says right or wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import frontend


@dataclass(frozen=True)
class Recipe:
    """Everything the chapter trains, for one mode. Epoch counts, learning rates, seconds."""

    per_class: int | None        # training clips per class (None: the generator's quick set)
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


RECIPES = {
    True: Recipe(per_class=None, epochs=20, lr=3e-3, batch_size=32, teacher_width=128, teacher_epochs=12,
                 distill_epochs=8, distill_seeds=(0, 1), temperature=4.0, alpha=0.7, qat_epochs=1,
                 prune_macs_ratio=0.5, prune_epochs=4, stream_s=60.0, stride=2),
    False: Recipe(per_class=500, epochs=20, lr=3e-3, batch_size=64, teacher_width=128, teacher_epochs=12,
                  distill_epochs=8, distill_seeds=(0, 1, 2, 3, 4), temperature=4.0, alpha=0.7,
                  qat_epochs=2, prune_macs_ratio=0.5, prune_epochs=8, stream_s=60.0, stride=2),
}


def recipe(quick: bool) -> Recipe:
    return RECIPES[bool(quick)]


def load(quick: bool, seed: int = 0):
    """The keyword set for this mode (full mode: 500 training clips a class, 125 val and test)."""
    from . import data

    r = recipe(quick)
    return data.load("keywords", quick=quick, seed=seed, **({"per_class": r.per_class} if r.per_class else {}))


def _frontend_fn(name: str):
    if name == "numpy":
        return frontend.numpy_mfcc
    if name == "tf":
        return frontend.tf_mfcc
    if name in ("cmsis_f32", "cmsis_q15"):
        return frontend.CmsisMfcc(name.split("_")[1])
    raise ValueError(f"unknown front end {name!r}: use numpy, tf, cmsis_f32 or cmsis_q15")


def featurize(ds, front_end: str = "cmsis_f32"):
    """A copy of the audio dataset ``ds`` with MFCC maps (N, 1, 49, 10) float32 as ``x``.

    Trap: ``a[:, None]`` gives the new axis a stride of 0, which ``torch.as_tensor`` keeps and
    ExecuTorch's exporter rejects ("0 in strides"); ``.copy()`` gives fresh strides.
    """
    from dataclasses import replace

    from .data.base import Split

    fn = _frontend_fn(front_end)
    splits = {s: Split(np.asarray(fn(getattr(ds, s).x), np.float32)[:, None].copy(), getattr(ds, s).y)
              for s in ("train", "val", "test")}
    return replace(ds, meta={**ds.meta, "front_end": front_end}, **splits)


def mfcc_augment(max_shift: int = 5, noise: float = 0.3):
    """Augmentation on MFCC maps for :func:`tinyml_utils.train.fit`: roll the batch by up to
    ``max_shift`` frames (20 ms each) in time and add Gaussian noise of std ``noise``."""

    def augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=gen))
        xb = torch.roll(xb, shift, dims=2)
        return xb + noise * torch.randn(xb.shape, generator=gen)

    return augment


def new_dscnn(width: int = 64, seed: int = 0, num_classes: int = 12) -> nn.Module:
    """A freshly initialised DS-CNN; the initialisation depends only on ``seed``."""
    from . import models

    torch.manual_seed(seed)
    return models.ds_cnn(num_classes=num_classes, width=width)


def train_dscnn(feats, r: Recipe, *, width: int = 64, seed: int = 0, epochs: int | None = None,
                desc: str = "DS-CNN"):
    """Train a DS-CNN on MFCC maps with the recipe; returns ``(model, history)``."""
    from . import train

    model = new_dscnn(width, seed, len(feats.classes))
    hist = train.fit(model, feats.train, feats.val, epochs=epochs or r.epochs, lr=r.lr,
                     batch_size=r.batch_size, seed=seed, augment=mfcc_augment(), desc=desc)
    return model, hist


def distill_vs_scratch(teacher: nn.Module, feats, r: Recipe, seeds=None):
    """Distilled vs from-scratch DS-CNN students, one pair per seed (same init, batches and
    augmentation within a pair). Returns a DataFrame (seed, method, val_accuracy, test_accuracy)."""
    import pandas as pd

    from . import distill, train

    cache = distill.TeacherCache(teacher)
    rows = []
    for seed in (seeds if seeds is not None else r.distill_seeds):
        for method in ("scratch", "distilled"):
            student = new_dscnn(64, seed, len(feats.classes))
            common = dict(epochs=r.distill_epochs, lr=r.lr, batch_size=r.batch_size, seed=seed,
                          augment=mfcc_augment())
            if method == "scratch":
                hist = train.fit(student, feats.train, feats.val, desc=f"scratch seed {seed}", **common)
            else:
                hist = distill.distill(student, cache, feats.train, feats.val, temperature=r.temperature,
                                       alpha=r.alpha, desc=f"distilled seed {seed}", **common)
            rows.append({"seed": seed, "method": method, "val_accuracy": hist.best_val_accuracy,
                         "test_accuracy": train.evaluate(student, feats.test), "model": student})
    return pd.DataFrame(rows)


def paired_verdict(table) -> dict:
    """Mean ± std per method and the paired difference (distilled − scratch) with a 95 % t interval.

    ``verdict`` is "helps", "hurts" or "no clear effect" (the interval straddles zero)."""
    from scipy import stats

    p = table.pivot(index="seed", columns="method", values="test_accuracy")
    d = (p["distilled"] - p["scratch"]).to_numpy()
    n = len(d)
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    lo, hi = float(d.mean()) - half, float(d.mean()) + half
    verdict = "helps" if lo > 0 else "hurts" if hi < 0 else "no clear effect"
    return {"n": n, "scratch_mean": float(p["scratch"].mean()), "scratch_std": float(p["scratch"].std(ddof=1)) if n > 1 else 0.0,
            "distilled_mean": float(p["distilled"].mean()),
            "distilled_std": float(p["distilled"].std(ddof=1)) if n > 1 else 0.0,
            "diff_mean": float(d.mean()), "diff_ci95": (lo, hi), "verdict": verdict}


# ----------------------------------------------------------------------------- the TFLite route
def keras_twin(model: nn.Module, batch_size: int | None = 1):
    """A Keras 3 twin of a trained (possibly channel-pruned) :class:`tinyml_utils.models.DSCNN`
    with its weights copied: NHWC input (N, 49, 10, 1), logits out.

    Trap: PyTorch pads the first conv (10×4, stride 2) by (5, 1) on both sides; Keras "same"
    padding would pad 4 above and 5 below. The twin pads explicitly (ZeroPadding2D) and uses
    "valid", so both compute the same 25×5 map.
    """
    import keras

    first, bn0 = model.features[0], model.features[1]
    blocks = list(model.features)[3:]
    (ph, pw), (kh, kw) = first.padding, first.kernel_size
    inp = keras.Input((49, 10, 1), batch_size=batch_size)
    x = keras.layers.ZeroPadding2D(((ph, ph), (pw, pw)))(inp)
    x = keras.layers.Conv2D(first.out_channels, (kh, kw), strides=first.stride, use_bias=False, name="conv0")(x)
    x = keras.layers.BatchNormalization(epsilon=bn0.eps, name="bn0")(x)
    x = keras.layers.ReLU()(x)
    for i, b in enumerate(blocks):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{i}")(x)
        x = keras.layers.BatchNormalization(epsilon=b[1].eps, name=f"dwbn{i}")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(b[3].out_channels, 1, use_bias=False, name=f"pw{i}")(x)
        x = keras.layers.BatchNormalization(epsilon=b[4].eps, name=f"pwbn{i}")(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(model.classifier.out_features, name="logits")(x)
    km = keras.Model(inp, out, name="ds_cnn")

    def bn(name, m):
        km.get_layer(name).set_weights([t.detach().numpy() for t in (m.weight, m.bias, m.running_mean, m.running_var)])

    km.get_layer("conv0").set_weights([first.weight.detach().permute(2, 3, 1, 0).numpy()])
    bn("bn0", bn0)
    for i, b in enumerate(blocks):
        km.get_layer(f"dw{i}").set_weights([b[0].weight.detach().permute(2, 3, 0, 1).numpy()])
        bn(f"dwbn{i}", b[1])
        km.get_layer(f"pw{i}").set_weights([b[3].weight.detach().permute(2, 3, 1, 0).numpy()])
        bn(f"pwbn{i}", b[4])
    km.get_layer("logits").set_weights([model.classifier.weight.detach().T.numpy(),
                                        model.classifier.bias.detach().numpy()])
    return km


def nhwc(x: np.ndarray) -> np.ndarray:
    """(N, 1, 49, 10) → (N, 49, 10, 1)."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def tflite_int8(model: nn.Module, calib_nchw: np.ndarray, path, n_representative: int = 300) -> Path:
    """Full-integer int8 ``.tflite`` (int8 input/output, batch 1) of a DS-CNN via its Keras twin."""
    from . import quantize

    return quantize.tflite_int8(keras_twin(model), nhwc(calib_nchw), path, n_representative=n_representative)


# ----------------------------------------------------------------------------- the exercise
def synthesize_words(words: list[str], n: int, split: str = "train", seed: int = 1234):
    """``n`` one-second clips of each word in ``words``, spoken by the ``split``'s voices with the
    keyword generator's recipe (random accent, pitch, rate, noise and SNR). Returns float32 audio
    (len(words) · n, 16000) in [-1, 1].

    Uses the generator's internals (``tinyml_utils.data.keywords``): its public ``load`` only makes
    the 12 standard classes.
    """
    from .data import keywords as kw

    rows = []
    config = kw._config(seed, {"train": 1, "val": 1, "test": 1})
    for w, word in enumerate(words):
        for i in range(n):
            rng = np.random.default_rng([seed, kw.SPLITS.index(split), 100 + w, i])
            accent = str(rng.choice(kw.ACCENTS))
            variant = str(rng.choice(config["variants"][split]))
            rows.append((split, {"label": 100 + w, "class": word, "index": i, "noise": str(rng.choice(kw.NOISES)),
                                 "word": word, "accent": accent, "variant": variant, "voice": f"{accent}+{variant}",
                                 "pitch": int(rng.integers(kw.PITCH[0], kw.PITCH[1] + 1)),
                                 "pitch_range": int(rng.integers(kw.PITCH_RANGE[0], kw.PITCH_RANGE[1] + 1)),
                                 "rate": int(rng.integers(kw.RATE[0], kw.RATE[1] + 1)),
                                 "snr_db": float(rng.uniform(*kw.SNR_DB)), "peak": kw._loguniform(rng, *kw.PEAK),
                                 "espeak_seed": int(rng.integers(0, 2 ** 31 - 1))}))
    _, x, _ = kw._render_all(seed, rows)
    return x.astype(np.float32) / np.float32(32768.0)


def check_new_keyword(new_word_accuracy: float, old_accuracy_before: float, old_accuracy_after: float,
                      min_new: float = 0.6, max_old_drop: float = 0.05) -> bool:
    """The exercise's check: the new word is recognised (≥ ``min_new`` on held-out voices) and the
    old classes lose at most ``max_old_drop``. The bounds suit a full-mode model whose features stay
    frozen (they were never trained to tell the new word apart, so expect well under 100 %). Prints ✓ or ✗ with the numbers; returns the verdict."""
    drop = old_accuracy_before - old_accuracy_after
    ok_new, ok_old = new_word_accuracy >= min_new, drop <= max_old_drop
    print(f"{'✓' if ok_new else '✗'} new word: {new_word_accuracy:.1%} on unseen voices (need ≥ {min_new:.0%})")
    print(f"{'✓' if ok_old else '✗'} old classes: {old_accuracy_before:.1%} → {old_accuracy_after:.1%} "
          f"(drop {drop * 100:.1f} pt, allowed ≤ {max_old_drop * 100:.0f} pt)")
    return ok_new and ok_old
