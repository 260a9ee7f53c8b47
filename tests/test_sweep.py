"""The sweep command: typed knobs, the artifact store's file lock, and sweeps on a local Ray cluster.

The Ray tests run a toy experiment defined here (``test_sweep:toy``, importable by the workers
through ``PYTHONPATH``): a 2 x 2 grid x 2 seeds on two workers, its table checked against the
per-point results by hand (numpy / scipy), and a point killed with SIGKILL, reported, then redone alone.
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest

from tinyml_utils.core import locks
from tinyml_utils.tools import sweep, sweep_table
from tinyml_utils.tools.sweep_knobs import Range, SweepError, chapter_knobs, check_grid, function_knobs

TESTS = Path(__file__).parent


def toy(x: float, n: Annotated[int, Range(1, 10)] = 1, kill: str = "", *, seed: int = 0, quick: bool = True,
        out_dir: Path | None = None) -> list[dict]:
    """A point that costs a second: ``x * n`` plus seeded noise. Kills its own worker (SIGKILL) at
    x = 2, seed = 1 while the file ``kill`` exists."""
    time.sleep(1.0)
    if kill and Path(kill).exists() and x == 2.0 and seed == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    (Path(out_dir) / "ran.txt").write_text(f"{os.getpid()}\n")
    noise = float(np.random.default_rng(seed).normal())
    return [{"name": "toy", "value": x * n + noise, "quick_mode": int(quick)}]


# --------------------------------------------------------------------------------------- knobs
def _notebook(tmp_path: Path, source: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]},
                     "source": source.splitlines(True), "outputs": [], "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
                       "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_toy.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_chapter_knobs_are_typed_from_the_parameters_cell(tmp_path):
    nb = _notebook(tmp_path, 'QUICK = True\nSEED = 0\nSPARSITY: float = 0.8  # target\nEPOCHS = 3\n'
                             'MODE: Literal["a", "b"] = "a"\nOUT = None\n')
    knobs, seeded = chapter_knobs(nb)
    assert seeded and list(knobs) == ["SPARSITY", "EPOCHS", "MODE"]
    assert knobs["SPARSITY"].type is float and knobs["SPARSITY"].help == "target"
    assert knobs["EPOCHS"].type is int and knobs["MODE"].choices == ("a", "b")
    grid = check_grid(knobs, {"SPARSITY": ["0.5", "0.9"], "EPOCHS": ["2"], "MODE": ["b"]}, "99_toy")
    assert grid == {"SPARSITY": [0.5, 0.9], "EPOCHS": [2], "MODE": ["b"]}
    with pytest.raises(SweepError, match="EPOCHS takes int values; got '2.5'"):
        check_grid(knobs, {"EPOCHS": ["2.5"]}, "99_toy")
    with pytest.raises(SweepError, match="MODE must be one of 'a', 'b'"):
        check_grid(knobs, {"MODE": ["c"]}, "99_toy")
    with pytest.raises(SweepError, match="(?s)no sweepable parameter 'LR'.*SPARSITY: float"):
        check_grid(knobs, {"LR": ["0.1"]}, "99_toy")
    narrowed = _notebook(tmp_path, 'SEED = 0\nA = 1\nB = 2.0\nSWEEPABLE = ("B",)\n')
    assert list(chapter_knobs(narrowed)[0]) == ["B"]


def test_real_chapters_and_experiments_declare_their_knobs():
    from tinyml_utils.tools.cli import chapters

    for nb in chapters():                                        # every chapter's parameters cell parses
        assert "QUICK" not in chapter_knobs(nb)[0], nb.name
    target = sweep.resolve("03")
    assert target.kind == "chapter" and target.seeded and "QUICK" not in target.knobs
    prune = sweep.resolve("prune")
    assert prune.knobs["schedule"].choices == ("one-shot", "gradual")
    with pytest.raises(SweepError, match=r"sparsity must lie in \[0.05, 0.99\]; got '1.2'"):
        check_grid(prune.knobs, {"sparsity": ["1.2"]}, "prune")
    assert function_knobs(toy)["n"].bounds == Range(1, 10)
    assert sweep.parse_seeds(["0-2", "5,7"]) == [0, 1, 2, 5, 7]
    assert sweep.main(["prune", "-p", "widht", "8"]) == 2          # unknown knob: a message, exit 2
    with pytest.raises(SweepError, match="unknown sweep target"):
        sweep.resolve("pruning-please")


def test_interval_is_student_t():
    from scipy import stats

    vals = np.array([0.91, 0.88, 0.93, 0.90])
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals))
    assert sweep_table.ci95_halfwidth(vals.std(ddof=1), len(vals)) == pytest.approx((hi - lo) / 2, rel=1e-12)
    assert math.isnan(sweep_table.ci95_halfwidth(0.0, 1))


# --------------------------------------------------------------------------------------- locks
def _hold(path, seconds, ready):
    with locks.file_lock(path, timeout=5):
        ready.set()
        time.sleep(seconds)


def test_file_lock_waits_times_out_naming_the_file_and_dies_with_its_holder(tmp_path):
    ctx = mp.get_context("fork")
    lock = tmp_path / "a.lock"
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(lock, 30, ready))
    holder.start()
    try:
        assert ready.wait(20)
        t0 = time.monotonic()
        with pytest.raises(locks.LockTimeout, match=rf"{lock}.*held by pid {holder.pid}"):
            with locks.file_lock(lock, timeout=0.5, what="a.pt"):
                pass
        assert 0.4 < time.monotonic() - t0 < 10
        os.kill(holder.pid, signal.SIGKILL)       # the kernel drops a dead holder's lock
        holder.join(10)
        with locks.file_lock(lock, timeout=5):
            with locks.file_lock(lock, timeout=0):    # re-entrant in one thread
                pass
    finally:
        if holder.is_alive():
            holder.kill()


def _build_once(spec_path, counter, barrier, out):
    from tinyml_utils.course import store

    spec = store.Spec(Path(spec_path), {"kind": "lock-test"})

    def build():
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.5)
        return "built", lambda p: Path(p).write_text("model"), {"by": os.getpid()}

    barrier.wait(20)
    _, info = store.load_or_build(spec, lambda p: Path(p).read_text(), build)
    Path(out).write_text(json.dumps(info))


def test_load_or_build_builds_once_when_workers_race(tmp_path):
    import tinyml_utils.course.store  # noqa: F401  (imported once, before the fork)

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(3)
    counter = tmp_path / "builds.txt"
    procs = [ctx.Process(target=_build_once, args=(tmp_path / "m.txt", counter, barrier, tmp_path / f"{i}.json"))
             for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(counter.read_text().split()) == 1                    # one built, two waited and reused
    infos = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(3)]
    assert len({i["by"] for i in infos}) == 1


# ----------------------------------------------------------------------------------------- Ray
def _ray_processes() -> list[str]:
    """Ray's processes still alive under this test process (zombies not counted)."""
    import psutil

    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "ray" in " ".join(p.cmdline()):
                alive.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        except psutil.Error:
            pass
    return alive


def _assert_ray_gone():
    deadline = time.monotonic() + 20
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_processes(), f"leaked Ray processes: {_ray_processes()}"


@pytest.fixture
def toy_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("TINYML_QUIET", "1")
    yield tmp_path
    _assert_ray_gone()


def test_sweep_2x2_on_two_workers_table_matches_points(toy_env):
    grid = {"x": ["1", "2"], "n": ["1", "3"]}
    res = sweep.run_sweep("test_sweep:toy", grid, [0, 1], quick=True, workers=2, name="toy", progress=False)
    _assert_ray_gone()
    assert not res.failures and len(res.ran) == 8 and not res.reused
    points = [json.loads(p.read_text()) for p in sorted((res.folder / "points").glob("*/point.json"))]
    assert len(points) == 8 and len({p["result"]["pid"] for p in points}) >= 2      # two workers took points
    import pandas as pd
    from scipy import stats

    table = pd.read_csv(res.folder / "table.csv")
    assert len(table) == 4 and set(table["n_seeds"]) == {2}
    for x in (1.0, 2.0):
        for n in (1, 3):
            vals = np.array([p["result"]["records"][0]["value"] for p in points
                             if p["key"]["params"] == {"x": x, "n": n}])
            row = table[(table["x"] == x) & (table["n"] == n) & (table["record"] == "toy")].iloc[0]
            expect = [x * n + float(np.random.default_rng(s).normal()) for s in (0, 1)]
            assert sorted(vals) == pytest.approx(sorted(expect))
            lo, hi = stats.t.interval(0.95, 1, loc=vals.mean(), scale=stats.sem(vals))
            assert row["value_mean"] == pytest.approx(vals.mean())
            assert row["value_std"] == pytest.approx(vals.std(ddof=1))
            assert (row["value_ci95_lo"], row["value_ci95_hi"]) == pytest.approx((lo, hi))
            assert row["quick_mode_mean"] == 1
    assert (res.folder / "figure.png").stat().st_size > 1000 and "value" in (res.folder / "table.md").read_text()
    again = sweep.run_sweep("test_sweep:toy", grid, [0, 1], quick=True, workers=2, name="toy", progress=False)
    assert again.ran == [] and len(again.reused) == 8 and again.table.equals(res.table)   # no Ray needed


def test_killed_point_is_reported_and_redone_alone(toy_env):
    marker = toy_env / "kill-me"
    marker.write_text("")
    grid = {"x": ["1", "2"], "kill": [str(marker)]}
    first = sweep.run_sweep("test_sweep:toy", grid, [0, 1], quick=True, workers=2, name="kill", progress=False)
    _assert_ray_gone()
    killed = sweep.point_id({"x": 2.0, "kill": str(marker)}, 1)
    assert [f[0] for f in first.failures] == [killed] and "died" in first.failures[0][1]
    assert len(first.ran) == 4 and (first.folder / "points" / killed / "error.txt").exists()
    assert not (first.folder / "points" / killed / "point.json").exists()
    assert set(first.table["n_seeds"]) == {1, 2}                          # the killed seed is missing, nothing else
    before = {p.parent.name: p.stat().st_mtime_ns for p in (first.folder / "points").glob("*/point.json")}
    marker.unlink()
    second = sweep.run_sweep("test_sweep:toy", grid, [0, 1], quick=True, workers=2, name="kill", progress=False)
    assert second.ran == [killed] and len(second.reused) == 3 and not second.failures
    after = {p.parent.name: p.stat().st_mtime_ns for p in (second.folder / "points").glob("*/point.json")}
    assert {k: after[k] for k in before} == before and killed in after
    assert set(second.table["n_seeds"]) == {2} and not (second.folder / "points" / killed / "error.txt").exists()


def test_a_chapter_point_runs_through_papermill_into_its_own_folder(tmp_path, monkeypatch):
    """The chapter path of a worker (no Ray): papermill with the point's parameters, results in its folder."""
    from tinyml_utils.core import paths
    from tinyml_utils.tools.sweep_ray import run_point

    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    nb = _notebook(tmp_path, "QUICK = False\nSEED = 0\nSCALE: float = 1.0\n")
    doc = json.loads(nb.read_text())
    doc["cells"].append({"cell_type": "code", "id": "write", "metadata": {}, "outputs": [], "execution_count": None,
                         "source": [
        "from tinyml_utils.core.context import Context\n",
        "from tinyml_utils.report import results\n",
        "ctx = Context(quick=QUICK, seed=SEED)\n",
        "results.write('99_toy', ctx, [results.Record('toy', 't', 'none', accuracy=SCALE / 10 + SEED)], [])\n"]})
    nb.write_text(json.dumps(doc))
    point = {"kind": "chapter", "target": "99_toy", "path": str(nb), "params": {"SCALE": 2.0}, "seed": 1,
             "quick": True, "id": "SCALE=2.0_seed=1", "out_dir": str(tmp_path / "point")}
    res = run_point(point)
    assert res["ok"], res["error"]
    assert res["records"] == [{"name": "toy", "technique": "t", "runtime": "none", "accuracy": pytest.approx(1.2)}]
    assert (tmp_path / "point" / "executed.ipynb").exists() and (tmp_path / "point" / "99_toy.json").exists()
    assert not list(paths.executed_dir(True).glob("*.ipynb"))      # nothing left where the book looks
    point = dict(point, params={"SCALE": "oops"}, out_dir=str(tmp_path / "bad"))
    bad = run_point(point)
    assert not bad["ok"] and "TypeError" in bad["error"] and (tmp_path / "bad" / "failed.ipynb").exists()


HOLDER = """
import os, sys
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
import ray
ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 << 20,
         logging_level="ERROR")
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()          # hold the cluster until the test closes stdin
ray.shutdown()
"""


@pytest.mark.slow      # about 50 s on a loaded 2-core machine: two clusters start
def test_address_runs_the_sweep_on_an_existing_cluster(toy_env):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        address = holder.stdout.readline().strip()
        assert address, "the cluster did not start"
        res = sweep.run_sweep("test_sweep:toy", {"x": ["1", "2"]}, [0], quick=True, address=address,
                              name="remote", progress=False)
        assert not res.failures and len(res.ran) == 2
        assert json.loads((res.folder / "sweep.json").read_text())["address"] == address
    finally:
        holder.stdin.close()
        holder.wait(60)
