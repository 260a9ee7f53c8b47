"""Knowledge distillation (Hinton, Vinyals & Dean, 2015): a small student learns from a big teacher.

``loss = alpha * T**2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)``;
examples labelled :data:`UNLABELLED` (-1) get the soft term only.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import models
from .. import train as training
from ..measure import accuracy

DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.9
UNLABELLED = -1


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.softmax(logits / temperature, dim=1)


def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                       temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(KL(p_t || p_s) at T, cross-entropy at T=1)``, unweighted, nats per example; the cross-entropy
    over labelled examples only (0 when none)."""
    T = float(temperature)
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / T, dim=1)
    soft = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1).mean()
    labelled = y != UNLABELLED
    if bool(labelled.any()):
        hard = F.cross_entropy(student_logits[labelled], y[labelled])
    else:
        hard = student_logits.sum() * 0.0   # no label in this batch: the teacher alone teaches
    return soft, hard


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor,
                      temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """The distillation loss (module docstring); no gradient flows into the teacher's logits."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    soft, hard = distillation_terms(student_logits, teacher_logits, y, temperature)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


class TeacherCache:
    """The teacher's logits (eval mode, no grad) per input batch, keyed by a hash of its bytes: runs with
    the same seed draw the same batches, so only the first runs the teacher."""

    max_items = 200_000

    def __init__(self, teacher: nn.Module):
        self.teacher = teacher
        self._store: dict[bytes, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = hashlib.blake2b(str(tuple(x.shape)).encode(), digest_size=16)
        h.update(x.detach().contiguous().numpy().tobytes())
        key = h.digest()
        out = self._store.get(key)
        if out is not None:
            self.hits += 1
            return out
        self.misses += 1
        self.teacher.eval()
        out = self.teacher(x).detach()
        if len(self._store) < self.max_items:
            self._store[key] = out
        return out


def make_loss_fn(teacher: nn.Module | TeacherCache, temperature: float = DEFAULT_TEMPERATURE,
                 alpha: float = DEFAULT_ALPHA):
    """A ``loss_fn(logits, y, x)`` for :func:`tinyml_utils.train.fit` that distils ``teacher``."""
    cache = teacher if isinstance(teacher, TeacherCache) else TeacherCache(teacher)
    for p in cache.teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return distillation_loss(logits, cache(x), y, temperature, alpha)

    return loss_fn


def train_scratch(student: nn.Module, train, val=None, *, epochs: int = 30, seed: int = 0, lr: float = 1e-2,
                  batch_size: int = 64, augment="default", desc: str = "scratch", **fit_kwargs):
    """The control: train ``student`` in place with :func:`distill`'s recipe on the labels only."""
    if augment == "default":
        augment = training.random_affine()
    return training.fit(student, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, desc=desc, **fit_kwargs)


def distill(student: nn.Module, teacher: nn.Module | TeacherCache, train, val=None, *,
            temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA, epochs: int = 30,
            seed: int = 0, lr: float = 1e-2, batch_size: int = 64, augment="default", desc: str | None = None,
            **fit_kwargs):
    """Train ``student`` in place as :func:`train_scratch` does, with the distillation loss."""
    return train_scratch(student, train, val, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size,
                         augment=augment, loss_fn=make_loss_fn(teacher, temperature, alpha),
                         desc=desc or f"distill T={temperature:g} a={alpha:g}", **fit_kwargs)


def new_student(width: int | str = "student", seed: int = 0) -> nn.Module:
    """A freshly initialised student; the initialisation depends only on ``seed``."""
    torch.manual_seed(seed)
    return models.vision_cnn(width)


def few_labels(train, n_labelled: int, seed: int = 0):
    """``(labelled, transfer)``: ``transfer`` keeps ``n_labelled`` stratified labels, the rest
    :data:`UNLABELLED`; ``labelled`` repeats those few to about ``len(train)`` rows (as many steps)."""
    from ..data.base import Split, stratified_indices

    idx = stratified_indices(train.y, n_labelled, seed)
    y = np.full_like(train.y, UNLABELLED)
    y[idx] = train.y[idx]
    reps = max(1, round(len(train) / len(idx)))
    labelled = Split(np.tile(train.x[idx], (reps, 1, 1, 1)), np.tile(train.y[idx], reps))
    return labelled, Split(train.x, y)


def compare_seeds(teacher: nn.Module | TeacherCache, ds, seeds, *, temperature: float, alpha: float,
                  epochs: int, lr: float, batch_size: int, width: int | str = "student",
                  keep: dict | None = None, make_student: Callable[[int], nn.Module] | None = None,
                  augment="default", n_labelled: int | None = None, methods=("scratch", "distilled")):
    """Distilled vs from-scratch students (same init per seed), one row per (seed, method). ``keep``
    receives the students by (method, seed). With ``n_labelled`` (:func:`few_labels`), ``val_accuracy``
    is NaN: no epoch is selected on validation."""
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
            kd = {"loss_fn": make_loss_fn(teacher, temperature, alpha)} if method == "distilled" else {}
            hist = train_scratch(student, sets[method], val, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size,
                                 augment=augment, desc=f"{method} seed {seed}", **kd)
            val_acc = hist.best_val_accuracy if val is not None else float("nan")
            rows.append({"seed": seed, "method": method, "val_accuracy": val_acc,
                         "test_accuracy": accuracy(student, ds.test), "seconds": time.perf_counter() - t0})
            if keep is not None:
                keep[(method, seed)] = student
    return pd.DataFrame(rows)

