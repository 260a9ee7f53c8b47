"""A file lock between processes, so several workers never build the same artifact at once.

``fcntl.flock``: the lock dies with its holder, even on ``kill -9``. Re-entrant within a thread.
Traps: advisory only, and per host unless the file system forwards it (older NFS, some FUSE do not).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

_held: set[tuple[int, str]] = set()   # (thread, lock path) held in this process


class LockTimeout(TimeoutError):
    """Waited longer than the timeout for a lock; the message names the lock file and its holder."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float | None = None, what: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Waits up to ``timeout`` s (default ``TINYML_LOCK_TIMEOUT``, else 3600; ``0`` tries once), then
    raises :class:`LockTimeout` naming the lock file, its holder's pid and host, and ``what``."""
    path = Path(path).resolve()
    key = (threading.get_ident(), str(path))
    if key in _held:  # flock on a second descriptor would deadlock
        yield path
        return
    if timeout is None:
        timeout = float(os.environ.get("TINYML_LOCK_TIMEOUT") or 3600.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    about = f" while {what} was being built" if what else ""
                    raise LockTimeout(
                        f"waited {timeout:.0f} s for the lock file {path}{about}; it is held by "
                        f"{_holder(path)}. If that process is gone the lock is free again (flock locks die "
                        f"with their process); else wait, or raise TINYML_LOCK_TIMEOUT (seconds)") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _held.add(key)
        try:
            yield path
        finally:
            _held.discard(key)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
