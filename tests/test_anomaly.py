"""Oracle tests of the sensor chapter's helpers: ROC AUC (tinyml_utils.measure) against scikit-learn,
the Gaussian scorer (tinyml_utils.course.anomaly) against SciPy's Mahalanobis, Keras twins of the dense
net and MotionCNN (tinyml_utils.convert.keras_twin) against PyTorch, and int8 scores against float scores.

Tolerances. AUC is exact arithmetic on ranks (1e-12). The Keras twins run the same float32
weights in another framework: outputs agree to ~1e-6, asserted 1e-4. The int8 Gaussian scorer
is one 8-bit dense layer; on clearly separated clusters its AUC equals the float one's.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyml_utils import measure, models
from tinyml_utils.convert import keras_twin, tflite
from tinyml_utils.course import anomaly

torch.set_num_threads(1)   # two shared cores: more threads only add contention


def test_roc_auc_matches_sklearn_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(20):
        y = rng.random(60) < 0.3
        y[:2] = [True, False]
        s = np.round(rng.normal(size=60) + y * rng.uniform(0, 2), 1)     # rounding makes ties
        assert measure.roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError):
        measure.roc_auc(np.zeros(5), np.arange(5))


def test_roc_points_area_is_auc():
    rng = np.random.default_rng(1)
    y = rng.random(80) < 0.5
    s = rng.normal(size=80) + y
    fpr, tpr = measure.roc_points(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(measure.roc_auc(y, s))


def test_gaussian_scorer_is_mahalanobis():
    distance = pytest.importorskip("scipy.spatial.distance")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    g = anomaly.GaussianScorer.fit(x, shrinkage=0.1)
    cov = np.cov(x, rowvar=False)
    cov = 0.9 * cov + 0.1 * np.trace(cov) / 5 * np.eye(5)
    vi = np.linalg.inv(cov)
    q = rng.normal(size=(7, 5))
    ref = [distance.mahalanobis(v, x.mean(0), vi) ** 2 for v in q]
    np.testing.assert_allclose(g.score(q), ref, rtol=1e-9)


def test_kmeans_scorer_nearest_centroid():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    k = anomaly.KMeansScorer.fit(x, k=2)
    q = np.array([[0.0, 0.0], [5.0, 5.0], [10.0, 10.0]])
    brute = np.min(np.linalg.norm(q[:, None] - k.centroids[None], axis=-1), axis=1)
    np.testing.assert_allclose(k.score(q), brute)
    assert k.score(q)[2] > 5 > k.score(q)[0]


def test_autoencoder_shape_and_training_lowers_error():
    torch.manual_seed(1)   # unseeded, it depended on what ran before it (after/before 0.17-0.54 over seeds 0-11)
    rng = np.random.default_rng(4)
    z = rng.normal(size=(128, 3))
    x = (z @ rng.normal(size=(3, 12))).astype(np.float32)     # 12 features on a 3-d subspace
    ae = models.autoencoder(12, (8, 3))
    before = anomaly.reconstruction_scores(ae(torch.as_tensor(x)).detach().numpy(), x).mean()
    anomaly.train_autoencoder(ae, x, epochs=60, lr=1e-2, batch_size=64)
    after = anomaly.reconstruction_scores(ae(torch.as_tensor(x)).detach().numpy(), x).mean()
    assert [m.out_features for m in ae if isinstance(m, torch.nn.Linear)] == [8, 3, 8, 12]
    assert after < 0.5 * before


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_keras_twins_match_torch(keras):
    torch.manual_seed(0)
    net = models.dense_net(10, (8, 4), 3).eval()
    x = np.random.default_rng(5).normal(size=(6, 10)).astype(np.float32)
    kd = keras_twin.keras_twin(net, keras=keras, batch_size=None)
    np.testing.assert_allclose(kd.predict(x, verbose=0), net(torch.as_tensor(x)).detach().numpy(), atol=1e-4)

    cnn = models.motion_cnn(6, 4, 8)
    with torch.no_grad():                                    # non-trivial BN statistics
        for m in cnn.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    cnn.eval()
    w = np.random.default_rng(6).normal(size=(3, 6, 30)).astype(np.float32)
    kc = keras_twin.keras_twin(cnn, keras=keras, batch_size=None, samples=30)
    np.testing.assert_allclose(kc.predict(np.transpose(w, (0, 2, 1)), verbose=0),
                               cnn(torch.as_tensor(w)).detach().numpy(), atol=1e-4)


def test_int8_gaussian_scores_keep_the_auc(keras, tmp_path):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(7)
    normal = rng.normal(size=(300, 6)).astype(np.float32)
    test = np.concatenate([rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 3.0]).astype(np.float32)
    y = np.r_[np.zeros(40), np.ones(40)].astype(bool)
    g = anomaly.GaussianScorer.fit(normal)
    np.testing.assert_allclose(g.keras(keras).predict(test, verbose=0), g.transform(test), atol=1e-4)
    path = tflite.int8(g.keras(keras), normal, tmp_path / "g.tflite")
    s8 = anomaly.int8_scores(path, test, "gaussian")
    # normal windows lie inside the calibration range: int8 scores track the float ones there;
    # anomalies may saturate the int8 output (its range was calibrated on normal data only)
    assert np.corrcoef(s8[~y], g.score(test)[~y])[0, 1] > 0.95
    assert measure.roc_auc(y, s8) >= measure.roc_auc(y, g.score(test)) - 0.02
    with pytest.raises(ValueError):
        anomaly.int8_scores(path, test, "other")
