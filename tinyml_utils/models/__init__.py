"""The course's model family: :mod:`.torch` (PyTorch, re-exported here) and :mod:`.keras` (Keras twins)."""
from __future__ import annotations

from .torch import DSCNN, VISION_WIDTHS, MotionCNN, VisionCNN, autoencoder, dense_net, ds_cnn, motion_cnn, vision_cnn

__all__ = ["VISION_WIDTHS", "VisionCNN", "vision_cnn", "DSCNN", "ds_cnn", "MotionCNN", "motion_cnn",
           "dense_net", "autoencoder"]
