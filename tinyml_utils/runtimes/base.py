"""One small interface over the inference runtimes the course compares (chapter 06) and reuses
(chapter 07, the case studies): load a model file, predict logits, time batch-1 calls, report bytes.

Every wrapper takes the course's arrays, **NCHW float32 in [0, 1]**, and returns **float32
logits**; it handles its runtime's layout (NHWC for TensorFlow files), int8 (de)quantization of
input/output tensors and fixed batch-1 files by itself::

    rt = LiteRT("vision_keras_int8.tflite", xnnpack=False, threads=1)
    rt.load()                       # timed cold start: rt.load_ms
    logits = rt.predict(x)          # (N, 10) float32
    rt.latency(x[:1])               # profile.Latency: median and p95 in ms, batch 1
    rt.size_bytes                   # bytes of the artifact on disk

Wrappers: :class:`TorchEager` (the reference; also wraps PT2E fake-quant GraphModules),
:class:`ExecuTorchPte`, :class:`LiteRT` (``ai_edge_litert``, XNNPACK delegate on or off),
:class:`OnnxRuntime`, :class:`MediaPipeClassifier` (MediaPipe Tasks ``ImageClassifier``) and
:class:`TFLiteMicro` (the tflite-micro Python interpreter, with the arena it really needs).

Conversions that no other module owns live here too: :func:`export_onnx`,
:func:`quantize_onnx_int8`, :func:`litert_torch_tflite`, :func:`rgb_twin` and
:func:`mediapipe_classifier_file`. The PyTorch → ExecuTorch and Keras → TFLite conversions are in
:mod:`tinyml_utils.export` and :mod:`tinyml_utils.quantize`; the TFLite Micro helpers in
:mod:`tinyml_utils.deploy`.

Threads: each wrapper is built with a thread count (``threads=1`` for the course's
comparisons) and configures its runtime with it at load; :meth:`Runtime.latency` reloads if asked
for another count. MediaPipe Tasks has no thread setting in Python (``threads`` is ``None``).
"""
from __future__ import annotations

import copy
import importlib
import inspect
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import export, profile

# ----------------------------------------------------------------------------------------------
# The interface
# ----------------------------------------------------------------------------------------------


class Runtime:
    """Base class: a model file plus the runtime that executes it.

    Subclasses implement :meth:`_load` (build the session/interpreter from ``self.path``) and
    :meth:`_predict` (NCHW float32 batch → float32 logits). ``framework`` names the runtime
    (``"LiteRT"``), ``precision`` is ``"fp32"`` or ``"int8"``.
    """

    framework = "?"
    #: True when the runtime has no thread setting to change (TFLite Micro, MediaPipe Tasks)
    fixed_threads = False
    #: the modules this runtime needs imported (timed separately from :meth:`load`)
    imports: tuple[str, ...] = ()

    def __init__(self, path: str | Path | None = None, *, name: str | None = None, precision: str = "fp32",
                 threads: int | None = profile.DEFAULT_THREADS):
        self.path = Path(path) if path is not None else None
        self.name = name or f"{self.framework} {precision}"
        self.precision = precision
        self.threads = threads
        self.load_ms: float | None = None
        self._loaded = False

    # -- the four things every runtime offers ------------------------------------------------
    def load(self) -> float:
        """Build the runtime's session from the artifact; returns (and keeps in ``load_ms``) the
        wall time in ms. Framework imports are done first and not counted (see :func:`peak_memory`
        for a fresh-process measurement that includes them)."""
        import_modules(self.imports)
        t0 = time.perf_counter()
        self._load()
        self.load_ms = (time.perf_counter() - t0) * 1e3
        self._loaded = True
        return self.load_ms

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits (N, classes) for an NCHW float32 batch ``x`` in [0, 1] (loads if needed)."""
        if not self._loaded:
            self.load()
        return np.asarray(self._predict(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)

    __call__ = predict

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the artifact file on disk (``None`` when there is no file)."""
        return profile.file_bytes(self.path) if self.path is not None else None

    def latency(self, x1: np.ndarray, warmup: int = 20, repeats: int = 200, threads: int | None = None,
                max_seconds: float | None = 20.0) -> profile.Latency:
        """Batch-1 latency of :meth:`predict` (pre/post-processing included, as an app sees it) with
        :func:`tinyml_utils.profile.measure_latency`. ``threads`` other than the wrapper's own
        reloads the runtime with that count."""
        if threads is not None and threads != self.threads and not self.fixed_threads:
            self.threads = threads
            self.load()
        elif not self._loaded:
            self.load()
        x1 = np.ascontiguousarray(x1[:1], dtype=np.float32)
        reported = self.threads if self.threads is not None else (threads or profile.DEFAULT_THREADS)
        return profile.measure_latency(lambda: self.predict(x1), warmup=warmup, repeats=repeats,
                                       threads=reported, max_seconds=max_seconds)

    # -- for subclasses ---------------------------------------------------------------------
    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict | None:
        """How to rebuild this wrapper in a fresh process (for :func:`peak_memory`), or ``None``."""
        if self.path is None:
            return None
        return {"cls": type(self).__name__, "path": str(self.path),
                "kwargs": {"name": self.name, "precision": self.precision, "threads": self.threads,
                           **self._spec_kwargs()}}

    def _spec_kwargs(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, path={self.path}, threads={self.threads})"


def import_modules(names) -> float:
    """Import modules by name; returns the seconds it took (near 0 when already imported)."""
    t0 = time.perf_counter()
    for n in names:
        importlib.import_module(n)
    return time.perf_counter() - t0


def _batches(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _to_layout(x: np.ndarray, shape) -> np.ndarray:
    """Rearrange an NCHW batch for a model whose input tensor has ``shape`` (NCHW or NHWC)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or x.ndim != 4:
        return x
    if shape[1:] == x.shape[1:]:
        return x
    n, c, h, w = x.shape
    if shape[1:] == (h, w, c):
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    raise ValueError(f"input of shape {x.shape} (NCHW) does not fit the model's input tensor {shape}: "
                     "neither NCHW nor NHWC. Check that the model was converted for this data set.")


# ----------------------------------------------------------------------------------------------
# PyTorch eager (the reference)
# ----------------------------------------------------------------------------------------------


class TorchEager(Runtime):
    """An eager PyTorch module, or a PT2E-converted GraphModule (the fake-quant reference; pass
    ``set_eval=tinyml_utils.quantize.set_eval``). With ``path`` (a state dict ``.pt``) and
    ``arch`` (``{"fn": "tinyml_utils.models:vision_cnn", "kwargs": {...}}``) :meth:`load` builds
    the module and reads the weights, timed, and the wrapper can be rebuilt in another process."""

    framework = "PyTorch eager"
    imports = ("torch",)

    def __init__(self, model=None, path: str | Path | None = None, *, arch: dict | None = None,
                 set_eval: Callable | None = None, batch_size: int = 256, **kwargs):
        super().__init__(path, **kwargs)
        if model is None and (path is None or arch is None):
            raise ValueError("TorchEager needs a model, or a state-dict path plus arch to build it")
        self.model, self.arch, self._set_eval, self.batch_size = model, arch, set_eval, batch_size

    def _load(self) -> None:
        import torch

        profile.set_threads(self.threads or profile.DEFAULT_THREADS)
        if self.path is not None and self.arch is not None:
            mod, fn = self.arch["fn"].split(":")
            model = getattr(importlib.import_module(mod), fn)(**self.arch.get("kwargs", {}))
            model.load_state_dict(torch.load(self.path, weights_only=True))
            self.model = model
        if self._set_eval is not None:
            self._set_eval(self.model)
        else:
            self.model.eval()

    def _predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return _batches(lambda b: self.model(torch.from_numpy(b)).numpy(), x, self.batch_size)

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the state dict file, if there is one."""
        return super().size_bytes

    def spec(self) -> dict | None:
        return None if self.arch is None else super().spec()

    def _spec_kwargs(self) -> dict:
        return {"arch": self.arch}


# ----------------------------------------------------------------------------------------------
# ExecuTorch
# ----------------------------------------------------------------------------------------------


class ExecuTorchPte(Runtime):
    """A ``.pte`` run with ``executorch.runtime`` (:class:`tinyml_utils.export.ExecuTorchRunner`)."""

    framework = "ExecuTorch"
    imports = ("torch", "executorch.runtime")

    def _load(self) -> None:
        from .export import ExecuTorchRunner

        export.set_executorch_threads(self.threads or profile.DEFAULT_THREADS)
        self.runner = ExecuTorchRunner(self.path)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.runner.predict(x)


# ----------------------------------------------------------------------------------------------
# LiteRT (TFLite)
# ----------------------------------------------------------------------------------------------


def _litert_runner_cls():
    """:class:`tinyml_utils.quantize.LiteRTRunner` with a choice of op resolver (XNNPACK on/off)."""
    from .quantize import LiteRTRunner

    class _Runner(LiteRTRunner):
        def __init__(self, path, num_threads: int = 1, op_resolver_type=None):
            if op_resolver_type is None:
                super().__init__(path, num_threads=num_threads)
                return
            from ai_edge_litert.interpreter import Interpreter

            self.path = Path(path)
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads,
                                           experimental_op_resolver_type=op_resolver_type)
            self.interpreter.allocate_tensors()
            self.inp = self.interpreter.get_input_details()[0]
            self.out = self.interpreter.get_output_details()[0]

    return _Runner


class LiteRT(Runtime):
    """A ``.tflite`` run with ``ai_edge_litert``'s interpreter. ``xnnpack=True`` is LiteRT's default
    (the XNNPACK delegate takes the graph); ``False`` selects
    ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (LiteRT's own optimized kernels) and
    ``reference=True`` ``BUILTIN_REF`` (the slow reference kernels: TFLite's numerical spec)."""

    framework = "LiteRT"
    imports = ("ai_edge_litert.interpreter",)

    def __init__(self, path, *, xnnpack: bool = True, reference: bool = False, **kwargs):
        super().__init__(path, **kwargs)
        self.xnnpack, self.reference = xnnpack, reference

    @property
    def op_resolver(self) -> str:
        return "BUILTIN_REF" if self.reference else ("AUTO (XNNPACK)" if self.xnnpack else
                                                    "BUILTIN_WITHOUT_DEFAULT_DELEGATES")

    def _load(self) -> None:
        from ai_edge_litert.interpreter import OpResolverType

        kind = (OpResolverType.BUILTIN_REF if self.reference else
                None if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.runner = _litert_runner_cls()(self.path, num_threads=self.threads or 1, op_resolver_type=kind)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.runner.predict(_to_layout(x, self.runner.inp["shape"]))

    def _spec_kwargs(self) -> dict:
        return {"xnnpack": self.xnnpack, "reference": self.reference}


def litert_torch_tflite(model, example, path: str | Path, nhwc_input: bool = False) -> Path:
    """Convert an eager PyTorch model to a float32 ``.tflite`` with litert-torch (batch fixed by
    ``example``, e.g. ``torch.zeros(1, 1, 28, 28)``). ``nhwc_input=True`` wraps the model so the
    file takes NHWC images (what MediaPipe wants; ``example`` is then NHWC). Returns the path."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    import litert_torch

    model = copy.deepcopy(model).eval()
    if nhwc_input:
        model = litert_torch.to_channel_last_io(model, args=[0]).eval()
    edge = litert_torch.convert(model, (example,))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(edge.model_content()))
    return path


# ----------------------------------------------------------------------------------------------
# ONNX Runtime
# ----------------------------------------------------------------------------------------------


def export_onnx(model, example, path: str | Path, max_batch: int = 1024) -> Path:
    """``torch.onnx.export(dynamo=True)`` with a dynamic batch dimension (input name ``x``).
    ``example`` is one input batch; weights are stored inside the ``.onnx`` file."""
    import torch

    example = torch.as_tensor(np.asarray(example[:1], dtype=np.float32))
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    prog = torch.onnx.export(copy.deepcopy(model).eval(), (ex2,), dynamo=True, verbose=False,
                             dynamic_shapes=({0: batch},), external_data=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prog.save(str(path))
    return path


def quantize_onnx_int8(fp32_path: str | Path, calib_x: np.ndarray, path: str | Path,
                       per_channel: bool = True) -> Path:
    """onnxruntime's own static int8 quantization: ``quant_pre_process`` (shape inference, graph
    clean-up) → ``quantize_static`` in QDQ format, int8 activations and weights (per-channel
    weights), calibrated with min/max on ``calib_x`` (N, C, H, W) fed one image at a time."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static,
                                          shape_inference)
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    calib = np.asarray(calib_x, dtype=np.float32)

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(range(len(calib)))

        def get_next(self):
            i = next(self._it, None)
            return None if i is None else {input_name: calib[i:i + 1]}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        shape_inference.quant_pre_process(str(fp32_path), str(pre))
        quantize_static(str(pre), str(path), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
    return path


class OnnxRuntime(Runtime):
    """An ``.onnx`` file in an ``onnxruntime.InferenceSession`` on the CPU execution provider with
    ``intra_op_num_threads = threads``. ``optimize=False`` disables every graph optimization: a QDQ
    int8 model then runs its QuantizeLinear/DequantizeLinear pairs in float, which makes it the
    fake-quant reference of the same file (with optimizations on, ORT fuses them into int8 kernels)."""

    framework = "ONNX Runtime"
    imports = ("onnxruntime",)

    def __init__(self, path, *, optimize: bool = True, batch_size: int = 256, **kwargs):
        super().__init__(path, **kwargs)
        self.optimize, self.batch_size = optimize, batch_size

    def _load(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(self.threads or 1)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                                       else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return _batches(lambda b: self.session.run(None, {self.input_name: b})[0], x, self.batch_size)

    def _spec_kwargs(self) -> dict:
        return {"optimize": self.optimize}


# ----------------------------------------------------------------------------------------------
# MediaPipe Tasks
# ----------------------------------------------------------------------------------------------


def rgb_twin(model):
    """A copy of a 1-channel CNN that takes 3-channel (RGB) images: the first conv's weights are
    repeated over the 3 input channels and divided by 3, so a gray image copied to R, G and B gives
    the same logits as the original on the gray image (up to float rounding)."""
    import torch
    from torch import nn

    twin = copy.deepcopy(model).eval()
    for parent in twin.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != 1:
                    raise ValueError(f"rgb_twin expects a first conv with 1 input channel, got {child.in_channels}")
                new = nn.Conv2d(3, child.out_channels, child.kernel_size, child.stride, child.padding,
                                child.dilation, child.groups, child.bias is not None, child.padding_mode)
                with torch.no_grad():
                    new.weight.copy_(child.weight.repeat(1, 3, 1, 1) / 3)
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, name, new)
                return twin
    raise ValueError("rgb_twin: the model has no nn.Conv2d")


def mediapipe_classifier_file(model, labels, path: str | Path, image_hw=(28, 28),
                              norm_mean: float = 0.0, norm_std: float = 255.0) -> Path:
    """A MediaPipe-ready image classifier ``.tflite`` from a 1-channel PyTorch CNN: its
    :func:`rgb_twin`, converted with litert-torch to NHWC float32 input (batch 1), plus the
    metadata the Tasks API reads: labels and input normalization ``(pixel - mean) / std``
    (0 and 255 map uint8 pixels to the [0, 1] our models were trained on). The metadata writer
    comes from :func:`tinyml_utils.compat.mediapipe_metadata_writers` (the packaging stand-in)."""
    import torch

    from .compat import mediapipe_metadata_writers

    path = Path(path)
    plain = path.with_name(path.stem + "_nometa.tflite")
    litert_torch_tflite(rgb_twin(model), torch.zeros(1, *image_hw, 3), plain, nhwc_input=True)
    mediapipe_metadata_writers()
    from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer

    writer = image_classifier.MetadataWriter.create(
        bytearray(plain.read_bytes()), input_norm_mean=[float(norm_mean)], input_norm_std=[float(norm_std)],
        labels=metadata_writer.Labels().add([str(c) for c in labels]))
    data, _ = writer.populate()
    del writer
    path.write_bytes(bytes(data))
    plain.unlink()
    return path


class MediaPipeClassifier(Runtime):
    """MediaPipe Tasks ``ImageClassifier`` on a file from :func:`mediapipe_classifier_file`, called
    the way an app calls it: one ``mp.Image`` (uint8 RGB) per ``classify``. The course's gray
    [0, 1] images become uint8 RGB (``round(255 x)`` copied to 3 channels); the scores of all
    categories come back in class order (our model has no softmax, so they are the logits).
    MediaPipe's Python API has no thread setting: ``threads`` is ``None``."""

    framework = "MediaPipe Tasks"
    fixed_threads = True
    imports = ("mediapipe",)

    def __init__(self, path, **kwargs):
        kwargs.setdefault("threads", None)
        super().__init__(path, **kwargs)

    def _load(self) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(self.path)),
                                             max_results=-1)
        self.classifier = vision.ImageClassifier.create_from_options(opts)

    def close(self) -> None:
        """Release the MediaPipe graph (else its destructor may complain at interpreter exit)."""
        if getattr(self, "classifier", None) is not None:
            self.classifier.close()
            self.classifier = None
            self._loaded = False

    def _classify(self, img_u8: np.ndarray) -> np.ndarray:
        mp = self._mp
        res = self.classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=img_u8))
        cats = res.classifications[0].categories
        out = np.full(max(len(cats), max((c.index for c in cats), default=-1) + 1), np.nan, np.float32)
        for c in cats:
            out[c.index] = c.score
        return out

    def _predict(self, x: np.ndarray) -> np.ndarray:
        u8 = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)  # (N, C, H, W)
        if u8.shape[1] == 1:
            u8 = np.repeat(u8, 3, axis=1)
        imgs = np.ascontiguousarray(np.transpose(u8, (0, 2, 3, 1)))
        return np.stack([self._classify(np.ascontiguousarray(im)) for im in imgs])


# ----------------------------------------------------------------------------------------------
# TensorFlow Lite Micro
# ----------------------------------------------------------------------------------------------


class TFLiteMicro(Runtime):
    """An int8 ``.tflite`` in TFLite Micro's Python interpreter (:class:`tinyml_utils.deploy.TFLMRunner`,
    one image per invoke, as a microcontroller runs it; single-threaded). :meth:`arena_bytes`
    reads the bytes of tensor arena the interpreter actually allocated (:func:`deploy.tflm_arena_bytes`)."""

    framework = "TFLite Micro"
    fixed_threads = True
    imports = ("tflite_micro",)

    def __init__(self, path, **kwargs):
        kwargs.setdefault("precision", "int8")
        kwargs["threads"] = 1
        super().__init__(path, **kwargs)

    def _load(self) -> None:
        from .deploy import TFLMRunner

        self.runner = TFLMRunner(self.path)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self.runner.predict(_to_layout(x, self.runner.inp["shape"]))

    def arena_bytes(self) -> int:
        """Tensor-arena bytes TFLM used for one inference (its RecordingMicroAllocator's report)."""
        from .deploy import tflm_arena_bytes

        return int(tflm_arena_bytes(self.path)["arena_bytes"])


def open_runtime(path: str | Path, **kwargs) -> Runtime:
    """The wrapper for a model file by its suffix: ``.pte`` → :class:`ExecuTorchPte`, ``.tflite`` →
    :class:`LiteRT` (use :class:`TFLiteMicro`/:class:`MediaPipeClassifier` explicitly for those),
    ``.onnx`` → :class:`OnnxRuntime`. ``kwargs`` go to the wrapper (``name``, ``precision``, ``threads``...)."""
    suffix = Path(path).suffix
    cls = {".pte": ExecuTorchPte, ".tflite": LiteRT, ".onnx": OnnxRuntime}.get(suffix)
    if cls is None:
        raise ValueError(f"open_runtime: no runtime for {suffix!r} files ({path}); "
                         "use .pte, .tflite or .onnx, or build a wrapper class directly")
    return cls(path, **kwargs)


# ----------------------------------------------------------------------------------------------
# Measurements across runtimes
# ----------------------------------------------------------------------------------------------

RUNTIME_CLASSES = {c.__name__: c for c in (TorchEager, ExecuTorchPte, LiteRT, OnnxRuntime,
                                           MediaPipeClassifier, TFLiteMicro)}

PEAK_MEMORY_MEANING = ("extra peak resident memory (VmHWM after load + one batch-1 inference minus VmRSS "
                       "just before load) in a fresh Python process that had already imported the "
                       "framework; the peak is reset through /proc/self/clear_refs")


def from_spec(spec: dict) -> Runtime:
    """Rebuild a wrapper from :meth:`Runtime.spec`."""
    cls = RUNTIME_CLASSES[spec["cls"]]
    kwargs = dict(spec.get("kwargs", {}))
    if cls is TorchEager:
        return TorchEager(None, spec["path"], **kwargs)
    return cls(spec["path"], **kwargs)


def _proc_status_kb(key: str) -> int:
    m = re.search(rf"{key}:\s+(\d+)\s*kB", Path("/proc/self/status").read_text())
    return int(m.group(1)) if m else -1


def _memory_child(spec_json: str, x_path: str) -> None:
    """Body of the fresh process of :func:`peak_memory`; prints one JSON line."""
    t0 = time.perf_counter()
    spec = json.loads(spec_json)
    rt = from_spec(spec)
    import_s = import_modules(rt.imports)
    x1 = np.load(x_path)
    import_total = time.perf_counter() - t0
    before = _proc_status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")   # reset the high-water mark to current RSS
        how = "VmHWM"
    except OSError:
        how = "ru_maxrss"
    rt.load()
    rt.predict(x1)
    if how == "VmHWM":
        peak = _proc_status_kb("VmHWM")
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("PEAKMEM " + json.dumps({"peak_extra_bytes": max(0, peak - before) * 1024, "rss_before_bytes": before * 1024,
                                   "import_s": import_s, "startup_s": import_total, "load_ms": rt.load_ms,
                                   "how": how}), flush=True)
    if hasattr(rt, "close"):
        rt.close()


def peak_memory(rt: Runtime, x1: np.ndarray, timeout: float = 300.0) -> dict | None:
    """Measure, in a fresh Python process, the framework import time (s), the cold load time (ms)
    and the extra peak resident memory (bytes) of load + one inference (see
    :data:`PEAK_MEMORY_MEANING`). Returns ``None`` for wrappers that cannot be rebuilt from a
    file (e.g. an in-memory fake-quant GraphModule)."""
    spec = rt.spec()
    if spec is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        xp = Path(tmp) / "x1.npy"
        np.save(xp, np.ascontiguousarray(x1[:1], dtype=np.float32))
        code = ("import sys; from tinyml_utils.runtimes import _memory_child; "
                "_memory_child(sys.argv[1], sys.argv[2])")
        env = dict(os.environ, OMP_NUM_THREADS=str(rt.threads or 1), TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=str(Path(__file__).resolve().parent.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec), str(xp)], capture_output=True,
                              text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("PEAKMEM "):
            return json.loads(line[len("PEAKMEM "):])
    raise RuntimeError(f"peak_memory({rt.name}) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def parity(logits: np.ndarray, reference: np.ndarray) -> dict:
    """Output parity: max |difference| of logits and top-1 agreement (fraction in [0, 1])."""
    logits, reference = np.asarray(logits, np.float32), np.asarray(reference, np.float32)
    if logits.shape != reference.shape:
        raise ValueError(f"parity: shapes differ {logits.shape} vs {reference.shape}")
    return {"max_abs_diff": float(np.max(np.abs(logits - reference))),
            "top1_agreement": float(np.mean(logits.argmax(1) == reference.argmax(1)))}


# ----------------------------------------------------------------------------------------------
# Conversion bookkeeping: did each step succeed, how long, how much code
# ----------------------------------------------------------------------------------------------


@dataclass
class ConversionLog:
    """Steps of each runtime's conversion: (runtime, step, ok, seconds, error). Use :meth:`step`."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def step(self, runtime: str, step: str, fn: Callable[[], Any], *, required: bool = False):
        """Run ``fn()``; record success and wall time; on failure record the error and return
        ``None`` (or re-raise when ``required``)."""
        t0 = time.perf_counter()
        try:
            out = fn()
            self.rows.append({"runtime": runtime, "step": step, "ok": True,
                              "seconds": time.perf_counter() - t0, "error": ""})
            return out
        except Exception as e:  # noqa: BLE001 - a failing conversion is a result to report
            self.rows.append({"runtime": runtime, "step": step, "ok": False,
                              "seconds": time.perf_counter() - t0, "error": f"{type(e).__name__}: {e}"[:300]})
            if required:
                raise
            return None

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["runtime", "step", "ok", "seconds", "error"])


def code_lines(*objs) -> int:
    """Lines of code of functions/classes (docstrings, comments and blank lines not counted): a
    plain, crude measure of the effort a conversion path takes."""
    total = 0
    for obj in objs:
        src = inspect.getsource(obj)
        lines: set[int] = set()
        prev = tokenize.INDENT
        for tok in tokenize.generate_tokens(io.StringIO(_dedent(src)).readline):
            if tok.type == tokenize.STRING and prev in (tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT):
                prev = tok.type
                continue  # a docstring or bare string statement
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT, tokenize.ENDMARKER):
                lines.update(range(tok.start[0], tok.end[0] + 1))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok.type
        total += len(lines)
    return total


def _dedent(src: str) -> str:
    import textwrap

    return textwrap.dedent(src)


# ----------------------------------------------------------------------------------------------
# Comparing several runtimes in one run
# ----------------------------------------------------------------------------------------------


def evaluate(rt: Runtime, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None) -> dict:
    """Accuracy of ``rt`` on (x, y) and, given reference logits, :func:`parity` against them.
    Returns ``{"accuracy", "max_abs_diff", "top1_agreement", "logits"}``."""
    logits = rt.predict(x)
    out = {"accuracy": float(np.mean(logits.argmax(1) == np.asarray(y))), "logits": logits}
    if reference is not None:
        out.update(parity(logits, reference))
    return out


def latency_pass(rts, x1: np.ndarray, *, warmup: int = 20, repeats: int = 200, rounds: int = 3,
                 threads: int = profile.DEFAULT_THREADS) -> dict[str, dict]:
    """Batch-1 latency of several runtimes in one pass, interleaved: ``rounds`` rounds, each
    timing every runtime for ``repeats // rounds`` calls (after ``warmup``), so a burst of load
    on a shared machine hits all of them alike. Per runtime: the median over rounds of the
    per-round median and p95 (ms), and each round's median. Keys are ``rt.name``."""
    per = max(10, repeats // max(1, rounds))
    rts = list(rts)
    runs: dict[str, list] = {rt.name: [] for rt in rts}
    for _ in range(rounds):
        for rt in rts:
            runs[rt.name].append(rt.latency(x1, warmup=warmup, repeats=per, threads=threads))
    out = {}
    for rt in rts:
        lats = runs[rt.name]
        out[rt.name] = {"latency_ms_p50": float(np.median([lt.p50_ms for lt in lats])),
                        "latency_ms_p95": float(np.median([lt.p95_ms for lt in lats])),
                        "round_p50_ms": [lt.p50_ms for lt in lats], "calls": int(sum(lt.repeats for lt in lats)),
                        "threads": rt.threads}
    return out


def reachable_code(*entries) -> list:
    """The ``tinyml_utils`` functions and classes ``entries`` use, followed transitively (names in
    their code that resolve to module globals or to ``from .x import y`` inside the function).
    With :func:`code_lines` this counts the library code one conversion path depends on."""
    import ast

    seen: dict[str, Any] = {}
    todo = list(entries)
    while todo:
        obj = inspect.unwrap(todo.pop())
        mod = getattr(obj, "__module__", "") or ""
        key = f"{mod}.{getattr(obj, '__qualname__', repr(obj))}"
        if not mod.startswith("tinyml_utils") or key in seen:
            continue
        seen[key] = obj
        try:
            tree = ast.parse(_dedent(inspect.getsource(obj)))
        except (OSError, TypeError, SyntaxError):
            continue
        namespace = dict(vars(sys.modules[mod]))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = "tinyml_utils" + (f".{node.module}" if node.module else "")
                try:
                    m = importlib.import_module(base)
                except ImportError:
                    continue
                for alias in node.names:
                    if hasattr(m, alias.name):
                        namespace[alias.asname or alias.name] = getattr(m, alias.name)
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Name):
                target = namespace.get(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                base = namespace.get(node.value.id)
                if inspect.ismodule(base) and base.__name__.startswith("tinyml_utils"):
                    target = getattr(base, node.attr, None)
            if (inspect.isfunction(target) or inspect.isclass(target)) and \
                    (getattr(target, "__module__", "") or "").startswith("tinyml_utils"):
                todo.append(target)
    return list(seen.values())
