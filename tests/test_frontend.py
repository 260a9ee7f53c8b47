"""Oracle tests of tinyml_utils.data.frontend: CMSIS-DSP MFCC against tf.signal and the NumPy MFCC."""
import numpy as np
import pytest

from tinyml_utils.data import frontend as fe

pytest.importorskip("cmsisdsp")


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


def test_cmsis_f32_matches_tf_signal_and_numpy():
    x = _audio()
    ref = fe.tf_mfcc(x)
    got = fe.CmsisMfcc("f32")(x)
    assert got.shape == ref.shape == (2, 49, 10)
    assert fe.relative_l2(got, ref) < 1e-4
    assert np.abs(got - ref).max() < 1e-2
    assert fe.relative_l2(fe.numpy_mfcc(x), ref) < 1e-4


def test_cmsis_q15_is_close_but_not_exact():
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
