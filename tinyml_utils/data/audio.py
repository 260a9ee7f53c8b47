"""Audio features for keyword spotting: log-mel and MFCC in NumPy, CMSIS-DSP (f32, q15) and ``tf.signal``.

The NumPy features follow TensorFlow's recipe step by step, so that a model trained on them can
be fed by ``tf.signal`` (or a microcontroller port of it) without a mismatch:

1. frames of ``n_fft`` samples every ``hop`` samples, no padding (``tf.signal.stft``, pad_end=False);
2. a periodic Hann window and an FFT of ``fft_length`` points (next power of two by default);
3. magnitude spectrum (``power=1``; ``power=2`` for power);
4. HTK-style triangular mel filters exactly as ``tf.signal.linear_to_mel_weight_matrix``
   (mel = 1127 ln(1 + f/700), the DC bin gets no weight, triangles in the mel domain, no area
   normalization);
5. ``log(mel + log_offset)``;
6. for MFCCs, a DCT-II of the log-mel bands scaled like ``tf.signal.mfccs_from_log_mel_spectrograms``.

The front end a Cortex-M runs is CMSIS-DSP's ``arm_mfcc_f32`` / ``arm_mfcc_q15``; its Python
bindings (the ``cmsisdsp`` package) call the same C code, so the features a model is trained on
here can be the features the microcontroller will compute. The keyword recipe (MLPerf Tiny's KWS
front end, the module constants below): 16 kHz audio, frames of 480 samples (30 ms) every 320
samples (20 ms), a 512-point FFT, 40 HTK mel bands from 20 to 4,000 Hz, ``log(mel + 1e-6)``, the
first 10 DCT-II coefficients. One second gives 49 frames → a 49 × 10 map.

Traps
    * CMSIS-DSP's MFCC takes a frame exactly as long as its FFT. A 480-sample frame goes in as
      480 samples followed by 32 zeros, and the window passed at init is a *periodic* Hann of 480
      points followed by 32 zeros. (A 512-point Hann over a 512-sample frame is another front end.)
      ``tf.signal`` and :func:`mfcc` run the 480-sample frame through a 512-point FFT: the same thing.
    * ``arm_mfcc_f32`` scales its input buffer in place (it normalizes by the frame's peak); the
      wrapper below always passes a copy.
    * ``arm_mfcc_q15`` takes int16 samples (q15) and returns ``(status, out)`` with ``out`` in
      q8.7 fixed point: divide by 128 to compare with the float front ends. Its log, mel sums and
      FFT are fixed point, so quiet frames (few significant bits) come out much less accurate.

``tests/test_audio.py`` checks these against TensorFlow and CMSIS-DSP on random audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
#: a float clip whose peak exceeds this is not audio in [-1, 1] (int16 PCM cast to float has peaks in the 100s-1000s)
MAX_FLOAT_PEAK = 2.0

__all__ = ["log_mel", "mfcc", "mel_weight_matrix", "num_frames", "check_audio", "SAMPLE_RATE", "FRAME", "HOP",
           "FFT", "N_MELS", "N_MFCC", "FMIN", "FMAX", "padded_frames", "window", "CmsisMfcc", "numpy_mfcc",
           "tf_mfcc", "relative_l2", "mcu_frame_cycles_estimate"]


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
    """HTK mel filterbank, shape (n_bins, n_mels), float64; equals ``tf.signal.linear_to_mel_weight_matrix``.

    ``n_bins`` is the spectrogram's bin count (``fft_length // 2 + 1``); ``fmin``, ``fmax`` are the band
    edges in Hz (``fmax=None`` means the Nyquist frequency).
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


def log_mel(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = FRAME, hop: int = HOP,
            n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None, *,
            fft_length: int | None = None, power: float = 1.0,
            log_offset: float = LOG_OFFSET) -> np.ndarray:
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
        float32 array of shape (..., frames, n_mels) with frames = :func:`num_frames` (49 for 1 s at
        16 kHz); values are natural logs of (magnitude × filter weight) sums.
    """
    x = check_audio(audio, n_fft, "log_mel/mfcc")
    fft_length = 1 << (n_fft - 1).bit_length() if fft_length is None else int(fft_length)
    if fft_length < n_fft:
        raise ValueError(f"fft_length {fft_length} is shorter than the frame ({n_fft})")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    spec = np.abs(np.fft.rfft(frames * window(n_fft, n_fft), n=fft_length, axis=-1))
    spec = spec if power == 1 else spec ** power
    weights = mel_weight_matrix(n_mels, spec.shape[-1], sample_rate, fmin, fmax)
    return np.log(spec @ weights + log_offset).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_fft: int = FRAME, hop: int = HOP,
         n_mels: int = N_MELS, fmin: float = FMIN, fmax: float | None = None, n_mfcc: int = N_MFCC, *,
         fft_length: int | None = None, power: float = 1.0,
         log_offset: float = LOG_OFFSET) -> np.ndarray:
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


def numpy_mfcc(audio: np.ndarray) -> np.ndarray:
    """:func:`mfcc` with the keyword recipe (the module constants: mel bands up to 4 kHz, not Nyquist)."""
    return mfcc(audio, SAMPLE_RATE, FRAME, HOP, N_MELS, FMIN, FMAX, N_MFCC, fft_length=FFT,
                log_offset=LOG_OFFSET)


def tf_mfcc(audio: np.ndarray) -> np.ndarray:
    """The reference: ``tf.signal`` STFT (periodic Hann, no end padding) → |X| → mel → log → DCT."""
    import tensorflow as tf

    x = tf.constant(check_audio(audio, FRAME, "tf_mfcc").astype(np.float32))
    stft = tf.signal.stft(x, FRAME, HOP, FFT, window_fn=tf.signal.hann_window, pad_end=False)
    mel_w = tf.signal.linear_to_mel_weight_matrix(N_MELS, FFT // 2 + 1, SAMPLE_RATE, FMIN, FMAX)
    mel = tf.tensordot(tf.abs(stft), mel_w, 1)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(mel + LOG_OFFSET))
    return mfcc[..., :N_MFCC].numpy()


def relative_l2(approx: np.ndarray, reference: np.ndarray) -> float:
    """‖approx − reference‖₂ / ‖reference‖₂ over all elements (dimensionless)."""
    a, r = np.asarray(approx, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-30))


# --------------------------------------------------------------------------------------------
# CMSIS-DSP: the MFCC a Cortex-M computes
# --------------------------------------------------------------------------------------------
def padded_frames(audio: np.ndarray, frame: int = FRAME, hop: int = HOP, fft: int = FFT) -> np.ndarray:
    """Cut 1-D ``audio`` into frames of ``frame`` samples every ``hop`` and zero-pad each to ``fft``.

    Returns float64 (n_frames, fft): what CMSIS-DSP's MFCC wants, one row per call.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"padded_frames takes one 1-D signal, got shape {x.shape}")
    if fft < frame:
        raise ValueError(f"fft ({fft}) must be >= frame ({frame})")
    view = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    out = np.zeros((len(view), fft))
    out[:, :frame] = view
    return out


def _cmsis():
    try:
        import cmsisdsp
        import cmsisdsp.datatype as dt
        import cmsisdsp.mfcc as cmfcc
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("CMSIS-DSP's Python bindings are missing. Fix: pip install cmsisdsp==1.10.3 "
                          "(it builds from source, about a minute)") from e
    return cmsisdsp, dt, cmfcc


@dataclass
class CmsisMfcc:
    """CMSIS-DSP's MFCC (``arm_mfcc_f32`` or ``arm_mfcc_q15``) over whole clips.

    >>> fe = CmsisMfcc("f32")
    >>> fe(audio).shape          # audio: (16000,) float in [-1, 1]
    (49, 10)

    ``dtype``: ``"f32"`` or ``"q15"``. Outputs are float32 in the same units as ``tf.signal``'s
    MFCCs (q15 results are divided by 128, the q8.7 scale). Audio is float in [-1, 1]; the q15
    path converts it to int16 (× 32768, saturated), as a microphone driver would deliver it.
    """

    dtype: str = "f32"
    frame: int = FRAME
    hop: int = HOP
    fft: int = FFT
    n_mels: int = N_MELS
    n_mfcc: int = N_MFCC
    fmin: float = FMIN
    fmax: float = FMAX
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        dsp, dt, cmfcc = _cmsis()
        if self.dtype not in ("f32", "q15"):
            raise ValueError(f"dtype must be 'f32' or 'q15', got {self.dtype!r}")
        kind = dt.F32 if self.dtype == "f32" else dt.Q15
        filt_len, filt_pos, coefs = cmfcc.melFilterMatrix(kind, self.fmin, self.fmax, self.n_mels,
                                                          self.sample_rate, self.fft)
        dct = cmfcc.dctMatrix(kind, self.n_mfcc, self.n_mels)
        win = window(self.frame, self.fft)
        if self.dtype == "f32":
            self._inst = dsp.arm_mfcc_instance_f32()
            status = dsp.arm_mfcc_init_f32(self._inst, self.fft, self.n_mels, self.n_mfcc, dct,
                                           filt_pos, filt_len, coefs, win.astype(np.float32))
            self._tmp = np.zeros(self._tmp_len(dsp, dt.F32), dtype=np.float32)
        else:
            self._inst = dsp.arm_mfcc_instance_q15()
            status = dsp.arm_mfcc_init_q15(self._inst, self.fft, self.n_mels, self.n_mfcc, dct,
                                           filt_pos, filt_len, coefs, dt.convert(win, dt.Q15))
            self._tmp = np.zeros(self._tmp_len(dsp, dt.Q15), dtype=np.int32)
        if status != 0:
            raise RuntimeError(f"arm_mfcc_init_{self.dtype} returned status {status} "
                               f"(fft={self.fft}, mels={self.n_mels}, mfcc={self.n_mfcc})")
        self._dsp = dsp

    def _tmp_len(self, dsp, kind) -> int:
        size = getattr(dsp, "arm_mfcc_tmp_buffer_size", None)
        return int(size(kind, self.fft, 1)) if size is not None else 2 * self.fft

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        """MFCCs of one frame of ``fft`` samples (already zero-padded): float32 (n_mfcc,)."""
        if self.dtype == "f32":
            out = self._dsp.arm_mfcc_f32(self._inst, np.array(frame, dtype=np.float32), self._tmp)
            return np.asarray(out, dtype=np.float32)
        q = np.clip(np.round(np.asarray(frame) * 32768.0), -32768, 32767).astype(np.int16)
        status, out = self._dsp.arm_mfcc_q15(self._inst, q, self._tmp)
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


def mcu_frame_cycles_estimate(fft: int = FFT, n_mels: int = N_MELS, n_mfcc: int = N_MFCC,
                              filter_coefs: int | None = None, cycles_per_flop: float = 1.5) -> dict:
    """ESTIMATED Cortex-M cycles for one MFCC frame, from an operation count (not a measurement).

    Assumptions (say them when you print the result): a real FFT of ``fft`` points costs
    ``2.5 · fft · log2(fft)`` float operations (half a complex FFT); windowing, the peak
    normalization and the magnitude cost ``~8 · fft`` operations (the square roots counted as 8 each
    over ``fft/2`` bins); the mel filters ``2 · filter_coefs`` (sparse: only non-zero weights);
    the log ``~30`` operations per band; the DCT ``2 · n_mels · n_mfcc``; a Cortex-M4F runs about
    ``1 / cycles_per_flop`` single-precision operations per cycle with CMSIS-DSP's loops
    (loads, stores and loop overhead included in that factor).
    """
    coefs = filter_coefs if filter_coefs is not None else 2 * (fft // 2)  # each bin feeds ≤ 2 bands
    flops = {"fft": 2.5 * fft * np.log2(fft), "window_norm_mag": 8.0 * fft,
             "mel": 2.0 * coefs, "log": 30.0 * n_mels, "dct": 2.0 * n_mels * n_mfcc}
    total = float(sum(flops.values()))
    return {"flops": total, "cycles": total * cycles_per_flop, "parts": flops,
            "cycles_per_flop": cycles_per_flop, "estimated": True}
