"""The one artifact store: every file a later chapter reuses is loaded, or rebuilt, here.

Rule: an artifact is reused only when its **content key** matches: a hash of the files it was
made from (their bytes), its recipe (:mod:`.recipes`, plus width/seed/mode) and the pinned
versions of the frameworks that made it. Anything else (missing, corrupt, made by another recipe
or version, made from a checkpoint that changed, no key) is rebuilt, so every chapter also runs
on its own. Files are written atomically and sealed with a SHA-256 sidecar; the key, the file's
SHA-256 and what the build reported go into a ``.json`` beside the file (the key file). A file whose
bytes differ from that digest, or that has no recorded digest at all, is stale: it is rebuilt with
one printed line saying why. Quick and full runs never mix.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable

from .. import data as datasets
from .. import measure
from .. import train as training
from ..compress import distill, prune, quantize
from ..convert import executorch, tflite
from ..core import io, locks, paths
from ..core.env import seed_everything, versions
from ..models import VISION_WIDTHS, vision_cnn
from ..models.keras import to_nhwc, vision_cnn_keras
from . import pipelines, recipes

#: distributions whose versions are part of every content key
PINNED = ("torch", "torchao", "torch-pruning", "executorch", "tensorflow-cpu", "keras", "tf-keras",
          "tensorflow-model-optimization", "numpy")


@dataclass
class Checkpoint:
    """A trained model plus what we know about it (accuracy measured when it was built)."""

    model: object
    path: Path
    info: dict


@dataclass
class Spec:
    """What an artifact is made from: its file, the files it is built from, and its recipe."""

    path: Path
    recipe: dict
    sources: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    def key(self) -> str:
        """The content key: sha256 over the sources' bytes, the recipe and the pinned versions."""
        h = hashlib.sha256()
        for src in self.sources:
            h.update(hashlib.sha256(Path(src).read_bytes()).digest())
        h.update(json.dumps(_plain(self.recipe), sort_keys=True, default=str).encode())
        h.update(versions(*PINNED).encode())
        return h.hexdigest()[:20]


def _plain(obj):
    if is_dataclass(obj):
        return asdict(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def staleness(spec: Spec) -> tuple[dict | None, str]:
    """``(info, "")`` when ``spec``'s file is fresh: it exists, its key file's key matches and its bytes
    match the SHA-256 recorded when it was written (in the key file; older key files: the sidecar).
    Else ``(None, why)``: why it must be (re)built, one line."""
    if not spec.path.exists():
        return None, "not built yet"
    if not spec.meta_path.exists():
        return None, f"its key file {spec.meta_path.name} is missing"
    try:
        meta = io.read_json(spec.meta_path, fix="it is rebuilt")
        if not isinstance(meta, dict):
            raise io.ArtifactError(spec.meta_path, "is not a key file", "it is rebuilt")
        if meta.get("key") != spec.key():
            return None, "its sources, recipe or library versions changed"
        io.verify(spec.path, fix="it is rebuilt", digest=meta.get("sha256"), required=True)
    except io.ArtifactError as e:
        return None, str(e).removeprefix(f"{e.path}: ").split(" Fix:")[0].rstrip(".")
    return meta.get("info", {}), ""


def fresh(spec: Spec) -> dict | None:
    """The saved info of ``spec``'s file if :func:`staleness` finds it fresh, else ``None``."""
    return staleness(spec)[0]


def _fresh_or_say(spec: Spec) -> dict | None:
    """:func:`fresh`, printing one line when a file that exists is about to be rebuilt (damaged,
    undigested or out of date), so a learner sees why training runs again."""
    info, why = staleness(spec)
    if info is None and spec.path.exists():
        print(f"rebuilding {spec.path}: {why}")
    return info


def save(spec: Spec, write: Callable[[Path], object], info: dict | None = None) -> Path:
    """Write the artifact with ``write(tmp_path)``, rename it into place, seal it with its SHA-256
    sidecar, then write its key file (all atomically, :mod:`tinyml_utils.core.io`)."""
    with io.atomic_writer(spec.path) as tmp:
        write(tmp)
    digest = io.seal(spec.path)
    io.write_json(spec.meta_path, {"key": spec.key(), "sha256": digest, "recipe": _plain(spec.recipe),
                                   "versions": versions(*PINNED), "sources": [str(s) for s in spec.sources],
                                   "info": _plain(info or {})})
    return spec.path


def load_or_build(spec: Spec, load: Callable[[Path], object], build: Callable[[], tuple],
                  rebuild: bool = False) -> tuple[object, dict]:
    """``(load(path), info)`` when ``spec`` is fresh; else ``build() -> (obj, write, info)`` runs,
    the file is saved with :func:`save` and ``(obj, info)`` returned."""
    info = None if rebuild else _fresh_or_say(spec)
    if info is not None:
        return load(spec.path), info
    # One builder at a time (sweep workers share the store); whoever waited re-checks and reuses.
    with locks.file_lock(spec.path.with_name(spec.path.name + ".lock"), what=str(spec.path)):
        info = None if rebuild else fresh(spec)
        if info is not None:
            return load(spec.path), info
        obj, write, info = build()
        save(spec, write, info)
    return obj, info


# ------------------------------------------------------------------------------ trained models
def _width(width: int | str) -> int:
    return VISION_WIDTHS[width] if isinstance(width, str) else int(width)


def _vision_spec(width, quick: bool, seed: int, keras: bool = False) -> Spec:
    w = _width(width)
    name = f"vision_keras_w{w}_s{seed}.keras" if keras else f"vision_w{w}_s{seed}.pt"
    return Spec(paths.artifacts_dir(quick) / name, {"arch": "vision_cnn_keras" if keras else "vision_cnn",
                                                    "width": w, "seed": seed, "quick": bool(quick),
                                                    "recipe": recipes.VISION(quick)})


def vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                 data=None) -> Checkpoint:
    """The trained PyTorch vision CNN at ``width`` (chapter 02's recipe :data:`recipes.VISION`)."""
    import torch

    spec = _vision_spec(width, quick, seed)

    def load(path):
        model = vision_cnn(_width(width))
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()

    def build():
        ds = data if data is not None else datasets.load("vision", quick=quick, seed=0)
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

    model, info = load_or_build(spec, load, build, rebuild=retrain)
    return Checkpoint(model, spec.path, info)


def keras_vision_model(width: int | str = "baseline", quick: bool = False, seed: int = 0, retrain: bool = False,
                       data=None) -> Checkpoint:
    """The Keras 3 twin of :func:`vision_model`, trained with Keras' own ``fit`` (``.keras`` file)."""
    import keras

    spec = _vision_spec(width, quick, seed, keras=True)

    def build():
        ds = data if data is not None else datasets.load("vision", quick=quick, seed=0)
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
    return Checkpoint(model, spec.path, info)


# ------------------------------------------------------------------------------ compressed models
def _pruned_spec(kind: str, quick: bool, seed: int) -> Spec:
    base = vision_model("baseline", quick=quick, seed=seed)
    recipe = (recipes.UNSTRUCTURED(quick).upto(recipes.UNSTRUCTURED_ARTIFACT_SPARSITY) if kind == "unstructured"
              else recipes.STRUCTURED(quick))
    return Spec(paths.artifacts_dir(quick) / f"vision_pruned_{kind}.pt",
                {"kind": kind, "seed": seed, "quick": bool(quick), "recipe": recipe}, (base.path,))


def save_pruned(model, kind: str, quick: bool, seed: int, info: dict) -> Path:
    """Store a pruned model the chapter built (``kind``: ``"unstructured"`` or ``"structured"``)."""
    return save(_pruned_spec(kind, quick, seed), lambda p: prune.save_pruned(model, p, info), info)


def pruned(kind: str, quick: bool = False, seed: int = 0, rebuild: bool = False) -> tuple[object, dict]:
    """Chapter 03's pruned baseline, ``(VisionCNN in eval mode, info)``: ``"unstructured"`` (80 %
    global magnitude, iteratively fine-tuned, zeros permanent) or ``"structured"`` (about half the
    MACs, fine-tuned; narrower layers)."""
    if kind not in ("unstructured", "structured"):
        raise ValueError(f"kind must be 'unstructured' or 'structured', got {kind!r}")
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

    return load_or_build(spec, lambda p: prune.load_pruned(p)[0], build, rebuild=rebuild)


def _student_spec(quick: bool) -> Spec:
    teacher = vision_model("teacher", quick=quick)
    return Spec(paths.artifacts_dir(quick) / "vision_student_distilled.pt",
                {"kind": "distilled_student", "quick": bool(quick), "recipe": recipes.STUDENT(quick)},
                (teacher.path,))


def save_distilled_student(student, quick: bool, info: dict) -> Path:
    """Store the distilled student chapter 05 trained (``info`` records its T, alpha, accuracies)."""
    return save(_student_spec(quick), lambda p: io.torch_save(student.state_dict(), p), info)


def distilled_student(quick: bool = False, rebuild: bool = False, data=None) -> Checkpoint:
    """Chapter 05's distilled width-8 student; rebuilt with :data:`recipes.STUDENT`,
    :data:`recipes.TEMPERATURE` and :data:`recipes.ALPHA`, seed 0, when not fresh."""
    import torch

    spec = _student_spec(quick)

    def load(path):
        model = vision_cnn("student")
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()

    def build():
        ds = data if data is not None else datasets.load("vision", quick=quick, seed=0)
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

    model, info = load_or_build(spec, load, build, rebuild=rebuild)
    return Checkpoint(model, spec.path, info)


# ------------------------------------------------------------------------------ deployable files
DEPLOYABLES = ("vision_fp32.pte", "vision_int8_ptq.pte", "vision_int8_qat.pte",
               "vision_keras_fp32.tflite", "vision_keras_int8.tflite")


def deployables(quick: bool = False, seed: int = 0, rebuild: bool = False,
                names=DEPLOYABLES) -> dict[str, Path]:
    """Chapter 04's deployable files of the baselines, ``{name without suffix: Path}``:
    ``vision_fp32`` (float32 XNNPACK .pte), ``vision_int8_ptq`` / ``vision_int8_qat`` (int8 XNNPACK
    .pte, PT2E PTQ / QAT, per-channel), ``vision_keras_fp32`` / ``vision_keras_int8`` (TFLite of
    the Keras baseline, batch 1; the int8 one full-integer with int8 input and output)."""
    out, ds = {}, None
    for name in names:
        spec = _deployable_spec(name, quick, seed)
        if rebuild or _fresh_or_say(spec) is None:
            ds = ds or datasets.load("vision", quick=quick, seed=0)
            model = _deployable_source(name, quick, seed).model
            write = _deployable_writer(name.rsplit(".", 1)[0], model, ds, quick, seed)
            save(spec, write, {"source": str(spec.sources[0])})
        out[name.rsplit(".", 1)[0]] = spec.path
    return out


def _deployable_source(name: str, quick: bool, seed: int) -> Checkpoint:
    return (keras_vision_model if name.startswith("vision_keras") else vision_model)("baseline", quick=quick, seed=seed)


def _deployable_spec(name: str, quick: bool, seed: int) -> Spec:
    if name not in DEPLOYABLES:
        raise ValueError(f"unknown deployable {name!r}; known: {DEPLOYABLES}")
    key = name.rsplit(".", 1)[0]
    recipe = {"kind": key, "seed": seed, "calib_n": recipes.CALIB_N, "quick": bool(quick),
              "qat": recipes.QAT(quick) if "qat" in key else None}
    return Spec(paths.artifacts_dir(quick) / name, recipe, (_deployable_source(name, quick, seed).path,))


def save_deployable(name: str, quick: bool, seed: int, write: Callable[[Path], object]) -> Path:
    """Store a deployable file a chapter built itself with :func:`deployables`' recipe (e.g.
    chapter 04's PTQ ``.pte``): ``write(path)`` writes it; returns the final path."""
    spec = _deployable_spec(name, quick, seed)
    return save(spec, write, {"source": str(spec.sources[0])})


def _deployable_writer(key: str, model, ds, quick: bool, seed: int) -> Callable[[Path], object]:
    import torch

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


def deployment_candidates(quick: bool = False, data=None, seed: int = 0, calib_n: int = 200) -> list[dict]:
    """The int8 (full-integer, batch-1) TFLite files chapter 07 deploys: the baseline
    (``vision_keras_int8``), chapter 03's structured and 80 %-sparse models and chapter 05's
    distilled student, each through its Keras twin (:func:`tinyml_utils.convert.tflite.from_torch_int8`,
    ``calib_n`` training images). Dicts with ``name``, ``technique``, ``chapter``, ``tflite``
    (Path) and ``torch`` (the PyTorch model, for MACs and the ExecuTorch path)."""
    ds = data if data is not None else datasets.load("vision", quick=quick, seed=0)
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=seed).x
    cands = [{"name": "baseline", "technique": "int8 PTQ (ch04)", "chapter": "04",
              "tflite": deployables(quick, seed=seed, names=("vision_keras_int8.tflite",))["vision_keras_int8"],
              "torch": vision_model("baseline", quick=quick, seed=seed, data=ds).model}]
    student = distilled_student(quick, data=ds)
    builders = [
        ("pruned-structured", "channel pruning + int8 (ch03)", "03", pruned("structured", quick, seed)[0],
         _pruned_spec("structured", quick, seed).path),
        ("pruned-80%", "80% magnitude pruning + int8 (ch03)", "03", pruned("unstructured", quick, seed)[0],
         _pruned_spec("unstructured", quick, seed).path),
        ("distilled", "distilled width-8 student + int8 (ch05)", "05", student.model, student.path),
    ]
    for name, technique, chapter, model, source in builders:
        model = model.eval()
        spec = Spec(paths.artifacts_dir(quick) / f"ch07_{name.replace('%', 'pct')}_int8.tflite",
                    {"kind": "torch_int8_tflite", "calib_n": calib_n, "seed": seed}, (source,))
        if _fresh_or_say(spec) is None:
            save(spec, lambda p, m=model: tflite.from_torch_int8(m, calib, p, n_representative=calib_n),
                 {"source": str(source)})
        cands.append({"name": name, "technique": technique, "chapter": chapter, "tflite": spec.path, "torch": model})
    return cands
