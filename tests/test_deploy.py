"""Oracle tests of tinyml_utils.deploy (device table, C header: round trip and a real C compiler, budget
arithmetic) and of the TFLite Micro runtime (arena report, outputs against LiteRT)."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from tinyml_utils import runtimes
from tinyml_utils.core import env
from tinyml_utils.deploy import c_array, devices
from tinyml_utils.runtimes import tflm


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """A tiny full-integer conv net converted by TensorFlow (the reference converter)."""
    from tiny import tiny_int8_tflite

    return tiny_int8_tflite(tmp_path_factory.mktemp("tiny") / "tiny_int8.tflite")


def test_profiles_table():
    names = [p.name for p in devices.DEVICE_PROFILES]
    assert len(names) == len(set(names))
    df = devices.profiles_frame()
    assert list(df.device) == names
    for p in devices.DEVICE_PROFILES:
        assert p.clock_hz > 0 and p.sram_bytes > 0 and p.flash_bytes > 0 and p.active_power_mw > 0 and p.source
        if p.has_ethos:
            assert p.npu_clock_hz and p.vela_system_config and p.vela_memory_mode
    u55 = devices.profile("Ethos-U55-128")
    assert u55.npu == "ethos-u55-128" and u55.npu_clock_hz == 500e6
    with pytest.raises(KeyError):
        devices.profile("Cortex")  # ambiguous


def test_capture_output():
    with env.capture_output() as out:
        os.write(2, b"native hello\n")
    assert "native hello" in out[0]


def test_c_array_header_round_trip_and_compiles(tiny_tflite, tmp_path):
    h = c_array.c_array_header(tiny_tflite, tmp_path / "model_data.h", "g_tiny")
    data = tiny_tflite.read_bytes()
    assert c_array.read_c_array(h) == data
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\n#include "model_data.h"\n'
                   'int main(void){ printf("%u %u %d\\n", g_tiny_len, (unsigned)sizeof(g_tiny), '
                   '(int)(((unsigned long)g_tiny) % 16)); return 0; }\n')
    exe = tmp_path / "main"
    subprocess.run([cc, "-std=c11", "-O0", "-I", str(tmp_path), str(src), "-o", str(exe)], check=True)
    n, size, mis = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert int(n) == int(size) == len(data) and int(mis) == 0
    with pytest.raises(ValueError):
        c_array.c_array_header(tiny_tflite, tmp_path / "x.h", "1bad")


def test_tflm_arena_and_outputs_match_litert(tiny_tflite):
    rep = runtimes.tflm_arena_bytes(tiny_tflite)
    assert rep["arena_bytes"] > 0 and "Arena allocation total" in rep["report"]
    # activations alone: 8x8x4 int8 conv output must live in the arena
    assert rep["arena_bytes"] >= 8 * 8 * 4
    micro, lite = runtimes.TFLiteMicro(tiny_tflite), runtimes.LiteRT(tiny_tflite)
    x = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)   # NCHW, as every runtime takes
    for i in range(5):
        a = micro.run_raw(micro.quantize_input(x[i:i + 1])).astype(int)
        b = lite.run_raw(lite.quantize_input(x[i:i + 1])).astype(int)
        assert np.abs(a - b).max() <= 1


def test_parse_arena_report():
    assert tflm.parse_arena_report("[RecordingMicroAllocator] Arena allocation total 1234 bytes") == 1234
    with pytest.raises(RuntimeError):
        tflm.parse_arena_report("nothing")


def test_fit_row_arithmetic():
    dev = devices.DeviceProfile("toy", "cpu", 100e6, 1000, 5000, "ethos-u55-128", 200e6, 50.0, "test",
                               cpu_macs_per_cycle=2.0, runtime_flash_bytes=1000)
    r = devices.fit_row("m", dev, model_bytes=3000, arena_bytes=900, macs=1_000_000, npu_total_cycles=20_000,
                       npu_sram_bytes=950, npu_flash_bytes=2500)
    assert r["sram_need_B"] == 950 and r["flash_need_B"] == 3500 and r["fits"]
    assert r["latency_ms (est.)"] == pytest.approx(0.1)              # 20k cycles at 200 MHz
    assert r["energy_uJ (est.)"] == pytest.approx(0.1 * 50.0)        # ms x mW = µJ
    cpu = devices.fit_row("m", dev, model_bytes=4500, arena_bytes=1001, macs=1_000_000)
    assert not cpu["fits"] and cpu["latency_ms (est.)"] == pytest.approx(5.0)  # 1M/2 cycles at 100 MHz
