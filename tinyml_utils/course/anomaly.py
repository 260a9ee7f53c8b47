"""Anomaly scorers fitted on normal feature vectors only (higher score: more anomalous): Gaussian
(Mahalanobis), k-means distance and an autoencoder's reconstruction error, float and int8."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import train
from ..data.base import Split
from ..models.keras import dense_keras
from ..runtimes import TFLiteMicro


@dataclass
class GaussianScorer:
    """Squared Mahalanobis distance ``(x − μ)ᵀ Σ⁻¹ (x − μ) = ‖W (x − μ)‖²`` with ``Wᵀ W = Σ⁻¹``.

    Trap: with few windows and correlated features Σ is nearly singular; ``shrinkage`` blends it
    towards its diagonal mean."""

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
        """z = W (x − μ), (N, d)."""
        return (np.asarray(x, np.float64) - self.mean) @ self.whiten.T

    def score(self, x: np.ndarray) -> np.ndarray:
        return (self.transform(x) ** 2).sum(1)

    def keras(self, keras=None):
        """The whitening as one Keras ``Dense`` layer (kernel Wᵀ, bias −Wμ); score = sum of squared outputs."""
        d = len(self.mean)
        model = dense_keras(d, (), d, keras=keras)          # one Dense layer, named "logits"
        model.get_layer("logits").set_weights([self.whiten.T.astype(np.float32),
                                               (-self.whiten @ self.mean).astype(np.float32)])
        return model


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


def train_autoencoder(model, x_normal: np.ndarray, *, epochs: int = 200, lr: float = 3e-3, batch_size: int = 32,
                      seed: int = 0, weight_decay: float = 1e-4):
    """Train ``model`` to reconstruct ``x_normal`` (MSE); returns the History.

    Trap: its "train_accuracy" column is meaningless here."""
    import torch.nn.functional as F

    x = np.asarray(x_normal, np.float32)
    split = Split(x, np.zeros(len(x), dtype=np.int64))
    return train.fit(model, split, None, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                     weight_decay=weight_decay, loss_fn=lambda out, y, xb: F.mse_loss(out, xb), desc="autoencoder")


def reconstruction_scores(recon: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Anomaly score of an autoencoder: mean squared error per row, in (feature units)²."""
    return ((np.asarray(x, np.float64) - np.asarray(recon, np.float64)) ** 2).mean(1)


def int8_scores(tflite_path, x: np.ndarray, kind: str) -> np.ndarray:
    """Scores of an int8 file run in TFLite Micro, from its dequantized output: ``"autoencoder"``
    (reconstruction error against the float input) or ``"gaussian"`` (sum of squares)."""
    if kind not in ("autoencoder", "gaussian"):
        raise ValueError(f"kind must be 'autoencoder' or 'gaussian', got {kind!r}")
    out = TFLiteMicro(tflite_path).predict(np.asarray(x, np.float32))
    if kind == "autoencoder":
        return reconstruction_scores(out, x)
    return (out.astype(np.float64) ** 2).sum(1)
