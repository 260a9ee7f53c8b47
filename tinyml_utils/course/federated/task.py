"""What both sides of the federation share: configuration, non-IID split, model, local SGD, int8 codec."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import numpy as np

from ... import data, models, train
from ...data.base import Split


@dataclass
class FLConfig:
    """One federated run; Flower's run-config keys are the field names in kebab-case.

    ``norm``: ``"group"`` or ``"batch"``; ``update``: ``"fp32"`` or ``"int8"``; ``dp_noise`` > 0: server-side
    fixed-clipping DP; ``out``: the JSON file the ServerApp writes."""

    num_clients: int = 4
    rounds: int = 15
    fraction_train: float = 1.0
    local_epochs: int = 1
    lr: float = 0.02
    momentum: float = 0.9
    batch_size: int = 16
    norm: str = "group"
    classes_per_client: int = 2
    update: str = "fp32"
    dp_noise: float = 0.0
    dp_clip: float = 1.0
    seed: int = 0
    out: str = ""

    def run_config(self) -> dict:
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_run_config(cls, rc: dict, base: "FLConfig | None" = None) -> "FLConfig":
        cfg = asdict(base or cls())
        for f in fields(cls):
            key = f.name.replace("_", "-")
            if key in rc:
                cfg[f.name] = type(cfg[f.name])(rc[key])
        return cls(**cfg)


def partition(y_windows: np.ndarray, windows_per_recording: int, num_clients: int,
              classes_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Window indices per client: recordings sorted by label, cut into shards, ``classes_per_client``
    shards a client (McMahan et al.'s pathological non-IID split)."""
    rng = np.random.default_rng(seed)
    rec_labels = y_windows[::windows_per_recording]
    order = np.argsort(rec_labels, kind="stable")
    shards = np.array_split(order, num_clients * classes_per_client)
    perm = rng.permutation(len(shards))
    out = []
    for c in range(num_clients):
        recs = np.concatenate([shards[s] for s in perm[c * classes_per_client:(c + 1) * classes_per_client]])
        out.append((np.sort(recs)[:, None] * windows_per_recording + np.arange(windows_per_recording)).ravel())
    return out


@functools.lru_cache(maxsize=2)
def motion_data(seed: int):
    """The motion set, loaded once per process (a ClientApp process serves many messages)."""
    return data.load("motion", seed=seed)


def client_data(partition_id: int, num_partitions: int, cfg: FLConfig):
    ds = motion_data(cfg.seed)
    per_rec = len(ds.train.y) // ds.meta["recordings"]["train"]
    idx = partition(ds.train.y, per_rec, num_partitions, cfg.classes_per_client, cfg.seed)
    return Split(ds.train.x[idx[partition_id]], ds.train.y[idx[partition_id]])


def new_model(seed: int = 0, norm: str = "group"):
    """``models.motion_cnn``, with each BatchNorm replaced by a 4-group GroupNorm unless ``norm="batch"``.

    Trap: averaged BatchNorm statistics of non-IID clients are not those of the union (Hsieh et al., 2020)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = models.motion_cnn()
    if norm == "group":
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm1d):
                    setattr(parent, name, nn.GroupNorm(4, child.num_features))
    elif norm != "batch":
        raise ValueError(f"norm must be 'group' or 'batch', not {norm!r}")
    return model


def local_sgd(model, split, epochs: int, lr: float, momentum: float, batch_size: int, seed: int) -> float:
    """``train.fit`` with SGD and momentum, no schedule, a fresh optimizer; returns the last epoch's loss."""
    import torch

    hist = train.fit(model, split, epochs=epochs, batch_size=batch_size, seed=seed, cosine=False,
                     optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum), desc="client")
    return hist.epochs[-1]["train_loss"]


def float_state(model) -> dict:
    """The float tensors of a state dict (BN's integer batch counter stays on the device)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def quantize_update(local: dict, global_: dict) -> dict:
    """int8 deltas ``q = round((w - w_global) / s)``, ``s = max|delta| / 127`` per tensor, as one flat int8
    array plus one float32 array of scales (in ``global_``'s key order)."""
    qs, scales = [], []
    for k, g in global_.items():
        d = np.asarray(local[k], np.float32) - np.asarray(g, np.float32)
        s = max(float(np.abs(d).max()), 1e-12) / 127.0
        qs.append(np.clip(np.round(d / s), -127, 127).astype(np.int8).ravel())
        scales.append(s)
    return {"int8-delta": np.concatenate(qs), "int8-scale": np.asarray(scales, np.float32)}


def dequantize_update(q: dict, global_: dict) -> dict:
    """Inverse of :func:`quantize_update`: fp32 weights ``w_global + q * s`` per tensor."""
    out, offset = {}, 0
    for i, (k, g) in enumerate(global_.items()):
        g = np.asarray(g, np.float32)
        part = q["int8-delta"][offset:offset + g.size].astype(np.float32).reshape(g.shape)
        out[k] = g + part * q["int8-scale"][i]
        offset += g.size
    return out
