"""Two ways to run the same Flower apps: Flower's Ray simulation engine in this process
(:func:`simulate`), and a SuperLink plus one SuperNode per client as separate processes on
127.0.0.1 (:func:`deploy_localhost`), which is how Flower runs on real devices."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ...core import paths
from ...core.io import atomic_write_text
from .app import make_client_app, make_server_app
from .task import FLConfig


def block_tensorflow() -> None:
    """Ray worker setup hook: make ``import tensorflow`` fail fast in this process. Flower's Ray
    actor module imports TensorFlow when it is installed (about 1 GB per worker); the ClientApp
    here needs only torch."""
    sys.modules.setdefault("tensorflow", None)


def simulate(cfg: FLConfig, max_workers: int = 2, verbose: bool = False) -> dict:
    """Run the apps in Flower's Ray simulation engine with ``cfg.num_clients`` virtual SuperNodes,
    at most ``max_workers`` ClientApps at once (one CPU each). Returns the ServerApp's JSON."""
    import logging

    from flwr.simulation import run_simulation

    out = Path(cfg.out or paths.build_dir() / "fl" / f"sim-{time.time_ns()}.json")
    cfg = FLConfig(**{**asdict(cfg), "out": str(out)})
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
               "init_args": {"num_cpus": max_workers, "num_gpus": 0, "include_dashboard": False,
                             "logging_level": logging.ERROR, "log_to_driver": verbose}}
    import ray

    t0 = time.perf_counter()
    if not ray.is_initialized():  # our own init, so the workers can skip TensorFlow
        pythonpath = os.pathsep.join([*sys.path, os.environ.get("PYTHONPATH", "")])
        ray.init(runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "TINYML_QUIET": "1"},
                              "worker_process_setup_hook": f"{__name__}.block_tensorflow"},
                 **backend["init_args"])
    run_simulation(make_server_app(cfg), make_client_app(cfg), num_supernodes=cfg.num_clients,
                   backend_config=backend, verbose_logging=verbose)
    res = json.loads(out.read_text())
    res["wall_seconds"] = time.perf_counter() - t0
    return res


APP_MODULE = '''"""Flower app entry points: the apps live in tinyml_utils.course.federated."""
from tinyml_utils.course.federated.app import make_client_app, make_server_app

serverapp = make_server_app()
clientapp = make_client_app()
'''


def write_app(folder: Path, cfg: FLConfig) -> Path:
    """A minimal Flower app folder: ``pyproject.toml`` (``[tool.flwr.app]``, run-config defaults
    from ``cfg``) and ``tinyml_fl_app.py`` pointing at this module's apps."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "tinyml_fl_app.py", APP_MODULE)
    config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in cfg.run_config().items())
    atomic_write_text(folder / "pyproject.toml", f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tinyml-fl-app"
version = "1.0.0"
description = "FedAvg on the motion set (tinyml_utils.course.federated)"
license = "Apache-2.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "tinyml-course"

[tool.flwr.app.components]
serverapp = "tinyml_fl_app:serverapp"
clientapp = "tinyml_fl_app:clientapp"

[tool.flwr.app.config]
{config}
""")
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


def _children(procs: list[subprocess.Popen], seen: dict) -> None:
    """Remember the processes Flower spawned under ours (SuperExec, ServerApp, ClientApps) by pid, so
    they can be stopped even after their parent died."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        return
    for p in procs:
        try:
            for c in psutil.Process(p.pid).children(recursive=True):
                seen.setdefault(c.pid, c)
        except psutil.Error:
            pass


def _watch(run: subprocess.Popen, watched: list[tuple[str, subprocess.Popen, Path]], procs: list,
           seen: dict, timeout_s: float, workdir: Path) -> None:
    """Wait for ``flwr run`` while checking every SuperLink/SuperNode twice a second: one that exits
    ends the wait at once with an error naming it and its log (Flower itself would wait for the node to
    reconnect until the timeout)."""
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
        _children(procs, seen)
        time.sleep(0.5)


def deploy_localhost(cfg: FLConfig, workdir: Path | None = None, timeout_s: float = 600) -> dict:
    """Start a SuperLink and ``cfg.num_clients`` SuperNodes on 127.0.0.1 (``--insecure``: no TLS,
    fine on one machine only), submit the app with ``flwr run``, wait for it, stop every process
    it started. Returns the ServerApp's JSON plus ``wall_seconds`` and the processes' log paths.

    Fails fast: a SuperLink or SuperNode that exits during the run raises ``RuntimeError`` within a
    second, naming the process and its log; ``timeout_s`` raises ``TimeoutError`` naming the logs."""
    workdir = Path(workdir or paths.build_dir() / "fl" / "deploy")
    shutil.rmtree(workdir, ignore_errors=True)
    home = workdir / "flwr_home"
    home.mkdir(parents=True)
    out = workdir / "result.json"
    cfg = FLConfig(**{**asdict(cfg), "out": str(out)})
    app = write_app(workdir / "app", cfg)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "FLWR_HOME": str(home), "PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")]),
           "TINYML_QUIET": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(paths.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    link = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "localhost"\n\n[superlink.localhost]\naddress = "127.0.0.1:{link}"\ninsecure = true\n')
    procs, logs, watched, seen = [], [], [], {}

    def start(name: str, args: list[str]) -> subprocess.Popen:
        path = workdir / f"{name}.log"
        with open(path, "w") as log:
            procs.append(subprocess.Popen(args, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT))
        logs.append(path)
        watched.append((name, procs[-1], path))
        return procs[-1]

    t0 = time.perf_counter()
    try:
        # Flower 1.42: the SuperLink serves its Fleet, Control and ServerAppIo APIs over one HTTP port
        start("superlink", [str(bindir / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
                            "--port", str(link), "--database", str(workdir / "state.db"),
                            "--disable-runtime-dependency-installation"])
        _wait_for_port(link, procs[0])
        for i in range(cfg.num_clients):
            start(f"supernode-{i}", [str(bindir / "flower-supernode"), "--insecure",
                                     "--superlink", f"127.0.0.1:{link}", "--host", "127.0.0.1",
                                     "--port", str(_free_port()),
                                     "--node-config", f"partition-id={i} num-partitions={cfg.num_clients}"])
        logs.append(workdir / "flwr-run.log")
        with open(workdir / "flwr-run.log", "w") as log:
            run = subprocess.Popen([str(bindir / "flwr"), "run", str(app), "localhost", "--stream"], cwd=workdir,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(run)
        _watch(run, watched, procs, seen, timeout_s, workdir)
        if not out.exists():
            raise RuntimeError(f"the localhost federation wrote no result ({out}); logs in {workdir}.\n"
                               f"{_tail(workdir / 'flwr-run.log', 30)}")
        res = json.loads(out.read_text())
    finally:
        _children(procs, seen)   # Flower spawns SuperExec/ServerApp/ClientApp children: stop those too, by pid
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for c in seen.values():
            try:
                c.terminate()
            except Exception:  # already gone
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=20)
    res["wall_seconds"] = time.perf_counter() - t0
    res["logs"] = [str(p) for p in logs]
    return res
