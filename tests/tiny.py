"""Shared test fixture data: a tiny vision CNN with non-trivial batch-norm statistics, and inputs."""
from __future__ import annotations

import numpy as np
import torch

from tinyml_utils import models


def tiny_model_and_images(n: int, width: int = 4):
    """An eval-mode ``vision_cnn(width)`` (seeded, BN running stats randomised) and ``n`` images on
    the 8-bit pixel grid in [0, 1]."""
    torch.manual_seed(0)
    model = models.vision_cnn(width).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, size=(n, 1, 28, 28)) / 255.0).astype(np.float32)
    return model, x


def tiny_int8_tflite(path, channels: int = 4, classes: int = 3, pool: bool = False):
    """A tiny full-integer (int8 in/out, batch 1) conv net on 8×8×1 inputs, converted by TensorFlow
    (the reference converter): conv (+ max pool) → global average → dense. Returns ``path``."""
    import keras

    from tinyml_utils.convert import tflite
    from tinyml_utils.core.env import quiet

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((8, 8, 1), batch_size=1)
    x = L.Conv2D(channels, 3, padding="same", activation="relu")(inp)
    x = L.GlobalAveragePooling2D()(L.MaxPooling2D(2)(x) if pool else x)
    model = keras.Model(inp, L.Dense(classes)(x))
    with quiet():
        tflite.int8(model, np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32), path,
                    n_representative=16)
    return path
