"""Writes that never leave half a file, and checkpoints that know when they are damaged.

Every file a chapter writes for later use (results, checkpoints, ``.pte``/``.tflite``/``.keras``
artifacts, executed notebooks) goes through :func:`atomic_writer`: the bytes land in a temporary
file in the same folder and are renamed over the target only once complete, so a crash, a full
disk or Ctrl-C leaves the previous file intact (``os.replace`` is atomic on one file system).

Checkpoints get a sidecar ``<file>.sha256`` with the file's SHA-256; :func:`load_torch` and
:func:`verify` compare it, so a truncated or bit-flipped file raises :class:`ArtifactError`
naming the file and the fix instead of loading silently or failing with ``EOFError``. The
artifact store also keeps the digest in its key file and passes it as ``digest=``, so a file
whose sidecar was lost is stale there, not trusted.

``.pt`` files are byte-reproducible: :func:`torch_save` writes through a file object (torch then
names the zip's records ``archive/…``), and :func:`atomic_writer`'s temporary file carries the
target's own name (inside a temporary folder), so a writer that passes a path to ``torch.save``
does not put a random temporary name into the zip either.

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
import shutil
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
    # the temporary file has the target's name (torch.save(obj, path) writes the name into the zip),
    # in a private folder beside the target (same file system, so the rename is atomic)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.partial-", dir=path.parent))
    tmp = tmpdir / (path.stem + sfx)
    tmp.touch()
    try:
        yield tmp
        if not tmp.exists() or (tmp.is_file() and tmp.stat().st_size == 0 and not _allow_empty(path)):
            raise ArtifactError(path, "the writer produced no data", "see the error above")
        if tmp.is_file():  # mkstemp makes the file owner-only; give it the usual umask permissions
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(folder: str | Path, marker: str = "manifest.json") -> Iterator[Path]:
    """Build a folder in a private temporary sibling and rename it into place when the block ends.

    A failure leaves no half-built folder; when another process finished the same folder first
    (it holds ``marker``), theirs is kept. Generated data caches use it."""
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


def recorded_digest(path: str | Path) -> str | None:
    """The SHA-256 in ``path``'s sidecar, or ``None`` when there is no (readable) sidecar."""
    try:
        text = sidecar(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text.split()[0] if text else None


def verify(path: str | Path, fix: str = "delete it and rerun the chapter that builds it",
           digest: str | None = None, required: bool = False) -> str:
    """Raise :class:`ArtifactError` if ``path`` is missing, or its bytes differ from the digest
    recorded when it was written (``digest``, e.g. from the store's key file, else its sidecar): a
    truncated, bit-flipped or half-written file. Returns the file's SHA-256.

    With no digest at all: ``required=True`` raises (the artifact store: a file whose sidecar was
    lost is stale, not trusted); else it is accepted (a file from before checksums existed)."""
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
    """``torch.save(obj)`` through a file object: the zip's records are named ``archive/…`` whatever
    the path, so equal objects give equal bytes (a path would put its file name into the zip)."""
    import torch

    with open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def save_torch(obj: Any, path: str | Path, meta: dict | None = None) -> Path:
    """``torch.save({"state": obj, "meta": meta})`` atomically (byte-reproducible, :func:`torch_save`),
    then seal it with a SHA-256 sidecar."""
    path = Path(path)
    with atomic_writer(path) as tmp:
        torch_save({"state": obj, "meta": dict(meta or {})}, tmp)
    seal(path)
    return path


def load_torch(path: str | Path, fix: str = "delete it and rerun the chapter that builds it") -> tuple[Any, dict]:
    """``(state, meta)`` from a file written by :func:`save_torch`, verified against its sidecar.
    Any damage (missing, truncated, bit-flipped, not a torch file) raises :class:`ArtifactError`."""
    import torch

    verify(path, fix, required=True)
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
