"""Fault tests of issue 20 (each started from the issue's repro): empty splits, bad audio, model files that
are not what their name says, store checkpoints without a trusted digest, byte-reproducible ``.pt`` files."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.data.base import Split


def _tiny_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))


# ------------------------------------------------------------------ item 9: empty splits

def test_fit_on_an_empty_split_says_so():
    from tinyml_utils import train

    empty = Split(np.zeros((0, 1, 2, 3), np.float32), np.zeros(0, np.int64))
    full = Split(np.zeros((4, 1, 2, 3), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="training split is empty"):
        train.fit(_tiny_model(), empty, epochs=1)
    with pytest.raises(ValueError, match="validation split is empty"):
        train.fit(_tiny_model(), full, empty, epochs=1)


def test_accuracy_on_an_empty_split_says_so():
    from tinyml_utils import measure

    with pytest.raises(ValueError, match="split is empty"):
        measure.accuracy(_tiny_model(), Split(np.zeros((0, 1, 2, 3), np.float32), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        measure.accuracy(_tiny_model(), np.zeros((3, 1, 2, 3), np.float32), np.zeros(2, np.int64))
