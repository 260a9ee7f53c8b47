"""The int8 ``.tflite`` files chapter 12 puts on a Cortex-M, each with its test set, through the artifact store.

* ``vision``: chapter 02's vision CNN (Keras baseline), full-integer, as chapter 04 deploys it
  (:func:`tinyml_utils.course.catalogue.deployables`).
* ``keywords``: chapter 08's DS-CNN on CMSIS f32 MFCCs, int8 PTQ through its Keras twin.
* ``motion``: chapter 09's dense classifier on the IMU DSP block's 78 scaled features, int8.

Chapters 08 and 09 build their files inside the notebooks; this module rebuilds the same recipes
(same data, seed, epochs and calibration) through :func:`~tinyml_utils.course.store.load_or_build`,
so chapter 12 runs on its own. The key names every input: the recipe, the seed and the mode.
``x_test`` is float in the layout :class:`tinyml_utils.runtimes.LiteRT` takes (NCHW images and MFCC
maps, feature rows); ``runtimes.LiteRT(path).quantize_input`` turns it into the file's int8 tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import data as datasets
from .. import measure, models, train
from ..convert import keras_twin, tflite
from ..core import env
from ..data import imu
from ..data.base import Split
from . import catalogue, kws, recipes, store

N_REPRESENTATIVE = 300        # calibration inputs of chapter 08's int8 PTQ
MOTION_HIDDEN = (32, 16)      # chapter 09's dense classifier


@dataclass
class Deployed:
    """One deployable int8 file and its test set. ``info`` is what the build reported (float accuracy...)."""

    name: str
    task: str
    chapter: str
    technique: str
    tflite: Path
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list = field(default_factory=list)
    info: dict = field(default_factory=dict)


def _dir(quick: bool) -> Path:
    p = store.folder(quick) / "ch12"
    p.mkdir(parents=True, exist_ok=True)
    return p


def vision(quick: bool = False, seed: int = 0) -> Deployed:
    """Chapter 02's baseline vision CNN as chapter 04's full-integer ``vision_keras_int8.tflite``."""
    art = catalogue.deployables(quick, seed=seed, names=("vision_keras_int8.tflite",))[0]
    ds = datasets.load("vision", quick=quick, seed=0)
    return Deployed("vision_cnn", "vision", "02", "int8 PTQ (ch04)", art.path, ds.test.x, ds.test.y,
                    list(ds.classes), art.info)


def keywords(quick: bool = False, seed: int = 0) -> Deployed:
    """Chapter 08's DS-CNN (64 channels, CMSIS f32 MFCCs, its recipe), int8 PTQ on 300 training maps."""
    r = recipes.KEYWORDS(quick)
    ds = kws.load(quick, seed=seed)
    feats = kws.featurize(ds, "cmsis_f32")
    spec = store.Spec(_dir(quick) / f"dscnn_int8_s{seed}.tflite",
                      {"kind": "dscnn_int8_ptq", "front_end": "cmsis_f32", "seed": seed, "quick": bool(quick),
                       "recipe": r, "n_representative": N_REPRESENTATIVE})

    def build():
        measure.set_threads(1)
        env.seed_everything(seed)
        model, hist = kws.train_dscnn(feats, r, seed=seed, desc="DS-CNN (ch08 recipe)")
        info = {"float_test_accuracy": measure.accuracy(model, feats.test), "best_epoch": hist.best_epoch}
        def write(p):
            tflite.from_torch_int8(model, feats.train.x, p, n_representative=N_REPRESENTATIVE)
        return None, write, info

    _, info = store.load_or_build(spec, lambda p: p, build)
    return Deployed("dscnn", "keywords", "08", "int8 PTQ (ch08)", spec.path, feats.test.x, feats.test.y,
                    list(ds.classes), info)


def motion(quick: bool = False, seed: int = 0) -> Deployed:
    """Chapter 09's dense classifier on the DSP block's scaled features, int8 (calibrated on training rows)."""
    ds = datasets.load("motion", quick=quick, seed=seed)
    sr, ch = ds.meta["sample_rate"], ds.meta["channels"]
    names = imu.dsp_feature_names(ch, sr)
    feats = {s: imu.dsp_features(getattr(ds, s).x, sr) for s in ("train", "val", "test")}
    scaler = imu.FeatureScaler.fit(feats["train"], names)
    fsplit = {s: Split(scaler.transform(feats[s]).astype(np.float32), getattr(ds, s).y) for s in feats}
    epochs = 40 if quick else 100           # chapter 09's EPOCHS
    spec = store.Spec(_dir(quick) / f"motion_dense_int8_s{seed}.tflite",
                      {"kind": "motion_dense_int8", "hidden": MOTION_HIDDEN, "epochs": epochs, "batch_size": 32,
                       "lr": 3e-3, "seed": seed, "quick": bool(quick), "n_representative": 200})

    def build():
        measure.set_threads(1)
        env.seed_everything(seed)
        dense = models.dense_net(len(names), MOTION_HIDDEN, ds.num_classes)
        train.fit(dense, fsplit["train"], fsplit["val"], epochs=epochs, batch_size=32, lr=3e-3, seed=seed,
                  desc="dense (ch09 recipe)")
        info = {"float_test_accuracy": measure.accuracy(dense, fsplit["test"])}
        with env.quiet():
            twin = keras_twin.keras_twin(dense, batch_size=1)

        def write(p):
            with env.quiet():
                tflite.int8(twin, fsplit["train"].x, p, n_representative=200)     # chapter 09's default
        return None, write, info

    _, info = store.load_or_build(spec, lambda p: p, build)
    return Deployed("motion_dense", "motion", "09", "int8 PTQ (ch09)", spec.path, fsplit["test"].x,
                    fsplit["test"].y, [str(c) for c in ds.classes], info)


def all_deployed(quick: bool = False, seed: int = 0) -> list[Deployed]:
    """The three deployable models of chapter 12, in the order 02, 08, 09."""
    return [vision(quick, seed), keywords(quick, seed), motion(quick, seed)]
