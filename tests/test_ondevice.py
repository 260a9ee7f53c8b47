"""Oracle tests of on-device training (``convert.training`` writes the files,
``runtimes.training`` runs them) and of the drift helpers (``measure.drift``,
``train.adapt_batchnorm``, ``data.motion.rotate_imu``): training steps inside ExecuTorch and
LiteRT against eager frameworks.

The model is the course's motion CNN with random weights and random BatchNorm statistics (eval
mode), on random IMU-shaped windows. One ExecuTorch ``forward_backward`` + runtime SGD step must
give the same weights as ``torch.optim.SGD`` in eager PyTorch; one LiteRT ``train`` signature call
must give the same weights as the same ``tf.Module`` step in eager TensorFlow.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyml_utils import measure, models, train
from tinyml_utils.convert import training as convert_training
from tinyml_utils.runtimes import training as runtime_training

B, C, T, K = 8, 6, 30, 4


def _motion(seed: int = 0):
    torch.manual_seed(seed)
    m = models.motion_cnn()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.normal(size=(B, C, T)).astype(np.float32) * 2)
    y = torch.as_tensor(np.arange(B) % K)
    return x, y


def test_conv1d_twin_is_the_same_function(batch):
    m = _motion()
    twin = convert_training.conv1d_as_conv2d(m)
    with torch.no_grad():
        assert torch.allclose(twin(batch[0]), m(batch[0]), atol=1e-5)


def test_conv1d_is_refused_with_the_fix_named(batch):
    with pytest.raises(ValueError, match="conv1d_as_conv2d"):
        convert_training.export_training(_motion(), *batch)


@pytest.fixture(scope="module")
def programs(batch):
    """Full and head-only training programs of the same twin (exported once for the module)."""
    twin = convert_training.conv1d_as_conv2d(_motion())
    return {"full": convert_training.export_training(twin, *batch, None),
            "head": convert_training.export_training(twin, *batch, ["classifier"])}


@pytest.mark.parametrize("which", ["full", "head"])
def test_executorch_sgd_step_equals_eager(batch, programs, which):
    x, y = batch
    trainable = None if which == "full" else ["classifier"]
    ref = convert_training.conv1d_as_conv2d(_motion())
    trainer = runtime_training.DeviceTrainer(programs[which], lr=0.1)
    losses_et, losses_ref = [], []
    for _ in range(2):
        losses_et.append(trainer.step(x, y)[0])
        losses_ref.append(convert_training.eager_sgd_step(ref, x, y, lr=0.1, trainable=trainable))
    np.testing.assert_allclose(losses_et, losses_ref, atol=1e-6)
    ref_params = dict(ref.named_parameters())
    got = trainer.named_parameters()
    assert sorted(got) == sorted(n for n, p in ref.named_parameters() if p.requires_grad)
    for name, value in got.items():
        np.testing.assert_allclose(value.numpy(), ref_params[name].detach().numpy(), atol=1e-6, err_msg=name)
    # the PyTorch twin takes the runtime's weights back
    twin = trainer.copy_into(convert_training.conv1d_as_conv2d(_motion()))
    with torch.no_grad():
        assert torch.allclose(twin(x), ref(x), atol=1e-5)


def test_head_only_program_plans_less_memory(programs):
    head, full = programs["head"], programs["full"]
    assert head.trainable_params < full.trainable_params
    assert 0 < head.planned_bytes < full.planned_bytes
    assert head.pte_bytes > 0


def test_litert_train_signature_equals_tf_eager(batch, full=True):
    pytest.importorskip("tensorflow")
    x, y = batch[0].numpy(), batch[1].numpy().astype(np.int32)
    m = _motion()
    trainer = runtime_training.LiteRTTrainer(convert_training.litert_trainer(m, batch_size=B, samples=T, full=full))
    eager = convert_training.motion_tf_module(m, full=full)
    # the converted model computes the PyTorch model's function (BatchNorm folded)
    with torch.no_grad():
        np.testing.assert_allclose(trainer.infer(x), m(batch[0]).numpy(), atol=1e-4)
    for _ in range(2):
        got = trainer.train(x, y, 0.1)
        want = float(eager.train(x, y, 0.1)["loss"])
        assert abs(got - want) < 1e-5
    weights = trainer.get_weights()
    assert len(weights) == len(eager.trainable_vars)
    for i, v in enumerate(eager.trainable_vars):
        np.testing.assert_allclose(weights[f"v{i}"], v.numpy(), atol=1e-6)
    # set_weights round trip
    trainer.set_weights({k: np.zeros_like(v) for k, v in weights.items()})
    assert all(np.all(v == 0) for v in trainer.get_weights().values())


def test_drift_statistics_and_batchnorm_adaptation():
    rng = np.random.default_rng(0)
    m = models.motion_cnn()
    x = rng.normal(size=(256, C, T)).astype(np.float32)
    m = train.adapt_batchnorm(m, x)           # statistics of x become the model's own
    assert measure.bn_drift_score(m, x) < 0.05
    drifted = x * 0.3
    assert measure.bn_drift_score(m, drifted) > 1.0
    adapted = train.adapt_batchnorm(m, drifted)
    assert measure.bn_drift_score(adapted, drifted) < 0.05
    assert 0.0 <= measure.mean_entropy(m, x) <= np.log(K) + 1e-6


def test_rotation_keeps_each_sensors_magnitude_and_mixes_axes():
    from tinyml_utils.data import motion

    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, C, T)).astype(np.float32)
    r = motion.rotate_imu(x, "x", 90)
    for k in (0, 3):   # accelerometer, gyroscope: vector lengths unchanged
        np.testing.assert_allclose(np.linalg.norm(r[:, k:k + 3], axis=1), np.linalg.norm(x[:, k:k + 3], axis=1),
                                   rtol=1e-5)
    np.testing.assert_allclose(r[:, 0], x[:, 0])                    # the rotation axis stays
    np.testing.assert_allclose(r[:, 1], -x[:, 2], atol=1e-6)        # y <- -z at 90 degrees
    np.testing.assert_allclose(motion.rotate_imu(r, "x", -90), x, atol=1e-5)


def test_replay_batches_mix_old_examples_in():
    x, y = np.zeros((10, C, T), np.float32), np.zeros(10, np.int64)
    old = (np.ones((5, C, T), np.float32), np.ones(5, np.int64))
    batches = list(runtime_training.replay_batches(x, y, steps=3, batch_size=8, replay=old, replay_fraction=0.25))
    assert len(batches) == 3
    for xb, yb in batches:
        assert xb.shape == (8, C, T) and int(yb.sum()) == 2     # 2 of 8 from the replay buffer
