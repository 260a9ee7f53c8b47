"""Chapter 03's pruning recipes and chapter 05's closing pipeline (prune, distil, quantize, convert)."""
from __future__ import annotations

import contextlib
import copy
import io
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from .. import measure, runtimes
from .. import train as training
from ..compress import distill, prune, quantize
from ..convert import executorch, tflite
from ..convert.keras_twin import keras_twin
from ..core.context import Context
from ..models.keras import legacy_keras
from . import recipes


def unstructured_recipe(base: nn.Module, ds, ctx: Context, upto: float | None = None) -> list[prune.PruneStep]:
    """Iterative magnitude pruning of ``base`` (:data:`recipes.UNSTRUCTURED`, targets up to ``upto``)."""
    r = recipes.UNSTRUCTURED(ctx).upto(upto)
    augment = training.random_affine() if r.augment else None
    return prune.prune_and_finetune(base, ds.train, ds.val, list(r.schedule), epochs_per_step=list(r.epochs_per_step),
                                    lr=r.lr, batch_size=r.batch_size, scope=r.scope, skip=r.skip, seed=ctx.seed,
                                    augment=augment, eval_split=ds.test, desc="iterative")


def structured_recipe(base: nn.Module, ds, ctx: Context):
    """Channel-prune ``base`` to :data:`recipes.STRUCTURED`'s MAC target and fine-tune it: ``(model, info)``."""
    r = recipes.STRUCTURED(ctx)
    example = torch.as_tensor(ds.test.x[:1])
    model, info = prune.channel_prune(base, example, r.target_macs_ratio)
    info["accuracy_pruned"] = measure.accuracy(model, ds.test)
    t0 = time.perf_counter()
    hist = training.fit(model, ds.train, ds.val, epochs=r.epochs, lr=r.lr, batch_size=r.batch_size,
                        seed=ctx.seed, desc="fine-tune channels")
    info.update(accuracy=measure.accuracy(model, ds.test), finetune_epochs=r.epochs,
                finetune_seconds=time.perf_counter() - t0, best_epoch=hist.best_epoch)
    return model.eval(), info


def closing_pipeline(student: nn.Module, cache: distill.TeacherCache, ds, ctx: Context, *,
                     temperature: float = recipes.TEMPERATURE, alpha: float = recipes.ALPHA, calib_n: int = 512):
    """Per ratio of :data:`recipes.PIPELINE`: prune every conv, fine-tune with the distillation loss,
    PT2E QAT → int8 ``.pte`` and tfmot QAT of a tf-keras twin → int8-in/out batch-1 ``.tflite``, into
    ``ctx.scratch("pipelines")``. Returns ``(table, {ratio: dict(model, converted, pte, tflite, tag)})``.

    Trap: tfmot needs ``models.keras.legacy_keras`` before TensorFlow is first imported; otherwise the
    TFLite files fall back to PTQ on ``calib_n`` images, with a warning."""
    import pandas as pd

    r, q, seed = recipes.PIPELINE(ctx), recipes.QAT(ctx), ctx.seed
    out_dir = ctx.scratch("pipelines")
    example = torch.as_tensor(ds.test.x[:1])
    calib = ds.train.subset(min(calib_n, len(ds.train)), seed=seed).x
    try:
        tf_keras = legacy_keras()
    except RuntimeError as e:  # TensorFlow already imported with Keras 3: tfmot cannot run here
        tf_keras = None
        warnings.warn(f"TFLite files fall back to post-training quantization: {e}")
    rows, variants = [], {}
    for ratio in training.progress(list(r.prune_ratios), desc="pipeline"):
        t0 = time.perf_counter()
        tag = f"vision_student_p{int(round(100 * ratio))}"
        model = prune.prune_channels(student, example, ratio) if ratio > 0 else copy.deepcopy(student)
        model.eval()
        acc_pruned = measure.accuracy(model, ds.test)
        if ratio > 0 and r.finetune_epochs > 0:
            distill.distill(model, cache, ds.train, ds.val, temperature=temperature, alpha=alpha,
                            epochs=r.finetune_epochs, seed=seed, lr=r.finetune_lr, batch_size=r.batch_size,
                            desc=f"fine-tune {tag}")
        acc_float = measure.accuracy(model, ds.test)
        converted = quantize.qat_pt2e(model, ds.train, ds.val, seed=seed, augment=training.random_affine(),
                                      desc=f"QAT {tag}", **q.kwargs())
        fq_logits = measure.logits(converted, ds.test.x)
        pte = executorch.to_executorch(converted, example, out_dir / f"{tag}_int8.pte")
        pte_logits = runtimes.ExecuTorchPte(pte).predict(ds.test.x)
        tfl = out_dir / f"{tag}_int8.tflite"
        with contextlib.redirect_stdout(io.StringIO()):  # the TF converter prints its SavedModel signature
            if tf_keras is not None:
                _, _, qat_b1 = quantize.tfmot_qat(lambda b: keras_twin(model, keras=tf_keras, batch_size=b),
                                                  ds.train, ds.val, epochs=q.epochs, lr=q.lr, batch_size=q.batch_size,
                                                  seed=seed, keras=tf_keras)
                tfl = tflite.from_qat(qat_b1, tfl, int8_io=True)
            else:
                tfl = tflite.from_torch_int8(model, calib, tfl, n_representative=len(calib))
        tfl_logits = runtimes.LiteRT(tfl).predict(ds.test.x)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        parity = measure.parity(pte_logits, fq_logits)
        rows.append({
            "prune_ratio": float(ratio), "channels": "/".join(str(c.out_channels) for c in convs),
            "params": measure.count_params(model), "macs": measure.count_macs(model, example),
            "acc_pruned": acc_pruned, "acc_float": acc_float, "acc_qat_fakequant": measure.top1(fq_logits, ds.test.y),
            "acc_pte_int8": measure.top1(pte_logits, ds.test.y), "pte_bytes": measure.file_bytes(pte),
            "acc_tflite_int8": measure.top1(tfl_logits, ds.test.y), "tflite_bytes": measure.file_bytes(tfl),
            "tflite_method": "qat" if tf_keras is not None else "ptq",
            "pte_agrees_fakequant": parity["top1_agreement"], "pte_max_abs_diff": parity["max_abs_diff"],
            "seconds": time.perf_counter() - t0,
        })
        variants[float(ratio)] = dict(model=model, converted=converted, pte=Path(pte), tflite=Path(tfl), tag=tag)
    return pd.DataFrame(rows), variants


def smallest_within(table, baseline_accuracy: float, bound: float):
    """The smallest file of a :func:`closing_pipeline` table within ``bound`` of ``baseline_accuracy``:
    ``(files sorted by bytes with a "within" column, the chosen row or None)``."""
    import pandas as pd

    rows = []
    for _, r in table.iterrows():
        for kind, acc, size in (("executorch-int8", r["acc_pte_int8"], r["pte_bytes"]),
                                ("tflite-int8", r["acc_tflite_int8"], r["tflite_bytes"])):
            rows.append({"prune_ratio": r["prune_ratio"], "runtime": kind, "accuracy": acc, "bytes": int(size),
                         "drop_vs_baseline": baseline_accuracy - acc})
    df = pd.DataFrame(rows).sort_values(["bytes", "accuracy"], ascending=[True, False]).reset_index(drop=True)
    df["within"] = df["drop_vs_baseline"] <= bound + 1e-12
    ok = df[df["within"]]
    return df, (ok.iloc[0] if len(ok) else None)
