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
