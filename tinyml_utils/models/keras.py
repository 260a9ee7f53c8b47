"""Keras twins of the PyTorch models (NHWC images, NWC IMU windows), for TensorFlow / LiteRT / tfmot.

``keras=``: ``keras`` (Keras 3, the default) or ``tf_keras`` (for tfmot; see :func:`legacy_keras`)."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, H, W, C), as TensorFlow wants images."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def legacy_keras():
    """Make ``tf.keras`` the legacy tf-keras 2 (what tfmot needs) and return the ``tf_keras`` module.
    Trap: TensorFlow reads ``TF_USE_LEGACY_KERAS`` once, at import; call this before it."""
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        if "tensorflow" in sys.modules:
            raise RuntimeError("TensorFlow was already imported with Keras 3, so tfmot cannot work in this process: "
                               "restart the kernel and call legacy_keras() before anything imports tensorflow.")
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO/WARNING lines
    import tf_keras

    return tf_keras


def vision_cnn_keras(width: int = 16, num_classes: int = 10, keras=None, batch_size: int | None = None,
                     input_shape=(28, 28, 1), channels: Sequence[int] | None = None):
    """The twin of :class:`tinyml_utils.models.VisionCNN`; ``channels`` overrides the (w, 2w, 4w) conv
    widths (a channel-pruned model). Trap: a TFLite file for Vela/TFLM wants ``batch_size=1`` (a
    dynamic batch adds SHAPE/PACK ops that run on the CPU)."""
    if keras is None:
        import keras
    L = keras.layers
    chans = list(channels) if channels is not None else [width, 2 * width, 4 * width]
    inp = keras.Input(shape=input_shape, batch_size=batch_size, name="image")
    x = inp
    for i, c in enumerate(chans):
        x = L.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        # PyTorch's momentum (Keras' 0.99 barely moves the statistics in a short run)
        x = L.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i + 1}")(x)
        x = L.ReLU(name=f"relu{i + 1}")(x)
        if i < len(chans) - 1:
            x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inp, out, name=f"vision_cnn_w{width}")


def ds_cnn_keras(num_classes: int = 12, keras=None, batch_size: int | None = None, input_shape=(49, 10, 1),
                 channels: Sequence[int] = (64,) * 5):
    """The twin of :class:`tinyml_utils.models.DSCNN`, input (N, frames, coefficients, 1); ``channels``:
    ``[first conv, pointwise 1, ...]``. Layers ``conv{i}``/``bn{i}`` follow the PyTorch module order
    (``keras_twin.keras_from_torch`` relies on it). Trap: PyTorch pads the first conv by (5, 1) on both
    sides, Keras "same" would pad 4 above and 5 below; the twin pads explicitly and uses "valid"."""
    if keras is None:
        import keras
    L = keras.layers
    chans = list(channels)
    inp = keras.Input(shape=input_shape, batch_size=batch_size, name="mfcc")
    x = L.ZeroPadding2D(((5, 5), (1, 1)), name="pad0")(inp)
    x = L.Conv2D(chans[0], (10, 4), strides=2, use_bias=False, name="conv1")(x)
    x = L.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn1")(x)
    x = L.ReLU()(x)
    i = 1
    for c in chans[1:]:
        for layer in (L.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"conv{i + 1}"),
                      L.Conv2D(c, 1, use_bias=False, name=f"conv{i + 2}")):
            x = layer(x)
            i += 1
            x = L.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i}")(x)
            x = L.ReLU()(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inp, out, name=f"ds_cnn_w{chans[0]}")


def motion_cnn_keras(in_channels: int = 6, num_classes: int = 4, samples: int = 30, keras=None,
                     batch_size: int | None = None, channels: Sequence[int] = (16, 32)):
    """The twin of :class:`tinyml_utils.models.MotionCNN`. Trap: it takes (N, T, C), PyTorch (N, C, T);
    ``samples`` fixes T (TFLite Micro wants static shapes)."""
    if keras is None:
        import keras
    L = keras.layers
    chans = list(channels)
    inp = keras.Input(shape=(samples, in_channels), batch_size=batch_size, name="window")
    x = inp
    for i, c in enumerate(chans):
        x = L.Conv1D(c, 5, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = L.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i + 1}")(x)
        x = L.ReLU(name=f"relu{i + 1}")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    out = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inp, out, name=f"motion_cnn_w{chans[0]}")


def dense_keras(in_features: int, hidden: Sequence[int] = (32, 16), out_features: int = 4, keras=None,
                batch_size: int | None = None):
    """The twin of :func:`tinyml_utils.models.dense_net`: layers ``dense{i}``, the last ``logits``."""
    if keras is None:
        import keras
    L = keras.layers
    inp = keras.Input(shape=(in_features,), batch_size=batch_size, name="features")
    x = inp
    for i, h in enumerate(hidden):
        x = L.ReLU(name=f"relu{i + 1}")(L.Dense(h, name=f"dense{i + 1}")(x))
    out = L.Dense(out_features, name="logits")(x)
    return keras.Model(inp, out, name="dense_net")
