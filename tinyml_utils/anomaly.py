"""Anomaly detection on feature vectors, and the tiny dense models of the sensor chapter.

Train on "normal" windows only, score every test window, and measure with ROC AUC how well the
score separates normal from never-seen activity (MLPerf Tiny's anomaly benchmark uses AUC too).
Three detectors, from simplest to learnt:

- :class:`GaussianScorer`: squared Mahalanobis distance to the normal windows' mean. It is a
  linear map ``z = W (x − μ)`` and a sum of squares, so it deploys as ONE dense layer.
- :class:`KMeansScorer`: distance to the nearest of k centroids of the normal windows.
- an autoencoder (:func:`autoencoder`): score = mean squared reconstruction error.

Both the autoencoder and the Gaussian scorer become Keras models (:func:`keras_twin`,
:meth:`GaussianScorer.keras`) that the course's ``quantize.tflite_int8`` turns into int8 TFLite
files; :func:`int8_scores` scores with them so the AUC after quantization can be compared.

>>> from tinyml_utils import anomaly
>>> g = anomaly.GaussianScorer.fit(x_normal)
>>> anomaly.roc_auc(is_anomaly, g.score(x_test))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------------------------
# ROC AUC
# --------------------------------------------------------------------------------------------


def roc_auc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random anomaly scores higher than a random
    normal window (ties count one half). The Mann–Whitney rank statistic with average ranks for
    ties; equals ``sklearn.metrics.roc_auc_score``. Needs both classes present."""
    y = np.asarray(is_anomaly).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc needs anomalies and normal windows; got {n_pos} and {n_neg}")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):                       # average rank over each run of tied scores
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_points(is_anomaly: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every threshold, from (0, 0) to (1, 1)."""
    y = np.asarray(is_anomaly).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    thr = np.unique(s)[::-1]
    tpr = [0.0] + [float((s[y] >= t).mean()) for t in thr]
    fpr = [0.0] + [float((s[~y] >= t).mean()) for t in thr]
    return np.asarray(fpr), np.asarray(tpr)


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------

@dataclass
class GaussianScorer:
    """Squared Mahalanobis distance ``(x − μ)ᵀ Σ⁻¹ (x − μ) = ‖W (x − μ)‖²`` with ``Wᵀ W = Σ⁻¹``.

    ``shrinkage`` blends the covariance towards its diagonal mean (Ledoit–Wolf style, fixed
    amount): with few normal windows and correlated features Σ is nearly singular otherwise.
    """

    mean: np.ndarray
    whiten: np.ndarray          # W, (d, d)

    @classmethod
    def fit(cls, x_normal: np.ndarray, shrinkage: float = 0.1) -> GaussianScorer:
        x = np.asarray(x_normal, np.float64)
        mu = x.mean(0)
        cov = np.cov(x, rowvar=False)
        d = cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
        # Σ⁻¹ = L⁻ᵀ L⁻¹ for Σ = L Lᵀ, so W = L⁻¹
        w = np.linalg.inv(np.linalg.cholesky(cov))
        return cls(mu, w)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Whitened coordinates z = W (x − μ), (N, d)."""
        return (np.asarray(x, np.float64) - self.mean) @ self.whiten.T

    def score(self, x: np.ndarray) -> np.ndarray:
        return (self.transform(x) ** 2).sum(1)

    def keras(self, keras=None):
        """The whitening as one Keras ``Dense`` layer (kernel Wᵀ, bias −Wμ); score = sum of the
        output squared. Convert with ``quantize.tflite_int8`` for the int8 version."""
        if keras is None:
            import keras
        d = len(self.mean)
        inp = keras.Input(shape=(d,), name="features")
        layer = keras.layers.Dense(d, name="whiten")
        out = layer(inp)
        layer.set_weights([self.whiten.T.astype(np.float32), (-self.whiten @ self.mean).astype(np.float32)])
        return keras.Model(inp, out, name="gaussian_scorer")


@dataclass
class KMeansScorer:
    """Distance to the nearest of ``k`` centroids (scikit-learn's KMeans) of the normal windows."""

    centroids: np.ndarray

    @classmethod
    def fit(cls, x_normal: np.ndarray, k: int = 4, seed: int = 0) -> KMeansScorer:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(np.asarray(x_normal, np.float64))
        return cls(km.cluster_centers_)

    def score(self, x: np.ndarray) -> np.ndarray:
        d = ((np.asarray(x, np.float64)[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        return np.sqrt(d.min(1))


# --------------------------------------------------------------------------------------------
# Tiny dense models (classifier and autoencoder) and their Keras twins
# --------------------------------------------------------------------------------------------

def dense_net(in_features: int, hidden: Sequence[int] = (32, 16), out_features: int = 4):
    """A tiny MLP ``Linear → ReLU → … → Linear`` (logits or reconstruction out), PyTorch."""
    from torch import nn

    layers, d = [], in_features
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_features))
    return nn.Sequential(*layers)


def autoencoder(in_features: int, hidden: Sequence[int] = (16, 6)):
    """A dense autoencoder ``d → 16 → 6 → 16 → d`` (ReLU inside, linear output), PyTorch."""
    hidden = tuple(hidden)
    return dense_net(in_features, hidden + hidden[-2::-1], in_features)


def train_autoencoder(model, x_normal: np.ndarray, *, epochs: int = 200, lr: float = 3e-3, batch_size: int = 32,
                      seed: int = 0, weight_decay: float = 1e-4):
    """Train ``model`` to reconstruct ``x_normal`` (mean squared error) with the course's
    ``train.fit`` loop (no validation split: its accuracy-based early stopping does not apply).
    Returns the History; the "train_accuracy" column is meaningless here."""
    import torch.nn.functional as F

    from . import train
    from .data.base import Split

    x = np.asarray(x_normal, np.float32)
    split = Split(x, np.zeros(len(x), dtype=np.int64))
    return train.fit(model, split, None, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                     weight_decay=weight_decay, loss_fn=lambda out, y, xb: F.mse_loss(out, xb), desc="autoencoder")


def reconstruction_scores(recon: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Anomaly score of an autoencoder: mean squared error per row, in (feature units)²."""
    return ((np.asarray(x, np.float64) - np.asarray(recon, np.float64)) ** 2).mean(1)


def keras_twin(model, input_shape: tuple, keras=None):
    """A Keras model with the same weights as a PyTorch model, for the TFLite/TFLM path.

    Handles the two shapes of this chapter: an ``nn.Sequential`` of ``Linear``/``ReLU``
    (:func:`dense_net`, :func:`autoencoder`), and ``models.MotionCNN`` (Conv1d-BN-ReLU ×2, mean
    over time, Linear). Layouts: PyTorch Conv1d is (N, C, T), Keras Conv1D is (N, T, C), so feed
    the twin ``np.transpose(x, (0, 2, 1))``; ``input_shape`` is without the batch, in Keras layout.
    """
    if keras is None:
        import keras
    from torch import nn

    L = keras.layers
    inp = keras.Input(shape=input_shape, name="input")
    h, todo = inp, []
    if isinstance(model, nn.Sequential):
        for m in model:
            if isinstance(m, nn.Linear):
                layer = L.Dense(m.out_features)
                h = layer(h)
                todo.append((layer, [m.weight.detach().numpy().T, m.bias.detach().numpy()]))
            elif isinstance(m, nn.ReLU):
                h = L.ReLU()(h)
            else:
                raise TypeError(f"keras_twin: unsupported layer {type(m).__name__} in a Sequential")
    elif hasattr(model, "features") and hasattr(model, "classifier"):        # models.MotionCNN
        mods = list(model.features)
        for conv, bn in zip(mods[0::3], mods[1::3]):
            if not isinstance(conv, nn.Conv1d) or not isinstance(bn, nn.BatchNorm1d):
                raise TypeError("keras_twin expects MotionCNN's Conv1d-BatchNorm1d-ReLU blocks")
            c = L.Conv1D(conv.out_channels, conv.kernel_size[0], padding="same", use_bias=False)
            b = L.BatchNormalization(epsilon=bn.eps)
            h = L.ReLU()(b(c(h)))
            todo.append((c, [np.transpose(conv.weight.detach().numpy(), (2, 1, 0))]))
            todo.append((b, [bn.weight.detach().numpy(), bn.bias.detach().numpy(),
                             bn.running_mean.numpy(), bn.running_var.numpy()]))
        h = L.GlobalAveragePooling1D()(h)
        fc = L.Dense(model.classifier.out_features)
        h = fc(h)
        todo.append((fc, [model.classifier.weight.detach().numpy().T, model.classifier.bias.detach().numpy()]))
    else:
        raise TypeError(f"keras_twin does not know {type(model).__name__}")
    out = keras.Model(inp, h)
    for layer, weights in todo:
        layer.set_weights([np.asarray(w, np.float32) for w in weights])
    return out


# --------------------------------------------------------------------------------------------
# int8 deployment: scores from the quantized file
# --------------------------------------------------------------------------------------------

def int8_outputs(tflite_path, x: np.ndarray) -> np.ndarray:
    """Float outputs (dequantized) of an int8 TFLite model, one batch-1 call per row, run in
    TensorFlow Lite Micro's interpreter (the MCU reference; ``deploy.TFLMRunner``)."""
    from . import deploy

    runner = deploy.TFLMRunner(tflite_path)
    return runner.predict(np.asarray(x, np.float32))


def int8_scores(tflite_path, x: np.ndarray, kind: str) -> np.ndarray:
    """Anomaly scores from an int8 TFLite model: ``kind="autoencoder"`` → reconstruction error of
    the dequantized output against the float input; ``kind="gaussian"`` → sum of squares of the
    dequantized whitened output."""
    out = int8_outputs(tflite_path, x)
    if kind == "autoencoder":
        return reconstruction_scores(out, x)
    if kind == "gaussian":
        return (out.astype(np.float64) ** 2).sum(1)
    raise ValueError(f"kind must be 'autoencoder' or 'gaussian', got {kind!r}")
