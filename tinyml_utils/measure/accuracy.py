"""Accuracy and agreement (fractions in [0, 1]) of every kind of model; ROC AUC of anomaly scores."""
from __future__ import annotations

import numpy as np
import torch

from ..models.keras import to_nhwc
from ..models.modes import predict


def _is_keras(model) -> bool:
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") for c in type(model).__mro__)


def logits(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Float32 logits (N, classes) on NCHW ``x`` of a torch module, Keras model (fed NHWC) or runtime."""
    if isinstance(model, torch.nn.Module):
        return predict(model, x, batch_size)
    if _is_keras(model):
        return np.asarray(model.predict(to_nhwc(x), batch_size=batch_size, verbose=0), np.float32)
    return np.asarray(model.predict(x), np.float32)


def top1(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float((np.asarray(scores).argmax(1) == np.asarray(y)).mean())


def accuracy(model, split, y: np.ndarray | None = None) -> float:
    """Top-1 accuracy of ``model`` on a course split (or on ``x`` with labels ``y``)."""
    x, y = (split, y) if y is not None else (split.x, split.y)
    if len(x) == 0:
        raise ValueError("accuracy: the split is empty; accuracy is undefined without examples")
    if len(x) != len(y):
        raise ValueError(f"accuracy: {len(x)} inputs but {len(y)} labels; they must pair up one to one")
    return top1(logits(model, x), y)


def parity(scores: np.ndarray, reference: np.ndarray) -> dict:
    """Output parity: max |difference| of logits and top-1 agreement (fraction in [0, 1])."""
    scores, reference = np.asarray(scores, np.float32), np.asarray(reference, np.float32)
    if scores.shape != reference.shape:
        raise ValueError(f"parity: shapes differ {scores.shape} vs {reference.shape}")
    return {"max_abs_diff": float(np.max(np.abs(scores - reference))),
            "top1_agreement": float(np.mean(scores.argmax(1) == reference.argmax(1)))}


def evaluate(model, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """``{"accuracy", "logits"}`` of ``model`` on (x, y), plus :func:`parity` given reference logits."""
    out_logits = logits(model, x)
    out = {"accuracy": top1(out_logits, y), "logits": out_logits}
    if reference is not None:
        out.update(parity(out_logits, reference))
    return out


def roc_auc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half): the Mann–Whitney rank statistic."""
    from scipy.stats import rankdata

    y = np.asarray(is_anomaly).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc needs anomalies and normal windows; got {n_pos} and {n_neg}")
    ranks = rankdata(s)   # 1-based, ties share their average rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_points(is_anomaly: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct score, from (0, 0) to (1, 1)."""
    from sklearn.metrics import roc_curve

    y = np.asarray(is_anomaly).astype(bool).ravel()
    fpr, tpr, _ = roc_curve(y, np.asarray(scores, np.float64).ravel(), drop_intermediate=False)
    return fpr, tpr
