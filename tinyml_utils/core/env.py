"""Seeding, installed versions, and capturing what native libraries print.

Trap: native code writes to file descriptors 1 and 2; ``contextlib.redirect_stdout`` alone misses it.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import sys
import tempfile


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch; make torch deterministic on CPU."""
    import numpy as np
    import torch

    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def versions(*names: str) -> str:
    """One line naming the installed version of each distribution, e.g. ``versions("torch")``."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for n in names:
        try:
            parts.append(f"{n} {version(n)}")
        except PackageNotFoundError:
            parts.append(f"{n} (not installed)")
    return " | ".join(parts)


@contextlib.contextmanager
def capture_output():
    """Capture Python and C-level stdout/stderr; the yielded list holds the text after the block."""
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    py = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stdout(py), contextlib.redirect_stderr(py):
                yield out
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(py.getvalue() + tmp.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def capture_logger(name: str, level=logging.INFO):
    """Collect the records of logger ``name``; the yielded list holds the text after the block."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    old_level, old_prop = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    out: list[str] = []
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_prop
        out.append(buf.getvalue())


@contextlib.contextmanager
def quiet(logs: bool = False):
    """:func:`capture_output` with the root logger at WARNING and, unless ``logs``, records up to
    WARNING dropped."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.WARNING)
    if not logs:
        logging.disable(logging.WARNING)
    try:
        with capture_output() as out:
            yield out
    finally:
        root.setLevel(old)
        if not logs:
            logging.disable(logging.NOTSET)
