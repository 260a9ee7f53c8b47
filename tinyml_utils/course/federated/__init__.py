"""Federated learning with Flower 1.42 on the motion set: one ServerApp and one ClientApp, run in Ray simulation
(:func:`simulate`) or as a SuperLink and SuperNodes on 127.0.0.1 (:func:`deploy_localhost`).
Trap: each Ray worker is a fresh process, so the ClientApp imports only torch, data and models (not TensorFlow)."""
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
