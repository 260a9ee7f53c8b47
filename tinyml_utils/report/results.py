"""Results files: ``results/NN_slug.json``, the one shape every chapter writes and later chapters read.

Shape::

    {"chapter": "02_baseline", "quick": false,
     "records": [{"name", "technique", "runtime", "accuracy", "size_bytes", "params", "macs",
                  "sparsity", "latency_ms_p50", "latency_ms_p95", "arena_bytes", "npu_cycles",
                  "estimated"}],
     "claims": [{"text", "passed"}]}

Fields that do not apply are omitted, never filled with a number that was not measured.
Claims are checked with :class:`Claims`, which raises ``AssertionError`` when a claim fails, so a
chapter cannot record a failed claim and carry on.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.io import read_json, write_json

RECORD_FIELDS = (
    "name", "technique", "runtime", "accuracy", "size_bytes", "params", "macs", "sparsity",
    "latency_ms_p50", "latency_ms_p95", "arena_bytes", "npu_cycles", "estimated",
)


@dataclass
class Record:
    """One measured model variant. Units: accuracy in [0, 1], bytes, MACs per inference, ms."""

    name: str
    technique: str
    runtime: str
    accuracy: float | None = None
    size_bytes: int | None = None
    params: int | None = None
    macs: int | None = None
    sparsity: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    arena_bytes: int | None = None
    npu_cycles: int | None = None
    estimated: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"record {self.name!r}: field {k} is {v}; leave it out instead")
        if self.extra:
            d["extra"] = self.extra
        return d


class Claims:
    """Assert a chapter's claims and keep them for the results file.

    >>> claims = Claims()
    >>> claims.check(0.98 >= 0.975, "baseline reaches >= 97.5% test accuracy", "got 98.0%")
    """

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def check(self, condition: bool, text: str, detail: str = "") -> None:
        """Record the claim; print ``✓ text — detail`` when it holds, raise ``AssertionError`` when not."""
        passed = bool(condition)
        self.items.append({"text": text, "passed": passed, **({"detail": detail} if detail else {})})
        if not passed:
            raise AssertionError(f"Claim failed: {text}" + (f" ({detail})" if detail else ""))
        print(f"✓ {text}" + (f" — {detail}" if detail else ""), flush=True)

    def __len__(self) -> int:
        return len(self.items)


def write(chapter: str, quick: bool, records: list[Record], claims: Claims | list[dict],
          directory: Path | None = None) -> Path:
    """Write ``<results dir>/<chapter>.json`` and return its path."""
    directory = Path(directory) if directory is not None else paths.results_dir(quick)
    directory.mkdir(parents=True, exist_ok=True)
    items = claims.items if isinstance(claims, Claims) else list(claims)
    doc = {"chapter": chapter, "quick": bool(quick), "records": [r.to_dict() for r in records],
           "claims": items}
    return write_json(directory / f"{chapter}.json", doc)


def _read_dirs(quick: bool) -> list[Path]:
    """Where a results file is looked for: this run's folder, then (full mode) the committed one."""
    dirs = [paths.results_dir(quick)]
    if not quick and paths.committed_results_dir() not in dirs:
        dirs.append(paths.committed_results_dir())
    return dirs


def load(chapter: str, quick: bool, directory: Path | None = None) -> dict[str, Any]:
    """Read one chapter's results file; the error says which chapter to run if it is missing.

    Without ``directory``: this run's results folder, and in full mode the committed ``results/``
    when this run has not written the chapter (an interactive full-mode run writes under ``build/``)."""
    dirs = [Path(directory)] if directory is not None else _read_dirs(quick)
    path = next((d / f"{chapter}.json" for d in dirs if (d / f"{chapter}.json").exists()), dirs[0] / f"{chapter}.json")
    if not path.exists():
        mode = "--quick " if quick else ""
        raise FileNotFoundError(
            f"{path} does not exist. Run chapter {chapter} first: "
            f"python -m tinyml_utils run {mode}{chapter.split('_')[0]}")
    return read_json(path, f"rerun chapter {chapter}: python -m tinyml_utils run "
                           f"{'--quick ' if quick else ''}{chapter.split('_')[0]}")


def load_all(quick: bool, directory: Path | None = None) -> list[dict[str, Any]]:
    """Every results file, sorted by chapter (without ``directory``: as :func:`load` finds them)."""
    dirs = [Path(directory)] if directory is not None else _read_dirs(quick)
    found: dict[str, Path] = {}
    for d in reversed(dirs):   # the first folder wins
        found.update({p.stem: p for p in d.glob("*.json")})
    return [read_json(found[k], f"rerun chapter {k}") for k in sorted(found)]


def file_bytes(record: dict[str, Any]) -> int | None:
    """Raw bytes on disk of the file a record's runtime loads (``.pt``, ``.pte``, ``.tflite``,
    ``.onnx``): its ``size_bytes``, except where a chapter recorded a *compressed* size (chapter 03's
    zipped files, ``extra.size_is`` mentions zip), whose raw size it keeps in ``extra.dense_bytes``.
    ``None`` when no raw size is known. One definition for every size axis of the course."""
    extra = record.get("extra") or {}
    if "zip" in str(extra.get("size_is", "")).lower():
        return extra.get("dense_bytes")
    return record.get("size_bytes")


def deployable_file_bytes(record: dict[str, Any]) -> int | None:
    """:func:`file_bytes` for records that ran a deployable file (ExecuTorch ``.pte`` or LiteRT
    ``.tflite``); ``None`` for eager PyTorch/Keras checkpoints, fake-quant models and the rest."""
    runtime = str(record.get("runtime") or "").lower()
    return file_bytes(record) if any(k in runtime for k in ("executorch", "litert")) else None


def records_frame(docs: list[dict[str, Any]]):
    """All records of the given results documents as one pandas DataFrame (one row a record)."""
    import pandas as pd

    rows = [{"chapter": d["chapter"], **{k: v for k, v in r.items() if k != "extra"}}
            for d in docs for r in d["records"]]
    return pd.DataFrame(rows)
