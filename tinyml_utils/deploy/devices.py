"""Will it fit? Device profiles (clock, memory, NPU from the product briefs each ``source`` names),
latency/energy estimates and budget tables.

Trap: power figures are order-of-magnitude assumptions, so every latency or energy figure is an estimate."""
from __future__ import annotations

from dataclasses import dataclass, replace

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class DeviceProfile:
    """One deployment target in Hz, bytes and mW. ``npu``: Vela's accelerator name (``"ethos-u55-128"``),
    free text for NPUs Vela does not model, or ``None``. ``cpu_macs_per_cycle``: assumed, CMSIS-NN class int8."""

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
        """True when Vela can compile for this device's NPU."""
        return bool(self.npu) and self.npu.startswith("ethos-u")


_U55_128 = DeviceProfile(
    "Cortex-M55 + Ethos-U55-128", "Cortex-M55", 400e6, 2 * MB, 4 * MB, "ethos-u55-128", 500e6, 100.0,
    "Arm Corstone-300-like subsystem (Alif Ensemble-class MCU); NPU clock = Vela's "
    "Ethos_U55_High_End_Embedded (500 MHz); power an assumed ~100 mW for CPU + NPU + SRAM",
    cpu_macs_per_cycle=1.0, runtime_flash_bytes=120 * KB,
    vela_system_config="Ethos_U55_High_End_Embedded", vela_memory_mode="Shared_Sram")

DEVICE_PROFILES: list[DeviceProfile] = [
    DeviceProfile(
        "Cortex-M0+ MCU", "Cortex-M0+", 64e6, 36 * KB, 128 * KB, None, None, 20.0,
        "STM32G0-class (e.g. STM32G071: 64 MHz, 36 KB SRAM, 128 KB flash); power ~6 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current; no DSP/SIMD instructions",
        cpu_macs_per_cycle=0.25, runtime_flash_bytes=100 * KB),
    DeviceProfile(
        "Cortex-M4 MCU", "Cortex-M4F", 80e6, 128 * KB, 1 * MB, None, None, 30.0,
        "STM32L4-class (e.g. STM32L476: 80 MHz, 128 KB SRAM (96 + 32 KB), 1 MB flash); power ~10 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current",
        cpu_macs_per_cycle=0.5, runtime_flash_bytes=100 * KB),
    DeviceProfile(
        "Cortex-M7 MCU", "Cortex-M7", 480e6, 1 * MB, 2 * MB, None, None, 300.0,
        "STM32H7-class (e.g. STM32H743: 480 MHz, 1 MB SRAM, 2 MB flash); power ~100 mA at 3.3 V, "
        "order of magnitude from the datasheet's run-mode current",
        cpu_macs_per_cycle=1.0, runtime_flash_bytes=100 * KB),
    _U55_128,
    replace(_U55_128, name="Cortex-M55 + Ethos-U55-256", npu="ethos-u55-256", active_power_mw=150.0,
            source="Corstone-300-like with the larger U55 (Alif Ensemble high-performance core-class); "
                   "NPU clock = Vela's Ethos_U55_High_End_Embedded; power an assumed ~150 mW"),
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


def profiles_frame():
    """The device table as a DataFrame in whole MHz, KB (1,024 bytes) and mW."""
    import pandas as pd

    rows = []
    for p in DEVICE_PROFILES:
        rows.append({
            "device": p.name, "cpu": p.cpu, "cpu_MHz": round(p.clock_hz / 1e6),
            "sram_KB": round(p.sram_bytes / KB), "flash_KB": round(p.flash_bytes / KB),
            "npu": p.npu or "-", "npu_MHz": round(p.npu_clock_hz / 1e6) if p.npu_clock_hz else "-",
            "active_power_mW (assumed)": p.active_power_mw, "source": p.source,
        })
    return pd.DataFrame(rows)


def estimated_latency_ms(cycles: float, clock_hz: float) -> float:
    """Estimated latency in ms of ``cycles`` at ``clock_hz``."""
    return 1e3 * float(cycles) / float(clock_hz)


def estimated_energy_uj(latency_ms: float, power_mw: float) -> float:
    """Estimated energy in µJ: latency (ms) x active power (mW)."""
    return float(latency_ms) * float(power_mw)


def cpu_cycles_estimate(macs: int, dev: DeviceProfile) -> float:
    """Estimated CPU cycles of an int8 model: MACs / ``cpu_macs_per_cycle``."""
    return float(macs) / dev.cpu_macs_per_cycle


def fit_row(model: str, dev: DeviceProfile, *, model_bytes: int, arena_bytes: int, macs: int | None = None,
            npu_total_cycles: int | None = None, npu_sram_bytes: int | None = None,
            npu_flash_bytes: int | None = None) -> dict:
    """Does ``model`` fit ``dev``, and its estimated latency and energy: one row of the budget table.
    SRAM: the larger of the arena and Vela's SRAM; flash: the model (Vela's on an NPU) plus the runtime.
    Latency: Vela's total cycles at the NPU clock, else MACs at the CPU's.
    Trap: Vela's ``npu_cycles`` leave out memory stalls and under-estimate."""
    sram_need = max(int(arena_bytes), int(npu_sram_bytes or 0))
    flash_model = int(npu_flash_bytes) if npu_flash_bytes is not None else int(model_bytes)
    flash_need = flash_model + dev.runtime_flash_bytes
    if npu_total_cycles is not None and dev.npu_clock_hz:
        lat = estimated_latency_ms(npu_total_cycles, dev.npu_clock_hz)
        how = f"Vela total cycles @ {dev.npu_clock_hz / 1e6:.0f} MHz"
    elif macs is not None:
        lat = estimated_latency_ms(cpu_cycles_estimate(macs, dev), dev.clock_hz)
        how = f"MACs / {dev.cpu_macs_per_cycle:g} per cycle @ {dev.clock_hz / 1e6:.0f} MHz"
    else:
        lat, how = None, "-"
    return {
        "model": model, "device": dev.name, "sram_need_B": sram_need, "sram_B": dev.sram_bytes,
        "flash_need_B": flash_need, "flash_B": dev.flash_bytes,
        "sram_use_%": 100 * sram_need / dev.sram_bytes, "flash_use_%": 100 * flash_need / dev.flash_bytes,
        "fits": sram_need <= dev.sram_bytes and flash_need <= dev.flash_bytes,
        "latency_ms (est.)": lat, "latency_from": how,
        "energy_uJ (est.)": estimated_energy_uj(lat, dev.active_power_mw) if lat is not None else None,
    }


def fit_table(models: list[dict], profiles: list[DeviceProfile] | None = None):
    """:func:`fit_row` for every model x device, as a DataFrame. ``models``: dicts with ``name``,
    ``model_bytes``, ``arena_bytes``, ``macs``, optionally ``vela``: accelerator -> ``vela_compile``'s summary."""
    import pandas as pd

    rows = []
    for m in models:
        for dev in profiles or DEVICE_PROFILES:
            v = ((m.get("vela") or {}).get(dev.npu) if dev.has_ethos else None) or {}
            rows.append(fit_row(
                m["name"], dev, model_bytes=m["model_bytes"], arena_bytes=m["arena_bytes"], macs=m.get("macs"),
                npu_total_cycles=v.get("total_cycles"), npu_sram_bytes=v.get("sram_bytes"),
                npu_flash_bytes=v.get("flash_bytes")))
    return pd.DataFrame(rows)
