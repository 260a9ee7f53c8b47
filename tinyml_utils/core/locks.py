"""A file lock between processes (``filelock``'s ``flock``: it dies with its holder, even on ``kill -9``).

Traps: advisory only, and per host unless the file system forwards it (older NFS, some FUSE do not).
"""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout


class LockTimeout(TimeoutError):
    """Waited longer than the timeout for a lock; the message names the lock file and its holder."""


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float | None = None, what: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if missing), re-entrant in a thread; waits up to ``timeout``
    s (default ``TINYML_LOCK_TIMEOUT``, else 3600; ``0`` tries once)."""
    path = Path(path).resolve()
    if timeout is None:
        timeout = float(os.environ.get("TINYML_LOCK_TIMEOUT") or 3600.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, is_singleton=True)   # one object per path: a nested hold counts, never deadlocks
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        about = f" while {what} was being built" if what else ""
        raise LockTimeout(f"waited {timeout:.0f} s for the lock file {path}{about}; it is held by "
                          f"{path.read_text().strip() or 'unknown'}. Wait, or raise TINYML_LOCK_TIMEOUT "
                          "(seconds)") from None
    try:
        path.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
        yield path
    finally:
        lock.release()
