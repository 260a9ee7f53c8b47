"""Writes that never leave half a file, and checksums that tell a damaged artifact.

Trap: ``torch.save(obj, path)`` writes the file's name into the zip, so :func:`torch_save` saves
through a file object and :func:`atomic_writer`'s temporary file keeps the target's name.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

SIDECAR = ".sha256"
_MAY_BE_EMPTY = {".txt", ".log", ".json", ".md"}


class ArtifactError(RuntimeError):
    """An artifact file is missing, truncated or corrupt; the message names it and the fix."""

    def __init__(self, path: str | Path, problem: str, fix: str = ""):
        self.path = Path(path)
        msg = f"{self.path}: {problem}."
        if fix:
            msg += f" Fix: {fix}."
        super().__init__(msg)


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed over it on success, deleted on any error; an
    empty result raises, except for text files (:data:`_MAY_BE_EMPTY`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the target's own name, in a private folder on the same file system (so the rename is atomic)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.partial-", dir=path.parent))
    tmp = tmpdir / path.name
    tmp.touch()
    try:
        yield tmp
        empty = tmp.is_file() and tmp.stat().st_size == 0 and path.suffix not in _MAY_BE_EMPTY
        if not tmp.exists() or empty:
            raise ArtifactError(path, "the writer produced no data", "see the error above")
        if tmp.is_file():  # a writer may replace it with an owner-only file: give it umask permissions
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    finally:  # on an error, the partial file goes with its folder
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(folder: str | Path, marker: str = "manifest.json") -> Iterator[Path]:
    """Build a folder in a private sibling, renamed into place at the end; another process's finished
    folder (it holds ``marker``) is kept."""
    folder = Path(folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: keep theirs
            if not (folder / marker).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_writer(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sidecar(path: str | Path) -> Path:
    """The checksum file that goes with an artifact: ``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR)


def seal(path: str | Path) -> str:
    """Record ``path``'s SHA-256 in its sidecar (atomically); returns the digest."""
    digest = sha256_file(path)
    atomic_write_text(sidecar(path), f"{digest}  {Path(path).name}\n")
    return digest


def recorded_digest(path: str | Path) -> str | None:
    """The SHA-256 in ``path``'s sidecar, or ``None`` when there is no (readable) sidecar."""
    try:
        text = sidecar(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text.split()[0] if text else None


def verify(path: str | Path, fix: str = "delete it and rerun the chapter that builds it",
           digest: str | None = None, required: bool = False) -> str:
    """The file's SHA-256; :class:`ArtifactError` if it is missing, differs from ``digest`` or its
    sidecar's, or (``required``) has neither."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "does not exist" if not path.exists() else "is not a file", fix)
    have = sha256_file(path)
    for want, where in ((digest, "in the key file"), (recorded_digest(path), f"in {sidecar(path).name}")):
        if want is not None and have != want:
            raise ArtifactError(path, f"is corrupt: its SHA-256 {have[:12]}… does not match the one recorded "
                                      f"{where} when it was written ({want[:12]}…)", fix)
    if required and digest is None and recorded_digest(path) is None:
        raise ArtifactError(path, f"has no recorded SHA-256 (its {SIDECAR} sidecar is missing), so it cannot be "
                                  "told apart from a damaged file", fix)
    return have


def torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` through a file object, so equal objects give equal bytes."""
    import torch

    with open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def write_json(path: str | Path, doc: Any, default: Callable[[Any], Any] | None = None) -> Path:
    """``json.dumps(doc, indent=2, default=default)`` written atomically."""
    return atomic_write_text(path, json.dumps(doc, indent=2, default=default) + "\n")


def read_json(path: str | Path, fix: str) -> Any:
    """Parse a JSON file; a missing or damaged file raises :class:`ArtifactError` with ``fix``."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(path, "does not exist", fix)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(path, f"is not valid JSON ({e})", fix) from e
