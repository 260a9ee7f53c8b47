"""``python -m tinyml_utils sweep``: a chapter or an experiment function × a grid of parameters × seeds, on Ray.

    python -m tinyml_utils sweep prune -p sparsity 0.8 0.9 0.95 -p schedule one-shot gradual --seeds 0-2 --quick
    python -m tinyml_utils sweep 03 --seeds 0-4 --quick            # a chapter, once per seed (papermill)
    python -m tinyml_utils sweep prune --list                      # what the target lets a sweep vary

Every point (one setting of every parameter and one seed) runs as a Ray task that declares the CPUs
it needs (``--cpus-per-point``), into its own folder ``build/sweeps/<name>/points/<point>/``. The
driver writes ``point.json`` (parameters, seed, records, seconds) when a point succeeds, so a sweep
is resumable: a point whose ``point.json`` matches (same target, parameters, seed, mode and the bytes
of the notebook or the experiment's module) is read, not run again (``--rerun`` forces). A failed
point (an exception, a killed worker) leaves ``error.txt`` and is listed at the end; the others go on.

Then one table (``table.csv``): per configuration the number of seeds and, for each metric, its mean,
standard deviation and 95 % Student-t interval; ``table.md`` and ``figure.png`` show the chosen metric.

Ray: by default an embedded local cluster of ``--workers`` CPUs (default: this machine's cores),
started and shut down by the sweep; ``--address`` runs the same sweep on an existing cluster (its
nodes need this environment and checkout; ``--out`` on a file system every node sees).
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import itertools
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import io, paths
from .cli import chapters
from .sweep_knobs import Knob, SweepError, chapter_knobs, check_grid, function_knobs
from .sweep_ray import cluster, execute_points, resolve_function

#: experiment functions a sweep can name in short
EXPERIMENTS = {"prune": "tinyml_utils.tools.sweep_experiments:prune"}


@dataclass
class Target:
    """What a sweep runs: a chapter (papermill) or an experiment function, and its declared knobs."""

    kind: str                 # "chapter" or "function"
    name: str                 # "03_pruning" or "package.module:function"
    path: Path                # the notebook or the function's module file (its bytes key the points)
    knobs: dict[str, Knob]
    seeded: bool = True

    @property
    def slug(self) -> str:
        return self.name if self.kind == "chapter" else self.name.rpartition(":")[2]

    def code_hash(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def resolve(text: str) -> Target:
    """A target from the command line: a chapter (``03``, ``03_pruning``), a name in
    :data:`EXPERIMENTS`, or ``package.module:function``."""
    ref = EXPERIMENTS.get(text, text)
    if ":" in ref:
        try:
            fn = resolve_function(ref)
        except (ImportError, AttributeError) as e:
            raise SweepError(f"cannot import the experiment {ref!r}: {e}") from None
        return Target("function", ref, Path(sys.modules[fn.__module__].__file__), function_knobs(fn),
                      "seed" in inspect.signature(fn).parameters)
    if re.fullmatch(r"\d\d(_\w+)?(\.ipynb)?", text):
        try:
            nb = chapters([text])[0]
        except SystemExit as e:
            raise SweepError(str(e)) from None
        knobs, seeded = chapter_knobs(nb)
        return Target("chapter", nb.stem, nb, knobs, seeded)
    raise SweepError(f"unknown sweep target {text!r}: give a chapter number (e.g. 03), one of "
                     f"{', '.join(EXPERIMENTS)}, or package.module:function")


def parse_seeds(specs: list[str] | None) -> list[int]:
    """``["0-4"]`` → 0..4, ``["0", "2"]`` or ``["0,2"]`` → [0, 2]."""
    seeds: list[int] = []
    for spec in specs or []:
        for part in str(spec).split(","):
            if not part.strip():
                continue
            m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", part)
            try:
                seeds += list(range(int(m[1]), int(m[2]) + 1)) if m else [int(part)]
            except ValueError:
                raise SweepError(f"--seeds takes integers and ranges like 0-4; got {part!r}") from None
    return list(dict.fromkeys(seeds))


def point_id(params: dict, seed: int | None) -> str:
    """A readable folder name: ``schedule=gradual_sparsity=0.9_seed=2`` (hashed when too long)."""
    parts = [f"{k}={v}" for k, v in params.items()] + ([f"seed={seed}"] if seed is not None else [])
    text = re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts)) or "default"
    if len(text) > 100:
        text = text[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return text


@dataclass
class SweepResult:
    """What a sweep left: its folder, the per-record frame, the table, which points ran or were
    reused, the failures ``(point id, error)``, and the wall time of the run in seconds."""

    folder: Path
    frame: object
    table: object
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    figure: Path | None = None


def _key(target: Target, point: dict) -> dict:
    return {"target": target.name, "params": point["params"], "seed": point["seed"], "quick": point["quick"],
            "code": target.code_hash()}


def _done(target: Target, point: dict) -> dict | None:
    """The stored result of ``point`` if it finished before with the same key, else ``None``."""
    f = Path(point["out_dir"]) / "point.json"
    if not f.exists():
        return None
    try:
        doc = io.read_json(f, fix="the point is run again")
    except io.ArtifactError:
        return None
    return doc["result"] if doc.get("key") == json.loads(json.dumps(_key(target, point))) else None


def build_points(target: Target, grid: dict[str, list], seeds: list[int], quick: bool, folder: Path) -> list[dict]:
    """Every point of the grid × seeds, in grid order, as plain dicts a worker can take."""
    grid = check_grid(target.knobs, grid, target.name)
    clash = [n for n in grid if n in ("record", "n_seeds")]
    if clash:
        raise SweepError(f"{target.name}: a parameter may not be called {clash[0]!r} (a column of the table)")
    if seeds and not target.seeded:
        raise SweepError(f"{target.name} has no SEED parameter, so --seeds cannot vary it")
    names = list(grid)
    points = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values))
        for seed in (seeds or [None]):
            pid = point_id(params, seed)
            points.append({"kind": target.kind, "target": target.name, "path": str(target.path), "params": params,
                           "seed": seed, "quick": bool(quick), "id": pid, "out_dir": str(folder / "points" / pid)})
    return points


def run_sweep(target: Target | str, grid: dict[str, list] | None = None, seeds: list[int] | None = None, *,
              quick: bool = True, workers: int | None = None, cpus_per_point: float = 1.0,
              address: str | None = None, name: str | None = None, out: Path | None = None, rerun: bool = False,
              metrics: list[str] | None = None, retries: int = 0, progress: bool = True) -> SweepResult:
    """Run (or resume) a sweep and write its table and figure; see the module docstring."""
    target = resolve(target) if isinstance(target, str) else target
    seeds = list(seeds) if seeds is not None else ([0] if target.seeded else [])
    name = name or f"{target.slug}-{'quick' if quick else 'full'}"
    folder = Path(out) if out else paths.build_dir() / "sweeps" / name
    points = build_points(target, dict(grid or {}), seeds, quick, folder)
    results, todo = {}, []
    for p in points:
        stored = None if rerun else _done(target, p)
        if stored is not None:
            results[p["id"]] = stored
        else:
            todo.append(p)
    reused = [p["id"] for p in points if p["id"] in results]
    failures: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    if todo:
        for p in todo:
            for stale in ("point.json", "error.txt"):
                (Path(p["out_dir"]) / stale).unlink(missing_ok=True)
        with cluster(address, workers) as info:
            workers = int(info["cpus"])
            if info["cpus"] < cpus_per_point:
                raise SweepError(f"the cluster has {info['cpus']} CPUs; a point needs {cpus_per_point}")
            for p, res in execute_points(todo, cpus_per_point, retries, progress):
                folder_p = Path(p["out_dir"])
                folder_p.mkdir(parents=True, exist_ok=True)
                if res["ok"]:
                    io.write_json(folder_p / "point.json", {"key": _key(target, p), "result": res})
                    results[p["id"]] = res
                else:
                    io.atomic_write_text(folder_p / "error.txt", res["error"])
                    failures.append((p["id"], res["error"]))
    seconds = time.perf_counter() - t0
    return _summarize(target, points, results, folder, failures, reused, seconds, metrics, workers, address,
                      [p["id"] for p in todo])


def _summarize(target, points, results, folder, failures, reused, seconds, metrics, workers, address, ran):
    from . import sweep_table

    params = list(points[0]["params"]) if points else []
    done = [(p, results[p["id"]]) for p in points if p["id"] in results]
    frame = sweep_table.long_frame(done)
    res = SweepResult(folder, frame, None, ran, reused, failures, seconds)
    meta = {"target": target.name, "points": len(points), "ran": ran, "reused": reused,
            "failed": [f[0] for f in failures], "seconds": seconds, "cluster_cpus": workers, "address": address}
    if len(frame):
        all_metrics = sweep_table.numeric_metrics(frame, params)
        unknown = [m for m in metrics or [] if m not in all_metrics]
        if unknown:
            raise SweepError(f"no numeric result named {unknown}; the records have {all_metrics}")
        shown = metrics or (["accuracy"] if "accuracy" in all_metrics else all_metrics[:1])
        res.table = sweep_table.aggregate(frame, params, all_metrics)
        frame.to_csv(folder / "points.csv", index=False)
        res.table.to_csv(folder / "table.csv", index=False)
        view = sweep_table.display(res.table, params, shown)
        io.atomic_write_text(folder / "table.md", view.to_markdown(index=False) + "\n")
        if shown:
            res.figure = sweep_table.figure(res.table, params, shown[0], folder / "figure.png", title=target.slug)
        meta["metrics"] = shown
    io.write_json(folder / "sweep.json", meta)
    return res


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a chapter (03), an experiment (" + ", ".join(EXPERIMENTS) + ") or module:function")
    p.add_argument("-p", "--param", nargs="+", action="append", metavar=("NAME", "VALUE"), default=[],
                   help="a parameter and its values, e.g. -p sparsity 0.8 0.9 (repeat for a grid)")
    p.add_argument("--seeds", nargs="+", help="seeds: 0-4, or 0 1 2 (default: 0)")
    p.add_argument("--quick", action="store_true", help="quick mode (small data, few epochs)")
    p.add_argument("--workers", type=int, help="CPUs of the local Ray cluster (default: this machine's cores)")
    p.add_argument("--cpus-per-point", type=float, default=1.0, help="CPUs each point declares (default 1)")
    p.add_argument("--address", help="an existing Ray cluster (auto, host:6379, ray://host:10001)")
    p.add_argument("--name", help="the sweep's folder name under build/sweeps/ (default: target and mode)")
    p.add_argument("--out", type=Path, help="the sweep's folder (default build/sweeps/<name>)")
    p.add_argument("--metric", action="append", help="results to show in table.md and the figure (default accuracy)")
    p.add_argument("--rerun", action="store_true", help="run every point again, even those already done")
    p.add_argument("--retries", type=int, default=0, help="Ray retries of a point whose worker died (default 0)")
    p.add_argument("--list", action="store_true", help="list what the target lets a sweep vary, then stop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyml_utils sweep", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        target = resolve(args.target)
        if args.list:
            print(f"{target.name} ({target.kind}) may vary:")
            for k in target.knobs.values():
                print(f"  -p {k.describe()}")
            print("  --seeds" if target.seeded else "  (no seed)")
            return 0
        grid = {}
        for name, *values in args.param:
            if name in grid:
                raise SweepError(f"-p {name} given twice: list its values once")
            grid[name] = values
        res = run_sweep(target, grid, parse_seeds(args.seeds) if args.seeds else None, quick=args.quick,
                        workers=args.workers, cpus_per_point=args.cpus_per_point, address=args.address,
                        name=args.name, out=args.out, rerun=args.rerun, metrics=args.metric, retries=args.retries)
    except SweepError as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 2
    print(f"{len(res.ran)} point(s) run, {len(res.reused)} reused, {len(res.failures)} failed "
          f"in {res.seconds:.1f} s; folder {res.folder}")
    if res.table is not None:
        print((res.folder / "table.md").read_text())
        print(f"table: {res.folder / 'table.csv'}   figure: {res.figure}")
    for pid, err in res.failures:
        last = err.strip().splitlines()[-1] if err.strip() else "no message"
        print(f"FAILED {pid}: {last}\n  details: {res.folder / 'points' / pid / 'error.txt'}", file=sys.stderr)
    if res.failures:
        print(f"{len(res.failures)} point(s) failed; run the same command again to redo only those", file=sys.stderr)
    return 1 if res.failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
