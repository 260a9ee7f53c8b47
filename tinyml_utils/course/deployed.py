"""The int8 ``.tflite`` files chapter 12 puts on a Cortex-M, each with its float test set (NCHW maps,
feature rows), through the store: chapters 08's and 09's recipes are rebuilt here."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data as datasets
from .. import measure, models, train
from ..convert import keras_twin, tflite
from ..core import env
from ..core.context import Context
from ..data import imu
from ..data.base import Split
from . import catalogue, kws, recipes, store

N_REPRESENTATIVE = 300        # calibration inputs of chapter 08's int8 PTQ
MOTION = {"hidden": (32, 16), "batch_size": 32, "lr": 3e-3, "n_representative": 200}   # chapter 09's dense net


@dataclass
class Deployable(catalogue.Artifact):
    """An int8 file with its task, the chapter that trained it and its test set."""

    task: str = ""
    chapter: str = ""
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def _spec(ctx: Context, name: str, recipe: dict) -> store.Spec:
    return store.Spec(ctx.store / "ch12" / name, {**recipe, "seed": ctx.seed, "quick": ctx.quick})


def vision(ctx: Context) -> Deployable:
    """Chapter 02's baseline vision CNN as chapter 04's full-integer ``vision_keras_int8.tflite``."""
    art = catalogue.deployables(ctx, names=("vision_keras_int8.tflite",))[0]
    ds = datasets.load("vision", quick=ctx.quick, seed=0)
    return Deployable("vision_cnn", art.path, info={"technique": "int8 PTQ (ch04)", **art.info}, task="vision",
                      chapter="02", x_test=ds.test.x, y_test=ds.test.y)


def keywords(ctx: Context) -> Deployable:
    """Chapter 08's DS-CNN (64 channels, CMSIS f32 MFCCs), int8 PTQ on 300 training maps."""
    r = recipes.KEYWORDS(ctx)
    ds = kws.load(ctx)
    feats = kws.featurize(ds, "cmsis_f32")
    spec = _spec(ctx, f"dscnn_int8_s{ctx.seed}.tflite", {"kind": "dscnn_int8_ptq", "front_end": "cmsis_f32",
                                                          "recipe": r, "n_representative": N_REPRESENTATIVE})

    def build():
        measure.set_threads(1)
        env.seed_everything(ctx.seed)
        model, hist = kws.train_dscnn(feats, r, seed=ctx.seed, desc="DS-CNN (ch08 recipe)")
        info = {"float_test_accuracy": measure.accuracy(model, feats.test), "best_epoch": hist.best_epoch}

        def write(p):
            tflite.from_torch_int8(model, feats.train.x, p, n_representative=N_REPRESENTATIVE)
        return None, write, info

    _, info = store.load_or_build(spec, lambda p: p, build)
    return Deployable("dscnn", spec.path, info={"technique": "int8 PTQ (ch08)", **info}, task="keywords",
                      chapter="08", x_test=feats.test.x, y_test=feats.test.y)


def motion(ctx: Context) -> Deployable:
    """Chapter 09's dense classifier on the DSP block's scaled features, int8 (calibrated on training rows)."""
    ds = datasets.load("motion", quick=ctx.quick, seed=ctx.seed)
    sr, ch = ds.meta["sample_rate"], ds.meta["channels"]
    names = imu.dsp_feature_names(ch, sr)
    feats = {s: imu.dsp_features(getattr(ds, s).x, sr) for s in ("train", "val", "test")}
    scaler = imu.FeatureScaler.fit(feats["train"], names)
    fsplit = {s: Split(scaler.transform(feats[s]).astype(np.float32), getattr(ds, s).y) for s in feats}
    epochs = recipes.SENSORS(ctx).epochs
    spec = _spec(ctx, f"motion_dense_int8_s{ctx.seed}.tflite",
                 {"kind": "motion_dense_int8", "epochs": epochs, **MOTION})

    def build():
        measure.set_threads(1)
        env.seed_everything(ctx.seed)
        dense = models.dense_net(len(names), MOTION["hidden"], ds.num_classes)
        train.fit(dense, fsplit["train"], fsplit["val"], epochs=epochs, batch_size=MOTION["batch_size"],
                  lr=MOTION["lr"], seed=ctx.seed, desc="dense (ch09 recipe)")
        info = {"float_test_accuracy": measure.accuracy(dense, fsplit["test"])}
        with env.quiet():
            twin = keras_twin.keras_twin(dense, batch_size=1)

        def write(p):
            with env.quiet():
                tflite.int8(twin, fsplit["train"].x, p, n_representative=MOTION["n_representative"])
        return None, write, info

    _, info = store.load_or_build(spec, lambda p: p, build)
    return Deployable("motion_dense", spec.path, info={"technique": "int8 PTQ (ch09)", **info}, task="motion",
                      chapter="09", x_test=fsplit["test"].x, y_test=fsplit["test"].y)


def all_deployed(ctx: Context) -> list[Deployable]:
    """The three deployable models of chapter 12, in the order 02, 08, 09."""
    return [vision(ctx), keywords(ctx), motion(ctx)]
