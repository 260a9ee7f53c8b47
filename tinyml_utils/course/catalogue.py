"""What the chapters build and later chapters reuse, through the artifact store (:mod:`.store`).

Every builder returns an :class:`Artifact` (or, for a family of files, a list of them): the file,
the model it holds (``None`` when the file itself is what a chapter uses) and what its build reported.
When a chapter builds a file itself, it hands it over with :func:`save` under the same key, so a later
chapter reuses it; otherwise the builder rebuilds it with the chapter's recipe (:mod:`.recipes`).
Every key names its inputs: source files, recipe, seed and mode; quick and full runs never mix.
"""
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
    """One file of the store: ``name``, ``path``, the ``model`` it holds (``None`` where the file itself
    is the product, e.g. a ``.pte``) and ``info``, what its build reported (accuracies measured then...)."""

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


def _vision_data(data, quick: bool):
    return data if data is not None else datasets.load("vision", quick=quick, seed=0)


# ------------------------------------------------------------------------------ trained models
def _vision_spec(width, quick: bool, seed: int, keras: bool = False) -> Spec:
    w = _width(width)
    name = f"vision_keras_w{w}_s{seed}.keras" if keras else f"vision_w{w}_s{seed}.pt"
    return Spec(store.folder(quick) / name, {"arch": "vision_cnn_keras" if keras else "vision_cnn",
                                             "width": w, "seed": seed, "quick": bool(quick),
                                             "recipe": recipes.VISION(quick)})


def vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                 data=None) -> Artifact:
    """The trained PyTorch vision CNN at ``width`` (chapter 02's recipe :data:`recipes.VISION`)."""
    spec = _vision_spec(width, quick, seed)

    def build():
        ds = _vision_data(data, quick)
        # One thread: float sums split over threads round differently, so the trained weights (and
        # the accuracy to 0.1 pt) would depend on how many cores the machine has.
        measure.set_threads(1)
        seed_everything(seed)
        model = vision_cnn(_width(width))
        recipe = recipes.VISION(quick)
        t0 = time.perf_counter()
        hist = training.fit(model, ds.train, ds.val, augment=training.random_affine(), seed=seed,
                            desc=f"vision w={_width(width)}", **recipe.kwargs())
        info = {"width": _width(width), "seed": seed, "quick": bool(quick), "recipe": asdict(recipe),
                "train_seconds": time.perf_counter() - t0, "best_epoch": hist.best_epoch,
                "val_accuracy": hist.best_val_accuracy, "test_accuracy": measure.accuracy(model, ds.test),
                "history": hist.epochs}
        return model, lambda p: io.torch_save(model.state_dict(), p), info

    model, info = load_or_build(spec, _torch_loader(width), build, rebuild=retrain)
    return Artifact(spec.path.stem, spec.path, model, info)


def keras_vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                       data=None) -> Artifact:
    """The Keras 3 twin of :func:`vision_model`, trained with Keras' own ``fit`` (``.keras`` file)."""
    import keras

    spec = _vision_spec(width, quick, seed, keras=True)

    def build():
        ds = _vision_data(data, quick)
        model = vision_cnn_keras(_width(width))
        r = recipes.VISION(quick)
        t0 = time.perf_counter()
        hist = training.fit_keras(model, ds.train, ds.val, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
                                  seed=seed)
        info = {"width": _width(width), "seed": seed, "quick": bool(quick), "recipe": asdict(r),
                "train_seconds": time.perf_counter() - t0, "test_accuracy": measure.accuracy(model, ds.test),
                "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}
        return model, model.save, info

    model, info = load_or_build(spec, keras.models.load_model, build, rebuild=retrain)
    return Artifact(spec.path.stem, spec.path, model, info)


# ------------------------------------------------------------------------------ compressed models
def _pruned_spec(kind: str, quick: bool, seed: int) -> Spec:
    if kind not in ("unstructured", "structured"):
        raise ValueError(f"kind must be 'unstructured' or 'structured', got {kind!r}")
    base = vision_model("baseline", quick=quick, seed=seed)
    recipe = (recipes.UNSTRUCTURED(quick).upto(recipes.UNSTRUCTURED_ARTIFACT_SPARSITY) if kind == "unstructured"
              else recipes.STRUCTURED(quick))
    return Spec(store.folder(quick) / f"vision_pruned_{kind}.pt",
                {"kind": kind, "seed": seed, "quick": bool(quick), "recipe": recipe}, (base.path,))


def pruned(kind: str, quick: bool = False, seed: int = 0) -> Artifact:
    """Chapter 03's pruned baseline (model in eval mode): ``"unstructured"`` (80 % global magnitude,
    iteratively fine-tuned, zeros permanent) or ``"structured"`` (about half the MACs, fine-tuned;
    narrower layers)."""
    spec = _pruned_spec(kind, quick, seed)

    def build():
        ds = datasets.load("vision", quick=quick, seed=0)
        base = vision_model("baseline", quick=quick, seed=seed, data=ds).model
        if kind == "unstructured":
            step = pipelines.unstructured_recipe(base, ds, quick, seed, upto=recipes.UNSTRUCTURED_ARTIFACT_SPARSITY)[-1]
            model, info = step.model, {"sparsity": step.sparsity, "test_accuracy": step.accuracy,
                                       "epochs": step.epochs, "scope": "global"}
        else:
            model, info = pipelines.structured_recipe(base, ds, quick, seed)
            info = dict(info, test_accuracy=info["accuracy"])
        info.update(quick=bool(quick), seed=seed)
        return model, lambda p: prune.save_pruned(model, p, info), info

    model, info = load_or_build(spec, lambda p: prune.load_pruned(p)[0], build)
    return Artifact(spec.path.stem, spec.path, model, info)


def _student_spec(quick: bool) -> Spec:
    teacher = vision_model("teacher", quick=quick)
    return Spec(store.folder(quick) / STUDENT,
                {"kind": "distilled_student", "quick": bool(quick), "recipe": recipes.STUDENT(quick)},
                (teacher.path,))


def distilled_student(quick: bool = False, data=None) -> Artifact:
    """Chapter 05's distilled width-8 student; rebuilt with :data:`recipes.STUDENT`,
    :data:`recipes.TEMPERATURE` and :data:`recipes.ALPHA`, seed 0, when not fresh."""
    spec = _student_spec(quick)

    def build():
        ds = _vision_data(data, quick)
        teacher = vision_model("teacher", quick=quick, data=ds)
        student = distill.new_student("student", 0)
        r = recipes.STUDENT(quick)
        hist = distill.distill(student, teacher.model, ds.train, ds.val, temperature=recipes.TEMPERATURE,
                               alpha=recipes.ALPHA, seed=0, **r.kwargs())
        info = {"width": VISION_WIDTHS["student"], "seed": 0, "quick": bool(quick),
                "temperature": recipes.TEMPERATURE, "alpha": recipes.ALPHA, "recipe": asdict(r),
                "val_accuracy": hist.best_val_accuracy, "test_accuracy": measure.accuracy(student, ds.test),
                "teacher": str(teacher.path)}
        return student, lambda p: io.torch_save(student.state_dict(), p), info

    model, info = load_or_build(spec, _torch_loader("student"), build)
    return Artifact(spec.path.stem, spec.path, model, info)


# ------------------------------------------------------------------------------ deployable files
def _deployable_source(name: str, quick: bool, seed: int) -> Artifact:
    return (keras_vision_model if name.startswith("vision_keras") else vision_model)("baseline", quick=quick, seed=seed)


def _deployable_spec(name: str, quick: bool, seed: int) -> Spec:
    if name not in DEPLOYABLES:
        raise ValueError(f"unknown artifact {name!r}; known: {(STUDENT, 'vision_pruned_<kind>.pt') + DEPLOYABLES}")
    key = name.rsplit(".", 1)[0]
    recipe = {"kind": key, "seed": seed, "calib_n": recipes.CALIB_N, "quick": bool(quick),
              "qat": recipes.QAT(quick) if "qat" in key else None}
    return Spec(store.folder(quick) / name, recipe, (_deployable_source(name, quick, seed).path,))


def _deployable_writer(key: str, model, ds, quick: bool, seed: int) -> Callable[[Path], object]:
    example = torch.as_tensor(ds.val.x[:2])
    calib = ds.train.subset(min(recipes.CALIB_N, len(ds.train)), seed=seed).x
    if key == "vision_fp32":
        return lambda p: executorch.to_executorch(model.eval(), example, p)
    if key == "vision_int8_ptq":
        return lambda p: executorch.to_executorch(quantize.ptq_pt2e(model, calib), example, p)
    if key == "vision_int8_qat":
        return lambda p: executorch.to_executorch(
            quantize.qat_pt2e(model, ds.train, ds.val, seed=seed, **recipes.QAT(quick).kwargs()), example, p)
    if key == "vision_keras_fp32":
        return lambda p: tflite.fp32(model, p)
    if key == "vision_keras_int8":
        return lambda p: tflite.int8(model, to_nhwc(calib), p, int8_io=True, n_representative=recipes.CALIB_N)
    raise ValueError(f"unknown deployable {key!r}; known: {DEPLOYABLES}")


def deployables(quick: bool = False, seed: int = 0, names=DEPLOYABLES) -> list[Artifact]:
    """Chapter 04's deployable files of the baselines, named by file without suffix: ``vision_fp32``
    (float32 XNNPACK .pte), ``vision_int8_ptq`` / ``vision_int8_qat`` (int8 XNNPACK .pte, PT2E PTQ /
    QAT, per-channel), ``vision_keras_fp32`` / ``vision_keras_int8`` (TFLite of the Keras baseline,
    batch 1; the int8 one full-integer with int8 input and output)."""
    out = []
    for name in names:
        spec, key = _deployable_spec(name, quick, seed), name.rsplit(".", 1)[0]

        def build(spec=spec, key=key):
            model = _deployable_source(spec.path.name, quick, seed).model
            ds = datasets.load("vision", quick=quick, seed=0)
            return None, _deployable_writer(key, model, ds, quick, seed), {"source": str(spec.sources[0])}

        _, info = load_or_build(spec, lambda p: None, build)
        out.append(Artifact(key, spec.path, None, info))
    return out


def save(name: str, quick: bool, seed: int, write: Callable[[Path], object], info: dict | None = None) -> Artifact:
    """Store a file a chapter built itself under the key its builder uses, so later chapters reuse it:
    ``name`` is a file of :data:`DEPLOYABLES` (info: its source), ``vision_pruned_<kind>.pt`` (write it
    with :func:`tinyml_utils.compress.prune.save_pruned`) or :data:`STUDENT` (its state dict; the key
    names no seed: :func:`distilled_student` builds seed 0). ``write(path)`` writes it."""
    if name.startswith("vision_pruned_"):
        spec = _pruned_spec(name.removeprefix("vision_pruned_").removesuffix(".pt"), quick, seed)
        load = lambda p: prune.load_pruned(p)[0]  # noqa: E731
    elif name == STUDENT:
        spec, load = _student_spec(quick), _torch_loader("student")
    else:
        spec, load = _deployable_spec(name, quick, seed), None
        info = {"source": str(spec.sources[0])}
    store.save(spec, write, info)
    # loading what was written checks it is in the format the builder reads back
    return Artifact(spec.path.stem, spec.path, load(spec.path) if load else None, info or {})


def deployment_candidates(quick: bool = False, data=None, seed: int = 0, calib_n: int = 200) -> list[Artifact]:
    """The int8 (full-integer, batch-1) TFLite files chapter 07 deploys: the baseline
    (``vision_keras_int8``), chapter 03's structured and 80 %-sparse models and chapter 05's
    distilled student, each through its Keras twin (:func:`tinyml_utils.convert.tflite.from_torch_int8`,
    ``calib_n`` training images). ``model`` is the PyTorch model (for MACs and the ExecuTorch path);
    ``info`` has ``technique`` and ``chapter``."""
    ds = _vision_data(data, quick)
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=seed).x
    base = deployables(quick, seed=seed, names=("vision_keras_int8.tflite",))[0]
    cands = [Artifact("baseline", base.path, vision_model("baseline", quick=quick, seed=seed, data=ds).model,
                      {"technique": "int8 PTQ (ch04)", "chapter": "04"})]
    student = distilled_student(quick, data=ds)
    sources = [("pruned-structured", "channel pruning + int8 (ch03)", "03", pruned("structured", quick, seed)),
               ("pruned-80%", "80% magnitude pruning + int8 (ch03)", "03", pruned("unstructured", quick, seed)),
               ("distilled", "distilled width-8 student + int8 (ch05)", "05", student)]
    for name, technique, chapter, src in sources:
        model = src.model.eval()
        spec = Spec(store.folder(quick) / f"ch07_{name.replace('%', 'pct')}_int8.tflite",
                    {"kind": "torch_int8_tflite", "calib_n": calib_n, "seed": seed}, (src.path,))

        def build(model=model, src=src):
            write = lambda p: tflite.from_torch_int8(model, calib, p, n_representative=calib_n)  # noqa: E731
            return None, write, {"source": str(src.path)}

        load_or_build(spec, lambda p: None, build)
        cands.append(Artifact(name, spec.path, model, {"technique": technique, "chapter": chapter}))
    return cands
