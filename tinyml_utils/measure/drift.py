"""Drift statistics a deployed model can compute without labels.

Trap: a drift that only mixes channels (a rotated sensor) moves them much less than a scale change.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .accuracy import logits


@torch.no_grad()
def bn_drift_score(model: nn.Module, x: np.ndarray) -> float:
    """Mean over the first BatchNorm's channels of ``|log(var / running_var)| + (mean - running_mean)^2
    / running_var`` on ``x`` (about 0 for data like the training data)."""
    bn = next(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    feats = {}
    hook = bn.register_forward_hook(lambda m, inp, out: feats.setdefault("x", inp[0]))
    model.eval()
    model(torch.as_tensor(x, dtype=torch.float32))
    hook.remove()
    f = feats["x"].transpose(0, 1).reshape(bn.num_features, -1)
    mean, var = f.mean(1), f.var(1)
    rv = bn.running_var + bn.eps
    return float(((var / rv).log().abs() + (mean - bn.running_mean) ** 2 / rv).mean())


def mean_entropy(model, x: np.ndarray) -> float:
    """Mean predictive entropy (nats) of the model's softmax on ``x`` (any model ``logits`` takes)."""
    p = torch.softmax(torch.as_tensor(logits(model, x)), 1)
    return float(-(p * torch.log(p.clamp_min(1e-12))).sum(1).mean())
