"""The artifact store: a sealed file is reused only while its content key (sources' bytes, recipe, pinned
library versions) matches, else rebuilt with one printed line saying why."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable

from ..core import io, locks
from ..core.env import versions

#: distributions whose versions are part of every content key
PINNED = ("torch", "torchao", "torch-pruning", "executorch", "tensorflow-cpu", "keras", "tf-keras",
          "tensorflow-model-optimization", "numpy")


@dataclass
class Spec:
    """What an artifact is made from: its file, the files it is built from, and its recipe."""

    path: Path
    recipe: dict
    sources: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    def key(self) -> str:
        """The content key: sha256 over the sources' bytes, the recipe and the pinned versions."""
        h = hashlib.sha256()
        for src in self.sources:
            h.update(hashlib.sha256(Path(src).read_bytes()).digest())
        h.update(json.dumps(self.recipe, sort_keys=True, default=_plain).encode())
        h.update(versions(*PINNED).encode())
        return h.hexdigest()[:20]


def _plain(obj):
    """JSON's ``default``: a dataclass as its dict, anything else (a path) as its ``str``."""
    return asdict(obj) if is_dataclass(obj) else str(obj)


def staleness(spec: Spec) -> tuple[dict | None, str]:
    """``(info, "")`` when ``spec``'s file is fresh (key and SHA-256 match), else ``(None, why)``."""
    if not spec.path.exists():
        return None, "not built yet"
    if not spec.meta_path.exists():
        return None, f"its key file {spec.meta_path.name} is missing"
    try:
        meta = io.read_json(spec.meta_path, fix="it is rebuilt")
        if not isinstance(meta, dict):
            raise io.ArtifactError(spec.meta_path, "is not a key file", "it is rebuilt")
        if meta.get("key") != spec.key():
            return None, "its sources, recipe or library versions changed"
        io.verify(spec.path, fix="it is rebuilt", digest=meta.get("sha256"), required=True)
    except io.ArtifactError as e:
        return None, str(e).removeprefix(f"{e.path}: ").split(" Fix:")[0].rstrip(".")
    return meta.get("info", {}), ""


def save(spec: Spec, write: Callable[[Path], object], info: dict | None = None) -> Path:
    """Write the artifact atomically with ``write(tmp_path)``, seal it, then write its key file."""
    with io.atomic_writer(spec.path) as tmp:
        write(tmp)
    digest = io.seal(spec.path)
    meta = {"key": spec.key(), "sha256": digest, "recipe": spec.recipe, "versions": versions(*PINNED),
            "sources": spec.sources, "info": info or {}}
    io.write_json(spec.meta_path, meta, default=_plain)
    return spec.path


def load_or_build(spec: Spec, load: Callable[[Path], object], build: Callable[[], tuple],
                  rebuild: bool = False) -> tuple[object, dict]:
    """``(load(path), info)`` when ``spec`` is fresh; else ``build() -> (obj, write, info)`` runs under
    a file lock, the file is saved and ``(obj, info)`` returned."""
    info, why = (None, "asked to rebuild") if rebuild else staleness(spec)
    if info is not None:
        return load(spec.path), info
    if spec.path.exists():   # one line, so a learner sees why training runs again
        print(f"rebuilding {spec.path}: {why}")
    # One builder at a time (sweep workers share the store); whoever waited re-checks and reuses.
    with locks.file_lock(spec.path.with_name(spec.path.name + ".lock"), what=str(spec.path)):
        info = None if rebuild else staleness(spec)[0]
        if info is not None:
            return load(spec.path), info
        obj, write, info = build()
        save(spec, write, info)
    return obj, info
