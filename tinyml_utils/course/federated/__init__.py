"""Federated learning with Flower 1.42 (Message API) on the motion set: one ServerApp and one ClientApp,
run in Flower's Ray simulation (:func:`simulate`) or as a SuperLink and SuperNodes on 127.0.0.1
(:func:`deploy_localhost`, as on real devices).

Clients are non-IID (whole recordings of ``classes_per_client`` activities each); updates travel as
fp32 weights or int8 deltas. Trap: each Ray worker is a fresh process, so the ClientApp imports only
torch and this package's data and models (TensorFlow alone is about 1 GB).
"""
from __future__ import annotations

from .app import client_update
from .orchestration import deploy_localhost, simulate
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

__all__ = ["client_update", "deploy_localhost", "simulate", "FLConfig", "client_data", "dequantize_update",
           "float_state", "local_sgd", "new_model", "partition", "quantize_update"]
