"""The Flower apps: a ``ClientApp`` (local training on this node's partition) and a ``ServerApp``
(FedAvg, optionally DP-wrapped, evaluating the global model after every round)."""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from ... import measure
from ...core.io import write_json
from .strategy import PARTITION_KEY, counting_fedavg
from .task import FLConfig, client_data, float_state, local_sgd, motion_data, new_model, quantize_update


def make_client_app(base: FLConfig | None = None):
    """A Flower ``ClientApp``: ``train`` loads the global weights, runs ``local-epochs`` of
    :func:`local_sgd` on this node's partition (``node_config['partition-id']``) and replies with fp32
    weights or an int8 delta plus ``num-examples``; ``query`` replies with this node's partition id (the
    server's seeded sampling of partial participation needs it)."""
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
        arrays = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in payload.items()})
        return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)

    @app.query()
    def query_handler(msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        return Message(RecordDict({"metrics": MetricRecord({PARTITION_KEY: pid})}), reply_to=msg)

    return app


def make_server_app(base: FLConfig | None = None):
    """A Flower ``ServerApp`` running FedAvg (optionally DP-wrapped) for ``rounds`` rounds; after
    every round it evaluates the global model on the test recordings and writes ``cfg.out``."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
    from flwr.serverapp import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        import torch

        torch.set_num_threads(1)
        cfg = FLConfig.from_run_config(context.run_config, base)
        test = motion_data(cfg.seed).test
        model = new_model(cfg.seed, cfg.norm)
        strategy = fed = counting_fedavg(cfg)
        if cfg.dp_noise > 0:
            from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping

            strategy = DifferentialPrivacyServerSideFixedClipping(
                fed, cfg.dp_noise, cfg.dp_clip, max(1, int(cfg.fraction_train * cfg.num_clients)))
        acc: dict[int, float] = {}

        def evaluate(rnd: int, arrays: ArrayRecord) -> MetricRecord:
            model.load_state_dict(arrays.to_torch_state_dict(), strict=False)
            acc[rnd] = measure.accuracy(model, test)
            return MetricRecord({"accuracy": acc[rnd]})

        t0 = time.perf_counter()
        strategy.start(grid=grid, initial_arrays=ArrayRecord(float_state(model)), num_rounds=cfg.rounds,
                       train_config=ConfigRecord({"lr": cfg.lr}), evaluate_fn=evaluate)
        rounds = [{"round": r, "accuracy": acc[r], **fed.bytes.get(r, {})} for r in sorted(acc)]
        if cfg.out:
            write_json(cfg.out, {"config": asdict(cfg), "rounds": rounds, "seconds": time.perf_counter() - t0})

    return app
