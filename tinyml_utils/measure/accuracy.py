"""Accuracy and agreement (fractions in [0, 1]): one helper for every kind of model.

:func:`logits` takes NCHW float32 and dispatches: a PyTorch module or exported (PT2E) GraphModule
→ :func:`tinyml_utils.train.predict`; a Keras model → ``predict`` on NHWC (converted here);
anything else with ``predict(x)`` (a :mod:`tinyml_utils.runtimes` wrapper) → its own.
"""
from __future__ import annotations

import numpy as np

from .. import train
from ..models.keras import to_nhwc


def _is_keras(model) -> bool:
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") for c in type(model).__mro__)


def logits(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Float32 logits (N, classes) of ``model`` on NCHW float32 ``x`` (see the module docstring)."""
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            return train.predict(model, x, batch_size)
    except ImportError:  # pragma: no cover - torch is part of the course environment
        pass
    if _is_keras(model):
        return np.asarray(model.predict(to_nhwc(x), batch_size=batch_size, verbose=0), np.float32)
    return np.asarray(model.predict(x), np.float32)


def top1(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float((np.asarray(scores).argmax(1) == np.asarray(y)).mean())


def accuracy(model, split, y: np.ndarray | None = None) -> float:
    """Top-1 accuracy of ``model`` on a course split (or on ``x`` with labels ``y``)."""
    x, y = (split, y) if y is not None else (split.x, split.y)
    return top1(logits(model, x), y)


def parity(scores: np.ndarray, reference: np.ndarray) -> dict:
    """Output parity: max |difference| of logits and top-1 agreement (fraction in [0, 1])."""
    scores, reference = np.asarray(scores, np.float32), np.asarray(reference, np.float32)
    if scores.shape != reference.shape:
        raise ValueError(f"parity: shapes differ {scores.shape} vs {reference.shape}")
    return {"max_abs_diff": float(np.max(np.abs(scores - reference))),
            "top1_agreement": float(np.mean(scores.argmax(1) == reference.argmax(1)))}


def evaluate(model, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """Accuracy of ``model`` on (x, y) and, given reference logits, :func:`parity` against them.
    Returns ``{"accuracy", "max_abs_diff", "top1_agreement", "logits"}``."""
    out_logits = logits(model, x)
    out = {"accuracy": top1(out_logits, y), "logits": out_logits}
    if reference is not None:
        out.update(parity(out_logits, reference))
    return out
