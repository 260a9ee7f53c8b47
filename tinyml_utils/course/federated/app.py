"""The Flower apps: a ``ClientApp`` that trains on its node's partition, a ``ServerApp`` running FedAvg."""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from ... import measure
from ...core.io import write_json
from .strategy import PARTITION_KEY, counting_fedavg
from .task import FLConfig, client_data, float_state, local_sgd, motion_data, new_model, quantize_update


def client_update(global_np: dict, partition_id: int, num_partitions: int, server_round: int,
                  cfg: FLConfig) -> tuple[dict, int, float]:
    """One client's round: ``(fp32 weights or int8 delta, examples (FedAvg's weight), loss)``."""
    import torch

    split = client_data(partition_id, num_partitions, cfg)              # stays on the device
    model = new_model(cfg.seed, cfg.norm)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in global_np.items()}, strict=False)
    loss = local_sgd(model, split, cfg.local_epochs, cfg.lr, cfg.momentum, cfg.batch_size,
                     seed=cfg.seed * 1000 + server_round * 100 + partition_id)
    local = {k: v.numpy() for k, v in float_state(model).items()}
    payload = quantize_update(local, global_np) if cfg.update == "int8" else local
    return payload, len(split), loss


def make_client_app(base: FLConfig | None = None):
    """A Flower ``ClientApp``: ``train`` runs :func:`client_update` on ``node_config['partition-id']``;
    ``query`` replies with that id (the server's seeded sampling needs it)."""
    from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train_handler(msg: Message, context: Context) -> Message:
        import torch

        torch.set_num_threads(1)
        cfg = FLConfig.from_run_config(context.run_config, base)
        global_np = {k: v.numpy() for k, v in msg.content["arrays"].items()}
        payload, n, loss = client_update(global_np, int(context.node_config["partition-id"]),
                                         int(context.node_config["num-partitions"]),
                                         int(msg.content["config"]["server-round"]), cfg)
        metrics = MetricRecord({"num-examples": n, "train-loss": loss})
        arrays = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in payload.items()})
        return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)

    @app.query()
    def query_handler(msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        return Message(RecordDict({"metrics": MetricRecord({PARTITION_KEY: pid})}), reply_to=msg)

    return app


def make_server_app(base: FLConfig | None = None):
    """A Flower ``ServerApp``: FedAvg (DP-wrapped when ``cfg.dp_noise``), the test accuracy after every
    round, all written to ``cfg.out``."""
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
