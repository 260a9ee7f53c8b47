"""The generated C on the host (ctypes: the fast check), LiteRT's reference kernels with every tensor
kept, and the per-layer comparison. Trap: the target is ``BUILTIN_REF``; XNNPACK may round otherwise.
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
    exe = shutil.which("gcc") or shutil.which("cc")
    return [exe] if exe else [sys.executable, "-m", "ziglang", "cc"]


class HostModel:
    """A :class:`~.codegen.CProgram` compiled into a shared library and loaded with ctypes."""

    def __init__(self, program: CProgram, lib_path: Path):
        self.program, self.plans = program, program.layers
        self.lib = ctypes.CDLL(str(lib_path))
        self._in = (ctypes.c_int8 * program.input.size).in_dll(self.lib, "g_input")
        self._out = (ctypes.c_int8 * program.output.size).in_dll(self.lib, "g_output")
        self._layer_ptr = (ctypes.c_void_p * len(self.plans)).in_dll(self.lib, "g_layer_output")
        self.lib.model_invoke_layers.argtypes = [ctypes.c_int]

    def _write(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(-1)
        if x.size != self.program.input.size:
            raise ValueError(f"input has {x.size} values, the model takes {self.program.input.size}")
        ctypes.memmove(self._in, x.ctypes.data, x.size)

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 input (any shape of the right size) → int8 output in the model's shape."""
        self._write(x)
        self.lib.model_invoke()
        return np.ctypeslib.as_array(self._out).copy().reshape(self.program.output.shape)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, NHWC-4D int8 (layer i re-runs layers 0..i: the arena reuses buffers)."""
        outs = []
        for i, plan in enumerate(self.plans):
            self._write(x)
            self.lib.model_invoke_layers(i + 1)
            buf = (ctypes.c_int8 * plan.out_size).from_address(self._layer_ptr[i])
            outs.append(np.ctypeslib.as_array(buf).copy().reshape(plan.out_shape))
        return outs


def build_host(program: CProgram) -> HostModel:
    """``program.sources`` as a shared library for this machine, cached by content hash."""
    cc, opt = host_compiler(), "-O2"
    key = hashlib.sha256(repr((sorted(program.sources.items()), opt, cc[-1])).encode()).hexdigest()[:16]
    out_dir = paths.build_dir() / "firmware-host" / f"{program.model_name}-{key}"
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


class LiteRTReference:
    """A ``.tflite`` in LiteRT's reference kernels with every intermediate tensor kept."""

    def __init__(self, tflite_path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(model_path=str(tflite_path), num_threads=1,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                                       experimental_preserve_all_tensors=True)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], np.asarray(x, np.int8).reshape(self.input["shape"]))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run_many(self, xs: np.ndarray) -> np.ndarray:
        return np.stack([self.run(x) for x in xs])

    def tensors(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Run ``x``; every tensor the graph holds, by index."""
        self.run(x)
        out = {}
        for d in self.interpreter.get_tensor_details():
            try:
                out[d["index"]] = self.interpreter.get_tensor(d["index"])
            except ValueError:                      # tensors without data (absent, or freed)
                continue
        return out


def compare_layers(plans: list[Layer], ours: list[np.ndarray], reference: dict[int, np.ndarray]) -> list[dict]:
    """One row per layer: values equal / total, largest |difference| (int8 LSBs) vs LiteRT's tensors."""
    rows = []
    for layer, mine in zip(plans, ours):
        ref = np.asarray(reference[layer.output]).reshape(-1).astype(np.int32)
        got = np.asarray(mine).reshape(-1).astype(np.int32)
        diff = np.abs(got - ref)
        rows.append({"layer": layer.index, "name": layer.name, "op": layer.op, "equal": int((diff == 0).sum()),
                     "total": int(ref.size), "max_abs_diff": int(diff.max()) if diff.size else 0})
    return rows


def first_mismatch(rows: list[dict]) -> dict | None:
    """The first row of :func:`compare_layers` with a difference, or None."""
    return next((r for r in rows if r["equal"] != r["total"]), None)


def op_agreement(tflite_path, xs: np.ndarray, rounding: str | None = None) -> list[dict]:
    """Per op kind: output values of the numpy kernel, fed LiteRT's input of each layer, equal to
    LiteRT's, over the int8 rows ``xs``. ``rounding`` ("double", "single") forces one on every op."""
    ref = LiteRTReference(tflite_path)
    plans = layer_plans.plan(tflite_model.read(tflite_path))
    for p in plans:
        if rounding and "rounding" in p.params:
            p.params["rounding"] = rounding
    counts: dict[str, list] = {}
    for x in xs:
        t = ref.tensors(x)
        for p in plans:
            ours = numpy_model.KERNELS[p.op](t[p.input].reshape(p.in_shape), p).reshape(-1)
            row = counts.setdefault(p.op, [p.params.get("rounding", "-"), 0, 0])
            row[1] += int((ours == t[p.output].reshape(-1)).sum())
            row[2] += ours.size
    return [{"op": k, "rounding": r, "equal": e, "total": n} for k, (r, e, n) in counts.items()]
