"""The course's model family: :mod:`.torch` (PyTorch, the spine) and :mod:`.keras` (Keras twins).

The PyTorch builders are re-exported here: ``models.vision_cnn(...)``.
"""
from __future__ import annotations

from .torch import DSCNN, VISION_WIDTHS, MotionCNN, VisionCNN, autoencoder, dense_net, ds_cnn, motion_cnn, vision_cnn

__all__ = ["VISION_WIDTHS", "VisionCNN", "vision_cnn", "DSCNN", "ds_cnn", "MotionCNN", "motion_cnn",
           "dense_net", "autoencoder"]
