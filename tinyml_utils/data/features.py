"""Features in plain NumPy: log-mel spectrograms and MFCCs for audio, window statistics for IMU.

The audio features follow TensorFlow's recipe step by step, so that a model trained on them can
be fed by ``tf.signal`` (or a microcontroller port of it) without a mismatch:

1. frames of ``n_fft`` samples every ``hop`` samples, no padding (``tf.signal.stft``, pad_end=False);
2. a periodic Hann window and an FFT of ``fft_length`` points (next power of two by default);
3. magnitude spectrum (``power=1``; ``power=2`` for power);
4. HTK-style triangular mel filters exactly as ``tf.signal.linear_to_mel_weight_matrix``
   (mel = 1127 ln(1 + f/700), the DC bin gets no weight, triangles in the mel domain, no area
   normalization);
5. ``log(mel + log_offset)``;
6. for MFCCs, a DCT-II of the log-mel bands scaled like ``tf.signal.mfccs_from_log_mel_spectrograms``.

``tests/test_features.py`` checks these functions against TensorFlow on random audio.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["log_mel", "mfcc", "mel_weight_matrix", "imu_window_features", "imu_feature_names",
           "num_frames", "check_audio", "check_windows"]

#: a float clip whose peak exceeds this is not audio in [-1, 1] (int16 PCM cast to float has peaks in the 100s-1000s)
MAX_FLOAT_PEAK = 2.0


def check_audio(audio, min_samples: int, who: str = "audio", max_ndim: int | None = None) -> np.ndarray:
    """``audio`` as float64 if it is what the audio front ends expect, else a ``ValueError`` that says
    what was expected: float samples in [-1, 1] on the last axis (``(samples,)`` or ``(clips, samples)``),
    at least ``min_samples`` of them (one frame), all finite. Catches int16 PCM (as integers or cast
    to float: divide by 32768), a ``(samples, 1)`` column, empty and too-short clips, NaN/Inf."""
    x = np.asarray(audio)
    if x.dtype.kind in "iu":
        raise ValueError(f"{who}: got {x.dtype} samples (PCM); the front end takes float audio in [-1, 1]: "
                         f"pass audio.astype(np.float32) / 32768 for int16 PCM")
    if x.dtype.kind not in "f":
        raise ValueError(f"{who}: expected a float array of samples in [-1, 1], got dtype {x.dtype}")
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"{who}: the clip is empty (shape {x.shape}); expected (samples,) with at least "
                         f"{min_samples} samples (one frame)")
    if max_ndim is not None and x.ndim > max_ndim:
        raise ValueError(f"{who}: expected at most {max_ndim}-D audio, (samples,) or (clips, samples), "
                         f"got shape {x.shape}")
    if x.ndim >= 2 and x.shape[-1] == 1 and x.shape[-2] >= min_samples:
        raise ValueError(f"{who}: shape {x.shape} looks like a (samples, 1) column; samples go on the last axis: "
                         "pass audio[..., 0] (or audio.ravel() for one clip)")
    if x.shape[-1] < min_samples:
        raise ValueError(f"{who}: {x.shape[-1]} samples is too short, fewer than one frame ({min_samples} "
                         f"samples are needed), shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{who}: {int(bad.sum())} NaN/Inf sample(s) (first at index {first}); audio must be finite "
                         "floats in [-1, 1]: check the file or the step that produced it")
    peak = float(np.abs(x).max())
    if peak > MAX_FLOAT_PEAK:
        raise ValueError(f"{who}: peak {peak:.4g} is far outside [-1, 1]: int16 PCM passed as float? "
                         "Divide by 32768 (audio / 32768)")
    return x.astype(np.float64, copy=False)


def check_windows(windows, who: str = "windows", min_samples: int = 2) -> np.ndarray:
    """IMU ``windows`` as float64 if they are (N, channels, T) finite numbers with N >= 1 and
    T >= ``min_samples``, else a ``ValueError`` that says what was expected."""
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
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{who}: {int(bad.sum())} NaN/Inf value(s) (first at index {first}); features need finite "
                         "samples: drop or repair those windows first")
    return x.astype(np.float64, copy=False)


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def num_frames(num_samples: int, n_fft: int = 480, hop: int = 320) -> int:
    """Frames that :func:`log_mel` returns for ``num_samples`` samples (49 for 1 s at 16 kHz)."""
    return 0 if num_samples < n_fft else 1 + (num_samples - n_fft) // hop


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_weight_matrix(n_mels: int = 40, n_bins: int = 257, sample_rate: float = 16000,
                      fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """HTK mel filterbank, shape (n_bins, n_mels), float64; equals ``tf.signal.linear_to_mel_weight_matrix``.

    Args:
        n_mels: number of mel bands.
        n_bins: spectrogram bins (``fft_length // 2 + 1``).
        sample_rate: Hz.
        fmin, fmax: band edges in Hz (``fmax=None`` means the Nyquist frequency).
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}, "
                         f"sample_rate={sample_rate}")
    bin_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2.0, n_bins)[1:])[:, None]  # skip DC
    edges = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, n_mels)), weights])


def _spectrum(audio: np.ndarray, n_fft: int, hop: int, fft_length: int | None,
              power: float) -> np.ndarray:
    x = check_audio(audio, n_fft, "log_mel/mfcc")
    fft_length = _next_pow2(n_fft) if fft_length is None else int(fft_length)
    if fft_length < n_fft:
        raise ValueError(f"fft_length {fft_length} is shorter than the frame ({n_fft})")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    spec = np.abs(np.fft.rfft(frames * window, n=fft_length, axis=-1))
    return spec if power == 1 else spec ** power


def log_mel(audio: np.ndarray, sample_rate: int = 16000, n_fft: int = 480, hop: int = 320,
            n_mels: int = 40, fmin: float = 20.0, fmax: float | None = None, *,
            fft_length: int | None = None, power: float = 1.0,
            log_offset: float = 1e-6) -> np.ndarray:
    """Log-mel spectrogram of ``audio`` (shape (..., samples), float in [-1, 1]).

    Args:
        sample_rate: Hz.
        n_fft: frame (window) length in samples: 480 = 30 ms at 16 kHz.
        hop: frame step in samples: 320 = 20 ms at 16 kHz.
        n_mels: mel bands.
        fmin, fmax: lowest and highest band edge in Hz (``None`` = sample_rate / 2).
        fft_length: FFT size; default the next power of two >= ``n_fft`` (512), as TensorFlow.
        power: 1 for a magnitude spectrogram, 2 for power.
        log_offset: added before the natural log so silence gives log(1e-6) ≈ -13.8, not -inf.

    Returns:
        float32 array of shape (..., frames, n_mels) with frames = 1 + (samples - n_fft) // hop
        (49 for 1 s at 16 kHz); values are natural logs of (magnitude × filter weight) sums.
    """
    spec = _spectrum(audio, n_fft, hop, fft_length, power)
    weights = mel_weight_matrix(n_mels, spec.shape[-1], sample_rate, fmin, fmax)
    return np.log(spec @ weights + log_offset).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = 16000, n_fft: int = 480, hop: int = 320,
         n_mels: int = 40, fmin: float = 20.0, fmax: float | None = None, n_mfcc: int = 10, *,
         fft_length: int | None = None, power: float = 1.0,
         log_offset: float = 1e-6) -> np.ndarray:
    """MFCCs of ``audio`` (shape (..., samples)): the first ``n_mfcc`` DCT-II coefficients of :func:`log_mel`.

    Scaling matches ``tf.signal.mfccs_from_log_mel_spectrograms``: the unnormalized DCT-II times
    ``1/sqrt(2 n_mels)`` for every coefficient. That is SciPy's ``dct(..., norm="ortho")`` for
    coefficients 1 and up; coefficient 0 comes out sqrt(2) larger than SciPy's ortho value.

    Returns:
        float32 array of shape (..., frames, n_mfcc); dimensionless (log-magnitude units).
    """
    if not 1 <= n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
    logmel = log_mel(audio, sample_rate, n_fft, hop, n_mels, fmin, fmax, fft_length=fft_length,
                     power=power, log_offset=log_offset).astype(np.float64)
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) / np.sqrt(2.0 * n_mels)
    return (logmel @ basis.T).astype(np.float32)


# --------------------------------------------------------------------------------------------
# IMU windows
# --------------------------------------------------------------------------------------------
def _band_edges(sample_rate: float, n_bands: int, band_edges_hz: Sequence[float] | None):
    if band_edges_hz is None:
        return np.linspace(0.0, sample_rate / 2.0, n_bands + 1)
    edges = np.asarray(band_edges_hz, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"band_edges_hz must be increasing with >= 2 values, got {band_edges_hz}")
    return edges


def _channel_names(channels) -> list[str]:
    return [f"ch{i}" for i in range(channels)] if isinstance(channels, int) else list(channels)


def imu_feature_names(channels: int | Sequence[str], sample_rate: float = 10.0, n_bands: int = 4,
                      band_edges_hz: Sequence[float] | None = None) -> list[str]:
    """Names of the columns :func:`imu_window_features` returns, e.g. ``acc_x_band1.2-2.5Hz``.

    ``channels`` is a channel count (names ``ch0``, ``ch1``, ...) or a list of channel names.
    Order: for each channel, mean, std, rms, then the band energies from low to high.
    """
    edges = _band_edges(sample_rate, n_bands, band_edges_hz)
    names = []
    for ch in _channel_names(channels):
        names += [f"{ch}_mean", f"{ch}_std", f"{ch}_rms"]
        names += [f"{ch}_band{lo:g}-{hi:g}Hz" for lo, hi in zip(edges[:-1], edges[1:])]
    return names


def imu_window_features(windows: np.ndarray, sample_rate: float = 10.0, n_bands: int = 4,
                        band_edges_hz: Sequence[float] | None = None) -> np.ndarray:
    """Hand-made features of IMU windows: per channel mean, std, RMS and FFT band energies.

    Args:
        windows: (N, channels, T) samples in sensor units (e.g. m/s² or g for an accelerometer,
            rad/s for a gyroscope).
        sample_rate: Hz (aeon's BasicMotions is 10 Hz).
        n_bands: equal-width bands from 0 Hz to the Nyquist frequency, used when
            ``band_edges_hz`` is None.
        band_edges_hz: explicit band edges in Hz (a bin at frequency f belongs to the band with
            lo <= f < hi; the last band includes its upper edge).

    Returns:
        float32 (N, channels × (3 + bands)), columns named by :func:`imu_feature_names`:
        mean, std and RMS in sensor units, band energies in sensor units squared. A band energy
        is the share of the window's variance in that band (one-sided power spectrum of the
        mean-removed window, Parseval-normalized), so with the default bands they sum to std².
    """
    x = check_windows(windows, "imu_window_features")
    t = x.shape[-1]
    mean = x.mean(axis=-1)
    std = x.std(axis=-1)
    rms = np.sqrt(np.mean(x ** 2, axis=-1))
    spec = np.abs(np.fft.rfft(x - mean[..., None], axis=-1)) ** 2 / t ** 2
    spec[..., 1:(t + 1) // 2] *= 2.0  # one-sided: double every bin except DC (and Nyquist if even)
    freqs = np.fft.rfftfreq(t, 1.0 / sample_rate)
    edges = _band_edges(sample_rate, n_bands, band_edges_hz)
    bands = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        mask = (freqs >= lo) & ((freqs <= hi) if last else (freqs < hi))
        bands.append(spec[..., mask].sum(axis=-1))
    per_channel = np.stack([mean, std, rms, *bands], axis=-1)  # (N, C, 3 + bands)
    return per_channel.reshape(len(x), -1).astype(np.float32)
