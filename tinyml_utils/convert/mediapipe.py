"""A MediaPipe Tasks image-classifier file from a 1-channel PyTorch CNN."""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..core.compat import mediapipe_metadata_writers
from . import tflite


def rgb_twin(model):
    """A copy of a 1-channel CNN taking RGB: the first conv's weights repeated over 3 channels and
    divided by 3, so gray copied to R, G, B gives the same logits (up to float rounding)."""
    twin = copy.deepcopy(model).eval()
    for parent in twin.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != 1:
                    raise ValueError(f"rgb_twin expects a first conv with 1 input channel, got {child.in_channels}")
                new = nn.Conv2d(3, child.out_channels, child.kernel_size, child.stride, child.padding,
                                child.dilation, child.groups, child.bias is not None, child.padding_mode)
                with torch.no_grad():
                    new.weight.copy_(child.weight.repeat(1, 3, 1, 1) / 3)
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, name, new)
                return twin
    raise ValueError("rgb_twin: the model has no nn.Conv2d")


def mediapipe_classifier_file(model, labels, path: str | Path, image_hw=(28, 28),
                              norm_mean: float = 0.0, norm_std: float = 255.0) -> Path:
    """Its :func:`rgb_twin` as an NHWC float32 batch-1 ``.tflite`` plus the metadata the Tasks API
    reads: labels and input normalization ``(pixel - mean) / std`` (0 and 255: uint8 → [0, 1])."""
    path = Path(path)
    plain = path.with_name(path.stem + "_nometa.tflite")
    tflite.from_torch(rgb_twin(model), torch.zeros(1, *image_hw, 3), plain, nhwc_input=True)
    mediapipe_metadata_writers()
    from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer

    writer = image_classifier.MetadataWriter.create(
        bytearray(plain.read_bytes()), input_norm_mean=[float(norm_mean)], input_norm_std=[float(norm_std)],
        labels=metadata_writer.Labels().add([str(c) for c in labels]))
    data, _ = writer.populate()
    del writer
    path.write_bytes(bytes(data))
    plain.unlink()
    return path
