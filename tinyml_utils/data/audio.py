"""Keyword-spotting features (MLPerf Tiny KWS recipe, the constants below): log-mel and MFCC in NumPy,
CMSIS-DSP and ``tf.signal``; 1 s of 16 kHz audio gives a 49 × 10 MFCC map.

Traps:
- CMSIS-DSP's MFCC takes a frame as long as its FFT: 480 samples + 32 zeros, and the window is a periodic
  480-point Hann + 32 zeros (a 512-point Hann is another front end).
- ``arm_mfcc_f32`` scales its input in place (by the frame's peak): always pass a copy.
- ``arm_mfcc_q15`` takes int16 and returns q8.7 (divide by 128); its fixed-point log, mel sums and FFT
  make quiet frames much less accurate.
"""
from __future__ import annotations

import numpy as np

from .base import check_finite

SAMPLE_RATE = 16_000   # Hz
FRAME = 480            # samples per frame (30 ms)
HOP = 320              # samples between frames (20 ms)
FFT = 512              # FFT length = CMSIS frame length
N_MELS = 40
N_MFCC = 10
FMIN = 20.0            # Hz, lowest mel edge
FMAX = 4000.0          # Hz, highest mel edge (MLPerf Tiny KWS)
LOG_OFFSET = 1e-6
Q87 = 128.0            # q8.7: integer / 128 = value
MAX_FLOAT_PEAK = 2.0   # a float clip with a larger peak is int16 PCM cast to float, not audio in [-1, 1]


def check_audio(audio, min_samples: int, who: str = "audio", max_ndim: int | None = None) -> np.ndarray:
    """``audio`` as float64, or a ``ValueError`` unless it is finite floats in [-1, 1] with at least
    ``min_samples`` samples on the last axis (catches int16 PCM, also cast to float, and a (samples, 1) column)."""
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
    check_finite(x, who, "check the file or the step that produced it")
    peak = float(np.abs(x).max())
    if peak > MAX_FLOAT_PEAK:
        raise ValueError(f"{who}: peak {peak:.4g} is far outside [-1, 1]: int16 PCM passed as float? "
                         "Divide by 32768 (audio / 32768)")
    return x.astype(np.float64, copy=False)


def num_frames(num_samples: int, n_fft: int = FRAME, hop: int = HOP) -> int:
    """Frames that :func:`log_mel` returns for ``num_samples`` samples (49 for 1 s at 16 kHz)."""
    return 0 if num_samples < n_fft else 1 + (num_samples - n_fft) // hop


def window(frame: int = FRAME, fft: int = FFT) -> np.ndarray:
    """Periodic Hann of ``frame`` points followed by ``fft - frame`` zeros (float64, length ``fft``)."""
    w = np.zeros(fft)
    w[:frame] = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame) / frame)
    return w


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_weight_matrix(n_mels: int = N_MELS, n_bins: int = FFT // 2 + 1, sample_rate: float = SAMPLE_RATE,
                      fmin: float = FMIN, fmax: float | None = None) -> np.ndarray:
    """HTK mel filterbank (n_bins = fft // 2 + 1, n_mels) float64, as ``tf.signal.linear_to_mel_weight_matrix``
    (DC bin unweighted); edges in Hz, ``fmax=None`` = Nyquist."""
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


def log_mel(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = FRAME, hop: int = HOP,
            n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None) -> np.ndarray:
    """``log(mel(|FFT|) + 1e-6)`` of audio (..., samples) in [-1, 1]: float32 (..., frames, n_mels); ``n_fft`` is
    the frame length (no end padding), the FFT the next power of two, as TensorFlow's."""
    x = check_audio(audio, n_fft, "log_mel/mfcc")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    spec = np.abs(np.fft.rfft(frames * window(n_fft, n_fft), n=1 << (n_fft - 1).bit_length(), axis=-1))
    weights = mel_weight_matrix(n_mels, spec.shape[-1], sample_rate, fmin, fmax)
    return np.log(spec @ weights + LOG_OFFSET).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = FRAME, hop: int = HOP,
         n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None, n_mfcc: int = N_MFCC) -> np.ndarray:
    """The first ``n_mfcc`` DCT-II coefficients of :func:`log_mel`: float32 (..., frames, n_mfcc).

    Trap: scaled as ``tf.signal`` (× 1/sqrt(2 n_mels)): SciPy's ``norm="ortho"``, but coefficient 0 is sqrt(2) larger.
    """
    if not 1 <= n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
    logmel = log_mel(audio, sample_rate, n_fft, hop, n_mels, fmin, fmax).astype(np.float64)
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) / np.sqrt(2.0 * n_mels)
    return (logmel @ basis.T).astype(np.float32)


def numpy_mfcc(audio: np.ndarray) -> np.ndarray:
    """:func:`mfcc` with the keyword recipe (mel bands up to 4 kHz, not Nyquist)."""
    return mfcc(audio, fmax=FMAX)


def tf_mfcc(audio: np.ndarray) -> np.ndarray:
    """The keyword recipe in ``tf.signal``, the reference."""
    import tensorflow as tf

    x = tf.constant(check_audio(audio, FRAME, "tf_mfcc").astype(np.float32))
    stft = tf.signal.stft(x, FRAME, HOP, FFT, window_fn=tf.signal.hann_window, pad_end=False)
    mel_w = tf.signal.linear_to_mel_weight_matrix(N_MELS, FFT // 2 + 1, SAMPLE_RATE, FMIN, FMAX)
    mel = tf.tensordot(tf.abs(stft), mel_w, 1)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(mel + LOG_OFFSET))
    return mfcc[..., :N_MFCC].numpy()


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as int16 PCM (× 32768, rounded, saturated)."""
    return np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def relative_l2(approx: np.ndarray, reference: np.ndarray) -> float:
    """‖approx − reference‖₂ / ‖reference‖₂ over all elements."""
    a, r = np.asarray(approx, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-30))


def padded_frames(audio: np.ndarray, frame: int = FRAME, hop: int = HOP, fft: int = FFT) -> np.ndarray:
    """1-D audio as frames zero-padded to ``fft``: float64 (n_frames, fft), one row per CMSIS-DSP MFCC call."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"padded_frames takes one 1-D signal, got shape {x.shape}")
    view = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    out = np.zeros((len(view), fft))
    out[:, :frame] = view
    return out


class CmsisMfcc:
    """CMSIS-DSP's MFCC (``dtype`` ``"f32"`` or ``"q15"``) over whole clips: float32 (..., 49, 10), units as
    ``tf.signal``'s (q15 outputs / 128). The q15 path feeds int16 (× 32768, saturated), as a microphone would."""

    # the keyword recipe (firmware.mfcc reads these)
    frame = FRAME
    hop = HOP
    fft = FFT
    n_mels = N_MELS
    n_mfcc = N_MFCC
    fmin = FMIN
    fmax = FMAX
    sample_rate = SAMPLE_RATE

    def __init__(self, dtype: str = "f32") -> None:
        import cmsisdsp as dsp
        import cmsisdsp.datatype as dt
        import cmsisdsp.mfcc as cmfcc

        if dtype not in ("f32", "q15"):
            raise ValueError(f"dtype must be 'f32' or 'q15', got {dtype!r}")
        self.dtype = dtype
        q15 = self.dtype == "q15"
        kind = dt.Q15 if q15 else dt.F32
        filt_len, filt_pos, coefs = cmfcc.melFilterMatrix(kind, self.fmin, self.fmax, self.n_mels,
                                                          self.sample_rate, self.fft)
        dct = cmfcc.dctMatrix(kind, self.n_mfcc, self.n_mels)
        win = window(self.frame, self.fft)
        win = dt.convert(win, dt.Q15) if q15 else win.astype(np.float32)
        self._inst = getattr(dsp, f"arm_mfcc_instance_{self.dtype}")()
        status = getattr(dsp, f"arm_mfcc_init_{self.dtype}")(self._inst, self.fft, self.n_mels, self.n_mfcc, dct,
                                                              filt_pos, filt_len, coefs, win)
        # Trap: for f32 the binding's arm_mfcc_tmp_buffer_size says fft floats, but arm_mfcc_f32 reads fft complex
        # values (2 * fft floats) from it; a buffer of fft floats made whole-dataset runs segfault now and then.
        n_tmp = dsp.arm_mfcc_tmp_buffer_size(kind, self.fft, 1) if q15 else 2 * self.fft
        self._tmp = np.zeros(n_tmp, dtype=np.int32 if q15 else np.float32)
        if status != 0:
            raise RuntimeError(f"arm_mfcc_init_{self.dtype} returned status {status} "
                               f"(fft={self.fft}, mels={self.n_mels}, mfcc={self.n_mfcc})")
        self._dsp = dsp

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        """MFCCs of one zero-padded frame of ``fft`` samples: float32 (n_mfcc,)."""
        if self.dtype == "f32":
            out = self._dsp.arm_mfcc_f32(self._inst, np.array(frame, dtype=np.float32), self._tmp)
            return np.asarray(out, dtype=np.float32)
        status, out = self._dsp.arm_mfcc_q15(self._inst, pcm16(np.asarray(frame)), self._tmp)
        if status != 0:
            raise RuntimeError(f"arm_mfcc_q15 returned status {status}")
        return np.asarray(out, dtype=np.float32) / Q87

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """MFCCs of one clip (1-D) or a batch (N, samples): float32 (..., frames, n_mfcc)."""
        x = check_audio(audio, self.frame, f"CmsisMfcc({self.dtype!r})", max_ndim=2)
        if x.ndim == 2:
            return np.stack([self(row) for row in x])
        frames = padded_frames(x, self.frame, self.hop, self.fft)
        return np.stack([self.frame_features(f) for f in frames]).astype(np.float32)


def mcu_frame_cycles_estimate(cycles_per_flop: float = 1.5) -> dict:
    """ESTIMATED Cortex-M cycles for one MFCC frame of the recipe from an operation count, not a measurement.

    Assumed float operations: real FFT 2.5·N·log2(N); window, peak normalization and magnitude ~8·N
    (square roots as 8 each); mel filters 2 per non-zero weight (each bin feeds ≤ 2 bands); log ~30 a
    band; DCT 2·bands·coefficients. ``cycles_per_flop`` (assumed) includes loads, stores and loop overhead.
    """
    flops = {"fft": 2.5 * FFT * np.log2(FFT), "window_norm_mag": 8.0 * FFT,
             "mel": 2.0 * 2 * (FFT // 2), "log": 30.0 * N_MELS, "dct": 2.0 * N_MELS * N_MFCC}
    total = float(sum(flops.values()))
    return {"flops": total, "cycles": total * cycles_per_flop, "parts": flops,
            "cycles_per_flop": cycles_per_flop, "estimated": True}
