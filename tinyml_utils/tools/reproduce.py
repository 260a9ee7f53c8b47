"""``python -m tinyml_utils reproduce [CHAPTERS]``: re-run full mode and compare with ``results/``.

The chapters run in full mode into a separate build folder (default ``build/reproduce/``: its own
artifacts, executed notebooks and ``results/``), so nothing committed is overwritten and no
checkpoint of an earlier run is reused. Then every record and claim of the new results files is
compared with the committed ``results/NN_slug.json`` under :class:`Tolerances`:

- records are matched by ``name``; a record missing on either side is a mismatch;
- ``technique``, ``runtime`` and ``estimated`` must be equal;
- byte and count fields (``size_bytes``, ``params``, ``macs``, ``arena_bytes``, ``npu_cycles``)
  must be equal exactly: the same code on the same pins writes the same files;
- ``accuracy`` and ``sparsity`` within an absolute tolerance (training on a shared CPU is not
  bit-reproducible, e.g. tfmot's Keras QAT);
- latency is shown, not compared, by default: each record's ``latency_ms_p50`` as a ratio to the
  chapter's first record that has one, in both runs. Timing facts are checked where the chapters
  assert them, as claims measured interleaved in one run (which must pass, below); recorded
  latencies of separate runs on a shared machine are not a stable quantity (Keras eager ratios
  were seen to move 3.5x between a loaded and an idle run). ``--latency-band F`` turns the ratio
  into a check (a mismatch when it moves by more than a factor F either way), for a quiet,
  dedicated machine. ``latency_ms_p95`` is never compared (it is the noise);
- claims are matched by text; a committed claim whose text has no twin is paired by position and
  reported as a mismatch showing both texts (a raised or lowered bound, or reworded claim, is a
  different claim); every reproduced claim must have passed, and both runs must have the same
  number of claims. Details carry measured numbers, so they are compared with the numbers masked:
  a detail whose words changed is a mismatch, one whose numbers moved is shown.
- a damaged or malformed results file (not JSON, no records, a record without a name) is one
  mismatch row naming the file and the fix, never a raw ``JSONDecodeError`` or ``KeyError``.

``extra`` fields are not compared. The command prints one table row per record and claim and
exits with 1 when anything mismatches.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core import paths
from ..core.io import ArtifactError, read_json

EXACT_FIELDS = ("size_bytes", "params", "macs", "arena_bytes", "npu_cycles")
EQUAL_FIELDS = ("technique", "runtime", "estimated")


@dataclass(frozen=True)
class Tolerances:
    """How close a reproduction must come. Units: accuracy and sparsity as fractions in [0, 1]."""

    accuracy_abs: float = 0.01       # 1 percentage point
    sparsity_abs: float = 0.005
    latency_band: float | None = None  # None: latency ratios shown, not compared; else the factor they may move


@dataclass
class Row:
    chapter: str
    item: str        # "record <name>" or "claim <n>"
    status: str      # "ok" or "MISMATCH"
    detail: str


@dataclass
class Comparison:
    rows: list[Row]

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.rows)

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if r.status != "ok"]

    def table(self, only_mismatches: bool = False) -> str:
        rows = self.mismatches if only_mismatches else self.rows
        w_ch = max([len("chapter")] + [len(r.chapter) for r in rows])
        w_it = min(44, max([len("item")] + [len(r.item) for r in rows]))
        lines = [f"{'chapter':<{w_ch}}  {'item':<{w_it}}  {'status':<8}  detail", "-" * (w_ch + w_it + 30)]
        for r in rows:
            item = r.item if len(r.item) <= w_it else r.item[: w_it - 1] + "…"
            lines.append(f"{r.chapter:<{w_ch}}  {item:<{w_it}}  {r.status:<8}  {r.detail}")
        n_bad = len(self.mismatches)
        lines.append(f"{len(self.rows)} items compared, {n_bad} mismatch{'es' if n_bad != 1 else ''}")
        return "\n".join(lines)


def _load(doc: dict | str | Path, fix: str = "restore it (git checkout results/) or rerun the chapter"
          ) -> dict[str, Any]:
    """A results document, checked: a dict whose ``records`` are dicts with a ``name`` and whose
    ``claims`` are dicts with a ``text``; else :class:`ArtifactError` naming the file and ``fix``."""
    label = "<results document>" if isinstance(doc, dict) else Path(doc)
    d = doc if isinstance(doc, dict) else read_json(doc, fix)
    if not isinstance(d, dict):
        raise ArtifactError(label, f"is not a results file (a JSON {type(d).__name__}, not an object)", fix)
    for key, field in (("records", "name"), ("claims", "text")):
        items = d.get(key, [])
        if not isinstance(items, list):
            raise ArtifactError(label, f"has a malformed '{key}' entry (not a list)", fix)
        for i, item in enumerate(items):
            if not isinstance(item, dict) or field not in item:
                raise ArtifactError(label, f"{key}[{i}] has no '{field}'", fix)
    return d


_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _wording(text: str) -> str:
    """A claim detail with its numbers masked: what must not change between runs."""
    return _NUMBER.sub("#", text or "")


def _reference_latency(records: list[dict]) -> tuple[str, float] | None:
    for r in records:
        v = r.get("latency_ms_p50")
        if isinstance(v, (int, float)) and v > 0:
            return r["name"], float(v)
    return None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return repr(v)


def _compare_record(ref: dict, new: dict, ref_lat, new_lat, tol: Tolerances) -> list[str]:
    problems, notes = [], []
    for f in EQUAL_FIELDS + EXACT_FIELDS:
        a, b = ref.get(f), new.get(f)
        if a != b:
            problems.append(f"{f} {_fmt(a)} -> {_fmt(b)}")
    for f, t in (("accuracy", tol.accuracy_abs), ("sparsity", tol.sparsity_abs)):
        a, b = ref.get(f), new.get(f)
        if a is None and b is None:
            continue
        if a is None or b is None or not abs(float(a) - float(b)) <= t + 1e-12:
            problems.append(f"{f} {_fmt(a)} -> {_fmt(b)} (tolerance ±{t:g})")
        else:
            notes.append(f"{f} {float(a):.4f}->{float(b):.4f}")
    a, b = ref.get("latency_ms_p50"), new.get("latency_ms_p50")
    if a is not None or b is not None:
        if a is None or b is None or ref_lat is None or new_lat is None:
            problems.append(f"latency_ms_p50 {_fmt(a)} -> {_fmt(b)}")
        else:
            ra, rb = float(a) / ref_lat[1], float(b) / new_lat[1]
            factor = max(ra / rb, rb / ra) if ra > 0 and rb > 0 else math.inf
            text = f"latency {ra:.2f}x -> {rb:.2f}x of {ref_lat[0]}"
            if tol.latency_band is not None and factor > tol.latency_band:
                problems.append(f"{text} (moved {factor:.1f}x, band {tol.latency_band:g}x)")
            else:
                notes.append(text)
    return problems or ["ok: " + ", ".join(notes) if notes else "ok"]


def compare(reference: dict | str | Path, reproduced: dict | str | Path,
            tol: Tolerances = Tolerances()) -> Comparison:
    """Compare one chapter's committed results with a reproduction (documents or file paths)."""
    ref, new = _load(reference), _load(reproduced)
    chapter = ref.get("chapter", "?")
    rows: list[Row] = []
    if new.get("chapter") != chapter:
        rows.append(Row(chapter, "chapter", "MISMATCH", f"reproduced file is chapter {new.get('chapter')!r}"))
    if ref.get("quick") or new.get("quick"):
        rows.append(Row(chapter, "mode", "MISMATCH",
                        f"quick flags {ref.get('quick')} / {new.get('quick')}: compare full-mode runs only"))
    ref_recs = {r["name"]: r for r in ref.get("records", [])}
    new_recs = {r["name"]: r for r in new.get("records", [])}
    ref_lat, new_lat = _reference_latency(ref.get("records", [])), _reference_latency(new.get("records", []))
    for name, r in ref_recs.items():
        if name not in new_recs:
            rows.append(Row(chapter, f"record {name}", "MISMATCH", "missing from the reproduction"))
            continue
        res = _compare_record(r, new_recs[name], ref_lat, new_lat, tol)
        ok = res[0].startswith("ok")
        rows.append(Row(chapter, f"record {name}", "ok" if ok else "MISMATCH", res[0] if ok else "; ".join(res)))
    for name in new_recs.keys() - ref_recs.keys():
        rows.append(Row(chapter, f"record {name}", "MISMATCH", "new in the reproduction, not in results/"))
    rows += _compare_claims(chapter, ref.get("claims", []), new.get("claims", []))
    return Comparison(rows)


def _compare_claims(chapter: str, ref: list[dict], new: list[dict]) -> list[Row]:
    free = set(range(len(new)))
    match: dict[int, int] = {}
    for i, c in enumerate(ref):                 # 1. same text
        j = next((j for j in sorted(free) if new[j].get("text") == c.get("text")), None)
        if j is not None:
            match[i] = j
            free.discard(j)
    for i in range(len(ref)):                   # 2. texts that embed numbers: same position
        if i not in match and i in free:
            match[i] = i
            free.discard(i)
    rows = []
    for i, c in enumerate(ref):
        label = f"claim {i + 1}: {c.get('text', '')}"
        j = match.get(i)
        if j is None:
            rows.append(Row(chapter, label, "MISMATCH", "not checked in the reproduction"))
        elif new[j].get("text") != c.get("text"):
            rows.append(Row(chapter, label, "MISMATCH", f"the claim says something else now: committed "
                                                        f"{c.get('text')!r}, reproduced {new[j].get('text')!r}"))
        elif not (c.get("passed") and new[j].get("passed")):
            rows.append(Row(chapter, label, "MISMATCH", f"passed {c.get('passed')} -> {new[j].get('passed')}"))
        elif _wording(c.get("detail", "")) != _wording(new[j].get("detail", "")):
            rows.append(Row(chapter, label, "MISMATCH", f"the detail's wording differs: committed "
                                                        f"{c.get('detail')!r}, reproduced {new[j].get('detail')!r}"))
        else:
            rows.append(Row(chapter, label, "ok", f"{c.get('detail', '')} -> {new[j].get('detail', '')}"))
    for j in sorted(free):
        rows.append(Row(chapter, f"claim (new): {new[j].get('text', '')}", "MISMATCH",
                        "checked in the reproduction only"))
    return rows


def compare_dirs(reference_dir: Path, reproduced_dir: Path, chapters: list[str],
                 tol: Tolerances = Tolerances()) -> Comparison:
    """Compare ``<reference_dir>/<chapter>.json`` with ``<reproduced_dir>/<chapter>.json`` per chapter."""
    rows: list[Row] = []
    for ch in chapters:
        a, b = Path(reference_dir) / f"{ch}.json", Path(reproduced_dir) / f"{ch}.json"
        missing = [str(p) for p in (a, b) if not p.is_file()]
        if missing:
            rows.append(Row(ch, "results file", "MISMATCH", "missing: " + ", ".join(missing)))
            continue
        try:
            ref = _load(a, f"restore it with `git checkout {a.parent.name}/{a.name}` or rerun the chapter in full mode")
            new = _load(b, "rerun the reproduction of this chapter")
        except ArtifactError as e:
            rows.append(Row(ch, "results file", "MISMATCH", str(e)))
            continue
        rows += compare(ref, new, tol).rows
    return Comparison(rows)


# ------------------------------------------------------------------------------------ command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reproduce`` subcommand's options (wired in by :mod:`tinyml_utils.tools.cli`)."""
    parser.add_argument("chapters", nargs="*", help="chapter numbers or slugs (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="build folder of the reproduction (default: <build>/reproduce)")
    parser.add_argument("--compare-only", action="store_true",
                        help="do not run: compare the results already in <out>/results")
    parser.add_argument("--accuracy-tol", type=float, default=Tolerances.accuracy_abs,
                        help="absolute accuracy tolerance, a fraction (default 0.01 = 1 pt)")
    parser.add_argument("--latency-band", type=float, default=Tolerances.latency_band,
                        help="also compare latency: the factor a record's latency relative to the chapter's "
                             "first may move (default: shown, not compared; timing claims are checked)")
    parser.add_argument("--mismatches-only", action="store_true", help="print only the rows that mismatch")


def main(args: argparse.Namespace, select: Callable[[list[str] | None], list[Path]],
         run: Callable[..., list]) -> int:
    """Run the chapters in full mode into ``args.out`` (unless ``--compare-only``), then compare.

    ``select`` and ``run`` are the chapter picker and the papermill runner (:func:`tinyml_utils.tools.cli.chapters`
    and :func:`tinyml_utils.tools.cli.run`, passed in by the command line, which sits above this module).
    """
    nbs = select(args.chapters or None)
    stems = [p.stem for p in nbs]
    reference_dir = paths.REPO / "results"
    out = (args.out or paths.build_dir() / "reproduce").resolve()
    reproduced_dir = out / "results"
    if not args.compare_only:
        # the kernels papermill starts inherit these: a fresh build folder and a separate results folder
        saved = {k: os.environ.get(k) for k in ("TINYML_BUILD", "TINYML_RESULTS")}
        os.environ["TINYML_BUILD"], os.environ["TINYML_RESULTS"] = str(out), str(reproduced_dir)
        try:
            print(f"Reproducing {len(stems)} chapter(s) in full mode into {out}", flush=True)
            runs = run(stems, quick=False)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        failed = [r.chapter for r in runs if not r.ok]
        if failed:
            print(f"chapters that failed to run: {', '.join(failed)}")
    tol = Tolerances(accuracy_abs=args.accuracy_tol, latency_band=args.latency_band)
    result = compare_dirs(reference_dir, reproduced_dir, stems, tol)
    latency = (f"relative latency within {tol.latency_band:g}x" if tol.latency_band is not None else
               "latency ratios shown, not compared: separate runs on a shared machine move them; the "
               "chapters' timing claims, measured interleaved, are checked instead (--latency-band F to compare)")
    print(f"\nCommitted {reference_dir} vs reproduced {reproduced_dir} "
          f"(accuracy ±{tol.accuracy_abs:g}, bytes and counts exact, {latency}, every claim must pass)")
    print(result.table(only_mismatches=args.mismatches_only))
    return 0 if result.ok else 1
