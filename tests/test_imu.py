"""Oracle tests of tinyml_utils.data.imu: window features and the DSP block against CMSIS-DSP, SciPy and
hand computation (Parseval, sines in their bands).

Tolerances. CMSIS-DSP runs in float32 and our block in float64: on windows of magnitude ~1 the
statistics agree to ~1e-8 and the power spectrum to ~1e-7 relative to its largest bin, so we
assert 1e-5 absolute (statistics) and 1e-5 relative (spectrum), far below any feature's scale.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils import measure
from tinyml_utils.data import imu

SR = 10.0


@pytest.fixture(scope="module")
def windows():
    rng = np.random.default_rng(0)
    t = np.arange(30) / SR
    # 5 windows x 6 channels: offsets, sinusoids at different frequencies, noise
    f = rng.uniform(0.3, 4.5, (5, 6, 1))
    x = rng.normal(0, 1, (5, 6, 1)) + np.sin(2 * np.pi * f * t) + 0.3 * rng.normal(0, 1, (5, 6, 30))
    return x.astype(np.float32)


def test_shape_names_and_wraps_window_features(windows):
    names = imu.dsp_feature_names(["a", "b", "c", "d", "e", "f"], SR, n_bands=4, n_peaks=2)
    out = imu.dsp_features(windows, SR, n_bands=4, n_peaks=2)
    assert out.shape == (5, len(names)) == (5, 6 * 13)
    base = imu.window_features(windows, SR, 4).reshape(5, 6, -1)
    per = out.reshape(5, 6, -1)
    np.testing.assert_array_equal(per[..., :7], base)            # the wrapped block, unchanged
    assert names[:7] == imu.window_feature_names(["a"], SR, 4)
    assert names[7:13] == ["a_skew", "a_kurt", "a_peak1_hz", "a_peak1_pow", "a_peak2_hz", "a_peak2_pow"]


def test_skew_kurtosis_match_scipy(windows):
    stats = pytest.importorskip("scipy.stats")
    per = imu.dsp_features(windows, SR).reshape(5, 6, -1)
    np.testing.assert_allclose(per[..., 7], stats.skew(windows.astype(np.float64), axis=-1), atol=1e-5)
    np.testing.assert_allclose(per[..., 8], stats.kurtosis(windows.astype(np.float64), axis=-1), atol=1e-5)


def test_fft_length_rule():
    assert imu.fft_length_for(30) == 32 and imu.fft_length_for(32) == 32 and imu.fft_length_for(33) == 64
    assert imu.fft_length_for(8) == 32                               # CMSIS RFFT's minimum
    with pytest.raises(ValueError):
        imu.power_spectrum(np.zeros(40), SR, fft_length=32)


def test_power_spectrum_parseval():
    rng = np.random.default_rng(1)
    x = rng.normal(size=32)
    f, p = imu.power_spectrum(x, SR, fft_length=32)
    assert f[0] == 0 and f[-1] == SR / 2 and len(p) == 17
    d = x - x.mean()
    # Parseval for a real signal: sum|x|^2 = (|X0|^2 + 2 sum_{1..N/2-1}|Xk|^2 + |X_{N/2}|^2) / N
    assert np.isclose((p[0] + 2 * p[1:-1].sum() + p[-1]) / 32, (d ** 2).sum())


def test_peaks_of_two_sinusoids():
    n = np.arange(32)
    # bins of a 32-point FFT at 10 Hz are 0.3125 Hz apart: bin 4 = 1.25 Hz, bin 10 = 3.125 Hz
    x = 2.0 * np.sin(2 * np.pi * 4 * n / 32) + 1.0 * np.sin(2 * np.pi * 10 * n / 32)
    f, p = imu.spectral_peaks(x[None, None], SR, n_peaks=3, fft_length=32)
    assert f[0, 0, 0] == pytest.approx(1.25) and f[0, 0, 1] == pytest.approx(3.125)
    assert p[0, 0, 0] == pytest.approx((2.0 * 32 / 2) ** 2) and p[0, 0, 1] == pytest.approx((32 / 2) ** 2)
    assert p[0, 0, 2] < 1e-6 * p[0, 0, 1] or f[0, 0, 2] == 0.0   # nothing else in a clean signal


def test_flat_window_has_no_peaks_and_zero_moments():
    out = imu.dsp_features(np.full((1, 1, 30), 0.7, np.float32), SR).reshape(-1)
    names = imu.dsp_feature_names(1, SR)
    row = dict(zip(names, out))
    assert row["ch0_peak1_hz"] == 0 and row["ch0_peak1_pow"] == 0 and row["ch0_skew"] == 0 and row["ch0_kurt"] == 0
    assert row["ch0_rms"] == pytest.approx(0.7)


def test_scaler_logs_energies_and_standardizes(windows):
    names = imu.dsp_feature_names(6, SR)
    feats = imu.dsp_features(windows, SR)
    sc = imu.FeatureScaler.fit(feats, names)
    assert sc.log_columns.sum() == 6 * (4 + 2)               # 4 bands + 2 peak powers per channel
    z = sc.transform(feats)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    assert np.all((np.abs(z.std(0) - 1) < 1e-3) | (z.std(0) < 1e-3))
    with pytest.raises(ValueError):
        imu.FeatureScaler.fit(feats, names[:-1])


def test_cmsis_dsp_oracle(windows):
    pytest.importorskip("cmsisdsp")
    per = imu.dsp_features(windows, SR).reshape(5, 6, -1)
    for i in range(len(windows)):
        for c in range(6):
            x = windows[i, c]
            ref = imu.cmsis_channel(x, SR, n_peaks=2)
            assert ref["mean"] == pytest.approx(per[i, c, 0], abs=1e-5)
            assert ref["std"] == pytest.approx(per[i, c, 1], abs=1e-5)     # arm_std_f32 rescaled N-1 -> N
            assert ref["rms"] == pytest.approx(per[i, c, 2], abs=1e-5)
            _, p = imu.power_spectrum(x, SR)
            np.testing.assert_allclose(ref["power"], p, atol=1e-5 * p.max())
            np.testing.assert_allclose(ref["peak_hz"], per[i, c, [9, 11]])
            np.testing.assert_allclose(ref["peak_pow"], per[i, c, [10, 12]], rtol=1e-4)
            assert ref["max_bin"] == 1 + int(np.argmax(p[1:]))


def test_host_cost_and_estimated_ops(windows):
    lat = measure.measure_latency(lambda: imu.dsp_features(windows[:1], SR), warmup=1, repeats=5)
    assert 0 < lat.min_ms <= lat.p50_ms
    ops = imu.estimated_ops(6, 30)
    assert ops["fft_length"] == 32 and ops["flops"] == 6 * ops["per_channel"] > 0


# --------------------------------------------------------------------------------------------
# IMU window features
# --------------------------------------------------------------------------------------------
def test_imu_features_shape_names_and_stats():
    rng = np.random.default_rng(1)
    windows = rng.normal(0.3, 2.0, (5, 6, 100))
    feats = imu.window_features(windows, sample_rate=10.0)
    names = imu.window_feature_names(6, sample_rate=10.0)
    assert feats.shape == (5, 6 * 7) and feats.dtype == np.float32
    assert len(names) == feats.shape[1] and len(set(names)) == len(names)
    assert names[:7] == ["ch0_mean", "ch0_std", "ch0_rms", "ch0_band0-1.25Hz",
                         "ch0_band1.25-2.5Hz", "ch0_band2.5-3.75Hz", "ch0_band3.75-5Hz"]
    per = feats.reshape(5, 6, 7)
    np.testing.assert_allclose(per[..., 0], windows.mean(-1), rtol=1e-5)
    np.testing.assert_allclose(per[..., 1], windows.std(-1), rtol=1e-5)
    np.testing.assert_allclose(per[..., 2], np.sqrt((windows ** 2).mean(-1)), rtol=1e-5)
    # Parseval: with bands covering 0..Nyquist, the band energies sum to the variance.
    np.testing.assert_allclose(per[..., 3:].sum(-1), windows.var(-1), rtol=1e-4)


def test_imu_odd_length_parseval_and_named_channels():
    rng = np.random.default_rng(2)
    windows = rng.normal(size=(3, 2, 51))
    feats = imu.window_features(windows, sample_rate=50.0, n_bands=5)
    assert feats.shape == (3, 2 * 8)
    np.testing.assert_allclose(feats.reshape(3, 2, 8)[..., 3:].sum(-1), windows.var(-1), rtol=1e-4)
    assert imu.window_feature_names(["acc_x", "acc_y"], 50.0, n_bands=5)[3] == "acc_x_band0-5Hz"


def test_imu_sine_energy_goes_to_its_band():
    t = np.arange(100) / 10.0
    windows = np.stack([np.sin(2 * np.pi * 3.0 * t), np.sin(2 * np.pi * 0.5 * t)])[None]
    per = imu.window_features(windows, sample_rate=10.0).reshape(1, 2, 7)
    assert np.argmax(per[0, 0, 3:]) == 2, "a 3 Hz sine belongs to the 2.5-3.75 Hz band"
    assert np.argmax(per[0, 1, 3:]) == 0, "a 0.5 Hz sine belongs to the 0-1.25 Hz band"
    np.testing.assert_allclose(per[0, :, 3:].sum(-1), 0.5, rtol=1e-6)  # variance of a unit sine
    with pytest.raises(ValueError, match="N, channels, T"):
        imu.window_features(np.zeros((10, 3)))
