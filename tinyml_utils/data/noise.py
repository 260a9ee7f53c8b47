"""Synthetic background noises for the keyword sets: 16 kHz, float64 at unit RMS, drawn from the rng passed in."""
from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE


def _unit_rms(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def _shaped(rng: np.random.Generator, n: int, exponent: float, f_floor: float = 20.0) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ∝ 1/f**exponent (flat below ``f_floor`` Hz)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spec /= np.maximum(f, f_floor) ** exponent
    spec[0] = 0.0
    return _unit_rms(np.fft.irfft(spec, n))


def _hum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz (±0.5 %) and harmonics up to 4 kHz, random 1/k^p amplitudes and phases."""
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
    decay = rng.uniform(0.5, 1.5)
    n_harm = int(4000 // f0)
    amps = rng.uniform(0.2, 1.0, n_harm) / np.arange(1, n_harm + 1) ** decay
    phases = np.exp(1j * rng.uniform(0, 2 * np.pi, n_harm))
    step = np.exp(2j * np.pi * f0 * np.arange(n) / SAMPLE_RATE)
    zk = np.ones(n, dtype=np.complex128)
    x = np.zeros(n)
    for k in range(n_harm):  # z**k by repeated multiplication: cheaper than n_harm sin() calls
        zk *= step
        x += amps[k] * (zk * phases[k]).imag
    x = _unit_rms(x)
    return _unit_rms(x + 10 ** (-30 / 20) * rng.standard_normal(n))  # a -30 dB hiss floor


def _babble(rng: np.random.Generator, n: int) -> np.ndarray:
    """Babble-like, not real voices: 4-7 'talkers' of Gaussian noise through three random formant-like
    bumps (300-3,000 Hz) and one near 150 Hz, each modulated by a random envelope cut off at 2-8 Hz."""
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    talkers = int(rng.integers(4, 8))
    fc = rng.uniform(300, 3000, (talkers, 3, 1))
    bw = rng.uniform(100, 400, (talkers, 3, 1))
    shape = np.exp(-0.5 * ((f - fc) / bw) ** 2).sum(axis=1) + 0.3 * np.exp(-0.5 * ((f - 150) / 80) ** 2)
    voices = np.fft.irfft(np.fft.rfft(rng.standard_normal((talkers, n)), axis=-1) * shape, n, axis=-1)
    env_spec = np.fft.rfft(rng.standard_normal((talkers, n)), axis=-1)
    env_spec[f[None, :] > rng.uniform(2.0, 8.0, (talkers, 1))] = 0.0
    env = np.fft.irfft(env_spec, n, axis=-1)
    env = np.clip(env / (np.abs(env).max(axis=-1, keepdims=True) + 1e-12) + 0.2, 0.0, None)
    voices /= np.sqrt(np.mean(voices ** 2, axis=-1, keepdims=True)) + 1e-12
    return _unit_rms((voices * env * rng.uniform(0.5, 1.0, (talkers, 1))).sum(axis=0))


def noise(kind: str, rng: np.random.Generator, n: int = SAMPLE_RATE) -> np.ndarray:
    """``n`` samples (default 1 s) of white, pink (1/f), brown (1/f²), hum or babble noise."""
    if kind == "white":
        return _unit_rms(rng.standard_normal(n))
    if kind == "pink":
        return _shaped(rng, n, 0.5)
    if kind == "brown":
        return _shaped(rng, n, 1.0)
    if kind == "hum":
        return _hum(rng, n)
    if kind == "babble":
        return _babble(rng, n)
    raise ValueError(f"unknown noise kind {kind!r}")
