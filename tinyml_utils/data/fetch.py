"""Download and checksum helpers for the optional public data sets (:mod:`.public`).

Downloads are verified with SHA-256 before use; a file without a published checksum is recorded
on first use in ``<root>/checksums.json`` and checked from then on. Certificate checks stay on.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from .base import DataError, sha256_file


def record_file(root: Path) -> Path:
    return root / "checksums.json"


def recorded(root: Path) -> dict:
    try:
        return json.loads(record_file(root).read_text())
    except (OSError, ValueError):
        return {}


def check(path: Path, expected: str | None, root: Path, fix: str) -> None:
    """Verify ``path`` against a published SHA-256, or against the trust-on-first-use record."""
    got = sha256_file(path)
    if expected is None:
        records = recorded(root)
        expected = records.get(path.name)
        if expected is None:
            records[path.name] = got
            records.setdefault("_note", "SHA-256 recorded on first use; no published checksum "
                                        "was available to check against")
            record_file(root).write_text(json.dumps(records, indent=1, sort_keys=True))
            warnings.warn(f"No published checksum is known for {path.name}; recorded its SHA-256 "
                          f"{got[:12]}… in {record_file(root)} and will check it from now on.",
                          stacklevel=3)
            return
    if got != expected:
        raise DataError(f"Corrupt dataset file: {path} has SHA-256 {got[:12]}…, expected "
                        f"{expected[:12]}…. {fix}")


def download(urls: list[str], dest: Path, expected: str | None) -> None:
    """Fetch the first URL that works into ``dest`` (via ``dest.part``), checking SHA-256."""
    import urllib.request

    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is part of the course environment
        tqdm = None
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) if tqdm else None
                h = hashlib.sha256()
                while block := response.read(1 << 20):
                    out.write(block)
                    h.update(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except OSError as e:  # URLError, HTTPError, timeouts are all OSErrors
            errors.append(f"{url}: {e}")
            part.unlink(missing_ok=True)
            continue
        got = h.hexdigest()
        if expected is not None and got != expected:
            part.unlink(missing_ok=True)
            raise DataError(f"Downloaded {url} but its SHA-256 is {got[:12]}…, expected "
                            f"{expected[:12]}…: the file changed or the transfer was damaged. "
                            "Try again later, or download it by another route and place it at "
                            f"{dest}.")
        part.replace(dest)
        return
    raise DataError(f"Could not download {dest.name} (network needed). Tried:\n  "
                    + "\n  ".join(errors) + f"\nFix: check the connection, or place the file at "
                                            f"{dest} by hand.")


def missing(path: Path, what: str) -> DataError:
    return DataError(f"Missing dataset file: {path} ({what}). Fix: pass download=True (needs a "
                     f"network connection), or place the file at {path} yourself.")
