"""Arm's Vela compiler: an int8 ``.tflite`` compiled for an Ethos-U NPU; what it cannot place stays on
the CPU. Every cycle and latency figure is an **estimate** from Vela's performance model."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Vela system config and memory mode per NPU family (ExecuTorch's Arm backend uses the same).
VELA_DEFAULTS = {
    "ethos-u55": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65": ("Ethos_U65_High_End", "Dedicated_Sram_384KB"),
    "ethos-u85": ("Ethos_U85_SYS_DRAM_Mid", "Sram_Only"),
}
VELA_TARGETS = ("ethos-u55-128", "ethos-u55-256", "ethos-u65-256")


def vela_binary() -> str:
    """The ``vela`` executable next to the running Python, else on PATH."""
    here = Path(sys.executable).parent
    found = shutil.which("vela", path=f"{here}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise FileNotFoundError("the `vela` command is not installed: pip install ethos-u-vela")
    return found


def vela_config_ini() -> Path:
    """Vela's own ``Arm/vela.ini`` (system configs and memory modes)."""
    import importlib.resources

    return Path(importlib.resources.files("ethosu") / "config_files/Arm/vela.ini")


def default_system(accelerator: str) -> tuple[str, str]:
    """(system config, memory mode) used for ``accelerator`` when the caller names none."""
    for prefix, pair in VELA_DEFAULTS.items():
        if accelerator.startswith(prefix):
            return pair
    raise ValueError(f"unknown Ethos-U accelerator {accelerator!r}")


def _num(v: str):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() else f


def parse_vela_csv(path) -> dict:
    """Vela's ``<network>_summary_<system config>.csv`` (one row) as a dict of numbers/strings."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: _num(v) for k, v in rows[-1].items()}


def parse_vela_console(text: str) -> dict:
    """CPU/NPU operator counts, the CPU operators and the warnings that say why, from Vela's console."""
    def count(kind):
        m = re.search(rf"{kind} operators = (\d+)", text)
        return int(m.group(1)) if m else None

    cpu_list = [ln.strip()[len("CPU: "):] for ln in text.splitlines() if ln.strip().startswith("CPU: ")]
    reasons = [ln.strip() for ln in text.splitlines()
               if ln.startswith("Warning (supported operators)") or ln.strip().startswith("- ")]
    return {"cpu_ops": count("CPU"), "npu_ops": count("NPU"), "cpu_op_list": cpu_list, "reasons": reasons}


PER_LAYER_NUMERIC = ("staging_bytes", "peak_staging_%", "op_cycles", "network_cycles_%", "npu_cycles",
                     "sram_access_cycles", "dram_access_cycles", "onchip_flash_access_cycles",
                     "offchip_flash_access_cycles", "macs", "network_macs_%", "mac_util_%")


def parse_vela_per_layer(text: str):
    """Vela's ``--verbose-performance`` tables as one DataFrame, a row per operator: ``op_cycles``
    (its total; the column sums to the summary's total cycles), ``npu_cycles`` (NPU busy), MACs."""
    import pandas as pd

    rows = []
    for line in text.splitlines():
        tok = line.split(None, 15)
        try:
            nums = [float(t) for t in tok[3:15]]  # a table row: 12 numbers after operator, NPU op, target
        except ValueError:
            continue
        if len(nums) == len(PER_LAYER_NUMERIC):
            rows.append({"operator": tok[0], "npu_op": tok[1], "target": tok[2],
                         **dict(zip(PER_LAYER_NUMERIC, nums)), "name": tok[15].strip() if len(tok) > 15 else ""})
    return pd.DataFrame(rows)


def vela_compile(tflite_path, accelerator: str = "ethos-u55-128", system_config: str | None = None,
                 memory_mode: str | None = None, out_dir=None, per_layer: bool = False) -> dict:
    """Compile an int8 ``.tflite`` with the ``vela`` CLI; its summary, every figure an **estimate**:
    ``npu_cycles`` (NPU busy), ``total_cycles`` (memory stalls included), ``latency_ms`` (total at
    the config's clock), ``sram_bytes``, ``flash_bytes`` (flash or DRAM); ``layers`` with ``per_layer``.
    Trap: the console no longer prints cycles; they are read from the CSV in ``out_dir``."""
    tflite_path = Path(tflite_path)
    sc, mm = default_system(accelerator)
    system_config, memory_mode = system_config or sc, memory_mode or mm
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vela_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [vela_binary(), str(tflite_path), "--accelerator-config", accelerator,
           "--config", str(vela_config_ini()), "--system-config", system_config,
           "--memory-mode", memory_mode, "--output-dir", str(out_dir), "--show-cpu-operations",
           *(["--verbose-performance"] if per_layer else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    console = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"vela failed (exit {proc.returncode}) on {tflite_path}:\n{console[-3000:]}")
    csv_path = out_dir / f"{tflite_path.stem}_summary_{system_config}.csv"
    row = parse_vela_csv(csv_path)
    clock = float(row["core_clock"])
    flash = (row.get("off_chip_flash_memory_used", 0) + row.get("on_chip_flash_memory_used", 0)
             + row.get("dram_memory_used", 0))
    placement = parse_vela_console(console)
    return {
        "model": tflite_path.stem, "accelerator": accelerator, "system_config": system_config,
        "memory_mode": memory_mode, "npu_clock_hz": clock,
        "npu_cycles": int(row["cycles_npu"]), "total_cycles": int(row["cycles_total"]),
        "latency_ms": 1e3 * float(row["cycles_total"]) / clock,
        "sram_bytes": int(round(float(row["sram_memory_used"]) * 1024)),
        "flash_bytes": int(round(float(flash) * 1024)),
        "macs": int(row["nn_macs"]), **placement,
        "optimised_tflite": out_dir / f"{tflite_path.stem}_vela.tflite", "csv": csv_path,
        "console": console, "estimated": True,
        **({"layers": parse_vela_per_layer(console)} if per_layer else {}),
    }


def vela_frame(summaries: list[dict]):
    """Vela summaries as a table (KB, MHz, ms; ``estimated`` in the column names)."""
    import pandas as pd

    rows = [{"model": s["model"], "accelerator": s["accelerator"], "system_config": s["system_config"],
             "memory_mode": s["memory_mode"], "npu_MHz": s["npu_clock_hz"] / 1e6,
             "npu_cycles (est.)": s["npu_cycles"], "total_cycles (est.)": s["total_cycles"],
             "latency_ms (est.)": s["latency_ms"], "sram_KB": s["sram_bytes"] / 1024,
             "flash_KB": s["flash_bytes"] / 1024, "npu_ops": s["npu_ops"], "cpu_ops": s["cpu_ops"]}
            for s in summaries]
    return pd.DataFrame(rows)


def console_summary(text: str) -> dict:
    """Cycles, SRAM / flash bytes and operator counts from Vela's ``--verbose-performance`` console."""
    out = parse_vela_console(text)
    layers = parse_vela_per_layer(text)
    out["layers"] = layers
    out["npu_cycles"] = int(layers.npu_cycles.sum()) if len(layers) else None
    out["total_cycles"] = int(layers.op_cycles.sum()) if len(layers) else None
    clock = re.search(r"Accelerator clock\s+(\d+) MHz", text)
    out["npu_clock_hz"] = float(clock.group(1)) * 1e6 if clock else None
    out["latency_ms"] = (1e3 * out["total_cycles"] / out["npu_clock_hz"]
                         if out["total_cycles"] and out["npu_clock_hz"] else None)
    out["estimated"] = True
    for key, pat in (("sram_bytes", r"Total SRAM used\s+([\d.]+) KiB"),
                     ("flash_bytes", r"Total (?:Off-chip Flash|DRAM|On-chip Flash) used\s+([\d.]+) KiB")):
        vals = [float(v) for v in re.findall(pat, text)]
        out[key] = int(round(sum(vals) * 1024)) if vals else None
    return out
