"""The generated C on the host (``gcc -shared`` + ctypes), LiteRT's reference tensors, and the
per-layer comparison that names the first layer where two runs differ.

The host build is the fast check: the same C kernels, compiled for x86 (the SIMD variant's
``SMLAD``/``SXTB16`` become plain C functions with the same results), run thousands of inputs a
second. The bit-exactness target is LiteRT's reference kernels:
``Interpreter(..., experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
experimental_preserve_all_tensors=True)`` keeps every intermediate tensor readable after
``invoke``; LiteRT's default path (XNNPACK) is not guaranteed to round identically.

>>> host = build_host(codegen.generate("m_int8.tflite", "simd"))
>>> ref = LiteRTReference("m_int8.tflite")
>>> report = compare_layers(host.plans, host.layer_outputs(x), ref.tensors(x))
>>> first_mismatch(report)       # None when every layer is bit-exact, else the first bad layer's row
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..core import paths
from . import layers as layer_plans
from . import reference as numpy_model
from . import tflite_model
from .codegen import CProgram
from .layers import Layer


def host_compiler() -> list[str]:
    """``gcc`` (or ``cc``) when present, else zig's clang from the pip-installed ``ziglang``."""
    for name in ("gcc", "cc"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return [sys.executable, "-m", "ziglang", "cc"]


class HostModel:
    """A :class:`~tinyml_utils.firmware.codegen.CProgram` compiled into a shared library and loaded
    with ctypes. ``run`` one int8 input → int8 output; ``layer_outputs`` every layer's output."""

    def __init__(self, program: CProgram, lib_path: Path):
        self.program, self.plans, self.path = program, program.plans, lib_path
        self.lib = ctypes.CDLL(str(lib_path))
        self.n_layers = len(program.layers)
        self._in = (ctypes.c_int8 * program.input.size).in_dll(self.lib, "g_input")
        self._out = (ctypes.c_int8 * program.output.size).in_dll(self.lib, "g_output")
        self._layer_ptr = (ctypes.c_void_p * self.n_layers).in_dll(self.lib, "g_layer_output")
        self.lib.model_invoke_layers.argtypes = [ctypes.c_int]

    def _write(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        if x.size != self.program.input.size:
            raise ValueError(f"input has {x.size} values, the model takes {self.program.input.size}")
        ctypes.memmove(self._in, x.ctypes.data, x.size)

    def run(self, x: np.ndarray) -> np.ndarray:
        """One inference: int8 input (any shape with the right size) → int8 output, the model's shape."""
        self._write(x)
        self.lib.model_invoke()
        return np.ctypeslib.as_array(self._out).copy().reshape(self.program.output.shape)

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        """:meth:`run` over the first axis of ``xs``; returns (N, *output shape) int8."""
        return np.stack([self.run(x) for x in xs])

    def layer_output(self, x: np.ndarray, i: int) -> np.ndarray:
        """Run layers 0..i on ``x`` and return layer i's output (NHWC-4D int8)."""
        self._write(x)
        self.lib.model_invoke_layers(i + 1)
        shape = self.plans[i].out_shape
        buf = (ctypes.c_int8 * int(np.prod(shape))).from_address(self._layer_ptr[i])
        return np.ctypeslib.as_array(buf).copy().reshape(shape)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for ``x`` (layer i re-runs layers 0..i: the arena reuses buffers)."""
        return [self.layer_output(x, i) for i in range(self.n_layers)]


def build_host(program: CProgram, opt: str = "-O2", out_dir=None) -> HostModel:
    """Compile ``program.sources`` into a shared library for this machine (``-shared -fPIC``),
    cached by content hash under ``build/firmware-host``; returns the loaded :class:`HostModel`."""
    cc = host_compiler()
    key = hashlib.sha256(repr((sorted(program.sources.items()), opt, cc[-1])).encode()).hexdigest()[:16]
    out_dir = Path(out_dir) if out_dir else paths.build_dir() / "firmware-host" / f"{program.model_name}-{key}"
    lib = out_dir / f"lib{program.model_name}_{program.variant}.so"
    if not lib.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in program.sources.items():
            (out_dir / name).write_text(text)
        srcs = [str(out_dir / n) for n in sorted(program.sources) if n.endswith(".c")]
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        cmd = [*cc, opt, "-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(tmp), *srcs]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"host build of {program.model_name} failed:\n{' '.join(cmd)}\n{res.stderr[-3000:]}")
        os.replace(tmp, lib)
    return HostModel(program, lib)


def emulated_layer_outputs(emulator, program: CProgram, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output of ``program`` running in ``emulator`` (a
    :class:`tinyml_utils.firmware.emulator.Emulator` of its firmware): for layer i, write ``x``,
    call ``model_invoke_layers(i + 1)`` and read through the 32-bit pointer ``g_layer_output[i]``."""
    x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
    outs = []
    for i, plan in enumerate(program.plans):
        emulator.write("g_input", x)
        emulator.call("model_invoke_layers", i + 1)
        ptr = int(emulator.read("g_layer_output", np.uint32)[i])
        outs.append(emulator.read_at(ptr, plan.out_size).reshape(plan.out_shape))
    return outs


class LiteRTReference:
    """A ``.tflite`` in LiteRT's reference kernels with every intermediate tensor kept."""

    def __init__(self, tflite_path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.path = Path(tflite_path)
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=1,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                                       experimental_preserve_all_tensors=True)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 input → int8 output (the model's shapes)."""
        self.interpreter.set_tensor(self.input["index"], np.asarray(x, np.int8).reshape(self.input["shape"]))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        return np.stack([self.run(x) for x in xs])

    def tensors(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Run ``x`` and return every tensor the graph computed, by tensor index."""
        self.run(x)
        out = {}
        for d in self.interpreter.get_tensor_details():
            try:
                out[d["index"]] = self.interpreter.get_tensor(d["index"])
            except ValueError:                      # tensors without data (absent, or freed)
                continue
        return out


def compare_layers(plans: list[Layer], ours: list[np.ndarray], reference: dict[int, np.ndarray]) -> list[dict]:
    """One row per layer: name, op, values equal / total, largest |difference| (int8 LSBs).
    ``ours[i]`` is layer i's output (host, emulator or numpy), ``reference`` LiteRT's tensors."""
    rows = []
    for layer, mine in zip(plans, ours):
        ref = np.asarray(reference[layer.output]).reshape(-1).astype(np.int32)
        got = np.asarray(mine).reshape(-1).astype(np.int32)
        if ref.size != got.size:
            raise ValueError(f"layer {layer.name}: {got.size} values vs LiteRT's {ref.size}")
        diff = np.abs(got - ref)
        rows.append({"layer": layer.index, "name": layer.name, "op": layer.kind, "equal": int((diff == 0).sum()),
                     "total": int(ref.size), "max_abs_diff": int(diff.max()) if diff.size else 0})
    return rows


def first_mismatch(rows: list[dict]) -> dict | None:
    """The first row of :func:`compare_layers` with a difference (the layer to look at), or None."""
    return next((r for r in rows if r["equal"] != r["total"]), None)


def op_agreement(tflite_path, xs: np.ndarray, rounding: str | None = None) -> list[dict]:
    """Per op kind: how many output values of the numpy kernel (:mod:`.reference`), fed LiteRT's own
    input of each layer, equal LiteRT's reference output, over every input in ``xs`` (int8 rows).
    ``rounding`` ("double" or "single") forces that requantization on every op instead of the op's
    own (:data:`tinyml_utils.firmware.requant.ROUNDING`): the table that shows the rounding is per op."""
    ref = LiteRTReference(tflite_path)
    plans = layer_plans.plan(tflite_model.read(tflite_path))
    for p in plans:
        if rounding and "rounding" in p.params:
            p.params["rounding"] = rounding
    counts: dict[str, list] = {}
    for x in xs:
        t = ref.tensors(x)
        for p in plans:
            ours = numpy_model.KERNELS[p.kind](t[p.input].reshape(p.in_shape), p).reshape(-1)
            row = counts.setdefault(p.kind, [p.params.get("rounding", "-"), 0, 0])
            row[1] += int((ours == t[p.output].reshape(-1)).sum())
            row[2] += ours.size
    return [{"op": k, "rounding": r, "equal": e, "total": n} for k, (r, e, n) in counts.items()]


def bit_exact_counts(run, reference: LiteRTReference, xs: np.ndarray) -> dict:
    """Run ``run(x)`` (host or emulated firmware) and LiteRT's reference kernels on every input in
    ``xs``: how many outputs agree in every value, and how many values agree."""
    same_inputs = same_values = total = 0
    for x in xs:
        a, b = np.asarray(run(x)).reshape(-1), reference.run(x).reshape(-1)
        same_inputs += int(np.array_equal(a, b))
        same_values += int((a == b).sum())
        total += a.size
    return {"inputs": len(xs), "identical_outputs": same_inputs, "values_equal": same_values, "values": total}
