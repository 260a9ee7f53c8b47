"""The course's model family (PyTorch), built only from ops every runtime and NPU compiler in the
course takes (conv, batch norm, ReLU, max-pool, mean, linear)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

VISION_WIDTHS = {"student": 8, "baseline": 16, "teacher": 32}


class VisionCNN(nn.Module):
    """conv(w)→pool→conv(2w)→pool→conv(4w)→global mean→linear. Input (N, 1, 28, 28) in [0, 1]."""

    def __init__(self, width: int = 16, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        w = width
        self.width = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 28 → 14
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 14 → 7
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(),
        )
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # global average pool; keepdim=True lets XNNPACK take the mean (it rejects keepdim=False)
        x = torch.flatten(x.mean(dim=(2, 3), keepdim=True), 1)
        return self.classifier(x)


def vision_cnn(width: int | str = "baseline", num_classes: int = 10, in_channels: int = 1) -> VisionCNN:
    """The spine model at a width in channels or a role name from ``VISION_WIDTHS``."""
    if isinstance(width, str):
        if width not in VISION_WIDTHS:
            raise ValueError(f"Unknown width {width!r}: use an int or one of {sorted(VISION_WIDTHS)}")
        width = VISION_WIDTHS[width]
    return VisionCNN(width, num_classes, in_channels)


def _dw_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
    )


class DSCNN(nn.Module):
    """Depthwise-separable CNN for keyword spotting ('Hello Edge', 2017). Input (N, 1, frames, coefficients)."""

    def __init__(self, num_classes: int = 12, width: int = 64, blocks: int = 4):
        super().__init__()
        layers = [nn.Conv2d(1, width, (10, 4), stride=(2, 2), padding=(5, 1), bias=False),
                  nn.BatchNorm2d(width), nn.ReLU()]
        layers += [_dw_block(width, width) for _ in range(blocks)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x).mean(dim=(2, 3), keepdim=True), 1))


ds_cnn = DSCNN


class MotionCNN(nn.Module):
    """A small 1-D CNN over IMU windows. Input (N, channels, samples), e.g. (N, 6, 30)."""

    def __init__(self, in_channels: int = 6, num_classes: int = 4, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, 5, padding=2, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, 2 * width, 5, padding=2, bias=False), nn.BatchNorm1d(2 * width), nn.ReLU(),
        )
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x).mean(dim=2, keepdim=True), 1))


motion_cnn = MotionCNN


def dense_net(in_features: int, hidden: Sequence[int] = (32, 16), out_features: int = 4) -> nn.Sequential:
    """A tiny MLP ``Linear → ReLU → … → Linear`` over feature vectors (N, in_features)."""
    layers, d = [], in_features
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_features))
    return nn.Sequential(*layers)


def autoencoder(in_features: int, hidden: Sequence[int] = (16, 6)) -> nn.Sequential:
    """A dense autoencoder mirrored around its bottleneck: ``hidden=(16, 6)`` gives ``d → 16 → 6 → 16 → d``."""
    hidden = tuple(hidden)
    return dense_net(in_features, hidden + hidden[-2::-1], in_features)
