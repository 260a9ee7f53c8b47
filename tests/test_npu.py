"""Oracle tests of tinyml_utils.convert.vela and .arm: Vela's summary read back against its own CSV and config file,
and the TOSA reference model against the PT2E fake-quantized model on a tiny network."""
from __future__ import annotations

import configparser

import numpy as np
import pytest

from tinyml_utils.convert import arm, tflite, vela
from tinyml_utils.core.env import quiet

CONSOLE = """Warning (supported operators) operator: SQUARE, ofm: 'sq'
CPU operators = 1 (8.3%)
   CPU: Passthrough = sq (outputs [1, 1, 1, 10])
NPU operators = 11 (91.7%)
   NPU: Conv2D = c1 (outputs [1, 28, 28, 8])
"""


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    from tiny import tiny_int8_tflite

    return tiny_int8_tflite(tmp_path_factory.mktemp("tiny") / "tiny_int8.tflite", channels=8, classes=4, pool=True)


def test_parse_console():
    p = vela.parse_vela_console(CONSOLE)
    assert p["cpu_ops"] == 1 and p["npu_ops"] == 11
    assert p["cpu_op_list"] == ["Passthrough = sq (outputs [1, 1, 1, 10])"]
    assert any("SQUARE" in r for r in p["reasons"])


def test_system_configs_come_from_vela_ini():
    cp = configparser.ConfigParser()
    cp.read(vela.vela_config_ini())
    for acc in ("ethos-u55-128", "ethos-u65-256", "ethos-u85-256"):
        sc, mm = vela.default_system(acc)
        assert f"System_Config.{sc}" in cp and f"Memory_Mode.{mm}" in cp
    assert float(cp["System_Config.Ethos_U55_High_End_Embedded"]["core_clock"]) == 500e6
    with pytest.raises(ValueError):
        vela.default_system("hexagon")


@pytest.mark.parametrize("acc", ["ethos-u55-128", "ethos-u65-256"])
def test_vela_compile_matches_its_csv(tiny_tflite, tmp_path, acc):
    s = vela.vela_compile(tiny_tflite, acc, out_dir=tmp_path, per_layer=True)
    row = vela.parse_vela_csv(s["csv"])
    # the per-operator table adds up to the summary's totals
    assert s["layers"].op_cycles.sum() == row["cycles_total"] and s["layers"].npu_cycles.sum() == row["cycles_npu"]
    assert s["estimated"] is True and s["cpu_ops"] == 0 and s["npu_ops"] > 0
    assert s["npu_cycles"] == row["cycles_npu"] > 0 and s["total_cycles"] == row["cycles_total"]
    assert s["latency_ms"] == pytest.approx(1e3 * row["cycles_total"] / row["core_clock"])
    assert s["sram_bytes"] == pytest.approx(row["sram_memory_used"] * 1024, abs=1)
    cp = configparser.ConfigParser()
    cp.read(vela.vela_config_ini())
    assert s["npu_clock_hz"] == float(cp[f"System_Config.{s['system_config']}"]["core_clock"])
    assert s["optimised_tflite"].exists()
    # MACs: conv (8x8 outputs x 8 channels x 9 taps) + dense 8x4, plus Vela's count for the pooling
    # windows (max pool 4x4x8 outputs x 4 taps, mean 4x4x8)
    assert s["macs"] == 8 * 8 * 8 * 9 + 8 * 4 + 4 * 4 * 8 * 4 + 4 * 4 * 8


def test_vela_reports_cpu_fallback(tmp_path):
    """A float op in an int8 file (DEQUANTIZE→SQUARE→QUANTIZE from UnitNormalization) stays on the CPU."""
    import keras

    inp = keras.Input((4, 4, 1), batch_size=1)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    model = arm.keras_with_unit_norm(keras.Model(inp, keras.layers.Dense(3)(x)))
    with quiet():
        path = tflite.int8(model, np.random.default_rng(0).random((8, 4, 4, 1), dtype=np.float32),
                           tmp_path / "l2.tflite", n_representative=8)
    s = vela.vela_compile(path, "ethos-u55-128", out_dir=tmp_path / "out")
    assert s["cpu_ops"] >= 1 and any("SQUARE" in r for r in s["reasons"])


def test_tosa_reference_equals_fake_quant():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).eval()
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    res = arm.tosa_reference_check(model, torch.as_tensor(x[:1]), x, x)
    assert res["n"] == 6 and res["max_lsb_diff"] <= 1
    assert res["tosa_int8"].shape == res["fake_quant_int8"].shape == (6, 3)
