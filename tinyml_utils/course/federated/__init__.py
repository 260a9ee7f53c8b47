"""Federated learning with Flower 1.42 (Message API): one ServerApp and one ClientApp, run two ways.

- :mod:`.task`: the run configuration (:class:`FLConfig`), the non-IID split, the model and the
  client's local training, and the int8 update codec (what both sides share).
- :mod:`.strategy`: FedAvg that counts every payload byte and decodes int8 updates.
- :mod:`.app`: the ``ClientApp`` and ``ServerApp``.
- :mod:`.orchestration`: :func:`simulate` runs the apps in Flower's simulation engine (Ray;
  ``flwr[simulation]``), in this process, with at most ``max_workers`` ClientApps at a time;
  :func:`deploy_localhost` runs the *same* apps as separate processes: a SuperLink, one SuperNode
  per client (``flower-superlink`` / ``flower-supernode --insecure`` on 127.0.0.1) and ``flwr run``
  against the SuperLink, which is how Flower runs on real devices. The app folder
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

from .app import client_update, make_client_app, make_server_app
from .orchestration import block_tensorflow, deploy_localhost, simulate, write_app
from .task import (
                   FLConfig,
                   client_data,
                   dequantize_update,
                   float_state,
                   local_sgd,
                   new_model,
                   partition,
                   quantize_update,
)

__all__ = ["client_update", "make_client_app", "make_server_app", "block_tensorflow", "deploy_localhost",
           "simulate", "write_app", "FLConfig", "client_data", "dequantize_update", "float_state", "local_sgd",
           "new_model", "partition", "quantize_update"]
