"""Artifacts that later chapters reuse, rebuilt when missing so every chapter runs on its own.

Chapter 02 trains the vision baseline; chapters 03–07 call :func:`vision_model` and get the saved
checkpoint, or (if it is missing, e.g. chapter 04 run alone) the same recipe retrains it.
Quick and full runs keep separate artifacts (:func:`tinyml_utils.paths.artifacts_dir`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .models import VISION_WIDTHS

# Training recipe of the vision family. Quick mode: a few epochs on the 1,000-digit subset.
VISION_RECIPE = {
    False: dict(epochs=40, lr=1e-2, batch_size=64, patience=None),
    True: dict(epochs=8, lr=1e-2, batch_size=32, patience=None),
}


@dataclass
class Checkpoint:
    """A trained model plus what we know about it (accuracy measured when it was trained)."""

    model: object
    path: Path
    info: dict


def _width(width: int | str) -> int:
    return VISION_WIDTHS[width] if isinstance(width, str) else int(width)


def vision_checkpoint_path(width: int | str = "baseline", quick: bool = False, seed: int = 0) -> Path:
    return paths.artifacts_dir(quick) / f"vision_w{_width(width)}_s{seed}.pt"


def keras_checkpoint_path(width: int | str = "baseline", quick: bool = False, seed: int = 0) -> Path:
    return paths.artifacts_dir(quick) / f"vision_keras_w{_width(width)}_s{seed}.keras"


def vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                 data=None) -> Checkpoint:
    """The trained PyTorch vision CNN at ``width``: loaded from the artifacts folder, else trained
    with :data:`VISION_RECIPE` and saved (``.pt`` state dict + ``.json`` with history and test accuracy)."""
    import torch

    from . import data as data_mod
    from . import models, seed_everything, train

    path = vision_checkpoint_path(width, quick, seed)
    meta_path = path.with_suffix(".json")
    model = models.vision_cnn(_width(width))
    if path.exists() and meta_path.exists() and not retrain:
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return Checkpoint(model, path, json.loads(meta_path.read_text()))
    ds = data if data is not None else data_mod.load("vision", quick=quick, seed=0)
    seed_everything(seed)
    model = models.vision_cnn(_width(width))
    recipe = VISION_RECIPE[bool(quick)]
    t0 = time.perf_counter()
    hist = train.fit(model, ds.train, ds.val, augment=train.random_affine(), seed=seed,
                     desc=f"vision w={_width(width)}", **recipe)
    info = {"width": _width(width), "seed": seed, "quick": bool(quick), "recipe": recipe,
            "train_seconds": time.perf_counter() - t0, "best_epoch": hist.best_epoch,
            "val_accuracy": hist.best_val_accuracy, "test_accuracy": train.evaluate(model, ds.test),
            "history": hist.epochs}
    torch.save(model.state_dict(), path)
    meta_path.write_text(json.dumps(info, indent=1))
    return Checkpoint(model, path, info)


def keras_vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                       data=None) -> Checkpoint:
    """The Keras 3 twin of :func:`vision_model`, trained with Keras' own ``fit`` and saved as ``.keras``."""
    import keras

    from . import data as data_mod
    from .keras_models import fit_keras, keras_accuracy, vision_cnn_keras

    path = keras_checkpoint_path(width, quick, seed)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists() and not retrain:
        return Checkpoint(keras.models.load_model(path), path, json.loads(meta_path.read_text()))
    ds = data if data is not None else data_mod.load("vision", quick=quick, seed=0)
    model = vision_cnn_keras(_width(width))
    recipe = VISION_RECIPE[bool(quick)]
    t0 = time.perf_counter()
    hist = fit_keras(model, ds.train, ds.val, epochs=recipe["epochs"], batch_size=recipe["batch_size"],
                     lr=recipe["lr"], seed=seed)
    info = {"width": _width(width), "seed": seed, "quick": bool(quick), "recipe": recipe,
            "train_seconds": time.perf_counter() - t0, "test_accuracy": keras_accuracy(model, ds.test),
            "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}
    model.save(path)
    meta_path.write_text(json.dumps(info, indent=1))
    return Checkpoint(model, path, info)
