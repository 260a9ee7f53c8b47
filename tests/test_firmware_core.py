"""Cortex-M builds (zig cc), the emulator (Unicorn), memory reports and CMSIS-DSP's MFCC as firmware.

Oracles: numpy for the integer arithmetic of a hand-written C program, CMSIS-DSP's own Python
bindings for the MFCC, the linker's section sizes for the fits/does-not-fit message. The first build
per core takes ~12 s (zig builds compiler_rt into build/zig-cache); later ones are cached.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ziglang")
pytest.importorskip("unicorn")
pytest.importorskip("elftools")

from tinyml_utils.firmware import device, emulator, toolchain  # noqa: E402

DOT = {"prog.c": r"""
#include <stdint.h>
void marker_layer(int i);
int8_t g_input[64];
int8_t g_output[4];
int model_invoke(void) {
    int32_t acc = 0;
    marker_layer(0);
    for (int i = 0; i < 64; i++) acc += g_input[i] * (i - 32);
    marker_layer(1);
    for (int j = 0; j < 4; j++) g_output[j] = (int8_t)((acc >> (j + 4)) & 0x7f);
    marker_layer(2);
    return acc / 7;          /* a division: the M0+ needs compiler_rt's __aeabi_idiv */
}
"""}


def _dot_oracle(x: np.ndarray) -> tuple[np.ndarray, int]:
    acc = int((x.astype(np.int64) * (np.arange(64) - 32)).sum())
    return np.array([(acc >> (j + 4)) & 0x7F for j in range(4)], np.int8), int(np.trunc(acc / 7))


@pytest.mark.parametrize("core", ["cortex-m0plus", "cortex-m4"])
def test_hand_written_program_runs_bit_exact_and_counts_deterministically(core):
    fw = toolchain.build(DOT, core)
    assert fw.compiler.startswith("zig cc ") and f"-mcpu={toolchain.core(core).mcpu}" in fw.flags
    em = emulator.Emulator(fw)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.integers(-128, 128, 64).astype(np.int8)
        want, ret = _dot_oracle(x)
        np.testing.assert_array_equal(em.run(x), want)
        assert int(em.read("g_status", np.int32)[0]) == ret
    a, b = em.count(x), em.count(x)
    assert a.instructions == b.instructions > 64            # at least one instruction per MAC
    assert len(a.per_layer) == 2 and sum(a.per_layer) < a.instructions
    assert a.per_layer[0] > a.per_layer[1]                  # the 64-MAC loop costs more than 4 stores
    assert 0 < a.stack_high_water < fw.stack_reserved_bytes
    np.testing.assert_array_equal(em.run(x), want)          # the hook is gone: the next run is plain


def test_m55_builds_but_is_not_emulated():
    fw = toolchain.build(DOT, "cortex-m55")        # Armv8.1-M: flash and SRAM from the ELF
    assert fw.flash_bytes > 0 and "-mcpu=cortex_m55-mve-mve_fp-lob+fp_armv8d16sp" in fw.flags
    with pytest.raises(ValueError, match="build-only"):
        emulator.Emulator(fw)


def test_m0plus_is_slower_than_m4_on_the_same_c():
    x = np.arange(64, dtype=np.int8)
    m0 = emulator.Emulator(toolchain.build(DOT, "cortex-m0plus")).count(x).instructions
    m4 = emulator.Emulator(toolchain.build(DOT, "cortex-m4")).count(x).instructions
    assert m0 > m4      # Thumb-1 only: no multiply-accumulate, no Thumb-2 addressing modes


def test_stack_high_water_sees_a_local_buffer():
    src = {"p.c": r"""
#include <stdint.h>
int8_t g_input[4]; int8_t g_output[4];
__attribute__((noinline)) static int deep(int n) {
    volatile uint8_t buf[1500];
    for (int i = 0; i < 1500; i++) buf[i] = (uint8_t)(i + n);
    return buf[n];
}
int model_invoke(void) { g_output[0] = (int8_t)deep(g_input[0] & 7); return 0; }
"""}
    em = emulator.Emulator(toolchain.build(src, "cortex-m4"))
    c = em.count(np.zeros(4, np.int8))
    assert 1500 <= c.stack_high_water < 1700


def _big_flash(n: int) -> dict[str, str]:
    return {"big.c": f"""
#include <stdint.h>
int8_t g_input[4]; int8_t g_output[4];
const int8_t table[{n}] = {{1}};
int model_invoke(void) {{ g_output[0] = table[g_input[0] & 0xff]; return 0; }}
"""}


def test_does_not_fit_names_the_region_and_the_bytes_over():
    n = 200_000
    fits = toolchain.build(_big_flash(n), "cortex-m0plus", memory=(1 << 20, 36 * 1024))   # a roomy flash
    with pytest.raises(toolchain.DoesNotFit) as e:
        toolchain.build(_big_flash(n), "cortex-m0plus")      # the M0+ profile: 128 KB flash
    err = e.value
    assert set(err.overflow) == {"FLASH"} and "flash overflows by" in str(err) and "Cortex-M0+" in str(err)
    assert abs(err.overflow["FLASH"] - (fits.flash_bytes - 128 * 1024)) <= 64     # alignment padding only
    src = {"ram.c": "#include <stdint.h>\nint8_t g_input[40000]; int8_t g_output[4];\n"
                    "int model_invoke(void) { g_output[0] = g_input[39999]; return 0; }\n"}
    with pytest.raises(toolchain.DoesNotFit) as e:
        toolchain.build(src, "cortex-m0plus")                # 36 KB SRAM < 40,000 B + 4 KB stack
    assert set(e.value.overflow) == {"RAM"} and e.value.overflow["RAM"] > 40000 + 4096 - 36 * 1024 - 64
    with pytest.raises(toolchain.DoesNotFit) as e:           # both regions too small: both named
        toolchain.build(_big_flash(n), "cortex-m0plus", memory=(16 * 1024, 1024))
    assert set(e.value.overflow) == {"FLASH", "RAM"} and "flash overflows" in str(e.value) and "SRAM" in str(e.value)


def test_build_error_shows_the_compiler_message():
    with pytest.raises(toolchain.BuildError, match="undeclared|error"):
        toolchain.build({"bad.c": "int model_invoke(void) { return missing; }\n"}, "cortex-m4")


def test_memory_report_reads_the_elf_sections():
    fw = toolchain.build(_big_flash(5000), "cortex-m4")
    assert fw.sections[".rodata"] >= 5000 and fw.flash_bytes >= 5000 + fw.sections[".text"]
    assert fw.static_sram_bytes == fw.sections.get(".data", 0) + fw.sections.get(".bss", 0) >= 8


def test_model_on_core_with_a_program_object():
    class IO:
        def __init__(self, shape):
            self.shape = shape

    class Program:
        model_name, sources, input, output = "dot", DOT, IO((64,)), IO((4,))

    m = device.ModelOnCore(Program(), "cortex-m4", variant="hand")
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (5, 64)).astype(np.int8)
    y = m.predict(x)
    np.testing.assert_array_equal(y, np.stack([_dot_oracle(r)[0] for r in x]))
    c = m.count(x[:2])
    assert c.instructions[0] == c.instructions[1] and c.per_layer.shape == (2, 2)
    rec = m.record()
    assert rec["core"] == "cortex-m4" and rec["variant"] == "hand" and "-O2" in rec["flags"]
    assert m.memory()["stack_high_water_bytes"] > 0
    with pytest.raises(TypeError, match="int8"):
        m.predict(x.astype(np.float32))
    assert device.time_ms(80_000, 80e6, cycles_per_instruction=1.0) == pytest.approx(1.0)


def test_cmsis_mfcc_on_cortex_m4_matches_the_python_bindings():
    pytest.importorskip("cmsisdsp")
    from tinyml_utils.data.audio import CmsisMfcc, padded_frames
    from tinyml_utils.firmware import mfcc

    try:
        fw = mfcc.build("cortex-m4")
    except FileNotFoundError as e:          # the sdist is kept by `make setup`
        pytest.skip(str(e))
    assert "-D__GNUC_PYTHON__" in fw.flags
    em = emulator.Emulator(fw)
    fe = CmsisMfcc("f32")
    audio = np.random.default_rng(0).normal(0, 0.1, 4000)
    frames = padded_frames(audio)
    for fr in frames[:4]:
        got = em.run(fr, input_symbol="g_frame", output_symbol="g_mfcc", dtype=np.float32)
        np.testing.assert_allclose(got, fe.frame_features(fr), atol=1e-4)
    a = em.count(frames[0], input_symbol="g_frame", dtype=np.float32).instructions
    b = em.count(frames[0], input_symbol="g_frame", dtype=np.float32).instructions
    assert a == b and 10_000 < a < 1_000_000
    with pytest.raises(ValueError, match="no FPU"):
        mfcc.build("cortex-m0plus")


def test_call_a_function_with_arguments_and_read_through_a_pointer():
    src = {"c.c": r"""
#include <stdint.h>
int8_t g_input[4]; int8_t g_output[4];
int8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
__attribute__((used, retain)) int8_t *g_ptr = buf;   /* retain: kept by --gc-sections */
__attribute__((used, retain)) int scaled_sum(int a, int b, int c) { return a * 100 + b * 10 - c; }
int model_invoke(void) { return 0; }
"""}
    em = emulator.Emulator(toolchain.build(src, "cortex-m4"))
    assert em.call("scaled_sum", 3, 4, 50) == 3 * 100 + 4 * 10 - 50
    assert em.call("scaled_sum", -2, 0, 0) == -200
    ptr = int(em.read("g_ptr", np.uint32)[0])
    np.testing.assert_array_equal(em.read_at(ptr, 8), np.arange(1, 9, dtype=np.int8))


def test_missing_cmsis_sdist_says_how_to_fetch_it(monkeypatch, tmp_path):
    pytest.importorskip("cmsisdsp")
    from tinyml_utils.firmware import mfcc

    monkeypatch.setattr(mfcc.sys, "prefix", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"make setup.*pip download --no-binary cmsisdsp"):
        mfcc.cmsis_root()
