"""The sweep's engine: one Ray task per point, on an embedded local cluster or an existing one.

:func:`run_point` is what a worker runs: a chapter through papermill (the command line's
``execute``) or an experiment function, into the point's own folder; it returns the point's
records and never raises (a failure comes back as ``ok: False`` with the traceback). A worker that
dies (``kill -9``, out of memory) fails only its point: :func:`execute_points` reports it and goes on.

Ray is kept quiet: no dashboard, no usage statistics, workers' output not forwarded to the driver.
A local cluster started here is shut down when the sweep ends, also on an error or Ctrl-C.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Iterator
from unittest import mock

from ..core import paths


def resolve_function(ref: str):
    """The function named ``"package.module:function"``."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _records(result, default_name: str) -> list[dict]:
    """An experiment's return value as a list of flat records, each with a ``name``."""
    if hasattr(result, "to_dict"):
        result = [result]
    if isinstance(result, dict):
        result = [result]
    out = []
    for rec in result or []:
        rec = rec.to_dict() if hasattr(rec, "to_dict") else dict(rec)
        rec.setdefault("name", default_name)
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()
                    if isinstance(v, (str, int, float, bool)) or hasattr(v, "item")})
    return out


def _run_chapter(point: dict, out_dir: Path) -> list[dict]:
    from ..core.io import read_json
    from .cli import ChapterFailed, execute

    nb = Path(point["path"])
    # A copy with a name of its own, so two points of one chapter never share papermill's files;
    # it does not look like a chapter (NN_slug), so the book never picks it up.
    copy = out_dir / f"sweep-{point['id']}-{nb.stem}.ipynb"
    shutil.copyfile(nb, copy)
    executed = paths.executed_dir(point["quick"])
    params = dict(point["params"], **({"SEED": point["seed"]} if point["seed"] is not None else {}))
    try:
        with mock.patch.dict(os.environ, {"TINYML_RESULTS": str(out_dir)}):   # restored after, whatever happens
            os.environ.pop(paths.PUBLISH_RESULTS, None)
            execute(copy, point["quick"], parameters=params, timeout=point.get("timeout", 1800))
    except ChapterFailed:
        failed = executed / f"{copy.stem}.failed.ipynb"
        if failed.exists():
            shutil.move(failed, out_dir / "failed.ipynb")
        raise
    finally:
        copy.unlink(missing_ok=True)
    shutil.move(executed / copy.name, out_dir / "executed.ipynb")
    doc = read_json(out_dir / f"{nb.stem}.json", fix=f"the chapter {nb.stem} wrote no results file")
    return _records(doc.get("records", []), nb.stem)


def _run_function(point: dict, out_dir: Path) -> list[dict]:
    fn = resolve_function(point["target"])
    accepts = inspect.signature(fn).parameters
    kwargs = dict(point["params"])
    extra = {"seed": point["seed"], "quick": point["quick"], "out_dir": out_dir}
    kwargs.update({k: v for k, v in extra.items() if k in accepts and v is not None})
    return _records(fn(**kwargs), point["target"].rpartition(":")[2])


def run_point(point: dict) -> dict:
    """Run one point (a plain dict: ``kind``, ``target``, ``path``, ``params``, ``seed``, ``quick``,
    ``out_dir``, ``id``); returns ``{"ok", "records", "seconds", "error", "host", "pid"}``."""
    out_dir = Path(point["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        run = _run_chapter if point["kind"] == "chapter" else _run_function
        records = run(point, out_dir)
        if not records:
            raise RuntimeError("the point returned no records")
        ok, error = True, ""
    except Exception:  # noqa: BLE001 - a failed point is reported, the others go on
        records, ok, error = [], False, traceback.format_exc()
    return {"ok": ok, "records": records, "seconds": time.perf_counter() - t0, "error": error,
            "host": socket.gethostname(), "pid": os.getpid()}


# ---------------------------------------------------------------------------------------- Ray
def _quiet_ray_env() -> None:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def worker_env() -> dict[str, str]:
    """Environment every worker gets: this checkout first on ``PYTHONPATH`` (plus the driver's), quiet
    progress bars, and the driver's ``TINYML_*`` folder overrides (not ``TINYML_RESULTS``: set per point)."""
    path = [str(paths.REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), "TINYML_QUIET": "1"}
    for k in ("TINYML_BUILD", "TINYML_DATA_CACHE", "TINYML_LOCK_TIMEOUT"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


@contextlib.contextmanager
def cluster(address: str | None = None, workers: int | None = None) -> Iterator[dict]:
    """Connect to Ray for the ``with`` block: an embedded local cluster of ``workers`` CPUs (default:
    this machine's cores), or the cluster at ``address`` (``"auto"``, ``"host:6379"``,
    ``"ray://host:10001"``). Yields ``{"cpus", "address", "local"}``; always shuts down after."""
    import logging

    _quiet_ray_env()
    import ray

    if ray.is_initialized():
        raise RuntimeError("Ray is already initialized in this process; a sweep starts its own connection")
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  runtime_env={"env_vars": worker_env()})
    if address and address.startswith("ray://"):      # Ray Client takes no logging or dashboard options
        ray.init(address=address, runtime_env=common["runtime_env"])
    elif address:
        common.pop("include_dashboard")
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, object_store_memory=256 << 20,
                 **common)
    try:
        yield {"cpus": ray.cluster_resources().get("CPU", 0), "address": address or "local", "local": not address}
    finally:
        ray.shutdown()


def execute_points(points: list[dict], cpus_per_point: float = 1.0, retries: int = 0,
                   progress: bool = True) -> Iterator[tuple[dict, dict]]:
    """Submit every point as a Ray task needing ``cpus_per_point`` CPUs; yield ``(point, result)``
    as each finishes (a tqdm bar over points). A task whose worker died yields ``ok: False``."""
    import ray
    from tqdm.auto import tqdm

    task = ray.remote(run_point).options(num_cpus=cpus_per_point, max_retries=retries,
                                         name="tinyml-sweep-point")
    pending = {task.remote(p): p for p in points}
    quiet = os.environ.get("TINYML_QUIET") == "1" or not progress
    with tqdm(total=len(points), desc="sweep", unit="point", disable=quiet, file=sys.stderr) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            point = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - WorkerCrashedError, RayTaskError, node loss
                result = {"ok": False, "records": [], "seconds": None, "host": "", "pid": None,
                          "error": f"{type(exc).__name__}: the worker running this point died or was lost "
                                   f"(killed, out of memory, node gone): {str(exc).splitlines()[0][:300]}"}
            bar.update(1)
            bar.set_postfix_str(("ok " if result["ok"] else "FAILED ") + point["id"][:40])
            yield point, result
