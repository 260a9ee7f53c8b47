"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): a small student learns from a big teacher.

The loss, for student logits $z_s$, teacher logits $z_t$, hard labels $y$, temperature $T$, weight $\\alpha$::

    p_t = softmax(z_t / T)                  # the teacher's soft targets
    log p_s = log_softmax(z_s / T)          # the student's soft predictions
    soft = KL(p_t || p_s) = sum_k p_t[k] * (log p_t[k] - log p_s[k])      (mean over the batch)
    hard = cross_entropy(z_s, y)            # ordinary loss at T = 1
    loss = alpha * T**2 * soft + (1 - alpha) * hard

The ``T**2`` keeps the soft term's gradients the same size whatever ``T`` is (they shrink as
``1/T**2``), so ``alpha`` means the same thing at every temperature.

Unlabelled examples (label :data:`UNLABELLED`, -1) get the soft term only: the hard term is the mean
cross-entropy over the batch's labelled examples (0 if it has none). :func:`few_labels` builds such a
transfer set, where distillation pays most: a student with a handful of labels learns the rest from
the teacher's soft targets on unlabelled images.
The teacher runs in eval mode under ``no_grad``; :class:`TeacherCache` keeps its logits per
batch, so a sweep with one seed (same batches, same augmentation) runs the teacher once.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import models
from .. import train as training
from ..measure import accuracy

DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.9
#: The label of an example the student may not see the label of (soft term only).
UNLABELLED = -1


# ----------------------------------------------------------------------------- the loss
def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class probabilities softened by ``temperature``: ``softmax(logits / T)`` (rows sum to 1)."""
    return F.softmax(logits / temperature, dim=1)


def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                       temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the loss, unweighted: ``(KL(p_t || p_s) at T, cross-entropy with y at T=1)``.

    KL: mean over the batch, in nats per example. Cross-entropy: mean over the examples whose label
    is not :data:`UNLABELLED` (0 when the batch has none), so with every label present it is the
    ordinary ``F.cross_entropy``.
    """
    T = float(temperature)
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / T, dim=1)
    p_t = log_p_t.exp()
    soft = (p_t * (log_p_t - log_p_s)).sum(dim=1).mean()
    labelled = y != UNLABELLED
    if bool(labelled.all()):
        hard = F.cross_entropy(student_logits, y)
    elif bool(labelled.any()):
        hard = F.cross_entropy(student_logits[labelled], y[labelled])
    else:
        hard = student_logits.sum() * 0.0   # no label in this batch: the teacher alone teaches
    return soft, hard


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                      temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """``alpha * T**2 * KL(softmax(z_t/T) || softmax(z_s/T)) + (1 - alpha) * CE(z_s, y)``.

    ``alpha = 0`` is ordinary training on labels; ``alpha = 1`` learns from the teacher alone.
    The teacher's logits are treated as constants (no gradient flows into the teacher).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    soft, hard = distillation_terms(student_logits, teacher_logits, y, temperature)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


# ----------------------------------------------------------------------------- the teacher
class TeacherCache:
    """The teacher's logits per input batch, keyed by a hash of the batch's bytes.

    :func:`tinyml_utils.train.fit` draws the same batches and the same augmentation for the same
    seed and epochs, so every run of a sweep after the first gets the teacher's answers for free.
    ``hits``/``misses`` count how often the teacher was spared / run.
    """

    def __init__(self, teacher: nn.Module, max_items: int = 200_000):
        self.teacher = teacher
        self.max_items = max_items
        self._store: dict[bytes, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(x: torch.Tensor) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(str(tuple(x.shape)).encode())
        h.update(x.detach().contiguous().numpy().tobytes())
        return h.digest()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = self._key(x)
        out = self._store.get(key)
        if out is not None:
            self.hits += 1
            return out
        self.misses += 1
        self.teacher.eval()  # BatchNorm uses running statistics; dropout (if any) is off
        out = self.teacher(x).detach()
        if len(self._store) < self.max_items:
            self._store[key] = out
        return out


def make_loss_fn(teacher: nn.Module | TeacherCache, temperature: float = DEFAULT_TEMPERATURE,
                 alpha: float = DEFAULT_ALPHA):
    """A ``loss_fn(logits, y, x)`` for :func:`tinyml_utils.train.fit` that distils ``teacher``.

    Pass a :class:`TeacherCache` to share the teacher's logits between runs (a sweep); a plain
    module gets its own cache. The teacher runs in eval mode under ``torch.no_grad``.
    """
    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    for p in cache.teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return distillation_loss(logits, cache(x), y, temperature, alpha)

    loss_fn.cache = cache  # type: ignore[attr-defined]
    return loss_fn


# ----------------------------------------------------------------------------- training
def distill(student: nn.Module, teacher: nn.Module | TeacherCache, train, val=None, *,
            temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA, epochs: int = 30,
            seed: int = 0, lr: float = 1e-2, batch_size: int = 64, augment="default", desc: str | None = None,
            **fit_kwargs):
    """Train ``student`` in place on ``train`` with the distillation loss; returns the
    :class:`tinyml_utils.train.History`. Same loop, optimizer and (by default) augmentation as
    ordinary training, so a from-scratch run differs only in the loss (use :func:`train_scratch`)."""
    if augment == "default":
        augment = training.random_affine()
    return training.fit(student, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, loss_fn=make_loss_fn(teacher, temperature, alpha),
                         desc=desc or f"distill T={temperature:g} a={alpha:g}", **fit_kwargs)


def train_scratch(student: nn.Module, train, val=None, *, epochs: int = 30, seed: int = 0, lr: float = 1e-2,
                  batch_size: int = 64, augment="default", desc: str = "scratch", **fit_kwargs):
    """The control: the same student, loop and recipe as :func:`distill`, with cross-entropy on labels only."""
    if augment == "default":
        augment = training.random_affine()
    return training.fit(student, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, desc=desc, **fit_kwargs)


def new_student(width: int | str = "student", seed: int = 0) -> nn.Module:
    """A freshly initialised student; the initialisation depends only on ``seed``."""
    torch.manual_seed(seed)
    return models.vision_cnn(width)


def few_labels(train, n_labelled: int, seed: int = 0):
    """The few-label setting: ``(labelled, transfer)`` Splits drawn from ``train``.

    ``transfer`` holds every image of ``train``, with all labels but ``n_labelled`` (class-stratified,
    chosen by ``seed``) replaced by :data:`UNLABELLED`: the distilled student's data, taught by the
    teacher's soft targets everywhere and by labels on the few. ``labelled`` holds only the few,
    repeated to about ``len(train)`` rows, so a student trained on it alone takes as many steps per
    epoch (each repeat augmented afresh): the from-scratch control with the same budget.
    """
    from ..data.base import Split, stratified_indices

    idx = stratified_indices(train.y, n_labelled, seed)
    y = np.full_like(train.y, UNLABELLED)
    y[idx] = train.y[idx]
    reps = max(1, round(len(train) / len(idx)))
    labelled = Split(np.tile(train.x[idx], (reps, 1, 1, 1)), np.tile(train.y[idx], reps))
    return labelled, Split(train.x, y)


@dataclass
class SeedRun:
    """One seed of the distilled-vs-scratch comparison (accuracies in [0, 1])."""

    seed: int
    method: str
    val_accuracy: float
    test_accuracy: float
    seconds: float


def compare_seeds(teacher: nn.Module | TeacherCache, ds, seeds, *, temperature: float, alpha: float,
                  epochs: int, lr: float, batch_size: int, width: int | str = "student",
                  keep: dict | None = None, make_student: Callable[[int], nn.Module] | None = None,
                  augment="default", n_labelled: int | None = None, methods=("scratch", "distilled")):
    """Distilled vs from-scratch students over ``seeds`` (same init per seed); a pandas DataFrame with
    one row per (seed, method). If ``keep`` is a dict, the trained students go into it by (method, seed).

    ``make_student(seed)`` builds another family's student (default: the vision student of
    ``width``); ``augment`` goes to both runs of a pair (default: :func:`tinyml_utils.train.random_affine`).
    With ``n_labelled``, the few-label setting of :func:`few_labels` (the labelled few drawn by each
    seed): the scratch arm trains on the few, the distilled arm on the transfer set; neither selects
    its epoch on the labelled validation split (``val_accuracy`` is NaN), the last epoch counts."""
    import pandas as pd

    rows = []
    for seed in seeds:
        if n_labelled is None:
            sets, val = {"scratch": ds.train, "distilled": ds.train}, ds.val
        else:
            labelled, transfer = few_labels(ds.train, n_labelled, seed)
            sets, val = {"scratch": labelled, "distilled": transfer}, None
        for method in methods:
            student = make_student(seed) if make_student is not None else new_student(width, seed)
            t0 = time.perf_counter()
            common = dict(epochs=epochs, seed=seed, lr=lr, batch_size=batch_size, augment=augment)
            if method == "distilled":
                hist = distill(student, teacher, sets[method], val, temperature=temperature, alpha=alpha,
                               desc=f"distilled seed {seed}", **common)
            else:
                hist = train_scratch(student, sets[method], val, desc=f"scratch seed {seed}", **common)
            val_acc = hist.best_val_accuracy if val is not None else float("nan")
            rows.append(SeedRun(seed, method, val_acc, accuracy(student, ds.test),
                                time.perf_counter() - t0).__dict__)
            if keep is not None:
                keep[(method, seed)] = student
    return pd.DataFrame(rows)


def sweep(teacher: nn.Module | TeacherCache, ds, temperatures, alphas, *, epochs: int, lr: float,
          batch_size: int, seed: int = 0, width: int | str = "student", include_scratch: bool = True):
    """Validation and test accuracy of the student for every (T, alpha); a pandas DataFrame.

    With ``include_scratch`` a row with ``alpha = 0`` (labels only, T irrelevant) is added as the
    reference. Every run uses the same seed, so the same initialisation and batches.
    """
    import pandas as pd

    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    rows = []
    configs = [(float(t), float(a)) for t in temperatures for a in alphas]
    if include_scratch:
        configs = [(1.0, 0.0)] + configs
    for T, a in training.progress(configs, desc="sweep"):
        student = new_student(width, seed)
        if a == 0.0:
            hist = train_scratch(student, ds.train, ds.val, epochs=epochs, seed=seed, lr=lr,
                                 batch_size=batch_size, desc="sweep scratch")
        else:
            hist = distill(student, cache, ds.train, ds.val, temperature=T, alpha=a, epochs=epochs, seed=seed,
                           lr=lr, batch_size=batch_size, desc=f"sweep T={T:g} a={a:g}")
        rows.append({"temperature": T if a > 0 else float("nan"), "alpha": a,
                     "val_accuracy": hist.best_val_accuracy, "test_accuracy": accuracy(student, ds.test)})
    return pd.DataFrame(rows)
