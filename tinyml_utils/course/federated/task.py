"""What both sides of the federation share: the run configuration, the non-IID split of the motion
set, the model (GroupNorm or BatchNorm), the client's local SGD and the int8 update codec."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import numpy as np

from ... import data, models, train
from ...data.base import Split


@dataclass
class FLConfig:
    """One federated run. ``norm``: ``"group"`` (GroupNorm, the default) or ``"batch"`` (the
    course's BatchNorm model); ``update``: ``"fp32"`` or ``"int8"``; ``dp_noise`` > 0 wraps FedAvg in
    Flower's server-side fixed-clipping DP (clip norm ``dp_clip``); ``out``: JSON file the ServerApp
    writes (per-round accuracy and bytes)."""

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
        """The config as Flower run-config entries (``num-clients = 8`` ...)."""
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_run_config(cls, rc: dict, base: "FLConfig | None" = None) -> "FLConfig":
        cfg = asdict(base or cls())
        for f in fields(cls):
            key = f.name.replace("_", "-")
            if key in rc:
                cfg[f.name] = type(cfg[f.name])(rc[key])
        return cls(**cfg)


# ------------------------------------------------------------------ data and model (both sides)

def partition(y_windows: np.ndarray, windows_per_recording: int, num_clients: int,
              classes_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Non-IID split of a windowed training set by *recording*: recordings sorted by label are cut
    into ``num_clients * classes_per_client`` shards and every client gets ``classes_per_client``
    shards (McMahan et al.'s pathological split). Returns window indices per client."""
    rng = np.random.default_rng(seed)
    rec_labels = y_windows[::windows_per_recording]
    order = np.argsort(rec_labels, kind="stable")
    shards = np.array_split(order, num_clients * classes_per_client)
    perm = rng.permutation(len(shards))
    out = []
    for c in range(num_clients):
        recs = np.concatenate([shards[s] for s in perm[c * classes_per_client:(c + 1) * classes_per_client]])
        out.append(np.concatenate([np.arange(r * windows_per_recording, (r + 1) * windows_per_recording)
                                   for r in np.sort(recs)]))
    return out


@functools.lru_cache(maxsize=2)
def motion_data(seed: int):
    """The motion set, loaded once per process (a ClientApp process serves many messages)."""
    return data.load("motion", seed=seed)


def client_data(partition_id: int, num_partitions: int, cfg: FLConfig):
    """The training windows of one client (what stays on that device)."""
    ds = motion_data(cfg.seed)
    per_rec = len(ds.train.y) // ds.meta["recordings"]["train"]
    idx = partition(ds.train.y, per_rec, num_partitions, cfg.classes_per_client, cfg.seed)
    return Split(ds.train.x[idx[partition_id]], ds.train.y[idx[partition_id]])


def new_model(seed: int = 0, norm: str = "group"):
    """``models.motion_cnn`` (BatchNorm), or with each BatchNorm replaced by a 4-group GroupNorm.

    Why GroupNorm: with non-IID clients each client's BatchNorm statistics describe only its own
    classes, and their average is not the statistics of the union; GroupNorm normalizes each
    example by itself and has no running statistics to average (Hsieh et al., 2020)."""
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
    """The ClientApp's local training: ``train.fit`` with plain SGD and momentum, no schedule, on
    this client's windows (a fresh optimizer every round, as in FedAvg). Returns the mean loss of
    the last epoch."""
    import torch

    hist = train.fit(model, split, epochs=epochs, batch_size=batch_size, seed=seed, cosine=False,
                     optimizer=lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum), desc="client")
    return hist.epochs[-1]["train_loss"]


def float_state(model) -> dict:
    """The float tensors of a state dict (BN's integer batch counter stays on the device)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def quantize_update(local: dict, global_: dict) -> dict:
    """int8 deltas, one symmetric scale per tensor: ``q = round((w - w_global) / s)`` with
    ``s = max|delta| / 127``. All tensors travel as one flat int8 array plus one float32 array of
    scales (in ``global_``'s key order), so the per-array framing of the message stays small."""
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
