"""IMU features of windows (N, channels, T): window statistics and the DSP block, in NumPy and CMSIS-DSP.

Traps:
- ``arm_rfft_fast_f32`` takes powers of two from 32 to 4096 only (a 30-sample window is zero-padded to 32,
  as for the spectral peaks here; the band energies use an unpadded DFT) and packs ``[Re X0, Re X(N/2), Re X1,
  Im X1, ...]``.
- ``arm_std_f32``/``arm_var_f32`` divide by N − 1; the features here divide by N.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import check_finite

EXTRA_STATS = ("skew", "kurt")   # per channel, after window_features' columns (then 2 per peak)


def check_windows(windows, who: str = "windows", min_samples: int = 2) -> np.ndarray:
    """``windows`` as float64, or a ``ValueError`` unless finite, shaped (N >= 1, channels, T >= min_samples)."""
    x = np.asarray(windows)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{who}: expected numbers, got dtype {x.dtype}")
    if x.ndim != 3:
        hint = " (one window? pass windows[None])" if x.ndim == 2 else ""
        raise ValueError(f"{who} must have shape (N, channels, T), got {x.shape}{hint}")
    if x.size == 0:
        raise ValueError(f"{who}: no data (shape {x.shape}); expected at least one window of >= {min_samples} samples")
    if x.shape[-1] < min_samples:
        raise ValueError(f"{who}: windows of {x.shape[-1]} sample(s) are too short; at least {min_samples} needed")
    check_finite(x, who, "drop or repair those windows first")
    return x.astype(np.float64, copy=False)


def fft_length_for(samples: int) -> int:
    """The power-of-two FFT length an MCU uses for a window of ``samples`` (CMSIS minimum 32)."""
    return max(32, 1 << (int(samples) - 1).bit_length())


def power_spectrum(windows: np.ndarray, sample_rate: float,
                   fft_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(freqs_hz, power)``: one-sided |X_k|² (..., fft_length // 2 + 1) in sensor units², unnormalized, of the
    mean-removed windows (..., T) zero-padded to ``fft_length`` (default :func:`fft_length_for`), as CMSIS-DSP's."""
    x = np.asarray(windows, dtype=np.float64)
    n = fft_length or fft_length_for(x.shape[-1])
    if n < x.shape[-1]:
        raise ValueError(f"fft_length {n} is shorter than the window ({x.shape[-1]} samples)")
    x = x - x.mean(axis=-1, keepdims=True)
    spec = np.abs(np.fft.rfft(x, n=n, axis=-1)) ** 2
    return np.fft.rfftfreq(n, 1.0 / sample_rate), spec


def _channel_names(channels) -> list[str]:
    return [f"ch{i}" for i in range(channels)] if isinstance(channels, int) else list(channels)


def window_feature_names(channels: int | Sequence[str], sample_rate: float = 10.0, n_bands: int = 4) -> list[str]:
    """Column names of :func:`window_features` (e.g. ``acc_x_band1.25-2.5Hz``)."""
    edges = np.linspace(0.0, sample_rate / 2.0, n_bands + 1)
    names = []
    for ch in _channel_names(channels):
        names += [f"{ch}_mean", f"{ch}_std", f"{ch}_rms"]
        names += [f"{ch}_band{lo:g}-{hi:g}Hz" for lo, hi in zip(edges[:-1], edges[1:])]
    return names


def window_features(windows: np.ndarray, sample_rate: float = 10.0, n_bands: int = 4) -> np.ndarray:
    """Per channel mean, std, RMS and ``n_bands`` band energies: float32 (N, channels × (3 + n_bands)); equal bands
    0 Hz..Nyquist (lo <= f < hi, the last includes Nyquist), each the variance in it (units², unpadded DFT)."""
    x = check_windows(windows, "window_features")
    t = x.shape[-1]
    mean = x.mean(axis=-1)
    std = x.std(axis=-1)
    rms = np.sqrt(np.mean(x ** 2, axis=-1))
    freqs, spec = power_spectrum(x, sample_rate, fft_length=t)   # unpadded DFT of the window
    spec = spec / t ** 2
    spec[..., 1:(t + 1) // 2] *= 2.0  # one-sided: double every bin except DC (and Nyquist if even)
    edges = np.linspace(0.0, sample_rate / 2.0, n_bands + 1)
    bands = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        mask = (freqs >= lo) & ((freqs <= hi) if last else (freqs < hi))
        bands.append(spec[..., mask].sum(axis=-1))
    per_channel = np.stack([mean, std, rms, *bands], axis=-1)  # (N, C, 3 + bands)
    return per_channel.reshape(len(x), -1).astype(np.float32)


def spectral_peaks(windows: np.ndarray, sample_rate: float, n_peaks: int = 2,
                   fft_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(freq_hz, power)`` (..., n_peaks) of the strongest local maxima (>= both neighbours, DC excluded) of
    :func:`power_spectrum`; a missing peak is 0 Hz with power 0."""
    return _pick_peaks(*power_spectrum(windows, sample_rate, fft_length), n_peaks)


def _pick_peaks(freqs: np.ndarray, spec: np.ndarray, n_peaks: int) -> tuple[np.ndarray, np.ndarray]:
    s = spec[..., 1:]                                   # drop DC (the mean was removed anyway)
    edged = np.pad(s, [(0, 0)] * (s.ndim - 1) + [(1, 1)], constant_values=-np.inf)
    is_peak = (s >= edged[..., :-2]) & (s >= edged[..., 2:]) & (s > 0)
    ranked = np.where(is_peak, s, -1.0)
    order = np.argsort(-ranked, axis=-1, kind="stable")[..., :n_peaks]
    power = np.take_along_axis(ranked, order, axis=-1)
    freq = freqs[1:][order]
    missing = power < 0
    return np.where(missing, 0.0, freq), np.where(missing, 0.0, power)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis (divide by N) along the last axis; 0 for a constant channel."""
    d = x - x.mean(axis=-1, keepdims=True)
    var = (d ** 2).mean(axis=-1)
    safe = np.where(var > 1e-12, var, 1.0)
    skew = np.where(var > 1e-12, (d ** 3).mean(axis=-1) / safe ** 1.5, 0.0)
    kurt = np.where(var > 1e-12, (d ** 4).mean(axis=-1) / safe ** 2 - 3.0, 0.0)
    return skew, kurt


def dsp_feature_names(channels: int | Sequence[str], sample_rate: float = 10.0, n_bands: int = 4,
                      n_peaks: int = 2) -> list[str]:
    """Column names of :func:`dsp_features`."""
    chans = _channel_names(channels)
    base = window_feature_names(chans, sample_rate, n_bands)
    per = len(base) // len(chans)
    names = []
    for c, ch in enumerate(chans):
        names += base[c * per:(c + 1) * per]
        names += [f"{ch}_{s}" for s in EXTRA_STATS]
        for i in range(1, n_peaks + 1):
            names += [f"{ch}_peak{i}_hz", f"{ch}_peak{i}_pow"]
    return names


def dsp_features(windows: np.ndarray, sample_rate: float = 10.0, n_bands: int = 4, n_peaks: int = 2,
                 fft_length: int | None = None) -> np.ndarray:
    """The DSP block: per channel :func:`window_features`, skewness, kurtosis and :func:`spectral_peaks`:
    float32 (N, channels × (3 + n_bands + 2 + 2 × n_peaks))."""
    x = check_windows(windows, "dsp_features")
    n, c, _ = x.shape
    base = window_features(x, sample_rate, n_bands).reshape(n, c, -1)
    skew, kurt = _moments(x)
    pf, pp = spectral_peaks(x, sample_rate, n_peaks, fft_length)
    peaks = np.stack([pf, pp], axis=-1).reshape(n, c, 2 * n_peaks)
    per = np.concatenate([base, skew[..., None], kurt[..., None], peaks], axis=-1)
    return per.reshape(n, -1).astype(np.float32)


@dataclass
class FeatureScaler:
    """``log10(x + 1e-6)`` on energy columns (band energies, peak powers), then (x − mean) / std; fit on train."""

    log_columns: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, feats: np.ndarray, names: Sequence[str]) -> FeatureScaler:
        logc = np.array(["_band" in n or n.endswith("_pow") for n in names])
        if len(logc) != feats.shape[1]:
            raise ValueError(f"{len(names)} names for {feats.shape[1]} feature columns")
        z = cls._log(np.asarray(feats, np.float64), logc)
        return cls(logc, z.mean(0), z.std(0) + 1e-6)

    @staticmethod
    def _log(f: np.ndarray, logc: np.ndarray) -> np.ndarray:
        f = f.copy()
        f[:, logc] = np.log10(np.maximum(f[:, logc], 0.0) + 1e-6)
        return f

    def transform(self, feats: np.ndarray) -> np.ndarray:
        z = self._log(np.asarray(feats, np.float64), self.log_columns)
        return ((z - self.mean) / self.std).astype(np.float32)


def cmsis_channel(x: np.ndarray, sample_rate: float, n_peaks: int = 2, fft_length: int | None = None) -> dict:
    """CMSIS-DSP f32 ``mean``, ``rms``, ``std`` (rescaled to divide by N), ``power`` (as :func:`power_spectrum`),
    ``peak_hz``/``peak_pow`` and ``max_bin`` of ONE channel (T,)."""
    import cmsisdsp as dsp

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError(f"cmsis_channel: expected ONE channel, a finite 1-D array of >= 2 samples, got shape {x.shape}"
                         + ("" if x.ndim != 1 or np.isfinite(x).all() else " with NaN/Inf values"))
    t = len(x)
    n = fft_length or fft_length_for(t)
    mean = float(dsp.arm_mean_f32(x))
    rms = float(dsp.arm_rms_f32(x))
    std = float(dsp.arm_std_f32(x)) * np.sqrt((t - 1) / t)
    padded = np.zeros(n, np.float32)
    padded[:t] = x - np.float32(mean)
    inst = dsp.arm_rfft_fast_instance_f32()
    status = dsp.arm_rfft_fast_init_f32(inst, n)
    if status != 0:
        raise ValueError(f"arm_rfft_fast_init_f32 refused length {n} (status {status}): powers of two 32..4096 only")
    packed = dsp.arm_rfft_fast_f32(inst, padded, 0)       # [Re0, Re(N/2), Re1, Im1, ...]
    mags = dsp.arm_cmplx_mag_squared_f32(packed[2:])      # bins 1 .. N/2 - 1
    power = np.concatenate([[packed[0] ** 2], mags, [packed[1] ** 2]]).astype(np.float64)
    _, max_bin = dsp.arm_max_f32(power[1:].astype(np.float32))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    pf, pp = _pick_peaks(freqs, power, n_peaks)
    return {"mean": mean, "rms": rms, "std": std, "power": power, "peak_hz": pf, "peak_pow": pp,
            "max_bin": int(max_bin) + 1}


def estimated_ops(channels: int, samples: int, n_bands: int = 4, n_peaks: int = 2,
                  fft_length: int | None = None) -> dict:
    """An ESTIMATE (an operation count) of the block's float operations for one window, all channels.

    Per channel: statistics ≈ 12·T; band DFT and padded real FFT ≈ 2.5·N·log2(N) each (N = FFT length);
    squared magnitudes 3·N/2; band sums and peak search ≈ 2·N.
    """
    n = fft_length or fft_length_for(samples)
    per = 12 * samples + 2 * 2.5 * n * np.log2(n) + 3 * n / 2 * 2 + 2 * n + n_bands + 4 * n_peaks
    return {"flops": int(per * channels), "per_channel": int(per), "fft_length": n}
