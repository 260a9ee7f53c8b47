"""A tiny language model → ``.pte`` with ExecuTorch's LLM exporter (``export_llama``).
Trap: ``qmode="int8"`` dequantizes the weights in the graph and the exporter folds that constant, so
the ``.pte`` keeps fp32 weights and does not shrink; XNNPACK's native int8 scheme is ``8da8w``."""
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
    """``folder/ckpt.pth`` (the plain state dict the exporter reads) and ``params.json``, atomically."""
    import torch

    folder = Path(folder)
    ckpt, par = folder / "ckpt.pth", folder / "params.json"
    with atomic_writer(ckpt) as tmp:
        torch.save(model.state_dict(), tmp)
    atomic_write_text(par, json.dumps(params))
    return ckpt, par


def export_pte(folder: str | Path, variant: str, out_dir: str | Path, max_seq_len: int = 128) -> Path:
    """Export :func:`save_checkpoint`'s ``folder`` to ``out_dir/llm_<variant>.pte`` (returned,
    absolute): KV cache, custom SDPA, dynamic length up to ``max_seq_len`` tokens, XNNPACK."""
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
        with quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_llama(cfg)
    return target
