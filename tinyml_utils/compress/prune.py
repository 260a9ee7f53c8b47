"""Pruning: magnitude (``torch.nn.utils.prune``), channels (``torch_pruning``), Keras (tfmot).

Trap: unstructured zeros keep every shape (the file compresses, a dense runtime still multiplies
by every zero); only channel pruning gives fewer MACs.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .. import train as training
from ..measure import accuracy, count_macs, count_params
from ..models import vision_cnn
from ..models.keras import to_nhwc

PRUNABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Linear)
FORMAT = "tinyml_utils.prune/v1"


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)]


def _masked(m: nn.Module) -> int:
    """Weights already masked. Trap: unmasked exact zeros are not counted (L1 ranking picks them first)."""
    mask = getattr(m, "weight_mask", None)
    return 0 if mask is None else int((mask == 0).sum())


def magnitude_prune(model: nn.Module, sparsity: float, scope: str = "global",
                    layers: Sequence[str] | None = None) -> nn.Module:
    """Mask the smallest |w| until ``sparsity`` (total, not an increment) of the chosen layers' weights
    are zero. In place; biases stay. ``scope``: ``"global"`` ranks all weights together,
    ``"layerwise"`` each layer alone, ``"global_normalized"`` ranks ``|w| / RMS(layer)`` globally.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    chosen = [(n, m) for n, m in prunable_layers(model) if layers is None or n in layers]
    if layers is not None and len(chosen) != len(set(layers)):
        known = [n for n, _ in prunable_layers(model)]
        raise ValueError(f"unknown layer in {list(layers)}; prunable layers are {known}")
    if scope not in ("global", "global_normalized", "layerwise"):
        raise ValueError(f"scope must be 'global', 'global_normalized' or 'layerwise', got {scope!r}")
    groups = [[m] for _, m in chosen] if scope == "layerwise" else [[m for _, m in chosen]]
    for group in groups:
        extra = int(round(sparsity * sum(m.weight.numel() for m in group))) - sum(_masked(m) for m in group)
        scores = None
        if scope == "global_normalized":
            scores = {(m, "weight"): m.weight.detach().abs() / m.weight.detach().pow(2).mean().sqrt().clamp_min(1e-12)
                      for m in group}
        if extra > 0:
            # integer amount = number of *still unpruned* weights to remove (PruningContainer semantics)
            torch_prune.global_unstructured([(m, "weight") for m in group], importance_scores=scores,
                                            pruning_method=torch_prune.L1Unstructured, amount=extra)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (``prune.remove``). In place."""
    for _, m in model.named_modules():
        for hook in list(m._forward_pre_hooks.values()):
            if isinstance(hook, torch_prune.BasePruningMethod):
                torch_prune.remove(m, hook._tensor_name)
    return model


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of conv/linear weights that are exactly zero (biases and batch norm excluded)."""
    layers = prunable_layers(model)
    total = sum(m.weight.numel() for _, m in layers)
    return sum(int((m.weight == 0).sum()) for _, m in layers) / max(total, 1)


def sparsity_report(model: nn.Module):
    """Per-layer shape, weights, zeros and sparsity, plus a ``total`` row."""
    import pandas as pd

    rows = [{"layer": n, "type": type(m).__name__, "shape": tuple(m.weight.shape),
             "weights": m.weight.numel(), "zeros": int((m.weight == 0).sum())}
            for n, m in prunable_layers(model)]
    df = pd.DataFrame(rows).set_index("layer")
    df.loc["total"] = {"type": "", "shape": "", "weights": int(df["weights"].sum()),
                       "zeros": int(df["zeros"].sum())}
    df["sparsity"] = (df["zeros"] / df["weights"]).round(4)
    return df


def sensitivity(model: nn.Module, split, sparsities: Iterable[float]):
    """Accuracy with one layer pruned at a time, no fine-tune: ``layer, sparsity, accuracy, drop``."""
    import pandas as pd

    base = accuracy(model, split)
    rows = []
    for name, _ in prunable_layers(model):
        for s in sparsities:
            m = copy.deepcopy(model)
            magnitude_prune(m, s, scope="layerwise", layers=[name])
            acc = accuracy(m, split)
            rows.append({"layer": name, "sparsity": float(s), "accuracy": acc, "drop": base - acc})
    return pd.DataFrame(rows)


def polynomial_sparsity(t: float, *, initial: float, final: float, begin: float = 0, n: int,
                        every: float = 1) -> float:
    """Zhu & Gupta's (2017) target sparsity at step ``t``: ``final + (initial - final) * (1 - (t -
    begin) / (n * every)) ** 3``, ``t`` clamped to ``[begin, begin + n * every]`` (tfmot's PolynomialDecay)."""
    if n < 1 or every <= 0:
        raise ValueError(f"need n >= 1 and every > 0, got n={n}, every={every}")
    progress = min(max((t - begin) / (n * every), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


def polynomial_schedule(initial: float, final: float, n: int) -> tuple[float, ...]:
    """The ``n + 1`` targets of :func:`polynomial_sparsity`, ``initial`` to ``final``."""
    return tuple(polynomial_sparsity(k, initial=initial, final=final, n=n) for k in range(n + 1))


@dataclass
class PruneStep:
    """One prune(+fine-tune) step: accuracies before/after fine-tuning, cumulative epochs and seconds."""

    sparsity: float
    accuracy_pruned: float
    accuracy: float
    epochs: int
    seconds: float
    model: nn.Module = field(repr=False)


def prune_and_finetune(model: nn.Module, train, val, schedule: Sequence[float], *,
                       epochs_per_step: int | Sequence[int] = 1,
                       lr: float = 2e-3, batch_size: int = 64, scope: str = "global",
                       skip: Sequence[str] = (), seed: int = 0,
                       augment=None, eval_split=None, desc: str = "prune") -> list[PruneStep]:
    """Iterative magnitude pruning of a copy: prune to each ``schedule`` target, fine-tune, measure on
    ``eval_split`` (default ``val``). Trap: targets are fractions of *all* conv/linear weights, so
    with ``skip`` (layers kept dense) the others go further.
    """
    eval_split = eval_split if eval_split is not None else val
    m = copy.deepcopy(model)
    layers = [n for n, _ in prunable_layers(m) if n not in skip] if skip else None
    n_all = sum(mod.weight.numel() for _, mod in prunable_layers(m))
    n_chosen = sum(mod.weight.numel() for n, mod in prunable_layers(m) if layers is None or n in layers)
    steps, epochs, t0 = [], 0, time.perf_counter()
    per_step = [epochs_per_step] * len(schedule) if isinstance(epochs_per_step, int) else list(epochs_per_step)
    if len(per_step) != len(schedule):
        raise ValueError(f"epochs_per_step has {len(per_step)} entries for {len(schedule)} steps")
    for i, (target, ep) in enumerate(zip(schedule, per_step)):
        magnitude_prune(m, target * n_all / n_chosen, scope=scope, layers=layers)
        acc_pruned = accuracy(m, eval_split)
        if ep > 0:
            training.fit(m, train, val, epochs=ep, lr=lr, batch_size=batch_size, seed=seed + i,
                          augment=augment, desc=f"{desc} {target:.0%}")
            epochs += ep
        acc = accuracy(m, eval_split)
        snapshot = make_permanent(copy.deepcopy(m)).eval()
        steps.append(PruneStep(float(weight_sparsity(snapshot)), acc_pruned, acc, epochs,
                               time.perf_counter() - t0, snapshot))
    return steps


def steps_frame(steps: Sequence[PruneStep], **columns):
    """:class:`PruneStep` results without the model, plus constant ``columns``."""
    import pandas as pd

    return pd.DataFrame([{**columns, "sparsity": s.sparsity, "accuracy_pruned": s.accuracy_pruned,
                          "accuracy": s.accuracy, "epochs": s.epochs, "seconds": s.seconds} for s in steps])


def prune_channels(model: nn.Module, example: torch.Tensor, ratio: float) -> nn.Module:
    """A copy without ``ratio`` of every dependency group's channels (``torch_pruning``, group L2
    magnitude); the classifier (last Linear) stays whole."""
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    classifier = [mod for mod in m.modules() if isinstance(mod, nn.Linear)][-1:]
    pruner = tp.pruner.MetaPruner(m, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  pruning_ratio=ratio, ignored_layers=classifier)
    pruner.step()
    return m


def channel_prune(model: nn.Module, example: torch.Tensor, target_macs_ratio: float = 0.5):
    """``(pruned copy, info)`` at most ``target_macs_ratio`` of the MACs: the smallest channel ratio
    that meets it, by bisection."""
    base_macs, base_params = count_macs(model, example), count_params(model)
    lo, hi = 0.0, 0.95
    best = None
    for _ in range(20):
        mid = (lo + hi) / 2
        cand = prune_channels(model, example, mid)
        macs = count_macs(cand, example)
        if macs <= target_macs_ratio * base_macs:
            best, hi = (mid, cand, macs), mid
        else:
            lo = mid
        if hi - lo < 5e-3:
            break
    if best is None:
        raise RuntimeError(f"could not reach {target_macs_ratio:.0%} of the MACs with channel ratio <= {hi}")
    ratio, pruned, macs = best
    info = {"channel_ratio": ratio, "target_macs_ratio": target_macs_ratio, "base_macs": base_macs,
            "macs": macs, "macs_ratio": macs / base_macs, "base_params": base_params,
            "params": count_params(pruned), "params_ratio": count_params(pruned) / base_params,
            "channels": channels(pruned), "base_channels": channels(model)}
    return pruned.eval(), info


def channels(model: nn.Module) -> dict[str, int]:
    """Output channels (conv) or features (linear) of every prunable layer."""
    return {n: int(m.weight.shape[0]) for n, m in prunable_layers(model)}


def rebuild_like(model: nn.Module, state_dict: dict) -> nn.Module:
    """Resize conv / batch-norm / linear layers to a (channel-pruned) ``state_dict``'s shapes and load it.
    In place."""
    for name, m in list(model.named_modules()):
        key = f"{name}.weight" if name else "weight"
        if key not in state_dict:
            continue
        w = state_dict[key]
        new = None
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and tuple(w.shape) != tuple(m.weight.shape):
            groups = m.groups if m.groups == 1 else w.shape[0]
            new = type(m)(w.shape[1] * groups, w.shape[0], m.kernel_size, stride=m.stride, padding=m.padding,
                          dilation=m.dilation, groups=groups, bias=m.bias is not None)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and w.shape[0] != m.num_features:
            new = type(m)(w.shape[0], eps=m.eps, momentum=m.momentum)
        elif isinstance(m, nn.Linear) and tuple(w.shape) != tuple(m.weight.shape):
            new = nn.Linear(w.shape[1], w.shape[0], bias=m.bias is not None)
        if new is not None:
            model.set_submodule(name, new)
    model.load_state_dict(state_dict)
    return model


def save_pruned(model: nn.Module, path: str | Path, info: dict | None = None) -> Path:
    """Save a pruned ``VisionCNN`` (masks made permanent) with its base width and JSON-able ``info``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_permanent(model)
    torch.save({"format": FORMAT, "arch": "vision_cnn", "width": int(getattr(model, "width", 16)),
                "state_dict": model.state_dict(), "info": info or {}}, path)
    return path


def load_pruned(path: str | Path) -> tuple[nn.Module, dict]:
    """``(model in eval mode, info)`` from :func:`save_pruned`'s file (``weights_only``: no pickled code)."""
    blob = torch.load(Path(path), weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a tinyml_utils.prune file (format {blob.get('format')!r})")
    model = rebuild_like(vision_cnn(int(blob["width"])), blob["state_dict"])
    return model.eval(), dict(blob.get("info", {}))


def keras_prune(keras_model, train, val, *, final_sparsity: float = 0.8, epochs: int = 2, batch_size: int = 64,
                lr: float = 1e-3, seed: int = 0, keras=None):
    """``(pruned copy, History)`` of a tf_keras model by tfmot: ``PolynomialDecay`` 0 to ``final_sparsity``
    over the first 60 % of steps, then fine-tuning; ``conv1`` stays dense. Trap: needs ``keras=tf_keras``.
    """
    import tensorflow_model_optimization as tfmot

    if keras is None:
        import tf_keras as keras
    keras.utils.set_random_seed(seed)
    base = keras.models.clone_model(keras_model)   # a copy: the wrappers below share its layers
    base.set_weights(keras_model.get_weights())
    steps_per_epoch = int(np.ceil(len(train) / batch_size))
    end_step = max(1, int(0.6 * epochs * steps_per_epoch))
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=final_sparsity,
                                                    begin_step=0, end_step=end_step, frequency=max(1, end_step // 10))

    def wrap(layer):   # tfmot's pattern for pruning some layers only
        if type(layer).__name__ in ("Conv2D", "Dense") and layer.name != "conv1":
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = keras.models.clone_model(base, clone_function=wrap)
    pruned.compile(optimizer=keras.optimizers.Adam(lr),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hist = pruned.fit(to_nhwc(train.x), train.y, validation_data=(to_nhwc(val.x), val.y), epochs=epochs,
                      batch_size=batch_size, shuffle=True, verbose=0,
                      callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned), hist


def keras_weight_sparsity(keras_model) -> dict[str, float]:
    """Sparsity of each Conv2D/Dense kernel of a Keras model, plus ``"total"`` over all of them."""
    out, zeros, total = {}, 0, 0
    for layer in keras_model.layers:
        if type(layer).__name__ in ("Conv2D", "Dense"):
            k = layer.get_weights()[0]
            out[layer.name] = float((k == 0).mean())
            zeros, total = zeros + int((k == 0).sum()), total + k.size
    out["total"] = zeros / max(total, 1)
    return out
