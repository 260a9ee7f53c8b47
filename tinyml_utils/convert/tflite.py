"""Keras / PyTorch → TFLite flatbuffers with a fixed batch of 1: float32, full-integer int8
(calibrated or from tfmot QAT), and PyTorch → TFLite directly with litert-torch."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from ..core.env import quiet
from ..core.io import atomic_write_bytes
from ..models.keras import to_nhwc
from .keras_twin import keras_twin


def batch1_clone(keras_model):
    """The functional Keras model (Keras 3 or tf-keras) rebuilt with a fixed batch of 1, weights copied.
    Trap: a dynamic batch makes the converter emit SHAPE/PACK ops that NPU compilers leave on the CPU."""
    cfg = keras_model.get_config()
    for layer in cfg["layers"]:
        if layer["class_name"] == "InputLayer":
            lc = layer["config"]
            key = "batch_shape" if "batch_shape" in lc else "batch_input_shape"
            lc[key] = (1, *tuple(lc[key])[1:])
    clone = keras_model.__class__.from_config(cfg)
    clone.set_weights(keras_model.get_weights())
    return clone


def _convert(converter) -> bytes:
    with quiet():   # Keras' SavedModel chatter, TF's INFO logs, a TF1 warning about input statistics
        return converter.convert()


def fp32(keras_model, path) -> Path:
    """Float32 TFLite flatbuffer of a Keras (3 or tf-keras) model, batch fixed to 1."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(batch1_clone(keras_model))
    return atomic_write_bytes(path, _convert(conv))


def int8(keras_model, representative_x_nhwc: np.ndarray, path, int8_io: bool = True,
         n_representative: int = 200) -> Path:
    """Full-integer TFLite (batch 1) calibrated on the first ``n_representative`` NHWC float images.
    ``int8_io=False`` keeps float32 input/output tensors around the int8 graph."""
    import tensorflow as tf

    rep = np.asarray(representative_x_nhwc[:n_representative], dtype=np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(batch1_clone(keras_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))   # one image at a time
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = conv.inference_output_type = tf.int8
    return atomic_write_bytes(path, _convert(conv))


def from_qat(qat_model, path, int8_io: bool = True) -> Path:
    """Full-integer TFLite of a tfmot QAT model (tf-keras) with the ranges learnt in training. Trap:
    the batch is the model's; pass the batch-1 twin (``qat_batch1`` of ``compress.quantize.tfmot_qat``)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if int8_io:
        conv.inference_input_type = conv.inference_output_type = tf.int8
    return atomic_write_bytes(path, _convert(conv))


def from_torch_int8(model, calib_x_nchw: np.ndarray, path, n_representative: int = 200) -> Path:
    """Full-integer (int8 in/out, batch 1) TFLite of a VisionCNN or DSCNN through its Keras twin."""
    with quiet():
        twin = keras_twin(model, batch_size=1, image_hw=tuple(calib_x_nchw.shape[2:]))
        return int8(twin, to_nhwc(calib_x_nchw), path, int8_io=True, n_representative=n_representative)


def from_torch(model, example, path: str | Path, nhwc_input: bool = False) -> Path:
    """Float32 ``.tflite`` of an eager PyTorch model with litert-torch, batch fixed by ``example``.
    ``nhwc_input=True``: the file takes NHWC images (what MediaPipe wants; ``example`` is NHWC then)."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    model = copy.deepcopy(model).eval()
    if nhwc_input:
        model = litert_torch.to_channel_last_io(model, args=[0]).eval()
    edge = litert_torch.convert(model, (example,))
    return atomic_write_bytes(path, bytes(edge.model_content()))
