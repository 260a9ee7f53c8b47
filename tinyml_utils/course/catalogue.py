"""What the chapters build and later chapters reuse, through the artifact store (:mod:`.store`).
Builders take the run's ``Context`` and return an :class:`Artifact`; a chapter that builds a file itself
hands it over with :func:`save`."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .. import data as datasets
from .. import measure
from .. import train as training
from ..compress import distill, prune, quantize
from ..convert import executorch, tflite
from ..core import io
from ..core.context import Context
from ..core.env import seed_everything
from ..models import VISION_WIDTHS, vision_cnn
from ..models.keras import to_nhwc, vision_cnn_keras
from . import pipelines, recipes, store
from .store import Spec, load_or_build

DEPLOYABLES = ("vision_fp32.pte", "vision_int8_ptq.pte", "vision_int8_qat.pte",
               "vision_keras_fp32.tflite", "vision_keras_int8.tflite")
STUDENT = "vision_student_distilled.pt"


@dataclass
class Artifact:
    """One file of the store; ``model`` is ``None`` where the file is the product (a ``.pte``)."""

    name: str
    path: Path
    model: object = None
    info: dict = field(default_factory=dict)


def _width(width: int | str) -> int:
    return VISION_WIDTHS[width] if isinstance(width, str) else int(width)


def _torch_loader(width: int | str) -> Callable[[Path], object]:
    def load(path):
        model = vision_cnn(_width(width))
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    return load


def _vision_data(data, ctx: Context):
    return data if data is not None else datasets.load("vision", quick=ctx.quick, seed=0)


# ------------------------------------------------------------------------------ trained models
def _vision_spec(ctx: Context, width, keras: bool = False) -> Spec:
    w = _width(width)
    name = f"vision_keras_w{w}_s{ctx.seed}.keras" if keras else f"vision_w{w}_s{ctx.seed}.pt"
    return Spec(ctx.store / name, {"arch": "vision_cnn_keras" if keras else "vision_cnn", "width": w,
                                   "seed": ctx.seed, "quick": ctx.quick, "recipe": recipes.VISION(ctx)})


def vision_model(ctx: Context, width: int | str = "baseline", retrain: bool = False, data=None) -> Artifact:
    """The trained PyTorch vision CNN at ``width`` (:data:`recipes.VISION`)."""
    spec = _vision_spec(ctx, width)

    def build():
        ds = _vision_data(data, ctx)
        # One thread: float sums split over threads round differently, so the trained weights (and
        # the accuracy to 0.1 pt) would depend on how many cores the machine has.
        measure.set_threads(1)
        seed_everything(ctx.seed)
        model = vision_cnn(_width(width))
        recipe = recipes.VISION(ctx)
        t0 = time.perf_counter()
        hist = training.fit(model, ds.train, ds.val, augment=training.random_affine(), seed=ctx.seed,
                            desc=f"vision w={_width(width)}", **recipe.kwargs())
        info = {"width": _width(width), "seed": ctx.seed, "quick": ctx.quick, "recipe": asdict(recipe),
                "train_seconds": time.perf_counter() - t0, "best_epoch": hist.best_epoch,
                "val_accuracy": hist.best_val_accuracy, "test_accuracy": measure.accuracy(model, ds.test),
                "history": hist.epochs}
        return model, lambda p: io.torch_save(model.state_dict(), p), info

    model, info = load_or_build(spec, _torch_loader(width), build, rebuild=retrain)
    return Artifact(spec.path.stem, spec.path, model, info)


def keras_vision_model(ctx: Context, width: int | str = "baseline", retrain: bool = False,
                       data=None) -> Artifact:
    """The Keras 3 twin of :func:`vision_model`, trained with Keras' own ``fit``."""
    import keras

    spec = _vision_spec(ctx, width, keras=True)

    def build():
        ds = _vision_data(data, ctx)
        model = vision_cnn_keras(_width(width))
        r = recipes.VISION(ctx)
        t0 = time.perf_counter()
        hist = training.fit_keras(model, ds.train, ds.val, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
                                  seed=ctx.seed)
        info = {"width": _width(width), "seed": ctx.seed, "quick": ctx.quick, "recipe": asdict(r),
                "train_seconds": time.perf_counter() - t0, "test_accuracy": measure.accuracy(model, ds.test),
                "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}
        return model, model.save, info

    model, info = load_or_build(spec, keras.models.load_model, build, rebuild=retrain)
    return Artifact(spec.path.stem, spec.path, model, info)


# ------------------------------------------------------------------------------ compressed models
def _pruned_spec(ctx: Context, kind: str) -> Spec:
    if kind not in ("unstructured", "structured"):
        raise ValueError(f"kind must be 'unstructured' or 'structured', got {kind!r}")
    base = vision_model(ctx)
    recipe = (recipes.UNSTRUCTURED(ctx).upto(recipes.UNSTRUCTURED_ARTIFACT_SPARSITY) if kind == "unstructured"
              else recipes.STRUCTURED(ctx))
    return Spec(ctx.store / f"vision_pruned_{kind}.pt",
                {"kind": kind, "seed": ctx.seed, "quick": ctx.quick, "recipe": recipe}, (base.path,))


def pruned(ctx: Context, kind: str) -> Artifact:
    """Chapter 03's pruned baseline (eval mode): ``"unstructured"`` (80 % global magnitude, zeros
    permanent) or ``"structured"`` (about half the MACs; narrower layers)."""
    spec = _pruned_spec(ctx, kind)

    def build():
        ds = datasets.load("vision", quick=ctx.quick, seed=0)
        base = vision_model(ctx, data=ds).model
        if kind == "unstructured":
            step = pipelines.unstructured_recipe(base, ds, ctx, upto=recipes.UNSTRUCTURED_ARTIFACT_SPARSITY)[-1]
            model, info = step.model, {"sparsity": step.sparsity, "test_accuracy": step.accuracy,
                                       "epochs": step.epochs, "scope": "global"}
        else:
            model, info = pipelines.structured_recipe(base, ds, ctx)
            info = dict(info, test_accuracy=info["accuracy"])
        info.update(quick=ctx.quick, seed=ctx.seed)
        return model, lambda p: prune.save_pruned(model, p, info), info

    model, info = load_or_build(spec, lambda p: prune.load_pruned(p)[0], build)
    return Artifact(spec.path.stem, spec.path, model, info)


def _student_spec(ctx: Context) -> Spec:
    teacher = vision_model(ctx, "teacher")
    return Spec(ctx.store / STUDENT, {"kind": "distilled_student", "seed": ctx.seed, "quick": ctx.quick,
                                      "recipe": recipes.STUDENT(ctx)}, (teacher.path,))


def distilled_student(ctx: Context, data=None) -> Artifact:
    """Chapter 05's width-8 student, distilled from the teacher of the same seed."""
    spec = _student_spec(ctx)

    def build():
        ds = _vision_data(data, ctx)
        teacher = vision_model(ctx, "teacher", data=ds)
        measure.set_threads(1)   # as vision_model: else the weights depend on whether the teacher was just trained
        student = distill.new_student("student", ctx.seed)
        r = recipes.STUDENT(ctx)
        hist = distill.distill(student, teacher.model, ds.train, ds.val, temperature=recipes.TEMPERATURE,
                               alpha=recipes.ALPHA, seed=ctx.seed, **r.kwargs())
        info = {"width": VISION_WIDTHS["student"], "seed": ctx.seed, "quick": ctx.quick,
                "temperature": recipes.TEMPERATURE, "alpha": recipes.ALPHA, "recipe": asdict(r),
                "val_accuracy": hist.best_val_accuracy, "test_accuracy": measure.accuracy(student, ds.test),
                "teacher": str(teacher.path)}
        return student, lambda p: io.torch_save(student.state_dict(), p), info

    model, info = load_or_build(spec, _torch_loader("student"), build)
    return Artifact(spec.path.stem, spec.path, model, info)


# ------------------------------------------------------------------------------ deployable files
def _deployable_source(ctx: Context, name: str) -> Artifact:
    return (keras_vision_model if name.startswith("vision_keras") else vision_model)(ctx)


def _deployable_spec(ctx: Context, name: str) -> Spec:
    if name not in DEPLOYABLES:
        raise ValueError(f"unknown artifact {name!r}; known: {(STUDENT, 'vision_pruned_<kind>.pt') + DEPLOYABLES}")
    key = name.rsplit(".", 1)[0]
    recipe = {"kind": key, "seed": ctx.seed, "calib_n": recipes.CALIB_N, "quick": ctx.quick,
              "qat": recipes.QAT(ctx) if "qat" in key else None}
    return Spec(ctx.store / name, recipe, (_deployable_source(ctx, name).path,))


def _deployable_writer(ctx: Context, key: str, model, ds) -> Callable[[Path], object]:
    example = torch.as_tensor(ds.val.x[:2])
    calib = ds.train.subset(min(recipes.CALIB_N, len(ds.train)), seed=ctx.seed).x
    if key == "vision_fp32":
        return lambda p: executorch.to_executorch(model.eval(), example, p)
    if key == "vision_int8_ptq":
        return lambda p: executorch.to_executorch(quantize.ptq_pt2e(model, calib), example, p)
    if key == "vision_int8_qat":
        return lambda p: executorch.to_executorch(
            quantize.qat_pt2e(model, ds.train, ds.val, seed=ctx.seed, **recipes.QAT(ctx).kwargs()), example, p)
    if key == "vision_keras_fp32":
        return lambda p: tflite.fp32(model, p)
    return lambda p: tflite.int8(model, to_nhwc(calib), p, int8_io=True, n_representative=recipes.CALIB_N)


def deployables(ctx: Context, names=DEPLOYABLES) -> list[Artifact]:
    """Chapter 04's deployable files of the baselines: XNNPACK ``.pte`` (int8 per-channel) and batch-1
    TFLite (the int8 one with int8 input and output); an Artifact's name is the file's stem."""
    out = []
    for name in names:
        spec, key = _deployable_spec(ctx, name), name.rsplit(".", 1)[0]

        def build(spec=spec, key=key):
            model = _deployable_source(ctx, spec.path.name).model
            ds = datasets.load("vision", quick=ctx.quick, seed=0)
            return None, _deployable_writer(ctx, key, model, ds), {"source": str(spec.sources[0])}

        _, info = load_or_build(spec, lambda p: None, build)
        out.append(Artifact(key, spec.path, None, info))
    return out


def save(name: str, ctx: Context, write: Callable[[Path], object], info: dict | None = None) -> Artifact:
    """Store a file a chapter built itself under its builder's key: one of :data:`DEPLOYABLES`,
    ``vision_pruned_<kind>.pt`` (by ``prune.save_pruned``) or :data:`STUDENT` (its state dict)."""
    if name.startswith("vision_pruned_"):
        spec = _pruned_spec(ctx, name.removeprefix("vision_pruned_").removesuffix(".pt"))
        load = lambda p: prune.load_pruned(p)[0]  # noqa: E731
    elif name == STUDENT:
        spec, load = _student_spec(ctx), _torch_loader("student")
    else:
        spec, load = _deployable_spec(ctx, name), None
        info = {"source": str(spec.sources[0])}
    store.save(spec, write, info)
    # loading what was written checks it is in the format the builder reads back
    return Artifact(spec.path.stem, spec.path, load(spec.path) if load else None, info or {})


def deployment_candidates(ctx: Context, data=None, calib_n: int = 200) -> list[Artifact]:
    """The full-integer batch-1 TFLite files chapter 07 deploys (baseline, chapter 03's pruned models,
    chapter 05's student); ``model`` is the PyTorch model; ``info`` has ``technique`` and ``chapter``."""
    ds = _vision_data(data, ctx)
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=ctx.seed).x
    base = deployables(ctx, names=("vision_keras_int8.tflite",))[0]
    cands = [Artifact("baseline", base.path, vision_model(ctx, data=ds).model,
                      {"technique": "int8 PTQ (ch04)", "chapter": "04"})]
    student = distilled_student(ctx, data=ds)
    sources = [("pruned-structured", "channel pruning + int8 (ch03)", "03", pruned(ctx, "structured")),
               ("pruned-80%", "80% magnitude pruning + int8 (ch03)", "03", pruned(ctx, "unstructured")),
               ("distilled", "distilled width-8 student + int8 (ch05)", "05", student)]
    for name, technique, chapter, src in sources:
        model = src.model.eval()
        spec = Spec(ctx.store / f"ch07_{name.replace('%', 'pct')}_int8.tflite",
                    {"kind": "torch_int8_tflite", "calib_n": calib_n, "seed": ctx.seed}, (src.path,))

        def build(model=model, src=src):
            write = lambda p: tflite.from_torch_int8(model, calib, p, n_representative=calib_n)  # noqa: E731
            return None, write, {"source": str(src.path)}

        load_or_build(spec, lambda p: None, build)
        cands.append(Artifact(name, spec.path, model, {"technique": technique, "chapter": chapter}))
    return cands
