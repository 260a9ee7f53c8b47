"""Oracle tests of tinyml_utils.data.audio: log-mel and MFCC against TensorFlow's tf.signal, CMSIS-DSP's
MFCC (f32, q15) against tf.signal and the NumPy MFCC.

Tolerances. Our features are computed in float64 and returned as float32; TensorFlow's pipeline
runs in float32. On random audio (peak 0.01 to 1) the two agree to about 5e-6 in absolute
terms on log-mel values of magnitude up to ~10 and MFCCs up to ~30, so we assert an absolute
1e-4 (25 times the observed error, still far below anything a model could notice). Against
TensorFlow run in float64 the agreement is about 1e-6; we assert 1e-5. The mel filterbank
matches TensorFlow's float64 matrix to 1e-10.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.data import audio as fe
from tinyml_utils.data.audio import log_mel, mel_weight_matrix, mfcc, num_frames

ATOL_F32 = 1e-4   # ours vs TensorFlow float32 (observed ~5e-6)
ATOL_F64 = 1e-5   # ours vs TensorFlow float64 (observed ~1e-6)


@pytest.fixture(scope="module")
def tf():
    tf = pytest.importorskip("tensorflow")
    return tf


@pytest.fixture(scope="module")
def audio():
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.01, 1.0, (4, 1))
    return (rng.uniform(-1.0, 1.0, (4, 16000)) * scale).astype(np.float32)


def _tf_features(tf, audio, dtype, n_mels=40, fmin=20.0, fmax=8000.0, n_mfcc=10):
    x = tf.constant(audio, dtype=dtype)
    stft = tf.signal.stft(x, frame_length=480, frame_step=320, fft_length=512,
                          window_fn=tf.signal.hann_window)
    weights = tf.signal.linear_to_mel_weight_matrix(n_mels, 257, 16000, fmin, fmax, dtype=dtype)
    logmel = tf.math.log(tf.tensordot(tf.abs(stft), weights, 1) + 1e-6)
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., :n_mfcc]
    return logmel.numpy(), mfccs.numpy()


def test_mel_matrix_matches_tensorflow(tf):
    for n_mels, fmin, fmax in [(40, 20.0, None), (32, 125.0, 3800.0), (10, 0.0, 4000.0)]:
        ref = tf.signal.linear_to_mel_weight_matrix(
            n_mels, 257, 16000, fmin, 8000.0 if fmax is None else fmax, dtype=tf.float64).numpy()
        ours = mel_weight_matrix(n_mels, 257, 16000, fmin, fmax)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_log_mel_and_mfcc_match_tensorflow_float32(tf, audio):
    ref_logmel, ref_mfcc = _tf_features(tf, audio, tf.float32)
    ours_logmel, ours_mfcc = log_mel(audio), mfcc(audio)
    assert ours_logmel.shape == ref_logmel.shape == (4, 49, 40)
    assert ours_mfcc.shape == ref_mfcc.shape == (4, 49, 10)
    assert ours_logmel.dtype == ours_mfcc.dtype == np.float32
    err_lm = np.abs(ours_logmel - ref_logmel).max()
    err_mf = np.abs(ours_mfcc - ref_mfcc).max()
    assert err_lm < ATOL_F32, f"log-mel differs from tf.signal by {err_lm:.2e}, bound {ATOL_F32}"
    assert err_mf < ATOL_F32, f"MFCC differs from tf.signal by {err_mf:.2e}, bound {ATOL_F32}"


def test_log_mel_and_mfcc_match_tensorflow_float64(tf, audio):
    ref_logmel, ref_mfcc = _tf_features(tf, audio.astype(np.float64), tf.float64)
    err_lm = np.abs(log_mel(audio) - ref_logmel).max()
    err_mf = np.abs(mfcc(audio) - ref_mfcc).max()
    assert err_lm < ATOL_F64, f"log-mel differs from float64 tf.signal by {err_lm:.2e}"
    assert err_mf < ATOL_F64, f"MFCC differs from float64 tf.signal by {err_mf:.2e}"


def test_other_settings_match_tensorflow(tf, audio):
    ref_logmel, ref_mfcc = _tf_features(tf, audio, tf.float32, n_mels=32, fmin=125.0,
                                        fmax=3800.0, n_mfcc=13)
    ours_lm = log_mel(audio, n_mels=32, fmin=125.0, fmax=3800.0)
    ours_mf = mfcc(audio, n_mels=32, fmin=125.0, fmax=3800.0, n_mfcc=13)
    assert np.abs(ours_lm - ref_logmel).max() < ATOL_F32
    assert np.abs(ours_mf - ref_mfcc).max() < ATOL_F32


def test_mfcc_dct_scaling_against_scipy(audio):
    from scipy.fft import dct

    logmel = log_mel(audio).astype(np.float64)
    ortho = dct(logmel, type=2, norm="ortho", axis=-1)[..., :10]
    ours = mfcc(audio)
    np.testing.assert_allclose(ours[..., 1:], ortho[..., 1:], atol=1e-4)
    np.testing.assert_allclose(ours[..., 0], np.sqrt(2) * ortho[..., 0], rtol=1e-5, atol=1e-4)


def test_batch_equals_one_by_one(audio):
    batched = mfcc(audio)
    for i in range(len(audio)):
        np.testing.assert_array_equal(batched[i], mfcc(audio[i]))
    nested = log_mel(audio.reshape(2, 2, 16000))
    assert nested.shape == (2, 2, 49, 40)
    np.testing.assert_array_equal(nested.reshape(4, 49, 40), log_mel(audio))


def test_shapes_and_silence():
    assert num_frames(16000) == 49 and num_frames(479) == 0
    silent = log_mel(np.zeros(16000, np.float32))
    assert silent.shape == (49, 40)
    assert np.all(np.isfinite(silent)) and np.allclose(silent, np.log(1e-6))
    with pytest.raises(ValueError, match="fewer than one frame"):
        log_mel(np.zeros(100))
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc(np.zeros(16000), n_mfcc=41)


def test_tone_lands_in_the_right_mel_band():
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    band = int(np.argmax(log_mel(tone).mean(axis=0)))
    weights = mel_weight_matrix()
    bin_1k = round(1000 / (8000 / 256))
    assert band == int(np.argmax(weights[bin_1k])), "1 kHz tone should peak in the band centred near 1 kHz"


# --------------------------------------------------------------------------------------------
# CMSIS-DSP's MFCC, the front end a Cortex-M runs
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cmsis():
    return pytest.importorskip("cmsisdsp")


def _audio(n=2, seed=0):
    """Speech-like test signals: harmonic tones with an envelope plus a little noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(fe.SAMPLE_RATE) / fe.SAMPLE_RATE
    out = []
    for _ in range(n):
        f0 = rng.uniform(100, 250)
        x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 15))
        env = np.exp(-0.5 * ((t - rng.uniform(0.3, 0.7)) / 0.15) ** 2)
        x = x * env + 0.01 * rng.standard_normal(len(t))
        out.append(0.5 * x / np.abs(x).max())
    return np.stack(out).astype(np.float32)


def test_frames_and_window_follow_the_cmsis_layout():
    x = np.arange(16000, dtype=np.float64)
    fr = fe.padded_frames(x)
    assert fr.shape == (49, fe.FFT) == (fe.num_frames(16000), 512)
    assert np.all(fr[:, fe.FRAME:] == 0) and fr[1, 0] == fe.HOP
    w = fe.window()
    assert w.shape == (512,) and np.all(w[480:] == 0) and w[0] == 0
    assert np.isclose(w[240], 1.0)  # periodic Hann of 480 peaks at n = 240


def test_cmsis_f32_matches_tf_signal_and_numpy(cmsis, tf):
    x = _audio()
    ref = fe.tf_mfcc(x)
    got = fe.CmsisMfcc("f32")(x)
    assert got.shape == ref.shape == (2, 49, 10)
    assert fe.relative_l2(got, ref) < 1e-4
    assert np.abs(got - ref).max() < 1e-2
    assert fe.relative_l2(fe.numpy_mfcc(x), ref) < 1e-4


def test_cmsis_q15_is_close_but_not_exact(cmsis, tf):
    x = _audio(1, seed=1)
    ref = fe.tf_mfcc(x)
    got = fe.CmsisMfcc("q15")(x)
    err = fe.relative_l2(got, ref)
    assert 1e-4 < err < 0.5  # fixed point: clearly worse than f32, still the same features


def test_relative_l2_by_hand():
    assert fe.relative_l2(np.array([3.0, 4.0]), np.array([3.0, 0.0])) == pytest.approx(4.0 / 3.0)


def test_cycle_estimate_adds_up():
    est = fe.mcu_frame_cycles_estimate(cycles_per_flop=2.0)
    assert est["estimated"] and est["cycles"] == pytest.approx(2.0 * sum(est["parts"].values()))
