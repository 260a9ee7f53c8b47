"""Will it fit? Device profiles, TFLite Micro arena size, C-array headers, and budget tables.

The course's target devices live in :data:`DEVICE_PROFILES` (chapter 00 shows them, chapter 07
checks every model against them). Clock, memory and NPU come from the public product briefs of
the parts named in each ``source``; **power figures are order-of-magnitude assumptions** for
the whole running system (core + memories), not measurements, and every latency or energy figure
computed from them is labelled ``estimated``.

>>> import tinyml_utils.deploy as deploy
>>> deploy.profiles_frame()                      # one row a device, units in the column names
>>> deploy.tflm_arena_bytes("model_int8.tflite") # bytes TFLite Micro actually allocated
>>> deploy.c_array_header("model_int8.tflite", "build/model_data.h", "g_model")
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class DeviceProfile:
    """One deployment target. Units: Hz, bytes, milliwatts.

    ``sram_bytes`` holds the tensor arena (activations, scratch); ``flash_bytes`` holds the model
    and the program. ``npu`` is Vela's accelerator name (``"ethos-u55-128"``) or a free-text
    label for NPUs Vela does not model, ``None`` for CPU-only parts. ``cpu_macs_per_cycle`` is the
    assumed int8 throughput of the CPU kernels (CMSIS-NN class) used to estimate CPU-only latency.
    """

    name: str
    cpu: str
    clock_hz: float
    sram_bytes: int
    flash_bytes: int
    npu: str | None
    npu_clock_hz: float | None
    active_power_mw: float
    source: str
    cpu_macs_per_cycle: float = 0.5
    runtime_flash_bytes: int = 100 * KB
    vela_system_config: str | None = None
    vela_memory_mode: str | None = None

    @property
    def has_ethos(self) -> bool:
        """True when Vela can compile for this device's NPU (an Arm Ethos-U)."""
        return bool(self.npu) and self.npu.startswith("ethos-u")


#: The course's device table (chapter 00 displays it; chapter 07 checks models against it).
DEVICE_PROFILES: list[DeviceProfile] = [
    DeviceProfile(
        "Cortex-M0+ MCU", "Cortex-M0+", 64e6, 36 * KB, 128 * KB, None, None, 20.0,
        "STM32G0-class (e.g. STM32G071: 64 MHz, 36 KB SRAM, 128 KB flash); power ~6 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current; no DSP/SIMD instructions",
        cpu_macs_per_cycle=0.25, runtime_flash_bytes=100 * KB),
    DeviceProfile(
        "Cortex-M4 MCU", "Cortex-M4F", 80e6, 256 * KB, 1 * MB, None, None, 30.0,
        "STM32L4-class (e.g. STM32L476: 80 MHz, 128 KB+ SRAM, 1 MB flash); power ~10 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current",
        cpu_macs_per_cycle=0.5, runtime_flash_bytes=100 * KB),
    DeviceProfile(
        "Cortex-M7 MCU", "Cortex-M7", 480e6, 1 * MB, 2 * MB, None, None, 300.0,
        "STM32H7-class (e.g. STM32H743: 480 MHz, 1 MB SRAM, 2 MB flash); power ~100 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current",
        cpu_macs_per_cycle=1.0, runtime_flash_bytes=100 * KB),
    DeviceProfile(
        "Cortex-M55 + Ethos-U55-128", "Cortex-M55", 400e6, 2 * MB, 4 * MB, "ethos-u55-128", 500e6, 100.0,
        "Arm Corstone-300-like subsystem (Alif Ensemble-class MCU); NPU clock = Vela's "
        "Ethos_U55_High_End_Embedded (500 MHz); power an assumed ~100 mW for CPU + NPU + SRAM",
        cpu_macs_per_cycle=1.0, runtime_flash_bytes=120 * KB,
        vela_system_config="Ethos_U55_High_End_Embedded", vela_memory_mode="Shared_Sram"),
    DeviceProfile(
        "Cortex-M55 + Ethos-U55-256", "Cortex-M55", 400e6, 2 * MB, 4 * MB, "ethos-u55-256", 500e6, 150.0,
        "Corstone-300-like with the larger U55 (Alif Ensemble high-performance core-class); "
        "NPU clock = Vela's Ethos_U55_High_End_Embedded; power an assumed ~150 mW",
        cpu_macs_per_cycle=1.0, runtime_flash_bytes=120 * KB,
        vela_system_config="Ethos_U55_High_End_Embedded", vela_memory_mode="Shared_Sram"),
    DeviceProfile(
        "Cortex-A55 + Ethos-U65-256", "Cortex-A55", 1.7e9, 640 * KB, 16 * 1024 * MB, "ethos-u65-256", 1e9,
        1000.0,
        "NXP i.MX 93-class applications processor (640 KB on-chip SRAM, DRAM + eMMC for the model); "
        "NPU clock = Vela's Ethos_U65_High_End (1 GHz); power an assumed ~1 W for the SoC",
        cpu_macs_per_cycle=4.0, runtime_flash_bytes=2 * MB,
        vela_system_config="Ethos_U65_High_End", vela_memory_mode="Dedicated_Sram_384KB"),
    DeviceProfile(
        "Phone (Cortex-A + NPU)", "Cortex-A78", 2.4e9, 8 * 1024 * MB, 128 * 1024 * MB,
        "phone NPU (Hexagon / Apple ANE class)", None, 2000.0,
        "a mid-range phone SoC; its NPU needs the vendor's delegate (QNN, Core ML), not Vela; "
        "power an assumed ~2 W while inferring",
        cpu_macs_per_cycle=8.0, runtime_flash_bytes=5 * MB),
]


def profile(name: str) -> DeviceProfile:
    """The profile called ``name`` (exact match, or a unique case-insensitive substring)."""
    for p in DEVICE_PROFILES:
        if p.name == name:
            return p
    hits = [p for p in DEVICE_PROFILES if name.lower() in p.name.lower()]
    if len(hits) == 1:
        return hits[0]
    raise KeyError(f"no unique device profile matches {name!r}; known: {[p.name for p in DEVICE_PROFILES]}")


def profiles_frame(profiles: list[DeviceProfile] | None = None):
    """The device table as a pandas DataFrame, in readable units (MHz, KB, mW)."""
    import pandas as pd

    rows = []
    for p in profiles or DEVICE_PROFILES:
        rows.append({
            "device": p.name, "cpu": p.cpu, "cpu_MHz": p.clock_hz / 1e6,
            "sram_KB": p.sram_bytes / KB, "flash_KB": p.flash_bytes / KB,
            "npu": p.npu or "-", "npu_MHz": (p.npu_clock_hz / 1e6) if p.npu_clock_hz else None,
            "active_power_mW (assumed)": p.active_power_mw, "source": p.source,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# TensorFlow Lite Micro: the arena the interpreter really allocates
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def capture_c_stderr():
    """Capture what C/C++ code writes to file descriptor 2 (``sys.stderr`` redirection misses it).

    Yields a one-element list that holds the captured text after the ``with`` block.
    """
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    out: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            try:
                sys.stderr.flush()
            except Exception:  # pragma: no cover
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def _tflm_interpreter(tflite_path, arena_size: int | None = None):
    from tflite_micro.python.tflite_micro import runtime

    data = Path(tflite_path).read_bytes()
    kwargs = {"arena_size": arena_size} if arena_size else {}
    return runtime.Interpreter.from_bytes(data, **kwargs)


def tflm_arena_bytes(tflite_path, example: np.ndarray | None = None) -> dict:
    """Run one inference in the TensorFlow Lite Micro Python interpreter and read its allocation report.

    Returns ``{"arena_bytes": total bytes the arena used (head + tail), "report": raw text}``.
    The numbers come from ``print_allocations()``, which writes to C-level stderr; it is captured
    with an ``os.dup2`` redirect. ``example`` (already in the model's input dtype) defaults to zeros.
    """
    interp = _tflm_interpreter(tflite_path)
    det = interp.get_input_details(0)
    x = example if example is not None else np.zeros(det["shape"], dtype=det["dtype"])
    interp.set_input(x.astype(det["dtype"]), 0)
    interp.invoke()
    with capture_c_stderr() as text:
        interp.print_allocations()
    report = text[0] if text else ""
    used = _parse_arena_report(report)
    return {"arena_bytes": used, "report": report}


def _parse_arena_report(report: str) -> int:
    """Total arena bytes from TFLM's ``print_allocations`` text (``[RecordingMicroAllocator] Arena
    allocation total N bytes``), falling back to head + tail usage."""
    m = re.search(r"Arena allocation total (\d+) bytes", report)
    if m:
        return int(m.group(1))
    head = re.search(r"Arena allocation head (\d+) bytes", report)
    tail = re.search(r"Arena allocation tail (\d+) bytes", report)
    if head and tail:
        return int(head.group(1)) + int(tail.group(1))
    raise RuntimeError("could not read the arena size from TFLM's allocation report:\n" + report[:2000])


class TFLMRunner:
    """Run an int8 ``.tflite`` in TFLite Micro's Python interpreter: float32 in (quantized here with
    the model's input scale/zero point), int8 or float out. The reference for 'it runs on an MCU'."""

    def __init__(self, tflite_path):
        self.interp = _tflm_interpreter(tflite_path)
        self.inp = self.interp.get_input_details(0)
        self.out = self.interp.get_output_details(0)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        scale, zp = self.inp["quantization_parameters"]["scales"], self.inp["quantization_parameters"]["zero_points"]
        if self.inp["dtype"] in (np.int8, np.uint8) and len(scale):
            info = np.iinfo(self.inp["dtype"])
            return np.clip(np.round(x / scale[0] + zp[0]), info.min, info.max).astype(self.inp["dtype"])
        return x.astype(self.inp["dtype"])

    def raw(self, xq: np.ndarray) -> np.ndarray:
        """One inference on an already-quantized batch-1 input; returns the raw output tensor."""
        self.interp.set_input(xq.reshape(self.inp["shape"]), 0)
        self.interp.invoke()
        return self.interp.get_output(0).copy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Float logits of a batch-1 float input (dequantized with the output scale/zero point)."""
        y = self.raw(self.quantize(x)).astype(np.float32)
        q = self.out["quantization_parameters"]
        if len(q["scales"]):
            y = (y - q["zero_points"][0]) * q["scales"][0]
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self(x[i:i + 1]) for i in range(len(x))])


# --------------------------------------------------------------------------------------------
# The model as a C array, for a microcontroller build
# --------------------------------------------------------------------------------------------

def c_array_header(tflite_path, out_h, var_name: str = "g_model", align: int = 16) -> Path:
    """Write ``tflite_path`` as a C header: ``alignas(16) const unsigned char g_model[]`` plus
    ``g_model_len``, the form TFLite Micro's examples compile into flash. Returns the header path."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var_name):
        raise ValueError(f"{var_name!r} is not a valid C identifier")
    data = Path(tflite_path).read_bytes()
    out_h = Path(out_h)
    out_h.parent.mkdir(parents=True, exist_ok=True)
    guard = re.sub(r"[^A-Z0-9]", "_", out_h.name.upper())
    lines = [f"// Generated from {Path(tflite_path).name} ({len(data)} bytes) by tinyml_utils.deploy.",
             f"#ifndef {guard}", f"#define {guard}", "", "#include <stdalign.h>", "",
             f"alignas({align}) const unsigned char {var_name}[] = {{"]
    for i in range(0, len(data), 12):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) + ",")
    lines += ["};", f"const unsigned int {var_name}_len = {len(data)};", "", f"#endif  // {guard}", ""]
    out_h.write_text("\n".join(lines))
    return out_h


def read_c_array(h_path) -> bytes:
    """Parse the bytes back out of a header written by :func:`c_array_header` (for tests)."""
    text = Path(h_path).read_text()
    body = text[text.index("{") + 1:text.index("};")]
    return bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", body))


# --------------------------------------------------------------------------------------------
# Budgets: latency and energy estimates, and the fit table
# --------------------------------------------------------------------------------------------

def estimated_latency_ms(cycles: float, clock_hz: float) -> float:
    """Estimated latency in ms of ``cycles`` at ``clock_hz`` (an estimate: no stalls beyond the model's)."""
    return 1e3 * float(cycles) / float(clock_hz)


def estimated_energy_uj(latency_ms: float, power_mw: float) -> float:
    """Estimated energy per inference in microjoules: latency (ms) x active power (mW)."""
    return float(latency_ms) * float(power_mw)


def cpu_cycles_estimate(macs: int, dev: DeviceProfile) -> float:
    """Estimated CPU cycles of an int8 model on a CPU-only device: MACs / ``cpu_macs_per_cycle``."""
    return float(macs) / dev.cpu_macs_per_cycle


def fit_row(model: str, dev: DeviceProfile, *, model_bytes: int, arena_bytes: int, macs: int | None = None,
            npu_cycles: int | None = None, npu_sram_bytes: int | None = None,
            npu_flash_bytes: int | None = None) -> dict:
    """One row of the budget table: does ``model`` fit ``dev``, and how fast/costly is it (estimated)?

    Memory: SRAM needs the arena (TFLM, measured) or Vela's SRAM figure for an NPU target,
    whichever is larger; flash needs the model (Vela's optimised model for an NPU target) plus the
    device's stated runtime overhead. Latency: NPU cycles at the NPU clock when given, else
    MACs / ``cpu_macs_per_cycle`` at the CPU clock. Energy = latency x assumed active power.
    """
    sram_need = max(int(arena_bytes), int(npu_sram_bytes or 0))
    flash_model = int(npu_flash_bytes) if npu_flash_bytes is not None else int(model_bytes)
    flash_need = flash_model + dev.runtime_flash_bytes
    if npu_cycles is not None and dev.npu_clock_hz:
        lat = estimated_latency_ms(npu_cycles, dev.npu_clock_hz)
        how = f"NPU cycles @ {dev.npu_clock_hz / 1e6:.0f} MHz"
    elif macs is not None:
        lat = estimated_latency_ms(cpu_cycles_estimate(macs, dev), dev.clock_hz)
        how = f"MACs / {dev.cpu_macs_per_cycle:g} per cycle @ {dev.clock_hz / 1e6:.0f} MHz"
    else:
        lat, how = None, "-"
    fits_sram = sram_need <= dev.sram_bytes
    fits_flash = flash_need <= dev.flash_bytes
    return {
        "model": model, "device": dev.name, "sram_need_B": sram_need, "sram_B": dev.sram_bytes,
        "flash_need_B": flash_need, "flash_B": dev.flash_bytes,
        "sram_use_%": 100 * sram_need / dev.sram_bytes, "flash_use_%": 100 * flash_need / dev.flash_bytes,
        "fits": bool(fits_sram and fits_flash),
        "latency_ms (est.)": lat, "latency_from": how,
        "energy_uJ (est.)": estimated_energy_uj(lat, dev.active_power_mw) if lat is not None else None,
    }


def fit_table(models: list[dict], profiles: list[DeviceProfile] | None = None):
    """Budget table for every model x device.

    ``models``: dicts with ``name``, ``model_bytes``, ``arena_bytes`` (measured), ``macs`` and an
    optional ``vela`` mapping accelerator name -> parsed Vela summary (:func:`tinyml_utils.npu.vela_compile`)
    for the device's NPU. Returns a pandas DataFrame, one row per (model, device).
    """
    import pandas as pd

    rows = []
    for m in models:
        for dev in profiles or DEVICE_PROFILES:
            v = (m.get("vela") or {}).get(dev.npu) if dev.has_ethos else None
            rows.append(fit_row(
                m["name"], dev, model_bytes=m["model_bytes"], arena_bytes=m["arena_bytes"], macs=m.get("macs"),
                npu_cycles=v["npu_cycles"] if v else None,
                npu_sram_bytes=v["sram_bytes"] if v else None,
                npu_flash_bytes=v["flash_bytes"] if v else None))
    return pd.DataFrame(rows)


def profile_dict(dev: DeviceProfile) -> dict:
    """A profile as a plain dict (for results files)."""
    return asdict(dev)


# --------------------------------------------------------------------------------------------
# The chapter's candidates: the int8 TFLite files of the baseline and the compressed models
# --------------------------------------------------------------------------------------------

def deployment_candidates(quick: bool = False, data=None, seed: int = 0, calib_n: int = 200) -> list[dict]:
    """The int8 (full-integer, batch-1) TFLite files chapter 07 deploys, built once into the
    artifacts folder and reused:

    - ``baseline``: chapter 04's ``vision_keras_int8.tflite`` (:func:`tinyml_utils.quantize.artifacts`)
    - ``pruned-structured``: chapter 03's channel-pruned model (:func:`tinyml_utils.prune.load_structured`)
    - ``pruned-80%``: chapter 03's 80%-sparse model (:func:`tinyml_utils.prune.load_unstructured`)
    - ``distilled``: chapter 05's distilled width-8 student (:func:`tinyml_utils.distill.load_distilled_student`)

    The PyTorch models go through their Keras twin and :func:`tinyml_utils.quantize.tflite_int8`
    (:func:`tinyml_utils.npu.torch_to_tflite_int8`), calibrated on ``calib_n`` training images.
    Returns dicts with ``name``, ``technique``, ``tflite`` (Path), ``torch`` (the PyTorch model, for
    MACs and the ExecuTorch path), ``chapter``.
    """
    from . import data as data_mod
    from . import distill, paths, prune, quantize, recipes
    from .npu import torch_to_tflite_int8

    ds = data if data is not None else data_mod.load("vision", quick=quick, seed=0)
    out = paths.artifacts_dir(quick)
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=seed).x
    cands = [{"name": "baseline", "technique": "int8 PTQ (ch04)", "chapter": "04",
              "tflite": quantize.artifacts(quick, seed=seed, names=("vision_keras_int8.tflite",))["vision_keras_int8"],
              "torch": recipes.vision_model("baseline", quick=quick, seed=seed, data=ds).model}]
    builders = [
        ("pruned-structured", "channel pruning + int8 (ch03)", "03", lambda: prune.load_structured(quick, seed)[0],
         out / prune.STRUCTURED_FILE),
        ("pruned-80%", "80% magnitude pruning + int8 (ch03)", "03", lambda: prune.load_unstructured(quick, seed)[0],
         out / prune.UNSTRUCTURED_FILE),
        ("distilled", "distilled width-8 student + int8 (ch05)", "05",
         lambda: distill.load_distilled_student(quick, data=ds).model, distill.distilled_student_path(quick)),
    ]
    for name, technique, chapter, load, source in builders:
        model = load().eval()  # loads the saved model, or rebuilds it with its chapter's recipe
        path = out / f"ch07_{name.replace('%', 'pct')}_int8.tflite"
        # rebuilt when missing or older than the model it comes from (a chapter re-ran)
        if not path.exists() or (source.exists() and source.stat().st_mtime > path.stat().st_mtime):
            torch_to_tflite_int8(model, calib, path, n_representative=calib_n)
        cands.append({"name": name, "technique": technique, "chapter": chapter, "tflite": path, "torch": model})
    return cands
