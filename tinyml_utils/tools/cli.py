"""Command line: ``python -m tinyml_utils run|book|doctor|stability|reproduce``.

- ``run [--quick] [--fail-fast] [CHAPTERS...]`` executes chapters with papermill into
  ``build/executed/<mode>/`` (never over the sources), one progress line per chapter, a table of
  times and every failure at the end; native libraries' log lines go to ``build/logs/<mode>/``.
- ``book [--quick] [--partial]`` builds the Jupyter Book from the executed chapters, offline; it
  refuses failed, interrupted or missing chapters unless ``--partial``.
- ``stability [-n 20]`` repeats every timing claim's measurement under load (a busy process on
  one core) and reports how often each held.
- ``reproduce [CHAPTERS]`` re-runs full mode into ``build/reproduce/`` and compares every record
  and claim with the committed ``results/`` (see :mod:`tinyml_utils.tools.reproduce`).
- ``doctor`` checks the environment: pinned versions, the known ``pip check`` lines and nothing
  else, the MediaPipe metadata stand-in, the offline datasets.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core import paths
from . import reproduce
from .book import BookBuildError, build_book
from .doctor import doctor
from .kernel import KERNEL_NAME, kernelspec_dir


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
        num = s.isdigit()   # "2" and "02" both mean chapter 02
        match = [p for p in nbs if p.stem == s or p.name == s
                 or (num and p.stem.split("_")[0].isdigit() and int(p.stem.split("_")[0]) == int(s))]
        if not match:
            raise SystemExit(f"No chapter matches {s!r}. Chapters: {', '.join(p.stem for p in nbs)}")
        picked += [m for m in match if m not in picked]
    return picked


LOOPBACK_HINT = ("papermill talks to the kernel over TCP on 127.0.0.1: check that the loopback interface "
                 "is up (`ip link set lo up`) and that no firewall blocks local ports")


def _describe_failure(nb_path: Path, out_path: Path | None, exc: BaseException) -> str:
    """One message that says what failed: a cell (with its source) or the machinery around it."""
    name = type(exc).__name__
    if name == "PapermillExecutionError":
        cell, exec_count = getattr(exc, "cell_index", None), getattr(exc, "exec_count", None)
        where = f"cell {cell}" if cell is not None else "a cell"
        if exec_count is not None:
            where += f" (In [{exec_count}])"
        source = (getattr(exc, "source", "") or "").strip().splitlines()
        snippet = ("\n    " + "\n    ".join(source[:6])) if source else ""
        msg = f"{nb_path.name}: {where} raised {exc.ename}: {exc.evalue}{snippet}"
    elif name in ("DeadKernelError",):
        msg = (f"{nb_path.name}: the kernel died ({exc}); usually out of memory or a native crash. "
               "See the chapter's log for the last native messages")
    elif name in ("CellTimeoutError", "TimeoutError") or "didn't respond" in str(exc) or \
            "Kernel didn't respond" in str(exc):
        msg = f"{nb_path.name}: timed out ({name}: {exc}). If no cell ran at all: {LOOPBACK_HINT}"
    elif isinstance(exc, OSError):
        msg = (f"{nb_path.name}: could not read or write a file ({name}: {exc}). Check that "
               f"{paths.build_dir()} is writable and the disk is not full")
    elif isinstance(exc, ValueError) and "notebook" in str(exc).lower() or name in ("NotJSONError", "JSONDecodeError"):
        msg = f"{nb_path.name}: the notebook file is not valid ({name}: {exc}); restore it with git checkout"
    else:
        msg = f"{nb_path.name}: execution failed outside any cell ({name}: {exc})"
    if out_path is not None and out_path.exists():
        if name == "PapermillExecutionError":
            msg += f"\n  executed copy with the full traceback: {out_path}"
        else:   # nothing in the cells failed, so the copy holds no traceback: say where to look instead
            msg += f"\n  (no cell raised, so the executed copy {out_path.name} holds no traceback; see the native log)"
    return msg


def execute(nb_path: Path, quick: bool, parameters: dict | None = None, kernel: str | None = None,
            timeout: int = 1800) -> ChapterRun:
    """Execute one chapter with papermill; raises :class:`ChapterFailed` saying what failed.

    The chapter's results file is removed first (a failed run leaves none, never a stale one); the
    executed copy is written to a temporary file and renamed to ``build/executed/<mode>/`` only
    on success. A failed run leaves ``<name>.failed.ipynb`` beside it, for its traceback."""
    import os

    import papermill as pm

    out_dir = paths.executed_dir(quick)
    out = out_dir / nb_path.name
    failed = out_dir / f"{nb_path.stem}.failed.ipynb"
    partial = out_dir / f".{nb_path.stem}.partial.ipynb"
    if not quick:   # an explicit full-mode command: the one way to write the committed results/
        os.environ.setdefault(paths.PUBLISH_RESULTS, "1")
    (paths.results_dir(quick) / f"{nb_path.stem}.json").unlink(missing_ok=True)
    for stale in (out, failed, partial):
        stale.unlink(missing_ok=True)
    if kernel is None:
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(kernelspec_dir())] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
        kernel = KERNEL_NAME
    params = {"QUICK": bool(quick), **(parameters or {})}
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb_path), str(partial), parameters=params, kernel_name=kernel,
                            cwd=str(nb_path.parent), progress_bar=False, execution_timeout=timeout,
                            log_output=False)
    except BaseException as exc:  # noqa: BLE001 - cell errors, kernel deaths, I/O, Ctrl-C alike
        if partial.exists():
            os.replace(partial, failed)
        if isinstance(exc, KeyboardInterrupt) or getattr(exc, "ename", "") == "KeyboardInterrupt":
            raise KeyboardInterrupt from None   # Ctrl-C reached the kernel first: still an interrupt
        raise ChapterFailed(_describe_failure(nb_path, failed, exc)) from exc
    os.replace(partial, out)
    return ChapterRun(nb_path.stem, time.perf_counter() - t0, True, out)


class _NativeLog:
    """Send this process's (and so the kernel's) file descriptors 1 and 2 to a log file while a
    chapter runs, so native libraries' messages do not interleave with the progress lines."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self._f = open(self.path, "wb")
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._f.fileno(), 1)
        os.dup2(self._f.fileno(), 2)
        return self

    def __exit__(self, *exc):
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._f.close()
        return False


def _native_log(log: Path, wanted: bool):
    """:class:`_NativeLog` when ``log`` can be written, else no capture (one line says why): an
    unwritable ``build/logs`` must not stop the run."""
    import contextlib

    if not wanted:
        return contextlib.nullcontext(), None
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab"):
            pass
    except OSError as e:
        return contextlib.nullcontext(), (f"native log not written ({type(e).__name__}: {e}); "
                                          "its lines go to the terminal")
    return _NativeLog(log), None


def _rerun_command(quick: bool, stems: list[str]) -> str:
    return f"python -m tinyml_utils run {'--quick ' if quick else ''}{' '.join(s.split('_')[0] for s in stems)}"


def run(selection: list[str] | None = None, quick: bool = False, fail_fast: bool = False,
        log_native: bool = True) -> list[ChapterRun]:
    """Execute chapters in order (all of them even if one fails, unless ``fail_fast``), printing a
    line per chapter, then a summary table and every failure. Native log lines go to
    ``build/logs/<mode>/<chapter>.log`` (when that folder cannot be written, to the terminal).
    Ctrl-C stops the run with the same summary: what ran, what was saved and what to rerun."""
    nbs = chapters(selection)
    mode = "quick" if quick else "full"
    logs = paths.build_dir() / "logs" / mode
    print(f"Executing {len(nbs)} chapter(s) in {mode} mode into {paths.executed_dir(quick)}", flush=True)
    runs: list[ChapterRun] = []
    interrupted = None
    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.stem} ...", end=" ", flush=True)
        log = logs / f"{nb.stem}.log"
        capture, note = _native_log(log, log_native)
        if note:
            print(f"({note})", end=" ", flush=True)
        t0 = time.perf_counter()
        try:
            with capture:
                r = execute(nb, quick)
            print(f"ok in {r.seconds:.1f} s", flush=True)
        except ChapterFailed as e:
            r = ChapterRun(nb.stem, time.perf_counter() - t0, False,
                           paths.executed_dir(quick) / f"{nb.stem}.failed.ipynb", str(e))
            print(f"FAILED after {r.seconds:.1f} s" + (f" (native log: {log})" if not note else ""), flush=True)
        except KeyboardInterrupt:
            interrupted = nb.stem
            runs.append(ChapterRun(nb.stem, time.perf_counter() - t0, False, paths.executed_dir(quick),
                                   f"{nb.stem}: interrupted (Ctrl-C); its results and executed copy were not written"))
            print("INTERRUPTED", flush=True)
            break
        runs.append(r)
        if not r.ok and fail_fast:
            break
    skipped = [nb.stem for nb in nbs[len(runs):]]
    print(summary_table(runs), flush=True)
    failed = [r for r in runs if not r.ok and r.chapter != interrupted]
    for r in failed:
        print(f"\nFAILED {r.error}", file=sys.stderr, flush=True)
    if failed:
        print(f"\n{len(failed)} of {len(runs)} chapter(s) failed: {', '.join(r.chapter for r in failed)}",
              file=sys.stderr, flush=True)
    if interrupted:
        done = [r.chapter for r in runs if r.ok]
        print(f"\nInterrupted during {interrupted}. Saved: "
              + (f"{', '.join(done)} (executed copies in {paths.executed_dir(quick)}, results files)" if done
                 else "nothing") + f"; not written: {interrupted}."
              + f"\nTo finish: {_rerun_command(quick, [interrupted, *skipped])}", file=sys.stderr, flush=True)
    elif skipped:
        print(f"\nSkipped after the first failure (--fail-fast): {', '.join(skipped)}"
              f"\nTo run them: {_rerun_command(quick, skipped)}", file=sys.stderr, flush=True)
    return runs


def summary_table(runs: list[ChapterRun]) -> str:
    lines = [f"{'chapter':<24} {'status':<8} {'seconds':>8}", "-" * 42]
    for r in runs:
        secs = f"{r.seconds:8.1f}"
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
    p_run.add_argument("--fail-fast", action="store_true", help="stop at the first failing chapter "
                       "(default: run every chapter and list the failures at the end)")
    p_book = sub.add_parser("book", help="build the Jupyter Book from executed chapters")
    p_book.add_argument("--quick", action="store_true", help="use the quick-mode executed chapters")
    p_book.add_argument("--partial", action="store_true",
                        help="publish the chapters that executed successfully even if others failed or are missing")
    sub.add_parser("doctor", help="check the environment")
    reproduce.add_arguments(sub.add_parser("reproduce", help="re-run full mode and compare with results/"))
    sub.add_parser("stability", help="repeat every timing claim under load and report pass rates", add_help=False)
    sub.add_parser("sweep", help="a chapter or experiment x a parameter grid x seeds, on Ray", add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["stability"]:
        from .stability import main as stability_main  # lazy: it loads every framework

        return stability_main(argv[1:])
    if argv[:1] == ["sweep"]:
        from .sweep import main as sweep_main  # lazy: it imports Ray when it runs

        return sweep_main(argv[1:])
    args = parser.parse_args(argv)

    if args.command == "run":
        try:
            runs = run(args.chapters, quick=args.quick, fail_fast=args.fail_fast)
        except KeyboardInterrupt:   # between chapters, before the loop: no traceback either
            print("\nInterrupted.", file=sys.stderr)
            return 130
        if any("interrupted (Ctrl-C)" in r.error for r in runs):
            return 130
        return 0 if all(r.ok for r in runs) else 1
    if args.command == "book":
        try:
            html = build_book(quick=args.quick, partial=args.partial)
        except BookBuildError as e:
            print(f"book: {e}", file=sys.stderr)
            return 1
        print(f"Book built: {html / 'index.html'}")
        return 0
    if args.command == "doctor":
        return 0 if doctor() else 1
    if args.command == "reproduce":
        return reproduce.main(args, select=chapters, run=run)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
