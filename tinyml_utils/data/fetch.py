"""Download and SHA-256 checks for :mod:`.public`; certificate checks stay on."""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from ..core.io import sha256_file
from .base import DataError


def check(path: Path, expected: str | None, root: Path, fix: str) -> None:
    """Verify ``path`` against a published SHA-256, else against ``<root>/checksums.json``, where a
    file's first use records it (trust on first use)."""
    got = sha256_file(path)
    if expected is None:
        record = root / "checksums.json"
        try:
            records = json.loads(record.read_text())
        except (OSError, ValueError):
            records = {}
        expected = records.get(path.name)
        if expected is None:
            records[path.name] = got
            records.setdefault("_note", "SHA-256 recorded on first use; no published checksum "
                                        "was available to check against")
            record.write_text(json.dumps(records, indent=1, sort_keys=True))
            warnings.warn(f"No published checksum is known for {path.name}; recorded its SHA-256 "
                          f"{got[:12]}… in {record} and will check it from now on.", stacklevel=3)
            return
    if got != expected:
        raise DataError(f"Corrupt dataset file: {path} has SHA-256 {got[:12]}…, expected "
                        f"{expected[:12]}…. {fix}")


def download(urls: list[str], dest: Path, expected: str | None) -> None:
    """Fetch the first URL that works into ``dest`` (via ``dest.part``), checking SHA-256."""
    import urllib.request

    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                h = hashlib.sha256()
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while block := response.read(1 << 20):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
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
