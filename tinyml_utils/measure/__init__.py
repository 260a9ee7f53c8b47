"""What a model costs and how well it does; :mod:`.code` and :mod:`.streaming` are imported on their own."""
from __future__ import annotations

from .accuracy import accuracy, evaluate, logits, parity, roc_auc, roc_points, top1
from .drift import bn_drift_score, mean_entropy
from .latency import (
                      DEFAULT_THREADS,
                      Comparison,
                      Latency,
                      Ratio,
                      Timing,
                      compare,
                      measure_latency,
                      set_threads,
                      torch_latency,
)
from .llm import TokenSpeed, mean_nll, nll_from_logits, perplexity_from_nll, token_speed
from .size import (
                      artifact_bytes,
                      count_macs,
                      count_nonzero_params,
                      count_params,
                      file_bytes,
                      float_payload_bytes,
                      graph_constant_bytes,
                      pte_planned_bytes,
                      state_dict_bytes,
                      zipped_bytes,
)

__all__ = ["accuracy", "evaluate", "logits", "parity", "roc_auc", "roc_points", "top1", "bn_drift_score",
           "mean_entropy", "DEFAULT_THREADS", "Latency", "compare",
           "Comparison", "Ratio", "Timing", "measure_latency", "set_threads", "torch_latency",
           "artifact_bytes", "count_macs", "count_nonzero_params", "count_params",
           "file_bytes", "float_payload_bytes", "graph_constant_bytes", "state_dict_bytes", "zipped_bytes",
           "pte_planned_bytes", "TokenSpeed", "mean_nll", "nll_from_logits", "perplexity_from_nll",
           "token_speed"]
