"""Results files ``NN_slug.json`` (``{"chapter", "quick", "records", "claims"}``) that chapters write and read.

Fields that do not apply are omitted, never guessed; :class:`Claims` raises on a failed claim."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.context import Context
from ..core.io import read_json, write_json


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


RECORD_FIELDS = tuple(f.name for f in fields(Record) if f.name != "extra")


class Claims:
    """Assert a chapter's claims and keep them for the results file."""

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


def write(chapter: str, ctx: Context, records: list[Record], claims: Claims | list[dict],
          directory: Path | None = None) -> Path:
    """Write ``<ctx.results or directory>/<chapter>.json`` and return its path."""
    directory = Path(directory) if directory is not None else ctx.results
    items = claims.items if isinstance(claims, Claims) else list(claims)
    doc = {"chapter": chapter, "quick": bool(ctx.quick), "records": [r.to_dict() for r in records],
           "claims": items}
    return write_json(directory / f"{chapter}.json", doc)


def _read_dirs(ctx: Context) -> list[Path]:
    """Where a results file is looked for: this run's folder, then (full mode) the committed one."""
    dirs = [ctx.results]
    if not ctx.quick and paths.committed_results_dir() not in dirs:
        dirs.append(paths.committed_results_dir())
    return dirs


def load(chapter: str, ctx: Context, directory: Path | None = None) -> dict[str, Any]:
    """One chapter's results file, from ``directory`` or this run's folder, then in full mode the committed
    ``results/``; a missing one names the command that writes it."""
    dirs = [Path(directory)] if directory is not None else _read_dirs(ctx)
    path = next((d / f"{chapter}.json" for d in dirs if (d / f"{chapter}.json").exists()), dirs[0] / f"{chapter}.json")
    rerun = f"python -m tinyml_utils run {'--quick ' if ctx.quick else ''}{chapter.split('_')[0]}"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. Run chapter {chapter} first: {rerun}")
    return read_json(path, f"rerun chapter {chapter}: {rerun}")


def load_all(ctx: Context, directory: Path | None = None) -> list[dict[str, Any]]:
    """Every results file, sorted by chapter (without ``directory``: as :func:`load` finds them)."""
    dirs = [Path(directory)] if directory is not None else _read_dirs(ctx)
    found: dict[str, Path] = {}
    for d in reversed(dirs):   # the first folder wins
        found.update({p.stem: p for p in d.glob("*.json")})
    return [read_json(found[k], f"rerun chapter {k}") for k in sorted(found)]


def file_bytes(record: dict[str, Any]) -> int | None:
    """Raw bytes on disk of the file a record's runtime loads, or ``None``. Trap: a zipped ``size_bytes``
    (``extra.size_is`` mentions zip) is not it; ``extra.dense_bytes`` is."""
    extra = record.get("extra") or {}
    if "zip" in str(extra.get("size_is", "")).lower():
        return extra.get("dense_bytes")
    return record.get("size_bytes")


def deployable_file_bytes(record: dict[str, Any]) -> int | None:
    """:func:`file_bytes` for records that ran a ``.pte`` or ``.tflite``; ``None`` for the rest."""
    runtime = str(record.get("runtime") or "").lower()
    return file_bytes(record) if any(k in runtime for k in ("executorch", "litert")) else None


def records_frame(docs: list[dict[str, Any]]):
    """All records of the given results documents as one pandas DataFrame (one row a record)."""
    import pandas as pd

    rows = [{"chapter": d["chapter"], **{k: v for k, v in r.items() if k != "extra"}}
            for d in docs for r in d["records"]]
    return pd.DataFrame(rows)
