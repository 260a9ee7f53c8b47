"""Oracle tests of tinyml_utils.compress.distill: the loss against a hand computation and against
torch's own F.kl_div / F.cross_entropy; the teacher cache; a tiny distillation run. Also the Keras
twin of a (channel-pruned) student and the closing pipeline's pick."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyml_utils import models
from tinyml_utils.compress import distill
from tinyml_utils.course import pipelines


def test_loss_matches_hand_computation():
    # one example, three classes, computed by hand with math (no torch in the oracle)
    zs, zt, y, T, a = [1.0, 2.0, 0.5], [0.2, 3.0, -1.0], 1, 2.0, 0.7

    def softmax(z, t):
        e = [math.exp(v / t) for v in z]
        return [v / sum(e) for v in e]

    ps, pt = softmax(zs, T), softmax(zt, T)
    kl = sum(p * (math.log(p) - math.log(q)) for p, q in zip(pt, ps))
    ce = -math.log(softmax(zs, 1.0)[y])
    expected = a * T * T * kl + (1 - a) * ce
    got = distill.distillation_loss(torch.tensor([zs]), torch.tensor([zt]), torch.tensor([y]), T, a)
    assert abs(float(got) - expected) < 1e-6


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (8.0, 0.0), (2.0, 1.0)])
def test_loss_matches_torch_kl_div_and_cross_entropy(T, alpha):
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(16, 10, generator=g) * 3, torch.randn(16, 10, generator=g) * 3
    y = torch.randint(0, 10, (16,), generator=g)
    ref = (alpha * T * T * F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean")
           + (1 - alpha) * F.cross_entropy(zs, y))
    got = distill.distillation_loss(zs, zt, y, T, alpha)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_gradient_flows_to_student_only_and_matches_reference():
    g = torch.Generator().manual_seed(1)
    zs = (torch.randn(8, 10, generator=g)).requires_grad_(True)
    zt = torch.randn(8, 10, generator=g).requires_grad_(True)
    y = torch.randint(0, 10, (8,), generator=g)
    distill.distillation_loss(zs, zt, y, 4.0, 0.9).backward()
    assert zt.grad is None or float(zt.grad.abs().sum()) == 0.0
    # d/dz_s of T^2 * KL at T is T * (p_s - p_t) / N: the gradient of the soft term
    zs2 = zs.detach().clone().requires_grad_(True)
    (4.0 ** 2 * distill.distillation_terms(zs2, zt.detach(), y, 4.0)[0]).backward()
    expected = 4.0 * (F.softmax(zs2.detach() / 4, 1) - F.softmax(zt.detach() / 4, 1)) / 8
    torch.testing.assert_close(zs2.grad, expected, rtol=1e-5, atol=1e-7)


def test_loss_rejects_bad_arguments():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="alpha"):
        distill.distillation_loss(z, z, torch.tensor([0, 1]), 2.0, 1.5)
    with pytest.raises(ValueError, match="temperature"):
        distill.distillation_loss(z, z, torch.tensor([0, 1]), 0.0, 0.5)


def test_student_has_at_most_a_quarter_of_the_teacher_params():
    from tinyml_utils.measure import count_params

    assert count_params(models.vision_cnn("student")) * 4 <= count_params(models.vision_cnn("teacher"))


def test_teacher_cache_returns_eval_mode_logits_once_per_batch():
    torch.manual_seed(0)
    teacher = models.vision_cnn(8)
    teacher.train()
    cache = distill.TeacherCache(teacher)
    x = torch.rand(4, 1, 28, 28)
    a = cache(x)
    b = cache(x.clone())
    assert (cache.misses, cache.hits) == (1, 1)
    assert not a.requires_grad
    teacher.eval()
    with torch.no_grad():
        torch.testing.assert_close(a, teacher(x))
    torch.testing.assert_close(a, b)


def test_distill_trains_student_and_leaves_teacher_unchanged():
    from tinyml_utils.data import Split

    g = np.random.default_rng(0)
    x = g.random((64, 1, 28, 28), dtype=np.float32)
    y = (x[:, 0, :14].mean((1, 2)) > x[:, 0, 14:].mean((1, 2))).astype(np.int64)  # a learnable rule
    tr = Split(x, y)
    torch.manual_seed(0)
    teacher = models.vision_cnn(8)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = distill.new_student(4, seed=0)
    hist = distill.distill(student, teacher, tr, tr, temperature=2.0, alpha=0.5, epochs=2, batch_size=32,
                           augment=None)
    assert len(hist.epochs) == 2 and np.isfinite(hist.epochs[-1]["train_loss"])
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, before[k])
    # the loss_fn fed to train.fit is the distillation loss on the teacher's eval-mode logits
    loss_fn = distill.make_loss_fn(teacher, 2.0, 0.5)
    xb, yb = torch.as_tensor(x[:8]), torch.as_tensor(y[:8])
    with torch.no_grad():
        zs = student(xb)
        teacher.eval()
        ref = distill.distillation_loss(zs, teacher(xb), yb, 2.0, 0.5)
    torch.testing.assert_close(loss_fn(zs, yb, xb), ref)


def test_keras_twin_matches_torch_also_channel_pruned():
    pytest.importorskip("keras")
    from tinyml_utils.compress import prune
    from tinyml_utils.convert.keras_twin import keras_twin
    from tinyml_utils.models.keras import to_nhwc

    torch.manual_seed(0)
    m = models.vision_cnn(4)
    for mod in m.modules():  # non-trivial batch-norm statistics, so a wrong copy would show
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.01, 2.0)
    m.eval()
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    small = prune.prune_channels(m, torch.as_tensor(x[:1]), 0.3)   # channels no longer (w, 2w, 4w)
    for model in (m, small):
        km = keras_twin(model, batch_size=None)
        with torch.no_grad():
            ref = model(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(np.asarray(km(to_nhwc(x), training=False)), ref, atol=1e-5)


def test_smallest_within_picks_smallest_file_inside_the_bound():
    import pandas as pd

    table = pd.DataFrame([
        {"prune_ratio": 0.0, "acc_pte_int8": 0.980, "pte_bytes": 16000, "acc_tflite_int8": 0.975,
         "tflite_bytes": 12000},
        {"prune_ratio": 0.5, "acc_pte_int8": 0.960, "pte_bytes": 9000, "acc_tflite_int8": 0.950, "tflite_bytes": 6000},
    ])
    df, pick = pipelines.smallest_within(table, baseline_accuracy=0.983, bound=0.01)
    assert (pick.runtime, pick.prune_ratio, pick.bytes) == ("tflite-int8", 0.0, 12000)
    assert list(df["bytes"]) == sorted(df["bytes"])
    _, none = pipelines.smallest_within(table, baseline_accuracy=0.999, bound=0.001)
    assert none is None


def test_unlabelled_examples_get_the_soft_term_only():
    g = torch.Generator().manual_seed(2)
    zs, zt = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g)
    y = torch.tensor([3, -1, 7, -1, -1, 0])
    has = y != distill.UNLABELLED
    ref = (0.7 * 4.0 ** 2 * F.kl_div(F.log_softmax(zs / 4, 1), F.softmax(zt / 4, 1), reduction="batchmean")
           + 0.3 * F.cross_entropy(zs[has], y[has]))   # hard term: mean over the labelled three
    torch.testing.assert_close(distill.distillation_loss(zs, zt, y, 4.0, 0.7), ref)
    none = torch.full((6,), distill.UNLABELLED)
    soft_only = 0.7 * 4.0 ** 2 * distill.distillation_terms(zs, zt, y, 4.0)[0]
    torch.testing.assert_close(distill.distillation_loss(zs, zt, none, 4.0, 0.7), soft_only)
    zs.requires_grad_(True)
    distill.distillation_loss(zs, zt, none, 4.0, 0.7).backward()   # a batch with no label still trains
    assert torch.isfinite(zs.grad).all() and float(zs.grad.abs().sum()) > 0


def test_few_labels_hides_all_but_n_labels_and_matches_the_step_budget():
    from tinyml_utils.data import Split

    y = np.repeat(np.arange(10), 20)
    x = np.arange(len(y), dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 2, 2), np.float32)
    labelled, transfer = distill.few_labels(Split(x, y), 30, seed=1)
    shown = transfer.y != distill.UNLABELLED
    assert shown.sum() == 30 and np.all(np.bincount(transfer.y[shown], minlength=10) == 3)   # 3 a class
    np.testing.assert_array_equal(transfer.x, x)                  # every image stays, labels hidden
    np.testing.assert_array_equal(transfer.y[shown], y[shown])
    assert abs(len(labelled) - len(transfer)) <= 15                # the few repeated: about the same steps
    assert set(labelled.x[:, 0, 0, 0].tolist()) == set(x[shown, 0, 0, 0].tolist())
    again, _ = distill.few_labels(Split(x, y), 30, seed=1)
    np.testing.assert_array_equal(again.y, labelled.y)


def test_compare_seeds_few_label_arms_skip_validation():
    from tinyml_utils.data import Dataset, Split

    g = np.random.default_rng(0)
    x = g.random((80, 1, 28, 28), dtype=np.float32)
    y = np.arange(80) % 2
    x[y == 1, 0, :14] += 1.0
    tr = Split(x, y)
    ds = Dataset("toy", tr, tr, tr, ["a", "b"], None)
    torch.manual_seed(0)
    table = distill.compare_seeds(models.vision_cnn(4), ds, [0, 1], temperature=2.0, alpha=0.9, epochs=1, lr=1e-2,
                                  batch_size=16, width=4, n_labelled=8, augment=None)
    assert list(table["method"]) == ["scratch", "distilled"] * 2
    assert table["val_accuracy"].isna().all() and table["test_accuracy"].between(0, 1).all()
