"""Experiment functions a sweep can run by name (``python -m tinyml_utils sweep prune ...``).

Each is one point of a researcher's table: typed knobs in its signature (read by
:mod:`.sweep_knobs`), ``seed`` and ``quick`` filled in by the sweep, and a list of records back.
"""
from __future__ import annotations

import os
import time
from typing import Annotated, Literal

from .sweep_knobs import Range


def prune(sparsity: Annotated[float, Range(0.05, 0.99)] = 0.9,
          schedule: Literal["one-shot", "gradual"] = "one-shot",
          epochs: Annotated[int, Range(1, 100)] = 6, *, seed: int = 0, quick: bool = True) -> list[dict]:
    """Chapter 03's question at one point: magnitude-prune the seed's trained baseline to ``sparsity``
    (global, the first conv kept dense, as chapter 03) and fine-tune for ``epochs`` epochs in total.

    ``one-shot``: prune once, fine-tune ``epochs`` epochs. ``gradual``: Zhu & Gupta's cubic schedule
    from 10 % (or ``sparsity`` if lower) to ``sparsity`` in ``epochs`` steps, one epoch each; the same
    fine-tuning budget. The baseline comes from the artifact store (one build per seed, shared by
    every worker). Fine-tuning follows :data:`recipes.UNSTRUCTURED` (rate, batch, augmentation).
    Records: test ``accuracy`` after fine-tuning, ``accuracy_pruned`` right after the last prune,
    measured ``weight_sparsity``, the baseline's accuracy and the paired drop, and the fine-tune seconds."""
    from .. import data as datasets
    from .. import measure
    from .. import train as training
    from ..compress import prune as pruning
    from ..core.context import Context
    from ..course import catalogue, recipes

    measure.set_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    ds = datasets.load("vision", quick=quick, seed=0)
    ctx = Context(quick=quick, seed=seed)
    base = catalogue.vision_model(ctx, data=ds)
    base_acc = measure.accuracy(base.model, ds.test)
    if schedule == "one-shot":
        targets, per_step = [sparsity], [epochs]
    else:
        targets = list(pruning.polynomial_schedule(min(0.1, sparsity), sparsity, epochs - 1)) if epochs > 1 \
            else [sparsity]
        per_step = [1] * len(targets)
    r = recipes.UNSTRUCTURED(ctx)
    t0 = time.perf_counter()
    step = pruning.prune_and_finetune(base.model, ds.train, ds.val, targets, epochs_per_step=per_step, lr=r.lr,
                                      batch_size=r.batch_size, scope=r.scope, skip=r.skip, seed=seed,
                                      augment=training.random_affine() if r.augment else None,
                                      eval_split=ds.test, desc=f"{schedule} {sparsity:.0%}")[-1]
    return [{"name": "pruned", "accuracy": step.accuracy, "accuracy_pruned": step.accuracy_pruned,
             "weight_sparsity": step.sparsity, "baseline_accuracy": base_acc, "accuracy_drop": base_acc - step.accuracy,
             "finetune_seconds": time.perf_counter() - t0}]
