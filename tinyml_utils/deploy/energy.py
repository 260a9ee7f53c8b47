"""An always-on energy model on a coin cell: classify on the device, or stream raw IMU samples over BLE.

Trap: every number is an ESTIMATE from assumed costs and powers (:func:`default_assumptions`, the MCU's
from ``devices.DEVICE_PROFILES``); nothing was measured on hardware."""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import devices


@dataclass(frozen=True)
class Assumption:
    """One assumed figure: value, unit, and where the order of magnitude comes from."""

    value: float
    unit: str
    note: str


def default_assumptions() -> dict[str, Assumption]:
    """The model's assumptions, all order-of-magnitude estimates."""
    A = Assumption
    return {
        "battery_mAh": A(225.0, "mAh", "CR2032 coin cell, nominal capacity"),
        "battery_V": A(3.0, "V", "CR2032 nominal voltage"),
        "battery_usable": A(0.8, "fraction", "derating for pulse loads and cut-off voltage"),
        "sample_rate_hz": A(10.0, "Hz", "BasicMotions' rate (the data of this chapter)"),
        "channels": A(6.0, "channels", "3-axis accelerometer + 3-axis gyroscope"),
        "bytes_per_sample": A(2.0, "bytes", "int16 per axis, as IMUs deliver them"),
        "stride_s": A(1.0, "s", "one classification per second (the chapter's window stride)"),
        "imu_mw": A(1.0, "mW", "6-axis IMU with the gyroscope on, ~0.5 mA at 1.8 V (LSM6DS/BMI2-class "
                    "datasheets); the gyroscope dominates"),
        "mcu_sleep_uw": A(5.0, "µW", "MCU stop mode with SRAM retention and RTC, ~1-2 µA at 3 V"),
        "read_us_per_sample": A(30.0, "µs", "MCU awake to read one 6-axis sample from the IMU FIFO over SPI"),
        "flop_cycles_Cortex-M0+": A(40.0, "cycles/flop", "software floating point (no FPU): tens of cycles "
                                    "per add/multiply"),
        "flop_cycles_Cortex-M4F": A(2.0, "cycles/flop", "single-precision FPU, ~1 cycle per op plus loads"),
        "ble_event_uj": A(15.0, "µJ", "one BLE connection event with radio ramp-up (nRF52-class, 1 Mbps, 0 dBm)"),
        "ble_uj_per_byte": A(0.3, "µJ/byte", "~20 mW radio at 1 Mbps is 0.17 µJ/byte on air; packet overhead "
                             "roughly doubles it"),
        "ble_events_per_s": A(1.0, "events/s", "both schemes batch into one connection event per second"),
        "result_bytes": A(2.0, "bytes", "on-device: class id + anomaly flag per window"),
    }


def with_overrides(a: dict[str, Assumption], **values: float) -> dict[str, Assumption]:
    """A copy of ``a`` with some values replaced (units and notes kept), e.g. ``imu_mw=0.05``."""
    out = dict(a)
    for k, v in values.items():
        if k not in out:
            raise KeyError(f"unknown assumption {k!r}; known: {sorted(out)}")
        out[k] = replace(out[k], value=float(v), note=out[k].note + " (overridden)")
    return out


def assumptions_frame(a: dict[str, Assumption] | None = None, profiles=None):
    """Every assumption in one DataFrame, plus the MCU figures of ``profiles`` (default M0+ and M4)."""
    import pandas as pd

    a = a or default_assumptions()
    rows = [{"assumption": k, "value": v.value, "unit": v.unit, "source / reasoning": v.note, "estimated": True}
            for k, v in a.items()]
    for dev in profiles or [devices.profile("Cortex-M0+"), devices.profile("Cortex-M4")]:
        rows.append({"assumption": f"active_power ({dev.name})", "value": dev.active_power_mw, "unit": "mW",
                     "source / reasoning": "deploy.devices.DEVICE_PROFILES (order of magnitude)", "estimated": True})
        rows.append({"assumption": f"int8 MACs/cycle ({dev.name})", "value": dev.cpu_macs_per_cycle,
                     "unit": "MACs/cycle", "estimated": True,
                     "source / reasoning": "deploy.devices.DEVICE_PROFILES (CMSIS-NN class kernels)"})
    return pd.DataFrame(rows)


def flop_cycles(dev: devices.DeviceProfile, a: dict[str, Assumption]) -> float:
    """Assumed cycles per floating-point operation on ``dev``'s CPU (FPU or soft float)."""
    return a[f"flop_cycles_{dev.cpu}"].value


def scheme_budget(scheme: str, dev: devices.DeviceProfile, a: dict[str, Assumption], *,
                  dsp_flops: float = 0.0, macs: float = 0.0) -> dict:
    """Estimated µJ per stride by component, the average power (µW) and coin-cell life (days).
    ``"on-device"`` reads, runs ``dsp_flops`` and ``macs`` and sends ``result_bytes``; ``"stream raw"``
    reads and sends every sample. Both keep the IMU on."""
    v = {k: x.value for k, x in a.items()}
    stride = v["stride_s"]
    samples = v["sample_rate_hz"] * stride
    mw = dev.active_power_mw
    read_s = samples * v["read_us_per_sample"] * 1e-6
    if scheme == "on-device":
        dsp_s = dsp_flops * flop_cycles(dev, a) / dev.clock_hz
        inf_s = devices.cpu_cycles_estimate(macs, dev) / dev.clock_hz
        tx_bytes = v["result_bytes"]
    elif scheme == "stream raw":
        dsp_s = inf_s = 0.0
        tx_bytes = samples * v["channels"] * v["bytes_per_sample"]
    else:
        raise ValueError(f"scheme must be 'on-device' or 'stream raw', got {scheme!r}")
    active_s = read_s + dsp_s + inf_s
    parts = {
        "imu_uJ": v["imu_mw"] * 1e3 * stride,
        "read_uJ": mw * 1e3 * read_s,
        "dsp_uJ": mw * 1e3 * dsp_s,
        "inference_uJ": mw * 1e3 * inf_s,
        "radio_uJ": v["ble_events_per_s"] * stride * v["ble_event_uj"] + tx_bytes * v["ble_uj_per_byte"],
        "sleep_uJ": v["mcu_sleep_uw"] * max(0.0, stride - active_s),
    }
    total = sum(parts.values())
    avg_uw = total / stride
    battery_j = v["battery_mAh"] * 1e-3 * 3600 * v["battery_V"] * v["battery_usable"]
    return {"scheme": scheme, "device": dev.name, **parts, "total_uJ": total, "active_ms": 1e3 * active_s,
            "avg_power_uW": avg_uw, "battery_days": battery_j / (avg_uw * 1e-6) / 86400, "estimated": True}


def compare(designs: list[dict], a: dict[str, Assumption] | None = None):
    """:func:`scheme_budget` of each design (``name``, ``scheme``, ``device``; on-device also
    ``dsp_flops``, ``macs``) as a DataFrame indexed by design."""
    import pandas as pd

    a = a or default_assumptions()
    rows = []
    for d in designs:
        r = scheme_budget(d["scheme"], d["device"], a, dsp_flops=d.get("dsp_flops", 0.0), macs=d.get("macs", 0.0))
        rows.append({"design": d["name"], **r})
    return pd.DataFrame(rows).set_index("design")
