"""Keras twins of the PyTorch models, for the TensorFlow / LiteRT / tfmot paths.

Pass the Keras module to use: ``keras`` (Keras 3, the default) or ``tf_keras`` (what
tensorflow-model-optimization needs; set ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is
imported). Layouts are NHWC: use :func:`to_nhwc` on the course's NCHW arrays.
"""
from __future__ import annotations

import numpy as np


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, H, W, C), as TensorFlow wants images."""
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def vision_cnn_keras(width: int = 16, num_classes: int = 10, keras=None, batch_size: int | None = None,
                     input_shape=(28, 28, 1)):
    """The twin of :class:`tinyml_utils.models.VisionCNN`: same layers, NHWC, logits out.

    ``batch_size=1`` fixes the batch dimension, which a TFLite conversion for Vela/TFLM wants
    (a dynamic batch makes the converter emit SHAPE/PACK ops that run on the CPU).
    """
    if keras is None:
        import keras
    L = keras.layers
    w = width
    inp = keras.Input(shape=input_shape, batch_size=batch_size, name="image")
    x = inp
    for i, c in enumerate((w, 2 * w, 4 * w)):
        x = L.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        # momentum=0.9 is PyTorch's BatchNorm default (0.1 update); Keras' 0.99 leaves the running
        # statistics near their initial values after a short (quick-mode) training run
        x = L.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{i + 1}")(x)
        x = L.ReLU(name=f"relu{i + 1}")(x)
        if i < 2:
            x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(num_classes, name="logits")(x)
    return keras.Model(inp, out, name=f"vision_cnn_w{width}")


def fit_keras(model, train, val, *, epochs: int, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
              augment: bool = True, verbose: int = 0, keras=None):
    """Compile and train a Keras vision model on the course's splits (NCHW arrays are converted).

    Uses Keras' own ``fit`` (the Keras user's loop) with the same optimizer, schedule and
    augmentation family as :func:`tinyml_utils.train.fit`; returns the Keras History.
    """
    if keras is None:
        import keras
    keras.utils.set_random_seed(seed)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    sched = keras.optimizers.schedules.CosineDecay(lr, max(1, steps))
    model.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x_tr = to_nhwc(train.x)
    if augment:
        aug = keras.Sequential([keras.layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", seed=seed),
                                keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed)])
        import tensorflow as tf

        ds = (tf.data.Dataset.from_tensor_slices((x_tr, train.y)).shuffle(len(x_tr), seed=seed)
              .batch(batch_size).map(lambda a, b: (aug(a, training=True), b)))
    else:
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((x_tr, train.y)).shuffle(len(x_tr), seed=seed).batch(batch_size)
    return model.fit(ds, validation_data=(to_nhwc(val.x), val.y), epochs=epochs, verbose=verbose)


def keras_accuracy(model, split, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1] of a Keras model on a course split (NCHW converted)."""
    logits = model.predict(to_nhwc(split.x), batch_size=batch_size, verbose=0)
    return float((np.argmax(logits, 1) == split.y).mean())
