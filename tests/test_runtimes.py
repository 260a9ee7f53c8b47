"""Oracle tests of tinyml_utils.runtimes: every wrapper against eager PyTorch on a tiny CNN.

The tiny model is the course's vision CNN at width 4 with random weights and batch-norm
statistics, so the logits are not trivially zero. fp32 runtimes must match eager within float
rounding; int8 ones must match their own fake-quant reference (the same QDQ graph run in float, or
LiteRT's reference kernels) to one quantization step of the output.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyml_utils import measure, models
from tinyml_utils import runtimes as R
from tinyml_utils.convert import executorch, mediapipe, onnx, tflite
from tinyml_utils.measure import code
from tinyml_utils.models.keras import to_nhwc, vision_cnn_keras

ARCH = {"fn": "tinyml_utils.models:vision_cnn", "kwargs": {"width": 4}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny import tiny_model_and_images

    model, x = tiny_model_and_images(24)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    d = tmp_path_factory.mktemp("rt")
    sd = d / "tiny.pt"
    torch.save(model.state_dict(), sd)
    return model, x, ref, d, sd


def test_torch_eager_from_checkpoint_matches_model(tiny):
    model, x, ref, _, sd = tiny
    rt = R.TorchEager(None, sd, arch=ARCH, name="eager")
    out = rt.predict(x)
    assert rt.load_ms is not None and rt.load_ms > 0
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert rt.size_bytes == sd.stat().st_size
    lat = rt.latency(x[:1], warmup=2, repeats=5)
    assert lat.repeats == 5 and lat.threads == 1 and lat.p50_ms > 0


def test_executorch_pte_matches_eager(tiny):
    model, x, ref, d, _ = tiny
    pte = executorch.to_executorch(model, torch.from_numpy(x[:1]), d / "tiny.pte")
    rt = R.ExecuTorchPte(pte)
    np.testing.assert_allclose(rt.predict(x), ref, atol=1e-4)
    assert rt.size_bytes == pte.stat().st_size


def test_onnx_fp32_matches_eager_and_int8_matches_its_fake_quant(tiny):
    model, x, ref, d, _ = tiny
    f32 = onnx.export_onnx(model, x[:1], d / "tiny.onnx")
    out = R.OnnxRuntime(f32).predict(x)
    np.testing.assert_allclose(out, ref, atol=1e-4)
    q = onnx.quantize_onnx_int8(f32, x, d / "tiny_int8.onnx")
    fused = R.OnnxRuntime(q, precision="int8").predict(x)
    fake = R.OnnxRuntime(q, precision="int8", optimize=False).predict(x)
    step = np.abs(ref).max() / 127          # about one output quantization step
    assert np.abs(fused - fake).max() <= 3 * step
    assert measure.parity(fused, ref)["top1_agreement"] >= 0.75   # int8 vs float on random weights
    assert q.stat().st_size < f32.stat().st_size


def test_litert_torch_with_and_without_xnnpack(tiny):
    model, x, ref, d, _ = tiny
    path = tflite.from_torch(model, torch.zeros(1, 1, 28, 28), d / "tiny.tflite")
    for xnn in (True, False):
        rt = R.LiteRT(path, xnnpack=xnn)
        np.testing.assert_allclose(rt.predict(x), ref, atol=1e-4)
    assert R.LiteRT(path, xnnpack=False).op_resolver == "builtin"
    with pytest.raises(ValueError, match="op_resolver"):
        R.LiteRT(path, op_resolver="gpu")


def test_mediapipe_classifier_matches_eager(tiny):
    model, x, ref, d, _ = tiny
    twin = mediapipe.rgb_twin(model)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.from_numpy(x).repeat(1, 3, 1, 1)).numpy(), ref, atol=1e-5)
    path = mediapipe.mediapipe_classifier_file(model, [str(i) for i in range(10)], d / "tiny_mp.tflite")
    rt = R.MediaPipeClassifier(path)
    try:
        out = rt.predict(x[:8])   # x is k/255, so the uint8 round trip is exact
        np.testing.assert_allclose(out, ref[:8], atol=1e-4)
    finally:
        rt.close()


def test_tflite_micro_matches_litert_reference_kernels(tiny):
    """An int8 TFLite file (Keras twin of the tiny model, full-integer): TFLM and LiteRT's kernels
    agree with LiteRT's reference kernels within one output LSB; TFLM reports its arena."""
    keras = pytest.importorskip("keras")
    _, x, _, d, _ = tiny
    keras.utils.set_random_seed(0)
    km = vision_cnn_keras(4, batch_size=1)
    path = tflite.int8(km, to_nhwc(x), d / "tiny_int8.tflite")
    ref_rt = R.LiteRT(path, reference=True, precision="int8")
    ref = ref_rt.predict(x)
    lsb = float(ref_rt.out["quantization"][0])
    with torch.no_grad():
        kout = km(to_nhwc(x)).numpy()
    assert np.abs(ref - kout).max() < 0.1 * np.abs(kout).max() + 4 * lsb   # int8 ≈ float
    tflm = R.TFLiteMicro(path)
    assert np.abs(tflm.predict(x) - ref).max() <= lsb * 1.01
    assert np.abs(R.LiteRT(path, xnnpack=False).predict(x) - ref).max() <= lsb * 1.01
    arena = tflm.arena_bytes()
    assert 1000 < arena < 200_000


def test_peak_memory_in_fresh_process(tiny):
    _, x, _, d, sd = tiny
    rt = R.TorchEager(None, sd, arch=ARCH)
    m = R.peak_memory(rt, x[:1])
    assert m["peak_extra_bytes"] >= 0 and m["load_ms"] > 0 and m["rss_before_bytes"] > 10_000_000
    assert R.peak_memory(R.TorchEager(models.vision_cnn(4)), x[:1]) is None   # nothing to rebuild from


def test_parity_layout_code_lines_and_log():
    a = np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)
    p = measure.parity(a + np.array([[0, 0], [0, 4]], np.float32), a)
    assert p == {"max_abs_diff": 4.0, "top1_agreement": 0.5}
    x = np.zeros((2, 1, 5, 7), np.float32)
    assert R.to_layout(x, (1, 5, 7, 1)).shape == (2, 5, 7, 1)
    assert R.to_layout(x, (1, 1, 5, 7)) is x
    with pytest.raises(ValueError, match="neither NCHW nor NHWC"):
        R.to_layout(x, (1, 3, 3, 3))

    def f(a):
        """Docstring: not counted."""
        # comment: not counted
        b = a + 1

        return b

    assert code.code_lines(f) == 3
    log = code.ConversionLog()
    assert log.step("rt", "ok step", lambda: 5) == 5
    assert log.step("rt", "bad step", lambda: 1 / 0) is None
    df = log.frame()
    assert list(df["ok"]) == [True, False] and "ZeroDivisionError" in df["error"].iloc[1]
    assert measure.DEFAULT_THREADS == 1


_LOAD_DAMAGED = r'''
import json, sys
import numpy as np
from tinyml_utils import runtimes as R
from tinyml_utils.core.io import ArtifactError
out = {}
for cls, path in json.loads(sys.argv[1]):
    try:
        rt = getattr(R, cls)(path)
        rt.predict(np.zeros((1, 1, 28, 28) if not path.endswith(".tflite") else (1, 1, 8, 8), np.float32))
        out[f"{cls} {path}"] = "ran"
    except ArtifactError as e:
        out[f"{cls} {path}"] = "ArtifactError: " + str(e)
    except BaseException as e:
        out[f"{cls} {path}"] = f"{type(e).__name__}: {e}"
print("RESULT " + json.dumps(out))
'''


def test_damaged_model_files_give_one_error_naming_file_and_fix(tiny, tmp_path):
    """Issue 20 item 3: a .pte of random bytes aborted the process (rc 134); truncated or empty ones gave
    "Failed to load program, error: 0x:23" without a file name; 20 flipped bytes ran silently despite a
    .sha256 sidecar; TFLite Micro gave a raw struct.error. Every case is now one ArtifactError naming the
    file and the fix, and the process survives (the loads run in a child process, so an abort shows)."""
    import json
    import os
    import subprocess
    import sys

    from tiny import tiny_int8_tflite

    from tinyml_utils.core import io
    from tinyml_utils.core.paths import REPO

    model, x, _, _, _ = tiny
    good = {".pte": executorch.to_executorch(model, torch.from_numpy(x[:1]), tmp_path / "good.pte"),
            ".onnx": onnx.export_onnx(model, x[:1], tmp_path / "good.onnx"),
            ".tflite": tiny_int8_tflite(tmp_path / "good.tflite")}
    runners = {".pte": ["ExecuTorchPte"], ".onnx": ["OnnxRuntime"], ".tflite": ["LiteRT", "TFLiteMicro"]}
    rng = np.random.default_rng(0)
    cases = []
    for suffix, path in good.items():
        data = path.read_bytes()
        flipped = bytearray(data)
        for i in rng.choice(np.arange(len(data) // 2, len(data) - 64), 20, replace=False):
            flipped[i] ^= 0xFF
        damaged = {"random": rng.integers(0, 256, len(data), dtype=np.uint8).tobytes(),
                   "truncated": data[: len(data) // 2], "empty": b"", "flipped": bytes(flipped)}
        for kind, blob in damaged.items():
            bad = tmp_path / f"{kind}{suffix}"
            if kind == "flipped":                       # sealed when written, damaged afterwards
                bad.write_bytes(data)
                io.seal(bad)
            bad.write_bytes(blob)
            cases += [(cls, str(bad)) for cls in runners[suffix]]
        cases += [(cls, str(path)) for cls in runners[suffix]]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _LOAD_DAMAGED, json.dumps(cases)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"the process died (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    got = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    for (cls, path), (key, outcome) in zip(cases, got.items()):
        if path.split("/")[-1].startswith("good"):
            assert outcome == "ran", (key, outcome)
        else:
            assert outcome.startswith("ArtifactError: ") and path in outcome and "Fix:" in outcome, (key, outcome)
    assert "does not match" in got[f"ExecuTorchPte {tmp_path / 'flipped.pte'}"]
    assert "does not match" in got[f"OnnxRuntime {tmp_path / 'flipped.onnx'}"]


def test_model_bytes_are_checked_too():
    from tinyml_utils.core.io import ArtifactError
    from tinyml_utils.runtimes.base import check_model_bytes

    with pytest.raises(ArtifactError, match="not an ExecuTorch program"):
        check_model_bytes(b"\x00" * 100, ".pte", "prog")
    with pytest.raises(ArtifactError, match="is empty"):
        check_model_bytes(b"", ".tflite", "m")
    with pytest.raises(ArtifactError, match="not an ExecuTorch program") as err:
        R.ExecuTorchPte(b"\x01" * 64, set_threads=False).predict(np.zeros((1, 1, 28, 28), np.float32))
    assert "Fix:" in str(err.value)
