"""A file lock between processes, so several workers never build the same artifact at once.

>>> with file_lock("build/artifacts/quick/vision_w16_s0.pt.lock", timeout=600):
...     ...   # check whether the artifact is fresh, build it if not

``fcntl.flock`` on a lock file: the kernel releases the lock when its holder exits, even on
``kill -9``, so a crashed worker never leaves a stale lock behind (the file itself stays; it is
empty of meaning once nobody holds it). The holder writes its pid and host into the file, so a
timeout can say who holds it. Re-entrant within one thread: a nested ``file_lock`` on a path this
thread already holds passes straight through (``flock`` on a second descriptor would deadlock).

Traps: ``flock`` locks are advisory (only code that takes the lock waits) and are per host unless
the file system forwards them (local disks do; NFS v4 does, older NFS and some FUSE mounts may not).
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

#: seconds a worker waits for another one's build by default; ``TINYML_LOCK_TIMEOUT`` overrides
DEFAULT_TIMEOUT = 3600.0

_held: dict[tuple[int, str], int] = {}   # (thread, lock path) -> nesting depth, in this process
_held_guard = threading.Lock()


class LockTimeout(TimeoutError):
    """Waited longer than the timeout for a lock; the message names the lock file and its holder."""


def default_timeout() -> float:
    """:data:`DEFAULT_TIMEOUT`, or ``TINYML_LOCK_TIMEOUT`` (seconds) when set."""
    value = os.environ.get("TINYML_LOCK_TIMEOUT")
    return float(value) if value else DEFAULT_TIMEOUT


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float | None = None, poll: float = 0.1,
              what: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Waits up to ``timeout`` seconds (default :func:`default_timeout`; ``0`` tries once), polling
    every ``poll`` s, then raises :class:`LockTimeout` naming the lock file, the holder's pid and
    host and ``what`` is being built."""
    path = Path(path).resolve()
    key = (threading.get_ident(), str(path))
    with _held_guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    timeout = default_timeout() if timeout is None else float(timeout)
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
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        with _held_guard:
            _held[key] = 1
        try:
            yield path
        finally:
            with _held_guard:
                _held.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
