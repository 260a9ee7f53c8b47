"""Export a tiny language model with ExecuTorch's LLM exporter (``export_llama``) to ``.pte``.

>>> ckpt, params_json = llm.save_checkpoint(model, params, folder)
>>> pte = llm.export_pte(folder, "8da4w", out_dir)        # KV cache, custom SDPA, XNNPACK

Run the files with :class:`tinyml_utils.runtimes.ExecuTorchLM`. Variants (:data:`VARIANTS`), all
through ``export_llama`` of the Llama example in the executorch wheel: ``fp32``; ``int8``
(weight-only int8 per output channel, ExecuTorch's ``qmode="int8"``); ``8da8w`` and ``8da4w``
(torchao: int8 activations quantized on the fly, int8 / int4 weights in groups of 32 input
channels, run by XNNPACK's integer kernels).

Traps this module hides:

- ``export.output_name`` is taken relative to the **current working directory**;
  :func:`export_pte` always passes an absolute path.
- ``qmode="int8"`` multiplies ``weight_int8.to(float)`` by the scales inside the graph; the exporter
  folds that constant expression, so the ``.pte`` stores the weights as fp32 again and does not
  shrink. The int8 scheme XNNPACK executes natively is ``8da8w``.
- The exporter reads a *plain* state dict (``torch.load(ckpt)``), not a sealed
  :func:`tinyml_utils.core.io.save_torch` file; :func:`save_checkpoint` writes one atomically.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from ..core.env import quiet
from ..core.io import atomic_write_text, atomic_writer

#: name -> (ExecuTorch ``qmode`` or None, group size or None, one-line description)
VARIANTS: dict[str, tuple[str | None, int | None, str]] = {
    "fp32": (None, None, "float32 weights and activations"),
    "int8": ("int8", None, "int8 weight-only, per output channel (dequantized in the graph)"),
    "8da8w": ("8da8w", None, "int8 dynamic activations, int8 weights per channel"),
    "8da4w": ("8da4w", 32, "int8 dynamic activations, int4 weights in groups of 32"),
}


def save_checkpoint(model, params: dict, folder: str | Path) -> tuple[Path, Path]:
    """Write ``ckpt.pth`` (the plain state dict) and ``params.json`` into ``folder`` atomically, the
    pair ExecuTorch's Llama exporter reads (``base.checkpoint``, ``base.params``). Returns both paths."""
    import torch

    folder = Path(folder)
    ckpt, par = folder / "ckpt.pth", folder / "params.json"
    with atomic_writer(ckpt) as tmp:
        torch.save(model.state_dict(), tmp)
    atomic_write_text(par, json.dumps(params))
    return ckpt, par


def export_pte(folder: str | Path, variant: str, out_dir: str | Path, max_seq_len: int = 128,
               quiet_logs: bool = True) -> Path:
    """Export ``folder/ckpt.pth`` + ``folder/params.json`` (:func:`save_checkpoint`) with
    ExecuTorch's ``export_llama``: KV cache, custom SDPA with in-place cache update, dynamic
    sequence length up to ``max_seq_len`` tokens, XNNPACK delegate, quantized per ``variant``
    (a key of :data:`VARIANTS`). Writes ``out_dir/llm_<variant>.pte`` (through a temporary file,
    renamed when complete) and returns its absolute path."""
    from executorch.examples.models.llama.export_llama_lib import export_llama
    from executorch.extension.llm.export.config.llm_config import LlmConfig, ModelType

    qmode, group, _ = VARIANTS[variant]
    folder, out_dir = Path(folder).resolve(), Path(out_dir).resolve()
    target = out_dir / f"llm_{variant}.pte"
    cfg = LlmConfig()
    cfg.base.model_class = ModelType.llama2          # an ExecuTorch-defined model: reads our checkpoint
    cfg.base.checkpoint = str(folder / "ckpt.pth")
    cfg.base.params = str(folder / "params.json")
    cfg.model.use_kv_cache = True
    cfg.model.use_sdpa_with_kv_cache = True
    cfg.model.enable_dynamic_shape = True
    cfg.export.max_seq_length = max_seq_len
    cfg.export.max_context_length = max_seq_len
    cfg.backend.xnnpack.enabled = True
    if qmode is not None:
        cfg.quantization.qmode = qmode
        cfg.quantization.group_size = group
    with atomic_writer(target) as tmp:
        cfg.export.output_name = str(tmp.resolve())   # absolute: a relative name means the cwd
        if quiet_logs:
            with quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                export_llama(cfg)
        else:
            export_llama(cfg)
    return target
