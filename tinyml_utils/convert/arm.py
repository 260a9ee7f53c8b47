"""NPU delegates without an NPU: Arm's Vela compiler, ExecuTorch's Arm (Ethos-U / TOSA) backend,
and the CoreML, Vulkan and Qualcomm partitioners, with every cycle count labelled an estimate.

>>> s = vela_compile("vision_int8.tflite", "ethos-u55-128", out_dir="build/vela/u55")
>>> s["npu_cycles"], s["cpu_ops"], s["sram_bytes"]          # read from Vela's CSV summary
>>> res = ethos_u_pte(model, example, "ethos-u55-128", calib_x, path="build/m_u55.pte")
>>> tosa_reference_check(model, example, calib_x, test_x)["max_lsb_diff"]   # 0 or 1

What runs where: Vela compiles a TFLite int8 flatbuffer for an Ethos-U; operators it cannot place
stay in the file as TFLite operators for the CPU (TFLite Micro + CMSIS-NN). ExecuTorch partitions an
exported graph: supported nodes go into a delegate blob (here: Vela's command stream), the rest run
on the CPU's portable kernels. Nothing here executes on an NPU: running a ``.pte`` for Ethos-U needs
Arm's Corstone FVP simulator or a board.
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Vela system config and memory mode per NPU family (the same defaults ExecuTorch's Arm backend uses).
VELA_DEFAULTS = {
    "ethos-u55": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65": ("Ethos_U65_High_End", "Dedicated_Sram_384KB"),
    "ethos-u85": ("Ethos_U85_SYS_DRAM_Mid", "Sram_Only"),
}
#: The Vela targets of the chapter.
VELA_TARGETS = ("ethos-u55-128", "ethos-u55-256", "ethos-u65-256")


# --------------------------------------------------------------------------------------------
# Capturing what native code prints
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def capture_output():
    """Capture Python *and* C-level stdout/stderr (file descriptors 1 and 2) into one string.

    Yields a list that holds the captured text after the block. Vela, the TOSA reference model and
    TFLite Micro print from native code, which ``contextlib.redirect_stdout`` alone misses.
    """
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    py = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stdout(py), contextlib.redirect_stderr(py):
                yield out
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:  # pragma: no cover
                pass
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(py.getvalue() + tmp.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def capture_logger(name: str, level=logging.INFO):
    """Collect the records of logger ``name`` (e.g. the Arm partitioner's rejection table)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    old_level, old_prop = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    out: list[str] = []
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_prop
        out.append(buf.getvalue())


@contextlib.contextmanager
def quiet(logs: bool = False):
    """Silence a noisy toolchain call: C-level and Python output captured (kept in the yielded list),
    the root logger raised to WARNING (some libraries switch it to INFO on import) and, unless
    ``logs``, every log record up to WARNING dropped (handlers made before the block write to the
    notebook's own stream, which the capture cannot reach)."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.WARNING)
    if not logs:
        logging.disable(logging.WARNING)
    try:
        with capture_output() as out:
            yield out
    finally:
        root.setLevel(old)
        if not logs:
            logging.disable(logging.NOTSET)


# --------------------------------------------------------------------------------------------
# Vela
# --------------------------------------------------------------------------------------------

def vela_binary() -> str:
    """The ``vela`` executable of this environment (next to the running Python, else on PATH)."""
    cand = Path(sys.executable).parent / "vela"
    if cand.exists():
        return str(cand)
    found = shutil.which("vela")
    if not found:
        raise FileNotFoundError("the `vela` command is not installed: pip install ethos-u-vela")
    return found


def vela_config_ini() -> Path:
    """Vela's own ``Arm/vela.ini`` (system configs such as Ethos_U55_High_End_Embedded, memory modes)."""
    import importlib.util

    spec = importlib.util.find_spec("ethosu")  # a namespace package: no __file__
    return Path(list(spec.submodule_search_locations)[0]) / "config_files" / "Arm" / "vela.ini"


def vela_system_configs() -> dict[str, dict[str, str]]:
    """Every ``[System_Config.*]`` and ``[Memory_Mode.*]`` section of Vela's ``vela.ini``, as dicts."""
    import configparser

    cp = configparser.ConfigParser()
    cp.read(vela_config_ini())
    return {s: dict(cp[s]) for s in cp.sections()}


def default_system(accelerator: str) -> tuple[str, str]:
    """(system config, memory mode) used for ``accelerator`` when the caller names none."""
    for prefix, pair in VELA_DEFAULTS.items():
        if accelerator.startswith(prefix):
            return pair
    raise ValueError(f"unknown Ethos-U accelerator {accelerator!r}")


def _num(v: str):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() else f


def parse_vela_csv(path) -> dict:
    """Vela's ``<network>_summary_<system config>.csv`` (one row) as a dict of numbers/strings."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise RuntimeError(f"empty Vela summary {path}")
    return {k: _num(v) for k, v in rows[-1].items()}


def parse_vela_console(text: str) -> dict:
    """Operator placement from Vela's console: counts of CPU/NPU operators, the CPU operators
    (``--show-cpu-operations``) and the 'supported operators' warnings that say why."""
    def count(kind):
        m = re.search(rf"{kind} operators = (\d+)", text)
        return int(m.group(1)) if m else None

    cpu_list = [ln.strip()[len("CPU: "):] for ln in text.splitlines() if ln.strip().startswith("CPU: ")]
    reasons = [ln.strip() for ln in text.splitlines()
               if ln.startswith("Warning (supported operators)") or ln.strip().startswith("- ")]
    return {"cpu_ops": count("CPU"), "npu_ops": count("NPU"), "cpu_op_list": cpu_list, "reasons": reasons}


PER_LAYER_NUMERIC = ("staging_bytes", "peak_staging_%", "op_cycles", "network_cycles_%", "npu_cycles",
                     "sram_access_cycles", "dram_access_cycles", "onchip_flash_access_cycles",
                     "offchip_flash_access_cycles", "macs", "network_macs_%", "mac_util_%")


def parse_vela_per_layer(text: str):
    """Vela's ``--verbose-performance`` tables (one per NPU graph) as one pandas DataFrame: per
    operator its cycles (``op_cycles``: the operator's total, ``npu_cycles``: the NPU busy part) and
    MACs. The ``op_cycles`` column sums to the summary's total cycles (estimates)."""
    import pandas as pd

    rows, in_table = [], False
    for line in text.splitlines():
        if line.startswith("Original Operator"):
            in_table = False
            continue
        if line.startswith("-----"):
            in_table = True
            continue
        if in_table:
            if not line.strip():
                in_table = False
                continue
            tok = line.split(None, 15)
            if len(tok) < 15:
                continue
            try:
                nums = [float(t) for t in tok[3:15]]
            except ValueError:
                continue
            rows.append({"operator": tok[0], "npu_op": tok[1], "target": tok[2],
                         **dict(zip(PER_LAYER_NUMERIC, nums)), "name": tok[15].strip() if len(tok) > 15 else ""})
    return pd.DataFrame(rows)


def vela_compile(tflite_path, accelerator: str = "ethos-u55-128", system_config: str | None = None,
                 memory_mode: str | None = None, out_dir=None, config=None, extra_args=(),
                 per_layer: bool = False) -> dict:
    """Compile an int8 ``.tflite`` with Vela and return its summary (all figures are **estimates**).

    Runs the ``vela`` CLI with ``--accelerator-config``, ``--system-config``, ``--memory-mode``
    (defaults: :data:`VELA_DEFAULTS`) and Vela's own ``Arm/vela.ini`` unless ``config`` names
    another; reads the CSV summary from ``out_dir`` (the console no longer prints cycles).

    Returns a dict: ``accelerator``, ``system_config``, ``memory_mode``, ``npu_clock_hz``,
    ``npu_cycles`` (NPU busy cycles), ``total_cycles`` (incl. memory-bound cycles),
    ``latency_ms`` (``total_cycles`` at the config's clock), ``sram_bytes``, ``flash_bytes``
    (model data in flash or DRAM), ``cpu_ops``, ``npu_ops``, ``cpu_op_list``, ``reasons``,
    ``macs``, ``optimised_tflite``, ``csv``, ``console``, ``estimated=True``; with ``per_layer``
    also ``layers`` (:func:`parse_vela_per_layer` of ``--verbose-performance``).
    """
    tflite_path = Path(tflite_path)
    sc, mm = default_system(accelerator)
    system_config, memory_mode = system_config or sc, memory_mode or mm
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vela_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [vela_binary(), str(tflite_path), "--accelerator-config", accelerator,
           "--config", str(config or vela_config_ini()), "--system-config", system_config,
           "--memory-mode", memory_mode, "--output-dir", str(out_dir), "--show-cpu-operations",
           *(["--verbose-performance"] if per_layer else []), *extra_args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    console = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"vela failed (exit {proc.returncode}) on {tflite_path}:\n{console[-3000:]}")
    csv_path = out_dir / f"{tflite_path.stem}_summary_{system_config}.csv"
    if not csv_path.exists():
        found = sorted(out_dir.glob(f"{tflite_path.stem}_summary_*.csv"))
        if not found:
            raise RuntimeError(f"Vela wrote no summary CSV into {out_dir}:\n{console[-2000:]}")
        csv_path = found[-1]
    row = parse_vela_csv(csv_path)
    kib = 1024
    clock = float(row["core_clock"])
    flash = (row.get("off_chip_flash_memory_used", 0) + row.get("on_chip_flash_memory_used", 0)
             + row.get("dram_memory_used", 0))
    placement = parse_vela_console(console)
    return {
        "model": tflite_path.stem, "accelerator": accelerator, "system_config": system_config,
        "memory_mode": memory_mode, "npu_clock_hz": clock,
        "npu_cycles": int(row["cycles_npu"]), "total_cycles": int(row["cycles_total"]),
        "latency_ms": 1e3 * float(row["cycles_total"]) / clock,
        "sram_bytes": int(round(float(row["sram_memory_used"]) * kib)),
        "flash_bytes": int(round(float(flash) * kib)),
        "macs": int(row["nn_macs"]), **placement,
        "optimised_tflite": out_dir / f"{tflite_path.stem}_vela.tflite", "csv": csv_path,
        "console": console, "estimated": True,
        **({"layers": parse_vela_per_layer(console)} if per_layer else {}),
    }


def vela_frame(summaries: list[dict]):
    """Vela summaries as a table (KB, MHz, ms; ``estimated`` in the column names)."""
    import pandas as pd

    rows = [{"model": s["model"], "accelerator": s["accelerator"], "system_config": s["system_config"],
             "memory_mode": s["memory_mode"], "npu_MHz": s["npu_clock_hz"] / 1e6,
             "npu_cycles (est.)": s["npu_cycles"], "total_cycles (est.)": s["total_cycles"],
             "latency_ms (est.)": s["latency_ms"], "sram_KB": s["sram_bytes"] / 1024,
             "flash_KB": s["flash_bytes"] / 1024, "npu_ops": s["npu_ops"], "cpu_ops": s["cpu_ops"]}
            for s in summaries]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# PyTorch → TFLite int8 for the vision family (any channel widths)
# --------------------------------------------------------------------------------------------

def vision_keras_twin(model, batch_size: int = 1):
    """A Keras-3 twin of a (possibly channel-pruned) :class:`~tinyml_utils.models.VisionCNN` with its
    weights copied. Uses :func:`tinyml_utils.distill.keras_twin` when the channels keep the family's
    (w, 2w, 4w) shape, else builds the same layers with the model's own channel counts."""
    import torch.nn as nn

    from .distill import keras_twin

    try:
        return keras_twin(model, batch_size=batch_size)
    except ValueError:
        pass
    import keras

    from .prune import keras_from_torch

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    L = keras.layers
    inp = keras.Input(shape=(28, 28, convs[0].in_channels), batch_size=batch_size, name="image")
    x = inp
    for i, c in enumerate(convs):
        x = L.Conv2D(c.out_channels, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = L.BatchNormalization(name=f"bn{i + 1}")(x)
        x = L.ReLU(name=f"relu{i + 1}")(x)
        if i < len(convs) - 1:
            x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(lin.out_features, name="logits")(x)
    return keras_from_torch(model, keras.Model(inp, out, name="vision_cnn_twin"))


def torch_to_tflite_int8(model, calib_x_nchw: np.ndarray, path, n_representative: int = 200) -> Path:
    """Full-integer (int8 in/out, batch 1) TFLite of a vision-family torch model, through its Keras
    twin and :func:`tinyml_utils.quantize.tflite_int8`."""
    from .keras_models import to_nhwc
    from .quantize import tflite_int8

    with quiet():
        twin = vision_keras_twin(model)
        return tflite_int8(twin, to_nhwc(calib_x_nchw), path, int8_io=True, n_representative=n_representative)


# --------------------------------------------------------------------------------------------
# ExecuTorch Arm backend: Ethos-U .pte and the TOSA reference check
# --------------------------------------------------------------------------------------------

def _export_module(model, example):
    import torch

    return torch.export.export(model.eval(), (example,), strict=True).module(check_guards=False)


def arm_quantize(model, example, calib_x: np.ndarray, compile_spec):
    """PT2E int8 quantization with the Arm quantizer for ``compile_spec`` (EthosUQuantizer for an
    EthosUCompileSpec, TOSAQuantizer for a TosaCompileSpec); calibrated one image at a time on
    ``calib_x`` (N, C, H, W). Returns the converted (fake-quantized) GraphModule."""
    import torch
    from executorch.backends.arm.ethosu import EthosUCompileSpec
    from executorch.backends.arm.quantizer import (EthosUQuantizer, TOSAQuantizer,
                                                   get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    q = EthosUQuantizer(compile_spec) if isinstance(compile_spec, EthosUCompileSpec) else TOSAQuantizer(compile_spec)
    q.set_global(get_symmetric_quantization_config())
    prepared = prepare_pt2e(_export_module(model, example), q)
    with torch.no_grad():
        for i in range(len(calib_x)):
            prepared(torch.as_tensor(calib_x[i:i + 1]))
    return convert_pt2e(prepared)


@dataclass
class ArmLowering:
    """What an Arm-backend lowering produced: the ``.pte`` (if written), the delegation table
    (ExecuTorch's own), the partitioner's rejection report, and Vela's console summary."""

    target: str
    pte_bytes: int
    path: Path | None
    delegation: object
    delegated_nodes: int
    non_delegated_nodes: int
    rejected: str
    vela: dict = field(default_factory=dict)
    converted: object = None

    def summary(self) -> dict:
        return {"target": self.target, "pte_bytes": self.pte_bytes, "delegated_nodes": self.delegated_nodes,
                "non_delegated_nodes": self.non_delegated_nodes,
                **{k: self.vela.get(k) for k in ("npu_ops", "cpu_ops", "npu_cycles", "total_cycles",
                                                 "latency_ms", "sram_bytes", "flash_bytes")}}


def _vela_console_memory(text: str) -> dict:
    """SRAM / flash (KiB lines) and operator counts from Vela's console summary."""
    out = parse_vela_console(text)
    layers = parse_vela_per_layer(text)
    out["layers"] = layers
    out["npu_cycles"] = int(layers.npu_cycles.sum()) if len(layers) else None
    out["total_cycles"] = int(layers.op_cycles.sum()) if len(layers) else None
    clock = re.search(r"Accelerator clock\s+(\d+) MHz", text)
    out["npu_clock_hz"] = float(clock.group(1)) * 1e6 if clock else None
    out["latency_ms"] = (1e3 * out["total_cycles"] / out["npu_clock_hz"]
                         if out["total_cycles"] and out["npu_clock_hz"] else None)
    out["estimated"] = True
    for key, pat in (("sram_bytes", r"Total SRAM used\s+([\d.]+) KiB"),
                     ("flash_bytes", r"Total (?:Off-chip Flash|DRAM|On-chip Flash) used\s+([\d.]+) KiB")):
        vals = [float(v) for v in re.findall(pat, text)]
        out[key] = int(round(sum(vals) * 1024)) if vals else None
    return out


def _rejection_table(log_text: str) -> str:
    lines = log_text.splitlines()
    keep = [ln for ln in lines if ln.strip() and not ln.startswith("TOSAPartitioner::")]
    return "\n".join(keep)


def ethos_u_pte(model, example, target: str = "ethos-u55-128", calib_x: np.ndarray | None = None,
                path=None, system_config: str | None = None, memory_mode: str | None = None) -> ArmLowering:
    """Quantize (EthosUQuantizer), partition (EthosUPartitioner, which runs Vela on each delegated
    subgraph) and serialize an ExecuTorch ``.pte`` for an Ethos-U ``target`` such as
    ``"ethos-u55-128"`` or ``"ethos-u85-256"``, offline. The host runtime cannot execute it (no Ethos-U
    backend on x86): running it needs a Corstone FVP or a board."""
    from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    import torch

    spec = EthosUCompileSpec(target, system_config=system_config, memory_mode=memory_mode,
                             extra_flags=["--verbose-performance"])
    calib = calib_x if calib_x is not None else example.numpy()
    with quiet():
        converted = arm_quantize(model, example, calib, spec)
    with capture_logger("executorch.backends.arm.tosa.partitioner") as log, quiet(logs=True) as console:
        edge = to_edge_transform_and_lower(torch.export.export(converted, (example,)),
                                           partitioner=[EthosUPartitioner(spec)])
        buf = edge.to_executorch().buffer
    info = get_delegation_info(edge.exported_program().graph_module)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf)
    return ArmLowering(target, len(buf), path, info.get_operator_delegation_dataframe(),
                       info.num_delegated_nodes, info.num_non_delegated_nodes, _rejection_table(log[0]),
                       _vela_console_memory(console[0]), converted)


def _lowered_modules(gm):
    return [m for n, m in gm.named_children() if n.startswith("lowered_module")]


def tosa_reference_check(model, example, calib_x: np.ndarray, inputs: np.ndarray,
                         tosa_spec: str = "TOSA-1.0+INT") -> dict:
    """Lower the model with ``TOSAPartitioner`` (``TOSA-1.0+INT``), run the TOSA graph in
    ``tosa_tools``' reference model on ``inputs`` (N, C, H, W float; quantized with the graph's own
    input scale) and compare its int8 output with the PT2E fake-quantized model's output, requantized
    to the same output scale. Returns ``max_lsb_diff`` (in units of the output scale), the fraction of
    identical outputs, argmax agreement, and the references."""
    import torch
    import tosa_reference_model as ref
    from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
    from executorch.backends.arm.tosa.partitioner import TOSAPartitioner
    from executorch.exir import to_edge_transform_and_lower

    spec = TosaCompileSpec(tosa_spec)
    with quiet():
        converted = arm_quantize(model, example, calib_x, spec)
        edge = to_edge_transform_and_lower(torch.export.export(converted, (example,)),
                                           partitioner=[TOSAPartitioner(spec)])
    gm = edge.exported_program().graph_module
    lowered = _lowered_modules(gm)
    if len(lowered) != 1:
        raise RuntimeError(f"expected the whole model in one TOSA delegate, got {len(lowered)} partitions")
    lm = lowered[0]
    qs = [n for n in gm.graph.nodes if n.op == "call_function" and "quantize_per_tensor" in str(n.target)
          and "dequantize" not in str(n.target)]
    dqs = [n for n in gm.graph.nodes if n.op == "call_function" and "dequantize_per_tensor" in str(n.target)]
    (s_in, zp_in, qmin, qmax), (s_out, zp_out) = qs[0].args[1:5], dqs[-1].args[1:3]
    ph = [n for n in lm.original_module.graph.nodes if n.op == "placeholder"
          and n.meta["val"].shape == tuple(example.shape)][0]
    nhwc = ph.meta["val"].dim_order() == (0, 2, 3, 1)
    tosa_q, fq_q = [], []
    with capture_output():
        for i in range(len(inputs)):
            x = torch.as_tensor(inputs[i:i + 1])
            xq = torch.clamp(torch.round(x / s_in) + zp_in, qmin, qmax).to(torch.int8)
            xin = xq.permute(0, 2, 3, 1).contiguous().numpy() if nhwc else xq.numpy()
            outs, status = ref.run(lm.processed_bytes, [xin], verbosity="NONE",
                                   initialize_variable_tensor_from_numpy=True)
            if status != ref.GraphStatus.TOSA_VALID:
                raise RuntimeError(f"the TOSA reference model rejected the graph: {status}")
            tosa_q.append(np.asarray(outs[0]).astype(np.int32).reshape(-1))
            with torch.no_grad():
                fq = converted(x)
            fq_q.append(torch.clamp(torch.round(fq / s_out) + zp_out, -128, 127).numpy().astype(np.int32).reshape(-1))
    tosa_q, fq_q = np.stack(tosa_q), np.stack(fq_q)
    diff = np.abs(tosa_q - fq_q)
    return {"max_lsb_diff": int(diff.max()), "identical_fraction": float((diff == 0).mean()),
            "argmax_agreement": float((tosa_q.argmax(1) == fq_q.argmax(1)).mean()), "n": len(inputs),
            "tosa_int8": tosa_q, "fake_quant_int8": fq_q, "output_scale": float(s_out),
            "output_zero_point": int(zp_out), "tosa_bytes": len(lm.processed_bytes)}


# --------------------------------------------------------------------------------------------
# Other NPUs' partitioners
# --------------------------------------------------------------------------------------------

def partner_lower(model, example, backend: str, path=None) -> dict:
    """Lower ``model`` with the ``"coreml"`` or ``"vulkan"`` partitioner (both run on Linux; neither
    ``.pte`` can run here: Core ML needs Apple hardware, Vulkan a GPU driver). Returns the delegation
    table, node counts and the ``.pte`` size."""
    import torch
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    if backend not in ("coreml", "vulkan"):
        raise ValueError(f"unknown backend {backend!r}: 'coreml' or 'vulkan'")
    with quiet() as console:
        if backend == "coreml":
            from executorch.backends.apple.coreml.partition import CoreMLPartitioner as P
        else:
            from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner as P
        edge = to_edge_transform_and_lower(torch.export.export(model.eval(), (example,)), partitioner=[P()])
        buf = edge.to_executorch().buffer
    info = get_delegation_info(edge.exported_program().graph_module)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(buf)
    return {"backend": backend, "delegation": info.get_operator_delegation_dataframe(),
            "delegated_nodes": info.num_delegated_nodes, "non_delegated_nodes": info.num_non_delegated_nodes,
            "subgraphs": info.num_delegated_subgraphs, "pte_bytes": len(buf), "path": path,
            "graph": str(edge.exported_program().graph_module.graph), "console": console[0]}


def qnn_attempt(model, example) -> dict:
    """Try ExecuTorch's Qualcomm (QNN) lowering **without letting it download the SDK**.

    With ``QNN_SDK_ROOT`` unset, ExecuTorch's setup would download Qualcomm's SDK; setting it to an
    empty string tells it the caller is in charge, so it only tries to load ``libQnnHtp.so`` and
    fails. Returns ``{"ok": False, "error": <message>, "asks_for": <what it needs>}`` (or ``ok``
    True if an SDK is installed)."""
    old = os.environ.get("QNN_SDK_ROOT")
    if old is None:
        os.environ["QNN_SDK_ROOT"] = ""
    asks = ("Qualcomm's QNN / AI Engine Direct SDK: QNN_SDK_ROOT pointing at an installation and "
            "LD_LIBRARY_PATH including $QNN_SDK_ROOT/lib/x86_64-linux-clang/ (libQnnHtp.so); "
            "running the .pte needs a Snapdragon device")
    try:
        with quiet() as console:
            try:
                from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset
                from executorch.backends.qualcomm.utils.utils import (
                    generate_htp_compiler_spec, generate_qnn_executorch_compiler_spec,
                    to_edge_transform_and_lower_to_qnn)

                spec = generate_qnn_executorch_compiler_spec(
                    soc_model=QcomChipset.SM8650, backend_options=generate_htp_compiler_spec(use_fp16=True))
                to_edge_transform_and_lower_to_qnn(model.eval(), (example,), spec)
                result = {"ok": True, "error": None}
            except Exception as err:  # the honest outcome without the vendor SDK
                result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        native = [ln for ln in console[0].splitlines() if "QNN" in ln or "Qnn" in ln]
        return {**result, "native_log": "\n".join(native[-6:]), "asks_for": asks}
    finally:
        if old is None:
            os.environ.pop("QNN_SDK_ROOT", None)


def try_run_pte(path) -> str:
    """Try to load and run a ``.pte`` with the host's ExecuTorch runtime; returns what happened.
    An Ethos-U ``.pte`` fails here (``EthosUBackend is not registered``): it needs a Corstone FVP
    or a board, whose runtime includes the Ethos-U driver."""
    from .export import ExecuTorchRunner

    try:
        with capture_output() as log:
            runner = ExecuTorchRunner(path)
            runner(np.zeros((1, 1, 28, 28), np.float32))
        return "ran on the host"
    except Exception as err:
        native = [ln for ln in log[0].splitlines() if "not registered" in ln] if log else []
        return f"{type(err).__name__}: {err}" + (f"  [{native[0].strip()}]" if native else "")


# --------------------------------------------------------------------------------------------
# The fallback example: an L2-normalised output
# --------------------------------------------------------------------------------------------

def keras_with_unit_norm(keras_model):
    """``keras_model`` with a ``UnitNormalization`` (L2 normalisation) on its output, a common head
    for cosine scores. Its int8 TFLite keeps ``SQUARE`` in float (DEQUANTIZE → SQUARE → QUANTIZE),
    which Ethos-U cannot take: Vela leaves those operators on the CPU."""
    import keras

    return keras.Model(keras_model.inputs, keras.layers.UnitNormalization(name="l2norm")(keras_model.outputs[0]),
                       name=f"{keras_model.name}_l2")


def l2_normalized(model):
    """The PyTorch twin of the fallback example: a module computing ``F.normalize(model(x), dim=1)``.
    The Arm partitioner rejects parts of ``normalize`` (not quantized in the Arm backend)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class L2Normalized(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return F.normalize(self.inner(x), dim=1)

    return L2Normalized(model).eval()
