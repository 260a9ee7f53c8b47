"""Drift seen from the model itself: statistics a deployed model can compute without labels.

:func:`bn_drift_score` compares the first BatchNorm layer's input statistics on a buffer of recent
inputs with the running statistics it stored in training; :func:`mean_entropy` is the mean
predictive entropy. The repair that uses the same statistics (AdaBN) is
:func:`tinyml_utils.train.adapt_batchnorm`. Trap: a drift that only mixes channels (a rotated
sensor) keeps each channel's energy and moves these statistics much less than a scale change.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .accuracy import logits


@torch.no_grad()
def bn_drift_score(model: nn.Module, x: np.ndarray) -> float:
    """How far the inputs of the model's first BatchNorm layer are from the statistics it stored in
    training: the mean over channels of ``|log(var_batch / running_var)| + (mean_batch -
    running_mean)^2 / running_var``. About 0 for data like the training data; no labels needed."""
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
