"""Two ways to run the same Flower apps: Ray simulation in this process, or separate processes on 127.0.0.1."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from ...core import paths
from ...core.io import atomic_write_text
from .app import make_client_app, make_server_app
from .task import FLConfig


def block_tensorflow() -> None:
    """Ray worker setup hook: Flower's actor module imports TensorFlow when installed (~1 GB a worker)."""
    sys.modules.setdefault("tensorflow", None)


def simulate(cfg: FLConfig, max_workers: int = 2, verbose: bool = False) -> dict:
    """Run the apps in Ray with ``cfg.num_clients`` SuperNodes, ``max_workers`` ClientApps at a time;
    returns the ServerApp's JSON."""
    import logging

    from flwr.simulation import run_simulation

    out = Path(cfg.out or paths.build_dir() / "fl" / f"sim-{time.time_ns()}.json")
    cfg = dataclasses.replace(cfg, out=str(out))
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")              # read when ray is imported
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    import ray

    t0 = time.perf_counter()
    if not ray.is_initialized():  # our own init (Flower then skips its own), so the workers can skip TensorFlow
        pythonpath = os.pathsep.join([*sys.path, os.environ.get("PYTHONPATH", "")])
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "TINYML_QUIET": "1"},
                              "worker_process_setup_hook": f"{__name__}.block_tensorflow"},
                 num_cpus=max_workers, num_gpus=0, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=verbose)
    run_simulation(make_server_app(cfg), make_client_app(cfg), num_supernodes=cfg.num_clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}, verbose_logging=verbose)
    res = json.loads(out.read_text())
    res["wall_seconds"] = time.perf_counter() - t0
    return res


APP_MODULE = '''"""Flower app entry points: the apps live in tinyml_utils.course.federated."""
from tinyml_utils.course.federated.app import make_client_app, make_server_app

serverapp = make_server_app()
clientapp = make_client_app()
'''


def write_app(folder: Path, cfg: FLConfig) -> Path:
    """A minimal Flower app folder: ``pyproject.toml`` (run-config defaults from ``cfg``; no dependencies, so
    nothing is installed and no build backend is needed) and its module."""
    import tomli_w

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "tinyml_fl_app.py", APP_MODULE)
    project = {"name": "tinyml-fl-app", "version": "1.0.0", "license": "Apache-2.0", "dependencies": [],
               "description": "FedAvg on the motion set (tinyml_utils.course.federated)"}
    app = {"publisher": "tinyml-course", "config": cfg.run_config(),
           "components": {"serverapp": "tinyml_fl_app:serverapp", "clientapp": "tinyml_fl_app:clientapp"}}
    atomic_write_text(folder / "pyproject.toml", tomli_w.dumps({"project": project, "tool": {"flwr": {"app": app}}}))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"the SuperLink exited with code {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _children(procs: list, seen: dict) -> None:
    """Remember the processes Flower spawned under ours (``psutil.Popen``), to stop them after their parent died."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.Error):
            for c in p.children(recursive=True):
                seen.setdefault(c.pid, c)


def _watch(run, watched: list[tuple[str, object, Path]], seen: dict,
           timeout_s: float, workdir: Path) -> None:
    """Wait for ``flwr run``; a SuperLink or SuperNode that exits raises at once, naming its log (Flower
    would wait for it until the timeout)."""
    deadline = time.monotonic() + timeout_s
    while run.poll() is None:
        for name, p, log in watched:
            if p.poll() is not None:
                raise RuntimeError(
                    f"the localhost federation stopped: {name} (pid {p.pid}) exited with code {p.returncode} "
                    f"while the run was in progress, and Flower would wait for it until the timeout. Its log: "
                    f"{log}\n{_tail(log)}\nAll logs are in {workdir}; rerun once the cause is fixed.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the localhost federation did not finish in {timeout_s:.0f} s (every process still "
                               f"alive); logs in {workdir}, the ServerApp's in {workdir / 'flwr-run.log'}:\n"
                               f"{_tail(workdir / 'flwr-run.log')}")
        _children([run] + [p for _, p, _ in watched], seen)
        time.sleep(0.5)


def deploy_localhost(cfg: FLConfig, workdir: Path | None = None, timeout_s: float = 600) -> dict:
    """Run the apps as a SuperLink and ``cfg.num_clients`` SuperNodes on 127.0.0.1 and ``flwr run``, then stop
    every process. Returns the ServerApp's JSON plus ``wall_seconds`` and the log paths.

    Trap: ``--insecure`` (no TLS) is fine on one machine only."""
    import psutil

    workdir = Path(workdir or paths.build_dir() / "fl" / "deploy")
    shutil.rmtree(workdir, ignore_errors=True)
    home = workdir / "flwr_home"
    home.mkdir(parents=True)
    out = workdir / "result.json"
    cfg = dataclasses.replace(cfg, out=str(out))
    app = write_app(workdir / "app", cfg)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "FLWR_HOME": str(home), "PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")]),
           "TINYML_QUIET": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(paths.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    link = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "localhost"\n\n[superlink.localhost]\naddress = "127.0.0.1:{link}"\ninsecure = true\n')
    started: list[tuple[str, psutil.Popen, Path]] = []   # (name, process, its log)
    seen: dict = {}

    def start(name: str, args: list[str]) -> psutil.Popen:
        path = workdir / f"{name}.log"
        with open(path, "w") as log:
            proc = psutil.Popen(args, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((name, proc, path))
        return proc

    t0 = time.perf_counter()
    try:
        # Flower 1.42: the SuperLink serves its Fleet, Control and ServerAppIo APIs over one HTTP port
        link_proc = start("superlink", [str(bindir / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
                                        "--port", str(link), "--database", str(workdir / "state.db"),
                                        "--disable-runtime-dependency-installation"])
        _wait_for_port(link, link_proc)
        for i in range(cfg.num_clients):
            start(f"supernode-{i}", [str(bindir / "flower-supernode"), "--insecure",
                                     "--superlink", f"127.0.0.1:{link}", "--host", "127.0.0.1",
                                     "--port", str(_free_port()),
                                     "--node-config", f"partition-id={i} num-partitions={cfg.num_clients}"])
        run = start("flwr-run", [str(bindir / "flwr"), "run", str(app), "localhost", "--stream"])
        _watch(run, started[:-1], seen, timeout_s, workdir)
        if not out.exists():
            raise RuntimeError(f"the localhost federation wrote no result ({out}); logs in {workdir}.\n"
                               f"{_tail(workdir / 'flwr-run.log', 30)}")
        res = json.loads(out.read_text())
    finally:
        procs = [p for _, p, _ in started]
        _children(procs, seen)   # Flower spawns SuperExec/ServerApp/ClientApp children: stop those too, by pid
        everything = [*procs, *seen.values()]
        for p in everything:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(everything, timeout=20)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=20)
    res["wall_seconds"] = time.perf_counter() - t0
    res["logs"] = [str(log) for _, _, log in started]
    return res
