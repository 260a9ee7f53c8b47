"""Oracle tests of tinyml_utils.compress.prune: masks against a numpy threshold and against
``torch.nn.utils.prune`` itself, MAC counts against torch-pruning's own counter, save/load
round trips, and the torch → Keras weight copy against the PyTorch logits."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import prune as torch_prune

from tinyml_utils import measure, models
from tinyml_utils.compress import prune
from tinyml_utils.convert.keras_twin import keras_from_torch
from tinyml_utils.models import keras as keras_models


@pytest.fixture()
def model():
    torch.manual_seed(0)
    m = models.vision_cnn(8).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics so save/load and Keras checks mean something
        for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return m


X = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def _weights(m):
    return [mod.weight.detach().clone() for _, mod in prune.prunable_layers(m)]


def test_global_pruning_matches_numpy_threshold(model):
    before = _weights(model)
    prune.magnitude_prune(model, 0.7, scope="global")
    flat = np.concatenate([w.abs().flatten().numpy() for w in before])
    k = int(round(0.7 * flat.size))
    tau = np.sort(flat)[k - 1]   # the k smallest magnitudes go (no ties for random floats)
    for w0, (_, mod) in zip(before, prune.prunable_layers(model)):
        expect = np.where(w0.abs().numpy() <= tau, 0.0, w0.numpy())
        np.testing.assert_array_equal(mod.weight.detach().numpy(), expect)
    assert abs(prune.weight_sparsity(model) - 0.7) < 1e-4


def test_global_matches_torch_prune_reference(model):
    ref = copy.deepcopy(model)
    torch_prune.global_unstructured([(m, "weight") for _, m in prune.prunable_layers(ref)],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.6)
    prune.magnitude_prune(model, 0.6, scope="global")
    for (_, a), (_, b) in zip(prune.prunable_layers(model), prune.prunable_layers(ref)):
        assert torch.equal(a.weight_mask, b.weight_mask)


def test_layerwise_and_iterative_targets(model):
    prune.magnitude_prune(model, 0.5, scope="layerwise")
    zero_before = [(m.weight == 0) for _, m in prune.prunable_layers(model)]
    for _, m in prune.prunable_layers(model):
        assert abs(float((m.weight == 0).float().mean()) - 0.5) < 0.01
    prune.magnitude_prune(model, 0.8, scope="layerwise")  # the target is the total, not an increment
    for z, (_, m) in zip(zero_before, prune.prunable_layers(model)):
        assert abs(float((m.weight == 0).float().mean()) - 0.8) < 0.01
        assert bool((m.weight[z] == 0).all())  # earlier zeros stay zero
    report = prune.sparsity_report(model)
    assert report.loc["total", "weights"] == sum(m.weight.numel() for _, m in prune.prunable_layers(model))
    with pytest.raises(ValueError):
        prune.magnitude_prune(model, 0.5, layers=["no.such.layer"])


def test_make_permanent_keeps_outputs_and_plain_state_dict(model):
    prune.magnitude_prune(model, 0.8)
    with torch.no_grad():
        y_masked = model(X)
    prune.make_permanent(model)
    assert not any(k.endswith(("_orig", "_mask")) for k in model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(X), y_masked)
    assert abs(prune.weight_sparsity(model) - 0.8) < 1e-3


def test_channel_prune_meets_mac_target_and_agrees_with_torch_pruning(model):
    import torch_pruning as tp

    example = X[:1]
    small, info = prune.channel_prune(model, example, 0.5)
    assert info["macs"] <= 0.5 * info["base_macs"]
    assert info["macs"] == measure.count_macs(small, example)
    tp_macs, tp_params = tp.utils.count_ops_and_params(small, example)
    assert tp_params == info["params"] == measure.count_params(small)
    # torch-pruning also counts BN/pool/ReLU ops: a few percent above our conv+linear MACs
    assert info["macs"] <= tp_macs <= 1.15 * info["macs"]
    assert small(X).shape == (4, 10)
    assert info["channels"]["classifier"] == 10  # the classifier keeps every class


def test_save_load_roundtrip_for_pruned_models(model, tmp_path):
    small, _ = prune.channel_prune(model, X[:1], 0.5)
    p = prune.save_pruned(small, tmp_path / "s.pt", {"note": "test"})
    loaded, info = prune.load_pruned(p)
    assert info == {"note": "test"}
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), small(X))
    sparse = prune.magnitude_prune(copy.deepcopy(model), 0.9)
    loaded2, _ = prune.load_pruned(prune.save_pruned(sparse, tmp_path / "u.pt"))
    assert abs(prune.weight_sparsity(loaded2) - 0.9) < 1e-3


def test_keras_from_torch_reproduces_logits(model):
    tf_keras = pytest.importorskip("tf_keras")
    km = keras_from_torch(model, keras_models.vision_cnn_keras(8, keras=tf_keras))
    x = X.numpy()
    got = km(keras_models.to_nhwc(x), training=False).numpy()
    with torch.no_grad():
        want = model(X).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_keras_twin_of_a_pruned_dscnn_reproduces_logits():
    """The DS-CNN's twin (depthwise kernels, explicit first-conv padding) after channel pruning."""
    pytest.importorskip("keras")
    from tinyml_utils.convert.keras_twin import keras_twin

    torch.manual_seed(0)
    m = models.ds_cnn(width=16).eval()
    with torch.no_grad():
        for bn in (x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 1, 49, 10)
    pruned, _ = prune.channel_prune(m, x[:1], 0.5)
    for net in (m, pruned):
        km = keras_twin(net, batch_size=None)
        with torch.no_grad():
            want = net(x).numpy()
        np.testing.assert_allclose(km(keras_models.to_nhwc(x.numpy()), training=False).numpy(), want, atol=1e-4)


def test_prune_and_finetune_path(model):
    from tinyml_utils.data.base import Split

    rng = np.random.default_rng(0)
    split = Split(rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64))
    w0 = _weights(model)
    steps = prune.prune_and_finetune(model, split, split, [0.5, 0.8], epochs_per_step=[1, 0], batch_size=32)
    assert [round(s.sparsity, 2) for s in steps] == [0.5, 0.8]
    assert [s.epochs for s in steps] == [1, 1]
    assert not any(k.endswith("_mask") for k in steps[-1].model.state_dict())  # permanent copies
    assert all(torch.equal(a, b) for a, b in zip(w0, _weights(model)))        # the input is untouched
    with pytest.raises(ValueError):
        prune.prune_and_finetune(model, split, split, [0.5, 0.8], epochs_per_step=[1])


@pytest.mark.parametrize("scope", ["global", "layerwise", "global_normalized"])
def test_exact_zeros_do_not_shorten_the_target(model, scope):
    """Regression: 20 % of the weights already exactly zero, ask for 50 % -> 50 % (was 30 %)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, m in prune.prunable_layers(model):
            m.weight[torch.rand(m.weight.shape, generator=g) < 0.2] = 0.0
    assert 0.15 < prune.weight_sparsity(model) < 0.25
    prune.magnitude_prune(model, 0.5, scope=scope)
    assert abs(prune.weight_sparsity(model) - 0.5) < 2e-3, prune.weight_sparsity(model)


def test_prune_permanent_then_prune_further(model):
    """Regression: pruned to 80 %, made permanent (zeros in the weights, no mask), then pruned to
    90 %: the model must reach 90 %, and every weight zero at 80 % stays zero."""
    prune.magnitude_prune(model, 0.8, scope="global")
    prune.make_permanent(model)
    zeros80 = [(m.weight == 0).clone() for _, m in prune.prunable_layers(model)]
    assert abs(prune.weight_sparsity(model) - 0.8) < 1e-3
    prune.magnitude_prune(model, 0.9, scope="global")
    assert abs(prune.weight_sparsity(model) - 0.9) < 1e-3, prune.weight_sparsity(model)
    for z, (_, m) in zip(zeros80, prune.prunable_layers(model)):
        assert bool((m.weight[z] == 0).all())
    # and with the mask kept between calls the target stays total, not incremental
    prune.magnitude_prune(model, 0.95, scope="global")
    assert abs(prune.weight_sparsity(model) - 0.95) < 1e-3


def test_polynomial_schedule_hand_computed():
    """Zhu & Gupta's s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3, values worked out by hand."""
    want = [0.1, 0.5625, 0.8, 0.8875, 0.9]   # 0.9 - 0.8 * (1 - k/4)^3 for k = 0..4
    np.testing.assert_allclose(prune.polynomial_schedule(0.1, 0.9, 4), want, atol=1e-12)
    kw = dict(initial=0.1, final=0.9, begin=100, n=4, every=10)
    assert prune.polynomial_sparsity(95, **kw) == pytest.approx(0.1)          # before t0: s_i
    assert prune.polynomial_sparsity(115, **kw) == pytest.approx(0.7046875)   # 0.9 - 0.8 * 0.625^3
    assert prune.polynomial_sparsity(500, **kw) == pytest.approx(0.9)         # after t0 + n dt: s_f
    with pytest.raises(ValueError):
        prune.polynomial_sparsity(0, initial=0.0, final=0.9, n=0)


def test_polynomial_sparsity_matches_tfmot():
    """The same curve as tensorflow-model-optimization's PolynomialDecay (end_step = t0 + n dt)."""
    tfmot = pytest.importorskip("tensorflow_model_optimization")
    ref = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.2, final_sparsity=0.92, begin_step=30,
                                               end_step=30 + 6 * 5, frequency=5)
    for t in range(30, 61, 5):
        should_prune, s = ref(t)
        assert bool(should_prune)
        assert prune.polynomial_sparsity(t, initial=0.2, final=0.92, begin=30, n=6, every=5) == pytest.approx(
            float(s), abs=1e-6)


@pytest.mark.parametrize("skip", [(), ("features.0",)])
def test_sparsity_reached_at_every_step_of_the_schedule(model, skip):
    """Each step of prune_and_finetune along the polynomial schedule reaches its target (a fraction
    of ALL conv/linear weights, also when a layer is skipped), never revives a zero, and leaves the
    skipped layer dense."""
    from tinyml_utils.data.base import Split

    split = Split(np.zeros((8, 1, 28, 28), np.float32), np.zeros(8, np.int64))
    schedule = prune.polynomial_schedule(0.1, 0.9, 4)
    steps = prune.prune_and_finetune(model, split, split, schedule, epochs_per_step=0, skip=skip)
    previous = None
    for target, step in zip(schedule, steps):
        assert abs(step.sparsity - target) < 1e-3, (target, step.sparsity)
        zeros = [(m.weight == 0) for _, m in prune.prunable_layers(step.model)]
        if skip:
            assert not bool(zeros[0].any())                                   # features.0 stays dense
        if previous is not None:
            assert all(bool(z[p].all()) for z, p in zip(zeros, previous))    # zeros stay zero
        previous = zeros


def test_course_recipe_is_the_polynomial_schedule():
    """Chapter 03's recipe writes its targets out; they must be prune.polynomial_schedule's."""
    from tinyml_utils.core.context import Context
    from tinyml_utils.course import recipes

    for quick in (False, True):
        r = recipes.UNSTRUCTURED(Context(quick=quick))
        n = len(r.schedule) - 1
        np.testing.assert_allclose(r.schedule, prune.polynomial_schedule(r.schedule[0], r.schedule[-1], n), atol=1e-12)
        assert r.upto(recipes.UNSTRUCTURED_ARTIFACT_SPARSITY).schedule[-1] == recipes.UNSTRUCTURED_ARTIFACT_SPARSITY
