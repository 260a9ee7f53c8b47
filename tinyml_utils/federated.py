"""Federated learning with Flower 1.42 (Message API): one ServerApp and one ClientApp, run two ways.

- :func:`simulate` runs them in Flower's simulation engine (Ray; ``flwr[simulation]``), in this
  process, with at most ``max_workers`` ClientApps at a time.
- :func:`deploy_localhost` runs the *same* apps as separate processes: a SuperLink, one SuperNode
  per client (``flower-superlink`` / ``flower-supernode --insecure`` on 127.0.0.1) and
  ``flwr run`` against the SuperLink, which is how Flower runs on real devices. The app folder
  (``pyproject.toml`` with ``[tool.flwr.app]`` and a two-line module) is written under ``build/``.

The task is the motion set (``data.load("motion")``) with ``models.motion_cnn``. Clients are
*non-IID*: :func:`partition` gives every client whole recordings of only ``classes_per_client``
activities. The server evaluates the global model on the test recordings after every round.
Updates go up either as fp32 weights or as int8 deltas (per-tensor symmetric scales); the strategy
counts the bytes of every ArrayRecord it sends and receives.

Trap: each Ray worker is a fresh Python process; everything it imports costs memory (TensorFlow
alone is about 1 GB), so the ClientApp imports only torch and this package's data/models.
Run configuration keys (kebab-case, as in ``flwr run --run-config``): see :class:`FLConfig`.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from . import paths


@dataclass
class FLConfig:
    """One federated run. ``norm``: ``"group"`` (GroupNorm, the default) or ``"batch"`` (the
    course's BatchNorm model); ``update``: ``"fp32"`` or ``"int8"``; ``dp_noise`` > 0 wraps FedAvg in
    Flower's server-side fixed-clipping DP (clip norm ``dp_clip``); ``out``: JSON file the ServerApp
    writes (per-round accuracy and bytes)."""

    num_clients: int = 4
    rounds: int = 15
    fraction_train: float = 1.0
    local_epochs: int = 1
    lr: float = 0.02
    momentum: float = 0.9
    batch_size: int = 16
    norm: str = "group"
    classes_per_client: int = 2
    update: str = "fp32"
    dp_noise: float = 0.0
    dp_clip: float = 1.0
    seed: int = 0
    out: str = ""

    def run_config(self) -> dict:
        """The config as Flower run-config entries (``num-clients = 8`` ...)."""
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_run_config(cls, rc: dict, base: "FLConfig | None" = None) -> "FLConfig":
        cfg = asdict(base or cls())
        for f in fields(cls):
            key = f.name.replace("_", "-")
            if key in rc:
                cfg[f.name] = type(cfg[f.name])(rc[key])
        return cls(**cfg)


# ------------------------------------------------------------------ data and model (both sides)

def partition(y_windows: np.ndarray, windows_per_recording: int, num_clients: int,
              classes_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Non-IID split of a windowed training set by *recording*: recordings sorted by label are cut
    into ``num_clients * classes_per_client`` shards and every client gets ``classes_per_client``
    shards (McMahan et al.'s pathological split). Returns window indices per client."""
    rng = np.random.default_rng(seed)
    rec_labels = y_windows[::windows_per_recording]
    order = np.argsort(rec_labels, kind="stable")
    shards = np.array_split(order, num_clients * classes_per_client)
    perm = rng.permutation(len(shards))
    out = []
    for c in range(num_clients):
        recs = np.concatenate([shards[s] for s in perm[c * classes_per_client:(c + 1) * classes_per_client]])
        out.append(np.concatenate([np.arange(r * windows_per_recording, (r + 1) * windows_per_recording)
                                   for r in np.sort(recs)]))
    return out


@functools.lru_cache(maxsize=2)
def _motion(seed: int):
    from . import data

    return data.load("motion", seed=seed)


def client_data(partition_id: int, num_partitions: int, cfg: FLConfig):
    """The training windows of one client (what stays on that device)."""
    from .data.base import Split

    ds = _motion(cfg.seed)
    per_rec = len(ds.train.y) // ds.meta["recordings"]["train"]
    idx = partition(ds.train.y, per_rec, num_partitions, cfg.classes_per_client, cfg.seed)
    return Split(ds.train.x[idx[partition_id]], ds.train.y[idx[partition_id]])


def new_model(seed: int = 0, norm: str = "group"):
    """``models.motion_cnn`` (BatchNorm), or with each BatchNorm replaced by a 4-group GroupNorm.

    Why GroupNorm: with non-IID clients each client's BatchNorm statistics describe only its own
    classes, and their average is not the statistics of the union; GroupNorm normalizes each
    example by itself and has no running statistics to average (Hsieh et al., 2020)."""
    import torch
    from torch import nn

    from . import models

    torch.manual_seed(seed)
    model = models.motion_cnn()
    if norm == "group":
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm1d):
                    setattr(parent, name, nn.GroupNorm(4, child.num_features))
    elif norm != "batch":
        raise ValueError(f"norm must be 'group' or 'batch', not {norm!r}")
    return model


def local_sgd(model, split, epochs: int, lr: float, momentum: float, batch_size: int, seed: int) -> float:
    """The ClientApp's local training: plain SGD with momentum on this client's windows (a fresh
    optimizer every round, as in FedAvg). Returns the mean loss of the last epoch."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    for _ in range(epochs):
        perm, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
    model.eval()
    return total / len(x)


def float_state(model) -> dict:
    """The float tensors of a state dict (BN's integer batch counter stays on the device)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def quantize_update(local: dict, global_: dict) -> dict:
    """int8 deltas, one symmetric scale per tensor: ``q = round((w - w_global) / s)`` with
    ``s = max|delta| / 127``. All tensors travel as one flat int8 array plus one float32 array of
    scales (in ``global_``'s key order), so the per-array framing of the message stays small."""
    qs, scales = [], []
    for k, g in global_.items():
        d = np.asarray(local[k], np.float32) - np.asarray(g, np.float32)
        s = max(float(np.abs(d).max()), 1e-12) / 127.0
        qs.append(np.clip(np.round(d / s), -127, 127).astype(np.int8).ravel())
        scales.append(s)
    return {"int8-delta": np.concatenate(qs), "int8-scale": np.asarray(scales, np.float32)}


def dequantize_update(q: dict, global_: dict) -> dict:
    """Inverse of :func:`quantize_update`: fp32 weights ``w_global + q * s`` per tensor."""
    out, offset = {}, 0
    for i, (k, g) in enumerate(global_.items()):
        g = np.asarray(g, np.float32)
        part = q["int8-delta"][offset:offset + g.size].astype(np.float32).reshape(g.shape)
        out[k] = g + part * q["int8-scale"][i]
        offset += g.size
    return out


# ------------------------------------------------------------------ the apps

def make_client_app(base: FLConfig | None = None):
    """A Flower ``ClientApp``: ``train`` loads the global weights, runs ``local-epochs`` of
    :func:`local_sgd` on this node's partition (``node_config['partition-id']``) and replies with fp32
    weights or an int8 delta plus ``num-examples``."""
    from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train_handler(msg: Message, context: Context) -> Message:
        import torch

        torch.set_num_threads(1)
        cfg = FLConfig.from_run_config(context.run_config, base)
        pid = int(context.node_config["partition-id"])
        n = int(context.node_config["num-partitions"])
        split = client_data(pid, n, cfg)
        model = new_model(cfg.seed, cfg.norm)
        global_np = {k: v.numpy() for k, v in msg.content["arrays"].items()}
        model.load_state_dict({k: torch.as_tensor(v) for k, v in global_np.items()}, strict=False)
        rnd = int(msg.content["config"]["server-round"])
        loss = local_sgd(model, split, cfg.local_epochs, cfg.lr, cfg.momentum, cfg.batch_size,
                         seed=cfg.seed * 1000 + rnd * 100 + pid)
        local = {k: v.numpy() for k, v in float_state(model).items()}
        payload = quantize_update(local, global_np) if cfg.update == "int8" else local
        metrics = MetricRecord({"num-examples": len(split), "train-loss": loss})
        return Message(RecordDict({"arrays": ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in payload.items()}),
                                   "metrics": metrics}), reply_to=msg)

    return app


def _counting_fedavg(cfg: FLConfig):
    from flwr.app import Array, ArrayRecord
    from flwr.serverapp.strategy import FedAvg

    class CountingFedAvg(FedAvg):
        """FedAvg that counts payload bytes and turns int8 deltas back into fp32 weights."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.bytes: dict[int, dict] = {}
            self._global: dict = {}

        def configure_train(self, server_round, arrays, config, grid):
            self._global = {k: v.numpy() for k, v in arrays.items()}
            msgs = list(super().configure_train(server_round, arrays, config, grid))
            self.bytes[server_round] = {"clients": len(msgs), "down_bytes": arrays.count_bytes() * len(msgs)}
            return msgs

        def aggregate_train(self, server_round, replies):
            replies = [m for m in replies]
            ok = [m for m in replies if not m.has_error()]
            self.bytes[server_round]["up_bytes"] = sum(m.content["arrays"].count_bytes() for m in ok)
            if cfg.update == "int8":
                for m in ok:
                    q = {k: v.numpy() for k, v in m.content["arrays"].items()}
                    m.content["arrays"] = ArrayRecord({k: Array(v) for k, v in dequantize_update(q, self._global).items()})
            return super().aggregate_train(server_round, replies)

    return CountingFedAvg(fraction_train=cfg.fraction_train, fraction_evaluate=0.0,
                          min_train_nodes=max(1, int(cfg.fraction_train * cfg.num_clients)),
                          min_available_nodes=cfg.num_clients)


def make_server_app(base: FLConfig | None = None):
    """A Flower ``ServerApp`` running FedAvg (optionally DP-wrapped) for ``rounds`` rounds; after
    every round it evaluates the global model on the test recordings and writes ``cfg.out``."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
    from flwr.serverapp import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        import torch

        from . import train

        torch.set_num_threads(1)
        cfg = FLConfig.from_run_config(context.run_config, base)
        test = _motion(cfg.seed).test
        model = new_model(cfg.seed, cfg.norm)
        strategy = fed = _counting_fedavg(cfg)
        if cfg.dp_noise > 0:
            from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping

            strategy = DifferentialPrivacyServerSideFixedClipping(
                fed, cfg.dp_noise, cfg.dp_clip, max(1, int(cfg.fraction_train * cfg.num_clients)))
        acc: dict[int, float] = {}

        def evaluate(rnd: int, arrays: ArrayRecord) -> MetricRecord:
            model.load_state_dict(arrays.to_torch_state_dict(), strict=False)
            acc[rnd] = train.evaluate(model, test)
            return MetricRecord({"accuracy": acc[rnd]})

        t0 = time.perf_counter()
        strategy.start(grid=grid, initial_arrays=ArrayRecord(float_state(model)), num_rounds=cfg.rounds,
                       train_config=ConfigRecord({"lr": cfg.lr}), evaluate_fn=evaluate)
        rounds = [{"round": r, "accuracy": acc[r], **fed.bytes.get(r, {})} for r in sorted(acc)]
        if cfg.out:
            Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
            Path(cfg.out).write_text(json.dumps({"config": asdict(cfg), "rounds": rounds,
                                                 "seconds": time.perf_counter() - t0}, indent=1))

    return app


# ------------------------------------------------------------------ two ways to run them

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
                              "worker_process_setup_hook": "tinyml_utils.federated.block_tensorflow"},
                 **backend["init_args"])
    run_simulation(make_server_app(cfg), make_client_app(cfg), num_supernodes=cfg.num_clients,
                   backend_config=backend, verbose_logging=verbose)
    res = json.loads(out.read_text())
    res["wall_seconds"] = time.perf_counter() - t0
    return res


APP_MODULE = '''"""Flower app entry points: the apps live in tinyml_utils.federated."""
from tinyml_utils.federated import make_client_app, make_server_app

serverapp = make_server_app()
clientapp = make_client_app()
'''


def write_app(folder: Path, cfg: FLConfig) -> Path:
    """A minimal Flower app folder: ``pyproject.toml`` (``[tool.flwr.app]``, run-config defaults
    from ``cfg``) and ``tinyml_fl_app.py`` pointing at this module's apps."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tinyml_fl_app.py").write_text(APP_MODULE)
    config = "\n".join(f"{k} = {json.dumps(v)}" for k, v in cfg.run_config().items())
    (folder / "pyproject.toml").write_text(f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tinyml-fl-app"
version = "1.0.0"
description = "FedAvg on the motion set (tinyml_utils.federated)"
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


def deploy_localhost(cfg: FLConfig, workdir: Path | None = None, timeout_s: float = 600) -> dict:
    """Start a SuperLink and ``cfg.num_clients`` SuperNodes on 127.0.0.1 (``--insecure``: no TLS,
    fine on one machine only), submit the app with ``flwr run``, wait for it, stop every process
    it started. Returns the ServerApp's JSON plus ``wall_seconds`` and the processes' log paths."""
    workdir = Path(workdir or paths.build_dir() / "fl" / "deploy")
    shutil.rmtree(workdir, ignore_errors=True)
    home = workdir / "flwr_home"
    home.mkdir(parents=True)
    out = workdir / "result.json"
    cfg = FLConfig(**{**asdict(cfg), "out": str(out)})
    app = write_app(workdir / "app", cfg)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "FLWR_HOME": str(home), "PATH": os.pathsep.join([str(bindir), os.environ.get("PATH", "")]), "TINYML_QUIET": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(paths.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    link = _free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "localhost"\n\n[superlink.localhost]\naddress = "127.0.0.1:{link}"\ninsecure = true\n')
    procs, logs = [], []

    def start(name: str, args: list[str]):
        log = open(workdir / f"{name}.log", "w")
        logs.append(workdir / f"{name}.log")
        procs.append(subprocess.Popen(args, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT))

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
        with open(workdir / "flwr-run.log", "w") as log:
            logs.append(workdir / "flwr-run.log")
            subprocess.run([str(bindir / "flwr"), "run", str(app), "localhost", "--stream"], cwd=workdir, env=env,
                           stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        if not out.exists():
            tail = "\n".join((workdir / "flwr-run.log").read_text().splitlines()[-30:])
            raise RuntimeError(f"the localhost federation wrote no result ({out}); logs in {workdir}.\n{tail}")
        res = json.loads(out.read_text())
    finally:
        children = []  # Flower spawns SuperExec/ServerApp/ClientApp children: stop those too, by pid
        try:
            import psutil

            for p in procs:
                try:
                    children += psutil.Process(p.pid).children(recursive=True)
                except psutil.Error:
                    pass
        except ImportError:  # pragma: no cover - psutil comes with ipykernel
            pass
        for p in procs:
            p.terminate()
        for c in children:
            try:
                c.terminate()
            except Exception:  # already gone
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    res["wall_seconds"] = time.perf_counter() - t0
    res["logs"] = [str(p) for p in logs]
    return res
