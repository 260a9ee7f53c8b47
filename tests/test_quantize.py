"""Oracle tests of tinyml_utils.compress.quantize: our arithmetic against PyTorch's quantize ops and
observers; the PT2E int8 .pte against its own fake-quant (converted) graph; the full-integer
TFLite file against the Keras model it came from."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from tinyml_utils import measure, runtimes, train
from tinyml_utils.compress import quantize as Q
from tinyml_utils.convert import executorch, tflite
from tinyml_utils.models import keras as keras_models


@pytest.fixture(scope="module")
def w():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 4, 3, 3, generator=g) * torch.linspace(0.05, 2.0, 8).reshape(8, 1, 1, 1) + 0.1


def test_int_range():
    assert Q.int_range(8, symmetric=True) == (-127, 127)
    assert Q.int_range(8, symmetric=False) == (-128, 127)
    assert Q.int_range(4, symmetric=True) == (-7, 7)


@pytest.mark.parametrize("symmetric", [True, False])
def test_choose_qparams_per_tensor_matches_minmax_observer(w, symmetric):
    from torchao.quantization.pt2e import MinMaxObserver

    qmin, qmax = Q.int_range(8, symmetric)
    obs = MinMaxObserver(dtype=torch.int8, quant_min=qmin, quant_max=qmax,
                         qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    obs(w)
    scale, zp = obs.calculate_qparams()
    qp = Q.choose_qparams(w, 8, symmetric)
    torch.testing.assert_close(qp.scale.reshape(1), scale.reshape(1).float())
    assert int(qp.zero_point) == int(zp)


def test_choose_qparams_per_channel_matches_observer(w):
    from torchao.quantization.pt2e import PerChannelMinMaxObserver

    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.int8, quant_min=-127, quant_max=127,
                                   qscheme=torch.per_channel_symmetric)
    obs(w)
    scale, zp = obs.calculate_qparams()
    qp = Q.choose_qparams(w, 8, True, per_channel_axis=0)
    torch.testing.assert_close(qp.scale, scale.float())
    assert torch.equal(qp.zero_point, zp.to(torch.int64))


@pytest.mark.parametrize("symmetric", [True, False])
def test_quantize_per_tensor_matches_torch(w, symmetric):
    qp = Q.choose_qparams(w, 8, symmetric)
    ours = Q.quantize_affine(w, qp.scale, qp.zero_point, qp.qmin, qp.qmax)
    ref = torch.quantize_per_tensor(w, float(qp.scale), int(qp.zero_point), torch.qint8)
    # torch multiplies by 1/scale, we divide: allow a 1-LSB tie difference on a handful of values
    diff = (ours - ref.int_repr().to(torch.int32)).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
    torch.testing.assert_close(Q.dequantize(ref.int_repr(), qp.scale, qp.zero_point), ref.dequantize(),
                               atol=1e-6, rtol=0)


def test_quantize_per_channel_matches_torch(w):
    qp = Q.choose_qparams(w, 8, True, per_channel_axis=0)
    ours = Q.quantize_affine(w, qp.scale, qp.zero_point, qp.qmin, qp.qmax, axis=0)
    ref = torch.quantize_per_channel(w, qp.scale.double(), qp.zero_point, 0, torch.qint8)
    diff = (ours - ref.int_repr().to(torch.int32)).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
    back = Q.dequantize(ours, qp.scale, qp.zero_point, axis=0)
    # round-to-nearest: error at most half a step of each channel
    assert bool(((back - w).abs() <= qp.scale.reshape(-1, 1, 1, 1) / 2 + 1e-6).all())


def test_per_channel_beats_per_tensor_and_bits_cost_6db(w):
    pt = Q.sqnr_db(w, Q.fake_quantize(w, 8, True, None))
    pc = Q.sqnr_db(w, Q.fake_quantize(w, 8, True, 0))
    assert pc > pt
    four = Q.sqnr_db(w, Q.fake_quantize(w, 4, True, 0))
    assert 15 < pc - four < 30  # ~6 dB per bit for 4 bits


@pytest.fixture(scope="module")
def tiny():
    from tiny import tiny_model_and_images

    return tiny_model_and_images(32)


def test_ptq_pte_matches_fake_quant_and_layer_error(tiny, tmp_path):
    model, x = tiny
    conv = Q.ptq_pt2e(model, x)
    fq = train.predict(conv, x)
    pte = executorch.to_executorch(conv, x, tmp_path / "t.pte")
    out = runtimes.ExecuTorchPte(pte).predict(x[:8])  # batch 1, a call per row
    # output quantization step of the converted graph: the last dequantize's scale
    last = [n for n in conv.graph.nodes if "dequantize_per_tensor" in str(n.target)][-1]
    step = float(last.args[1])
    assert np.abs(out - fq[:8]).max() <= step + 1e-6
    bytes_by_dtype = measure.graph_constant_bytes(conv)
    assert bytes_by_dtype["int8"] == sum(m.weight.numel() for m in model.modules()
                                         if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    err = Q.layer_error(model, conv, x)
    assert len(err) == 4 and np.isfinite(err["sqnr_db"]).all() and (err["sqnr_db"] > 10).all()


def test_fold_batchnorm_keeps_outputs(tiny):
    model, x = tiny
    folded = Q.fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(folded(torch.from_numpy(x)), model(torch.from_numpy(x)), atol=1e-5, rtol=1e-4)


def _qat_smoke(tiny, fold_bn):
    from tinyml_utils.data.base import Split

    model, x = tiny
    split = Split(x, (np.arange(len(x)) % 10).astype(np.int64))
    conv = Q.qat_pt2e(model, split, split, epochs=1, batch_size=16, calib_n=16, fold_bn=fold_bn)
    assert any("quantize_per_tensor" in str(n.target) for n in conv.graph.nodes)
    with pytest.raises(NotImplementedError):
        conv.eval()  # the trap: exported models refuse .eval(); train.set_eval works
    train.set_eval(conv)
    out = measure.accuracy(conv, split)
    assert 0.0 <= out <= 1.0


def test_qat_bn_folded_runs_and_refuses_plain_eval(tiny):
    _qat_smoke(tiny, fold_bn=True)


@pytest.mark.slow
def test_qat_with_batchnorm_runs(tiny):
    """The default path (torchao's QAT conv-BN rewrites): ~40 s on 2 CPU cores, hence slow."""
    _qat_smoke(tiny, fold_bn=False)


def test_legacy_keras_errors_clearly_after_tf_import(monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    with pytest.raises(RuntimeError, match="before anything imports tensorflow"):
        keras_models.legacy_keras()


def test_tflite_int8_matches_keras(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    km = keras_models.vision_cnn_keras(4)
    rng = np.random.default_rng(1)
    x = (rng.integers(0, 256, size=(16, 1, 28, 28)) / 255.0).astype(np.float32)   # NCHW, runtimes' input
    ref = km.predict(keras_models.to_nhwc(x), verbose=0)
    r32 = runtimes.LiteRT(tflite.fp32(km, tmp_path / "f.tflite"))
    np.testing.assert_allclose(r32.predict(x), ref, atol=1e-4)
    r8 = runtimes.LiteRT(tflite.int8(km, keras_models.to_nhwc(x), tmp_path / "i.tflite", int8_io=True))
    assert r8.inp["dtype"] == np.int8 and tuple(r8.inp["shape"]) == (1, 28, 28, 1)
    assert not {"SHAPE", "PACK"} & set(r8.op_names())
    scale = r8.out["quantization"][0]
    span = float(ref.max() - ref.min())
    assert np.abs(r8.predict(x) - ref).max() <= max(8 * scale, 0.1 * span)
