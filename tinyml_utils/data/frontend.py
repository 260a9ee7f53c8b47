"""MFCC front ends for keyword spotting: Arm CMSIS-DSP (f32 and q15), ``tf.signal`` and NumPy.

The front end a Cortex-M runs is CMSIS-DSP's ``arm_mfcc_f32`` / ``arm_mfcc_q15``. Its Python
bindings (the ``cmsisdsp`` package) call the same C code, so the features a model is trained on
here can be the features the microcontroller will compute.

The recipe (MLPerf Tiny's KWS front end): 16 kHz audio, frames of 480 samples (30 ms) every
320 samples (20 ms), a 512-point FFT, magnitude spectrum, 40 HTK mel bands from 20 to 4,000 Hz,
``log(mel + 1e-6)``, the first 10 DCT-II coefficients. One second gives 49 frames → a 49 × 10 map.

Traps
    * CMSIS-DSP's MFCC takes a frame exactly as long as its FFT. A 480-sample frame goes in as
      480 samples followed by 32 zeros, and the window passed at init is a *periodic* Hann of 480
      points followed by 32 zeros. (A 512-point Hann over a 512-sample frame is another front end.)
    * ``arm_mfcc_f32`` scales its input buffer in place (it normalizes by the frame's peak); the
      wrapper below always passes a copy.
    * ``arm_mfcc_q15`` takes int16 samples (q15) and returns ``(status, out)`` with ``out`` in
      q8.7 fixed point: divide by 128 to compare with the float front ends. Its log, mel sums and
      FFT are fixed point, so quiet frames (few significant bits) come out much less accurate.
    * ``tf.signal`` and :func:`tinyml_utils.data.features.mfcc` do not pad each frame; they run the
      480-sample frame through a 512-point FFT, which is the same thing as zero padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import features
from .features import num_frames

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

__all__ = ["SAMPLE_RATE", "FRAME", "HOP", "FFT", "N_MELS", "N_MFCC", "FMIN", "FMAX", "num_frames",
           "padded_frames", "window", "CmsisMfcc", "numpy_mfcc", "tf_mfcc", "relative_l2",
           "mcu_frame_cycles_estimate"]


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


def window(frame: int = FRAME, fft: int = FFT) -> np.ndarray:
    """Periodic Hann of ``frame`` points followed by ``fft - frame`` zeros (float64, length ``fft``)."""
    w = np.zeros(fft)
    w[:frame] = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame) / frame)
    return w


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
        x = features.check_audio(audio, self.frame, f"CmsisMfcc({self.dtype!r})", max_ndim=2)
        if x.ndim == 2:
            return np.stack([self(row) for row in x])
        frames = padded_frames(x, self.frame, self.hop, self.fft)
        return np.stack([self.frame_features(f) for f in frames]).astype(np.float32)


def numpy_mfcc(audio: np.ndarray) -> np.ndarray:
    """The course's NumPy MFCC (:func:`tinyml_utils.data.features.mfcc`) with this module's recipe."""
    return features.mfcc(audio, SAMPLE_RATE, FRAME, HOP, N_MELS, FMIN, FMAX, N_MFCC, fft_length=FFT,
                         log_offset=LOG_OFFSET)


def tf_mfcc(audio: np.ndarray) -> np.ndarray:
    """The reference: ``tf.signal`` STFT (periodic Hann, no end padding) → |X| → mel → log → DCT."""
    import tensorflow as tf

    x = tf.constant(features.check_audio(audio, FRAME, "tf_mfcc").astype(np.float32))
    stft = tf.signal.stft(x, FRAME, HOP, FFT, window_fn=tf.signal.hann_window, pad_end=False)
    mel_w = tf.signal.linear_to_mel_weight_matrix(N_MELS, FFT // 2 + 1, SAMPLE_RATE, FMIN, FMAX)
    mel = tf.tensordot(tf.abs(stft), mel_w, 1)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(mel + LOG_OFFSET))
    return mfcc[..., :N_MFCC].numpy()


def relative_l2(approx: np.ndarray, reference: np.ndarray) -> float:
    """‖approx − reference‖₂ / ‖reference‖₂ over all elements (dimensionless)."""
    a, r = np.asarray(approx, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(a - r) / max(np.linalg.norm(r), 1e-30))


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
