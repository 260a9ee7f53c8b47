"""Export the tiny language model with ExecuTorch's LLM exporter and measure the ``.pte`` files.

>>> path = llm_export.export_pte(folder, "8da4w", out_dir)      # KV cache, custom SDPA, XNNPACK
>>> lm = llm_export.PteLM(path)                                 # executorch.runtime, 1 thread
>>> lm.greedy(prompt_ids, 32); lm.nll(val_ids); lm.speed(64, 64)

Variants (:data:`VARIANTS`), all through ``export_llama`` of the Llama example in the executorch
wheel: ``fp32``; ``int8`` (weight-only int8 per output channel, ExecuTorch's ``qmode="int8"``);
``8da8w`` and ``8da4w`` (torchao: int8 activations quantized on the fly, int8 / int4 weights in
groups of 32 input channels, run by XNNPACK's integer kernels).

Traps this module hides:

- Import ``executorch.extension.llm.custom_ops.custom_ops`` and ``executorch.kernels.quantized``
  **before** loading a ``.pte`` (:func:`load_llm_ops`), or loading fails on the missing
  ``llama::custom_sdpa`` / quantized kernels.
- ``export.output_name`` is taken relative to the **current working directory**;
  :func:`export_pte` always passes an absolute path.
- ``qmode="int8"`` multiplies ``weight_int8.to(float)`` by the scales inside the graph; the exporter
  folds that constant expression, so the ``.pte`` stores the weights as fp32 again and does not
  shrink. The int8 scheme XNNPACK executes natively is ``8da8w``.
- A program exported with a KV cache returns the logits of the **last** position only: a perplexity
  over the ``.pte`` feeds one token a step (:meth:`PteLM.nll`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: name -> (ExecuTorch ``qmode`` or None, group size or None, one-line description)
VARIANTS: dict[str, tuple[str | None, int | None, str]] = {
    "fp32": (None, None, "float32 weights and activations"),
    "int8": ("int8", None, "int8 weight-only, per output channel (dequantized in the graph)"),
    "8da8w": ("8da8w", None, "int8 dynamic activations, int8 weights per channel"),
    "8da4w": ("8da4w", 32, "int8 dynamic activations, int4 weights in groups of 32"),
}


def load_llm_ops() -> None:
    """Register the LLM custom ops (``custom_sdpa``, ``update_cache``) and the quantized kernels
    with the ExecuTorch runtime; call before loading an LLM ``.pte``."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401
    import executorch.kernels.quantized  # noqa: F401


def export_pte(folder: str | Path, variant: str, out_dir: str | Path, max_seq_len: int = 128,
               quiet: bool = True) -> Path:
    """Export ``folder/ckpt.pth`` + ``folder/params.json`` (:func:`tinyml_utils.llm.save_checkpoint`)
    with ExecuTorch's ``export_llama``: KV cache, custom SDPA with in-place cache update, dynamic
    sequence length up to ``max_seq_len`` tokens, XNNPACK delegate, quantized per ``variant``
    (a key of :data:`VARIANTS`). Writes ``out_dir/llm_<variant>.pte`` and returns its path."""
    from executorch.examples.models.llama.export_llama_lib import export_llama
    from executorch.extension.llm.export.config.llm_config import LlmConfig, ModelType

    from . import npu

    qmode, group, _ = VARIANTS[variant]
    folder, out_dir = Path(folder).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = LlmConfig()
    cfg.base.model_class = ModelType.llama2          # an ExecuTorch-defined model: reads our checkpoint
    cfg.base.checkpoint = str(folder / "ckpt.pth")
    cfg.base.params = str(folder / "params.json")
    cfg.model.use_kv_cache = True
    cfg.model.use_sdpa_with_kv_cache = True
    cfg.model.enable_dynamic_shape = True
    cfg.export.max_seq_length = max_seq_len
    cfg.export.max_context_length = max_seq_len
    cfg.export.output_name = str(out_dir / f"llm_{variant}.pte")   # absolute: relative means the cwd
    cfg.backend.xnnpack.enabled = True
    if qmode is not None:
        cfg.quantization.qmode = qmode
        cfg.quantization.group_size = group
    if quiet:
        with npu.quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = export_llama(cfg)
    else:
        path = export_llama(cfg)
    return Path(path)


def planned_memory_bytes(pte: str | Path) -> int:
    """Bytes of the memory ExecuTorch's planner reserved for the ``forward`` method (KV cache,
    activations, outputs), read from the ``.pte``: the arena a device must provide besides the
    program itself. (XNNPACK also packs the weights into its own buffers when the program loads.)"""
    from executorch.exir._serialize._program import deserialize_pte_binary

    pte_file = deserialize_pte_binary(Path(pte).read_bytes())
    program = getattr(pte_file, "program", pte_file)
    plan = next(p for p in program.execution_plan if p.name == "forward")
    return int(sum(plan.non_const_buffer_sizes))


class PteLM:
    """A language-model ``.pte`` (KV cache, dynamic length) run with ``executorch.runtime``.

    ``forward(tokens[1, n] int64, input_pos[1] int64) -> logits[1, vocab]`` of the last position;
    the cache keeps earlier positions, so a prompt is one call (prefill) and every new token one call
    (decode). Starting again at position 0 overwrites the cache."""

    def __init__(self, pte: str | Path, max_seq_len: int = 128):
        import torch
        from executorch.runtime import Runtime

        load_llm_ops()
        self._torch = torch
        self.path = Path(pte)
        self.max_seq_len = max_seq_len
        self.program = Runtime.get().load_program(self.path)
        self.method = self.program.load_method("forward")

    def step(self, ids, pos: int) -> np.ndarray:
        """Logits (float32, [vocab]) after feeding ``ids`` at positions ``pos``, ``pos + 1``, ..."""
        torch = self._torch
        out = self.method.execute([torch.tensor([list(ids)], dtype=torch.long), torch.tensor([pos])])
        return out[0].numpy()[0]

    def greedy(self, prompt_ids, n: int) -> list[int]:
        """``n`` greedy tokens after ``prompt_ids``: one prefill call, then one decode call a token."""
        logits = self.step(prompt_ids, 0)
        pos, out = len(prompt_ids), [int(np.argmax(logits))]
        while len(out) < n:
            logits = self.step([out[-1]], pos)
            pos += 1
            out.append(int(np.argmax(logits)))
        return out

    def nll(self, ids, seq_len: int | None = None, max_tokens: int | None = None) -> float:
        """Mean negative log-likelihood (nats per token) of ``ids`` in non-overlapping windows of
        ``seq_len`` tokens (default: the context length), one decode call a token, the same windows
        as :func:`tinyml_utils.llm.mean_nll`."""
        from . import llm

        seq_len = seq_len or self.max_seq_len
        ids = np.asarray(ids)
        total, count = 0.0, 0
        for s in range(0, len(ids) - seq_len - 1 + 1, seq_len):
            if max_tokens is not None and count >= max_tokens:
                break
            window = ids[s:s + seq_len + 1]
            logits = np.stack([self.step([int(window[p])], p) for p in range(seq_len)])
            total += llm.nll_from_logits(logits, window[1:]) * seq_len
            count += seq_len
        return total / max(count, 1)


@dataclass
class Speed:
    """Tokens per second at one thread, from the fastest prefill call and a low quantile of the
    per-token decode times (noise on a loaded machine only adds time)."""

    prefill_tok_s: float
    decode_tok_s: float
    decode_tok_s_median: float
    prefill_tokens: int
    decode_calls: int


def measure_speed(lms: dict[str, PteLM], prefill_tokens: int = 64, decode_tokens: int = 63,
                  rounds: int = 5, quantile: float = 10.0) -> dict[str, Speed]:
    """Interleaved timing of several programs (round-robin, so load hits them alike): each round
    runs one prefill of ``prefill_tokens`` tokens, then ``decode_tokens`` single-token decode calls,
    per program. Decode tokens/s = 1 / (``quantile``-th percentile of the per-call times)."""
    prompt = [(7 * i + 3) % 256 for i in range(prefill_tokens)]
    pre: dict[str, list[float]] = {k: [] for k in lms}
    dec: dict[str, list[float]] = {k: [] for k in lms}
    for name, lm in lms.items():          # warm-up
        lm.greedy(prompt, 4)
    for _ in range(rounds):
        for name, lm in lms.items():
            t0 = time.perf_counter()
            lm.step(prompt, 0)
            pre[name].append(time.perf_counter() - t0)
            for p in range(prefill_tokens, min(prefill_tokens + decode_tokens, lm.max_seq_len)):
                t0 = time.perf_counter()
                lm.step([p % 256], p)
                dec[name].append(time.perf_counter() - t0)
    return {k: Speed(prefill_tokens / min(pre[k]), 1.0 / float(np.percentile(dec[k], quantile)),
                     1.0 / float(np.median(dec[k])), prefill_tokens, len(dec[k])) for k in lms}


_PEAK_SCRIPT = r"""
import json, sys
from tinyml_utils import llm_export
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))
llm_export.load_llm_ops()
from executorch.runtime import Runtime
Runtime.get()
with open("/proc/self/clear_refs", "w") as f:   # reset the high-water mark (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS")
n = int(sys.argv[2])
lm = llm_export.PteLM(sys.argv[1], n)
lm.greedy(list(range(1, n // 2)), n - n // 2)
print(json.dumps({"before": before, "peak": status("VmHWM")}))
"""


def peak_memory_bytes(pte: str | Path, max_seq_len: int = 128, timeout: float = 300) -> int:
    """Peak resident memory (bytes) that loading ``pte`` and generating to the full context adds to
    a fresh Python process with the runtime already imported: program, XNNPACK's packed weights,
    planned memory. Linux only: the peak (``VmHWM``) is reset through ``/proc/self/clear_refs``
    after the imports. A fresh process per program, so no program reuses memory another freed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(Path(pte).resolve()), str(max_seq_len)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"measuring the peak memory of {pte} failed:\n{out.stderr[-2000:]}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return int(doc["peak"] - doc["before"])


def mediapipe_llm_status() -> dict:
    """What the installed MediaPipe wheel offers for language models, read from its files without
    importing it: whether the LLM Inference API (``mediapipe.tasks.python.genai``) is present, and
    which text tasks ship (each needs its own ``.tflite``/task bundle, which nothing here provides)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return {"installed": False, "genai": False, "text_tasks": []}
    root = Path(list(spec.submodule_search_locations)[0]) / "tasks" / "python"
    text = sorted(p.stem for p in (root / "text").glob("*.py") if not p.stem.startswith("_"))
    return {"installed": True, "genai": (root / "genai").exists(), "text_tasks": text}
