"""QAT converts to the model it trained: after ``quantize.qat_pt2e``'s fine-tuning, the converted
int graph computes what the fake-quant training graph computed (torch's fused fake quantizer divides
a per-channel weight range by 7.5 steps at 4 bits where its observer, which ``convert_pt2e`` reads,
divides by 7; ``quantize.sync_observers`` aligns them)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tinyml_utils import train
from tinyml_utils.compress import quantize as Q
from tinyml_utils.data.base import Split
from tinyml_utils.models.export import export_program


@pytest.fixture(scope="module")
def trained_qat():
    """A tiny BN-folded CNN after a few QAT steps at 4-bit weights (observers moving every step)."""
    from tiny import tiny_model_and_images
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    model, x = tiny_model_and_images(64)
    split = Split(x, (np.arange(len(x)) % 10).astype(np.int64))
    gm = export_program(Q.fold_batchnorm(model), torch.as_tensor(x[:2])).module()
    prepared = prepare_qat_pt2e(gm, Q.xnnpack_quantizer(weight_bits=4, is_qat=True))
    train.fit(prepared, split, None, epochs=3, lr=5e-2, batch_size=8, seed=0)
    return prepared, x


def test_sync_observers_makes_observer_qparams_equal_the_trained_ones(trained_qat):
    prepared, _ = trained_qat
    synced = Q.sync_observers(copy.deepcopy(prepared))
    fqs = [m for m in synced.modules() if type(m).__name__ == "FusedMovingAvgObsFakeQuantize"]
    assert len(fqs) >= 8                                   # weights and activations
    for fq in fqs:
        scale, zp = fq.calculate_qparams()
        torch.testing.assert_close(scale.float(), fq.scale.float(), rtol=1e-5, atol=1e-8)
        assert torch.equal(zp.to(torch.int64), fq.zero_point.to(torch.int64))


def test_converted_qat_model_equals_its_training_graph(trained_qat):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    prepared, x = trained_qat
    train.set_eval(prepared)
    with torch.no_grad():
        fq = prepared(torch.as_tensor(x)).numpy()          # what was trained (observers see x once more)
    conv = convert_pt2e(Q.sync_observers(copy.deepcopy(prepared)))
    out = train.predict(conv, x)
    last = [n for n in conv.graph.nodes if "dequantize_per_tensor" in str(n.target)][-1]
    assert np.abs(out - fq).max() <= 2 * float(last.args[1]) + 1e-6   # within two output steps
