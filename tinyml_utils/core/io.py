"""Writes that never leave half a file, and checkpoints that know when they are damaged.

Every file a chapter writes for later use (results, checkpoints, ``.pte``/``.tflite``/``.keras``
artifacts, executed notebooks) goes through :func:`atomic_writer`: the bytes land in a temporary
file in the same folder and are renamed over the target only once complete, so a crash, a full
disk or Ctrl-C leaves the previous file intact (``os.replace`` is atomic on one file system).

Checkpoints get a sidecar ``<file>.sha256`` with the file's SHA-256; :func:`load_torch` and
:func:`verify` compare it, so a truncated or bit-flipped file raises :class:`ArtifactError`
naming the file and the fix instead of loading silently or failing with ``EOFError``.

>>> with atomic_writer("build/model.pte") as tmp:   # tmp: a Path in the same folder
...     tmp.write_bytes(program_bytes)
>>> save_torch(model.state_dict(), "build/artifacts/vision.pt", meta={"epochs": 20})
>>> state, meta = load_torch("build/artifacts/vision.pt", fix="rerun chapter 02")
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

SIDECAR = ".sha256"


class ArtifactError(RuntimeError):
    """An artifact file is missing, truncated or corrupt; the message names it and the fix."""

    def __init__(self, path: str | Path, problem: str, fix: str = ""):
        self.path = Path(path)
        msg = f"{self.path}: {problem}."
        if fix:
            msg += f" Fix: {fix}."
        super().__init__(msg)


@contextlib.contextmanager
def atomic_writer(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on any error
    (or KeyboardInterrupt) delete it and leave ``path`` as it was. ``suffix`` defaults to the
    target's (some writers, e.g. Keras, insist on ``.keras``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else path.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.partial-", suffix=sfx, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or (tmp.is_file() and tmp.stat().st_size == 0 and not _allow_empty(path)):
            raise ArtifactError(path, "the writer produced no data", "see the error above")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _allow_empty(path: Path) -> bool:
    return path.suffix in {".txt", ".log", ".json", ".md"}


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


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path: str | Path) -> Path:
    """The checksum file that goes with an artifact: ``<file>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR)


def seal(path: str | Path) -> str:
    """Record ``path``'s SHA-256 in its sidecar (atomically); returns the digest."""
    digest = sha256_file(path)
    atomic_write_text(sidecar(path), f"{digest}  {Path(path).name}\n")
    return digest


def verify(path: str | Path, fix: str = "delete it and rerun the chapter that builds it") -> None:
    """Raise :class:`ArtifactError` if ``path`` is missing, or its bytes differ from its sidecar
    digest (a truncated, bit-flipped or half-written file). A file without a sidecar (written
    before checksums existed) is accepted."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(path, "does not exist", fix)
    side = sidecar(path)
    if not side.exists():
        return
    want = side.read_text().split()[0] if side.read_text().strip() else ""
    have = sha256_file(path)
    if have != want:
        raise ArtifactError(path, f"is corrupt: its SHA-256 {have[:12]}… does not match the one recorded "
                                  f"when it was written ({want[:12]}…)", fix)


def save_torch(obj: Any, path: str | Path, meta: dict | None = None) -> Path:
    """``torch.save({"state": obj, "meta": meta})`` atomically, then seal it with a SHA-256 sidecar."""
    import torch

    path = Path(path)
    with atomic_writer(path) as tmp:
        torch.save({"state": obj, "meta": dict(meta or {})}, tmp)
    seal(path)
    return path


def load_torch(path: str | Path, fix: str = "delete it and rerun the chapter that builds it") -> tuple[Any, dict]:
    """``(state, meta)`` from a file written by :func:`save_torch`, verified against its sidecar.
    Any damage (missing, truncated, bit-flipped, not a torch file) raises :class:`ArtifactError`."""
    import torch

    verify(path, fix)
    try:
        doc = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - every way torch.load fails means the same to a learner
        raise ArtifactError(path, f"cannot be read as a checkpoint ({type(e).__name__}: {e})", fix) from e
    if not isinstance(doc, dict) or "state" not in doc:
        raise ArtifactError(path, "is not a tinyml_utils checkpoint (no 'state' entry)", fix)
    return doc["state"], dict(doc.get("meta") or {})


def write_json(path: str | Path, doc: Any) -> Path:
    """``json.dumps(doc, indent=2)`` written atomically."""
    return atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def read_json(path: str | Path, fix: str) -> Any:
    """Parse a JSON file; a missing or damaged file raises :class:`ArtifactError` with ``fix``."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(path, "does not exist", fix)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(path, f"is not valid JSON ({e})", fix) from e
