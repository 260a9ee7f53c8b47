"""The stability benchmark: every timing claim of the chapters, repeated under load.

``python -m tinyml_utils stability`` calls each measurement of :mod:`tinyml_utils.course.timing`
on stand-in models of the chapters' shapes, ``N`` times, with a CPU-bound competitor process busy
on one core, and reports how often each claim held. Dense kernels take the same time whatever
the weight values, so the stand-ins are untrained networks of the chapters' architectures
(latency is what is measured, never accuracy).
"""
from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .. import measure, models, runtimes
from .. import train as training
from ..compress import prune, quantize
from ..convert import executorch, mediapipe, onnx, tflite
from ..convert import llm as llm_export
from ..core.env import quiet
from ..course.timing import BOUNDS, llm_decode, runtime_claims
from ..models import llm as llm_models


# ----------------------------------------------------------------------------- the claims' measurements
def cold_vs_warm(model, x, calls: int = 200) -> tuple[float, measure.Timing]:
    """The first (cold) call of a fresh eager model in ms, then its warmed-up timings."""
    import torch

    with torch.no_grad():
        t0 = time.perf_counter()
        model(x)
        first_ms = (time.perf_counter() - t0) * 1e3
        cmp = measure.compare({"warm": lambda: model(x)}, rounds=5, calls=max(10, calls // 5), warmup=20)
    return first_ms, cmp["warm"]


def sparse_vs_dense(dense: Callable[[], Any], sparse: Callable[[], Any], **kw) -> measure.Ratio:
    """Latency ratio of a sparse model over its dense original on a dense runtime."""
    return measure.compare({"dense": dense, "sparse": sparse}, **kw).ratio("sparse", "dense")


def structured_vs_dense(dense: Callable[[], Any], pruned: Callable[[], Any], **kw) -> measure.Ratio:
    """Latency ratio of a channel-pruned model over the dense one."""
    return measure.compare({"dense": dense, "pruned": pruned}, **kw).ratio("pruned", "dense")


# ----------------------------------------------------------------------------- the benchmark
@contextlib.contextmanager
def competitor(cores: int = 1):
    """Busy-loop processes (one a core) that compete for the CPU while the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _stand_ins(folder: Path) -> dict[str, Any]:
    """Build the benchmark's artifacts: untrained vision CNNs as the chapters export them."""
    import torch

    torch.manual_seed(0)
    measure.set_threads(1)
    runtimes.set_executorch_threads(1)
    runtimes.load_llm_ops()              # custom SDPA and quantized kernels, before any .pte is loaded
    x = torch.rand(64, 1, 28, 28)
    base = models.vision_cnn(16).eval()
    sparse = prune.make_permanent(prune.magnitude_prune(copy.deepcopy(base), 0.9)).eval()
    a: dict[str, Any] = {"x1": x[:1].numpy(), "base": base}
    a["dense_pte"] = runtimes.ExecuTorchPte(executorch.to_executorch(base, x[:1], folder / "dense.pte"))
    a["sparse_pte"] = runtimes.ExecuTorchPte(executorch.to_executorch(sparse, x[:1], folder / "sparse.pte"))
    wide = models.vision_cnn(32).eval()
    wide_p = prune.channel_prune(copy.deepcopy(wide), x[:1], 0.5)
    wide_p = (wide_p[0] if isinstance(wide_p, tuple) else wide_p).eval()
    xb = x[:32]
    a["xb"] = xb.numpy()
    a["wide_pte"] = runtimes.ExecuTorchPte(executorch.to_executorch(torch.export.export(wide, (xb,))))
    a["wide_pruned_pte"] = runtimes.ExecuTorchPte(executorch.to_executorch(torch.export.export(wide_p, (xb,))))
    with quiet():
        t_dense = tflite.from_torch_int8(base, x.numpy(), folder / "dense_int8.tflite")
        t_sparse = tflite.from_torch_int8(sparse, x.numpy(), folder / "sparse_int8.tflite")
        lt32 = tflite.from_torch(base, x[:1], folder / "litert_fp32.tflite")
        mp = mediapipe.mediapipe_classifier_file(base, [str(i) for i in range(10)], folder / "mp.tflite")
        onnx32 = onnx.export_onnx(base, x[:1], folder / "fp32.onnx")
        # ch11: the full-mode language model's shape (4 layers, 512 tokens, 128-token context)
        lm = llm_models.build_model(llm_models.model_params(vocab_size=512), max_seq_len=128, seed=0)
        llm_export.save_checkpoint(lm, llm_models.model_params(vocab_size=512), folder)
        a["lms"] = {v: runtimes.ExecuTorchLM(llm_export.export_pte(folder, v, folder, max_seq_len=128), max_seq_len=128)
                    for v in ("fp32", "8da4w")}
    fq = quantize.ptq_pt2e(copy.deepcopy(base), x.numpy())
    et8 = executorch.to_executorch(fq, x[:1], folder / "int8.pte")
    R = runtimes
    a["tflite_dense"] = R.LiteRT(t_dense, xnnpack=False, precision="int8")
    a["tflite_sparse"] = R.LiteRT(t_sparse, xnnpack=False, precision="int8")
    a["runtimes"] = [R.TorchEager(base, name="PyTorch eager fp32"),
                     R.ExecuTorchPte(folder / "dense.pte", name="ExecuTorch fp32"),
                     R.ExecuTorchPte(et8, name="ExecuTorch int8", precision="int8"),
                     R.LiteRT(lt32, name="LiteRT fp32 (litert-torch)"),
                     R.LiteRT(lt32, xnnpack=False, name="LiteRT fp32 (litert-torch), no XNNPACK"),
                     R.LiteRT(t_dense, name="LiteRT int8 (Keras)", precision="int8"),
                     R.LiteRT(t_dense, xnnpack=False, name="LiteRT int8 (Keras), no XNNPACK", precision="int8"),
                     R.OnnxRuntime(onnx32, name="ONNX Runtime fp32"),
                     R.MediaPipeClassifier(mp, name="MediaPipe Tasks fp32"),
                     R.TFLiteMicro(t_dense, name="TFLite Micro int8 (Keras)")]
    return a


def _claims(a: dict[str, Any]) -> dict[str, Callable[[], tuple[bool, str]]]:
    """One zero-argument measurement per chapter claim: ``() -> (passed, detail)``."""
    import torch

    def ch00():
        first, warm = cold_vs_warm(models.vision_cnn(16).eval(), torch.rand(1, 1, 28, 28))
        return first > warm.p50_ms, f"first {first:.3f} ms vs median {warm.p50_ms:.3f} ms"

    def ch03_sparse_pte():
        x1 = a["x1"]
        r = sparse_vs_dense(lambda: a["dense_pte"].run_raw(x1), lambda: a["sparse_pte"].run_raw(x1))
        return r.estimate >= BOUNDS["sparse_pte_not_faster"], str(r)

    def ch03_sparse_tflite():
        x1 = a["x1"]
        r = sparse_vs_dense(lambda: a["tflite_dense"].predict(x1), lambda: a["tflite_sparse"].predict(x1))
        return r.estimate >= BOUNDS["sparse_tflite_not_faster"], str(r)

    def ch03_structured():
        xb = a["xb"]
        r = structured_vs_dense(lambda: a["wide_pte"].run_raw(xb), lambda: a["wide_pruned_pte"].run_raw(xb), calls=8)
        return r.hi < BOUNDS["structured_speedup"], str(r)

    def ch06():
        x1 = a["x1"]
        rts = a["runtimes"]
        cmp = measure.compare({rt.name: (lambda rt=rt: rt.predict(x1)) for rt in rts}, rounds=5, calls=20)
        checks = runtime_claims(cmp, "PyTorch eager fp32",
                                ["ExecuTorch fp32", "ExecuTorch int8", "LiteRT fp32 (litert-torch)",
                                 "LiteRT int8 (Keras)", "ONNX Runtime fp32"],
                                {"LiteRT fp32 (litert-torch)": "LiteRT fp32 (litert-torch), no XNNPACK",
                                 "LiteRT int8 (Keras)": "LiteRT int8 (Keras), no XNNPACK"},
                                "MediaPipe Tasks fp32", "LiteRT fp32 (litert-torch)", "TFLite Micro int8 (Keras)")
        failed = [t for ok, t, _ in checks if not ok]
        return not failed, "; ".join(f"{'ok' if ok else 'FAILED'}: {t} ({d})" for ok, t, d in checks)[:400]

    def ch11():
        speed, _ = llm_decode(a["lms"])
        d4 = speed["8da4w"].decode_tok_s
        return d4 >= BOUNDS["llm_decode_tok_s"], f"8da4w {d4:,.0f} tokens/s, fp32 {speed['fp32'].decode_tok_s:,.0f}"

    return {"00 cold first call > warm median": ch00,
            "03 90%-sparse .pte not faster (ratio >= 0.80)": ch03_sparse_pte,
            "03 sparse int8 .tflite not faster (ratio >= 0.75)": ch03_sparse_tflite,
            "03 half the MACs: pruned/dense < 0.80 (width 32, batch 32)": ch03_structured,
            "06 runtime ordering (4 claims)": ch06,
            "11 8da4w decodes >= 1,000 tokens/s": ch11}


def benchmark(n: int = 20, load: bool = True, progress: bool = True):
    """Run every timing claim's measurement ``n`` times (with a busy competitor process on one
    core when ``load``); returns a DataFrame: claim, passed, runs, pass rate, worst detail."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="tinyml-stability-") as tmp:
        a = _stand_ins(Path(tmp))
        claims = _claims(a)
        rows = {k: {"claim": k, "passed": 0, "runs": 0, "failures": []} for k in claims}
        ctx = competitor(1) if load else contextlib.nullcontext()
        with ctx:
            for _ in training.progress(range(n), desc="stability rounds", disable=not progress):
                for k, fn in claims.items():
                    ok, detail = fn()
                    rows[k]["runs"] += 1
                    rows[k]["passed"] += int(ok)
                    rows[k]["last"] = detail
                    if not ok:
                        rows[k]["failures"].append(detail)
        for rt in a["runtimes"]:
            if hasattr(rt, "close"):
                rt.close()
    df = pd.DataFrame(rows.values())
    df["pass rate"] = df["passed"].astype(str) + "/" + df["runs"].astype(str)
    df["example"] = [r["failures"][0] if r["failures"] else r["last"] for r in rows.values()]   # whole detail
    return df[["claim", "pass rate", "passed", "runs", "example"]]


def main(argv: list[str] | None = None) -> int:
    """``python -m tinyml_utils stability [-n 20] [--no-load]``: exit 1 unless every claim held every time."""
    import argparse

    import pandas as pd

    p = argparse.ArgumentParser(prog="python -m tinyml_utils stability", description=main.__doc__)
    p.add_argument("-n", type=int, default=20, help="repetitions of every claim (default 20)")
    p.add_argument("--no-load", action="store_true", help="without the competing busy process")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    df = benchmark(args.n, load=not args.no_load)
    with pd.option_context("display.max_colwidth", None, "display.width", 250):   # details are never cut
        print(df.drop(columns=["passed", "runs"]).to_string(index=False))
    return 0 if bool((df["passed"] == df["runs"]).all()) else 1
