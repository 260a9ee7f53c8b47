"""Command line: ``python -m tinyml_utils run|book|doctor``.

- ``run [--quick] [CHAPTERS...]`` executes chapters with papermill into ``build/executed/<mode>/``
  (never over the sources), one progress line per chapter and a table of times at the end.
- ``book [--quick]`` builds the Jupyter Book from the executed chapters, offline.
- ``doctor`` checks the environment: pinned versions, the known ``pip check`` lines and nothing
  else, the MediaPipe metadata stand-in, the offline datasets.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths


@dataclass
class ChapterRun:
    chapter: str
    seconds: float
    ok: bool
    output: Path
    error: str = ""


class ChapterFailed(RuntimeError):
    """A chapter raised: the message names the notebook, the cell and the error."""


def chapters(selection: list[str] | None = None) -> list[Path]:
    """Chapter notebooks in order; ``selection`` matches by number ("02") or slug ("02_baseline")."""
    nbs = sorted(p for p in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return nbs
    picked = []
    for s in selection:
        match = [p for p in nbs if p.stem == s or p.stem.split("_")[0] == s or p.name == s]
        if not match:
            raise SystemExit(f"No chapter matches {s!r}. Chapters: {', '.join(p.stem for p in nbs)}")
        picked += [m for m in match if m not in picked]
    return picked


def _describe_failure(nb_path: Path, out_path: Path, exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    exec_count = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    where = f"cell {cell}" if cell is not None else "a cell"
    if exec_count is not None:
        where += f" (In [{exec_count}])"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    snippet = ("\n    " + "\n    ".join(source[:6])) if source else ""
    return (f"{nb_path.name}: {where} raised {ename}: {evalue}{snippet}\n"
            f"  executed copy with the full traceback: {out_path}")


def execute(nb_path: Path, quick: bool, parameters: dict | None = None, kernel: str = "python3",
            timeout: int = 1800) -> ChapterRun:
    """Execute one chapter with papermill; raises :class:`ChapterFailed` with notebook, cell and error."""
    import papermill as pm

    out = paths.executed_dir(quick) / nb_path.name
    params = {"QUICK": bool(quick), **(parameters or {})}
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb_path), str(out), parameters=params, kernel_name=kernel,
                            cwd=str(nb_path.parent), progress_bar=False, execution_timeout=timeout,
                            log_output=False)
    except Exception as exc:  # papermill.PapermillExecutionError carries cell and error
        raise ChapterFailed(_describe_failure(nb_path, out, exc)) from exc
    return ChapterRun(nb_path.stem, time.perf_counter() - t0, True, out)


def run(selection: list[str] | None = None, quick: bool = False, keep_going: bool = False) -> list[ChapterRun]:
    """Execute chapters in order, printing a line per chapter and a summary table."""
    nbs = chapters(selection)
    mode = "quick" if quick else "full"
    print(f"Executing {len(nbs)} chapter(s) in {mode} mode into {paths.executed_dir(quick)}", flush=True)
    runs: list[ChapterRun] = []
    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.stem} ...", end=" ", flush=True)
        try:
            r = execute(nb, quick)
            print(f"ok in {r.seconds:.1f} s", flush=True)
        except ChapterFailed as e:
            r = ChapterRun(nb.stem, float("nan"), False, paths.executed_dir(quick) / nb.name, str(e))
            print("FAILED", flush=True)
            print(str(e), file=sys.stderr, flush=True)
        runs.append(r)
        if not r.ok and not keep_going:
            break
    print(summary_table(runs), flush=True)
    return runs


def summary_table(runs: list[ChapterRun]) -> str:
    lines = [f"{'chapter':<24} {'status':<8} {'seconds':>8}", "-" * 42]
    for r in runs:
        secs = f"{r.seconds:8.1f}" if r.ok else "       -"
        lines.append(f"{r.chapter:<24} {'ok' if r.ok else 'FAILED':<8} {secs}")
    total = sum(r.seconds for r in runs if r.ok)
    lines.append(f"{'total':<24} {'':<8} {total:8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyml_utils", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute chapters with papermill")
    p_run.add_argument("chapters", nargs="*", help="chapter numbers or slugs (default: all)")
    p_run.add_argument("--quick", action="store_true", help="quick mode (small data, few epochs)")
    p_run.add_argument("--keep-going", action="store_true", help="run later chapters after a failure")
    p_book = sub.add_parser("book", help="build the Jupyter Book from executed chapters")
    p_book.add_argument("--quick", action="store_true", help="use the quick-mode executed chapters")
    sub.add_parser("doctor", help="check the environment")
    from .reproduce import add_arguments as _reproduce_arguments
    _reproduce_arguments(sub.add_parser("reproduce", help="re-run full mode and compare with results/"))
    args = parser.parse_args(argv)

    if args.command == "run":
        runs = run(args.chapters, quick=args.quick, keep_going=args.keep_going)
        return 0 if all(r.ok for r in runs) else 1
    if args.command == "book":
        from .book import build_book

        html = build_book(quick=args.quick)
        print(f"Book built: {html / 'index.html'}")
        return 0
    if args.command == "doctor":
        from .doctor import doctor

        return 0 if doctor() else 1
    if args.command == "reproduce":
        from .reproduce import main as reproduce_main

        return reproduce_main(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
