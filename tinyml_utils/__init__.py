"""tinyml_utils: the small helper package shared by every chapter of the course.

Modules by job (import the one you need; heavy frameworks load only there):
``paths`` (folders), ``data`` (datasets), ``features`` (audio/IMU features), ``models``
(the model family), ``train`` (one training loop), ``profile`` (params, MACs, bytes,
latency), ``results`` (results files and asserted claims), ``plots`` (one figure style),
``recipes`` (artifacts that later chapters reuse, rebuilt when missing), ``cli``.
"""
from __future__ import annotations

import os
import random

__version__ = "0.1.0"


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and (if already importable) PyTorch; make torch deterministic on CPU."""
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    import numpy as np

    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the course environment
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def versions(*names: str) -> str:
    """One line naming the installed version of each distribution, e.g. ``versions("torch", "numpy")``."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for n in names:
        try:
            parts.append(f"{n} {version(n)}")
        except PackageNotFoundError:
            parts.append(f"{n} (not installed)")
    return " | ".join(parts)
