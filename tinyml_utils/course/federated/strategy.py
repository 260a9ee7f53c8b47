"""The server's strategy: Flower's FedAvg that counts payload bytes and decodes int8 updates."""
from __future__ import annotations

from .task import FLConfig, dequantize_update


def counting_fedavg(cfg: FLConfig):
    """A Flower ``FedAvg`` for ``cfg`` whose ``bytes[round]`` holds the clients, downlink and uplink
    bytes of every round (``ArrayRecord.count_bytes``); int8 replies are decoded before averaging."""
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
                    fp32 = dequantize_update(q, self._global)
                    m.content["arrays"] = ArrayRecord({k: Array(v) for k, v in fp32.items()})
            return super().aggregate_train(server_round, replies)

    return CountingFedAvg(fraction_train=cfg.fraction_train, fraction_evaluate=0.0,
                          min_train_nodes=max(1, int(cfg.fraction_train * cfg.num_clients)),
                          min_available_nodes=cfg.num_clients)
