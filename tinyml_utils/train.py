"""One training loop for every chapter (seeded, deterministic on CPU), its Keras counterpart, AdaBN,
and the language-model loop; ``set_train``/``set_eval``/``predict`` are re-exported from ``models.modes``.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.base import Split
from .measure.accuracy import top1
from .measure.llm import mean_nll
from .models.keras import to_nhwc
from .models.modes import predict, set_eval, set_train

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, y, x) -> loss


def progress(iterable=None, **kwargs):
    """``tqdm.auto``, disabled under CI (``CI`` set) or with ``TINYML_QUIET=1``."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", bool(os.environ.get("CI")) or os.environ.get("TINYML_QUIET") == "1")
    return tqdm(iterable, **kwargs)


@dataclass
class History:
    """Per-epoch metrics of one :func:`fit` run. Losses are mean cross-entropy; accuracies in [0, 1]."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    stopped_early: bool = False
    seconds: float = 0.0

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.epochs).set_index("epoch")


def random_affine(max_shift: float = 2.0, max_rotate_deg: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                  image_size: int = 28) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Image augmentation: a random shift (pixels), rotation (degrees) and scale per example."""

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = lambda: torch.rand(n, generator=gen) * 2 - 1  # noqa: E731 - uniform in [-1, 1]
        angle = u() * math.radians(max_rotate_deg)
        s = scale[0] + (torch.rand(n, generator=gen) * (scale[1] - scale[0]))
        tx, ty = u() * (2 * max_shift / image_size), u() * (2 * max_shift / image_size)
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")

    return augment


def fit(model: nn.Module, train: Split, val: Split | None = None, *, epochs: int = 20,
        batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
        patience: int | None = None, augment=None, loss_fn: LossFn | None = None,
        cosine: bool = True, optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer] | None = None,
        desc: str = "train") -> History:
    """Train ``model`` in place with AdamW (+ cosine decay); with ``val`` the best epoch's weights are
    put back and ``patience`` stops early. ``optimizer`` (built from the trainable parameters) makes
    ``lr`` and ``weight_decay`` unused."""
    if len(train) == 0:
        raise ValueError(f"fit({desc!r}): the training split is empty")
    if val is not None and len(val) == 0:
        raise ValueError(f"fit({desc!r}): the validation split is empty; pass val=None to train without one")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(train.x, dtype=torch.float32)
    y = torch.as_tensor(train.y, dtype=torch.long)
    loss_fn = loss_fn or (lambda logits, yb, xb: F.cross_entropy(logits, yb))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer(params) if optimizer else torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if cosine else None
    hist, best_state, bad, t0 = History(), None, 0, time.perf_counter()
    bar = progress(range(epochs), desc=desc, unit="epoch")
    for epoch in bar:
        set_train(model)
        perm = torch.randperm(len(x), generator=gen)
        tot_loss, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, gen)
            logits = model(xb)
            loss = loss_fn(logits, yb, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        row = {"epoch": epoch + 1, "train_loss": tot_loss / len(x), "train_accuracy": correct / len(x)}
        if val is not None:
            logits = torch.as_tensor(predict(model, val.x))
            row["val_loss"] = float(F.cross_entropy(logits, torch.as_tensor(val.y)))
            row["val_accuracy"] = top1(logits.numpy(), val.y)
            if row["val_accuracy"] > hist.best_val_accuracy or hist.best_epoch < 0:
                hist.best_epoch, hist.best_val_accuracy, bad = epoch + 1, row["val_accuracy"], 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
        row["seconds"] = time.perf_counter() - t0
        hist.epochs.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "val_accuracy")})
        if patience is not None and val is not None and bad >= patience:
            hist.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    set_eval(model)
    hist.seconds = time.perf_counter() - t0
    return hist


def fit_keras(model, train: Split, val: Split, *, epochs: int, batch_size: int = 64, lr: float = 3e-3,
              seed: int = 0, keras=None):
    """:func:`fit` for a Keras vision model on the course's (NCHW) splits: AdamW, cosine decay,
    shift/rotate augmentation; returns Keras' History."""
    if keras is None:
        import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    sched = keras.optimizers.schedules.CosineDecay(lr, max(1, steps))
    model.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x_tr = to_nhwc(train.x)
    # built before the dataset, as the committed results were made
    aug = keras.Sequential([keras.layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", seed=seed),
                            keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed)])
    ds = tf.data.Dataset.from_tensor_slices((x_tr, train.y)).shuffle(len(x_tr), seed=seed).batch(batch_size)
    ds = ds.map(lambda a, b: (aug(a, training=True), b))
    # shuffle=False: tf.data shuffles above (Keras warns when it is True for a Dataset)
    return model.fit(ds, validation_data=(to_nhwc(val.x), val.y), epochs=epochs, verbose=0, shuffle=False)


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, x: np.ndarray) -> nn.Module:
    """AdaBN: a copy of ``model`` whose BatchNorm running statistics are re-estimated on the unlabelled
    inputs ``x`` in one forward pass. Trap: it undoes only a per-channel shift and scale."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the pass
    model.train()
    model(torch.as_tensor(x, dtype=torch.float32))
    return model.eval()


@dataclass
class LMHistory:
    """One row per evaluation: losses in nats per token; ``tokens_per_s`` over training time only."""

    rows: list[dict] = field(default_factory=list)
    tokens_per_s: float = float("nan")
    seconds: float = 0.0

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def train_lm(model: nn.Module, train_ids, val_ids, *, steps: int, batch: int = 16, seq_len: int = 128,
             lr: float = 3e-3, weight_decay: float = 0.1, warmup: int = 20, eval_every: int = 50,
             eval_tokens: int = 4096, seed: int = 0, threads: int = 1) -> LMHistory:
    """Next-token training on random windows: AdamW, linear warm-up then cosine decay; :func:`mean_nll`
    on ``val_ids[:eval_tokens]`` before step 1 and every ``eval_every`` steps.
    Trap: on a few shared cores more ``threads`` made each step *slower*."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    data = torch.as_tensor(np.asarray(train_ids), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps)))
    hist = LMHistory()
    hist.rows.append({"step": 0, "tokens": 0, "seconds": 0.0, "train_loss": float("nan"),
                      "val_loss": mean_nll(model, val_ids, seq_len, eval_tokens)})
    train_time, running = 0.0, []
    for step in progress(range(1, steps + 1), desc="training", leave=False):
        model.train()
        t0 = time.perf_counter()
        starts = torch.randint(0, len(data) - seq_len - 1, (batch,), generator=gen)
        x = torch.stack([data[s:s + seq_len] for s in starts])
        y = torch.stack([data[s + 1:s + seq_len + 1] for s in starts])
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        train_time += time.perf_counter() - t0
        running.append(loss.item())
        if step % eval_every == 0 or step == steps:
            hist.rows.append({"step": step, "tokens": step * batch * seq_len, "seconds": train_time,
                              "train_loss": float(np.mean(running)),
                              "val_loss": mean_nll(model, val_ids, seq_len, eval_tokens)})
            running = []
    model.eval()
    hist.seconds = train_time
    hist.tokens_per_s = steps * batch * seq_len / max(train_time, 1e-9)
    return hist
