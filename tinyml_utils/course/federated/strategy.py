"""The server's strategy: Flower's FedAvg that counts bytes, decodes int8 updates and samples clients by seed."""
from __future__ import annotations

import numpy as np

from .task import FLConfig, dequantize_update

PARTITION_KEY = "partition-id"


def sample_partitions(seed: int, server_round: int, num_partitions: int, size: int) -> list[int]:
    """The ``size`` partitions (client ids) that train in ``server_round``, drawn from ``(seed, server_round)``.

    Trap: Flower's ``sample_nodes`` draws random node ids unseeded, so a run could not be regenerated."""
    rng = np.random.default_rng([int(seed), int(server_round)])
    return sorted(int(p) for p in rng.choice(num_partitions, size=size, replace=False))


def counting_fedavg(cfg: FLConfig, wait_s: float = 600.0):
    """A Flower ``FedAvg`` that counts clients, down/uplink bytes and failed replies in ``bytes[round]`` and
    decodes int8 replies; with ``cfg.fraction_train < 1`` it asks each node its partition id once (``wait_s``
    for the replies) and samples with :func:`sample_partitions` (``sampled[round]``)."""
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
    from flwr.serverapp.strategy import FedAvg
    from flwr.serverapp.strategy.strategy_utils import sample_nodes

    class CountingFedAvg(FedAvg):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.bytes: dict[int, dict] = {}
            self.sampled: dict[int, list[int]] = {}
            self._global: dict = {}
            self._node_of: dict[int, int] = {}      # partition id -> Flower node id

        def _partitions(self, grid) -> dict[int, int]:
            _, nodes = sample_nodes(grid, cfg.num_clients, 0)   # waits for cfg.num_clients nodes
            if sorted(self._node_of.values()) != sorted(nodes):
                asks = [Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=n,
                                message_type=MessageType.QUERY) for n in nodes]
                node_of = {}
                for reply in grid.send_and_receive(asks, timeout=wait_s):
                    if reply.has_error():
                        raise RuntimeError(f"node {reply.metadata.src_node_id} did not say its partition: "
                                           f"{reply.error.reason}")
                    node_of[int(reply.content["metrics"][PARTITION_KEY])] = reply.metadata.src_node_id
                if len(node_of) != len(nodes):
                    raise RuntimeError(f"{len(node_of)} of {len(nodes)} nodes said their partition id")
                self._node_of = node_of
            return self._node_of

        def configure_train(self, server_round, arrays, config, grid):
            self._global = {k: v.numpy() for k, v in arrays.items()}
            if cfg.fraction_train >= 1.0:
                msgs = list(super().configure_train(server_round, arrays, config, grid))
            else:
                node_of = self._partitions(grid)
                size = max(int(cfg.fraction_train * len(node_of)), self.min_train_nodes)
                parts = sample_partitions(cfg.seed, server_round, len(node_of), size)
                self.sampled[server_round] = parts
                config["server-round"] = server_round
                record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
                msgs = list(self._construct_messages(record, [node_of[p] for p in parts], MessageType.TRAIN))
            self.bytes[server_round] = {"clients": len(msgs), "down_bytes": arrays.count_bytes() * len(msgs)}
            if server_round in self.sampled:
                self.bytes[server_round]["partitions"] = self.sampled[server_round]
            return msgs

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            ok = [m for m in replies if not m.has_error()]
            self.bytes[server_round]["up_bytes"] = sum(m.content["arrays"].count_bytes() for m in ok)
            self.bytes[server_round]["failed"] = len(replies) - len(ok)   # replies lost (e.g. a transport error)
            if cfg.update == "int8":
                for m in ok:
                    q = {k: v.numpy() for k, v in m.content["arrays"].items()}
                    fp32 = dequantize_update(q, self._global)
                    m.content["arrays"] = ArrayRecord({k: Array(v) for k, v in fp32.items()})
            return super().aggregate_train(server_round, replies)

    return CountingFedAvg(fraction_train=cfg.fraction_train, fraction_evaluate=0.0,
                          min_train_nodes=max(1, int(cfg.fraction_train * cfg.num_clients)),
                          min_available_nodes=cfg.num_clients)
