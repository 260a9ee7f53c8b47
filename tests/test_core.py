"""Unit tests of the foundation modules: data, models, train, measure, results, ExecuTorch, cli, doctor."""
from __future__ import annotations

import json
import socket

import nbformat
import numpy as np
import pytest
import torch

from tinyml_utils import data, measure, models, runtimes, train
from tinyml_utils.convert import executorch
from tinyml_utils.core.context import Context
from tinyml_utils.data.base import DataError, Split, stratified_split, verify_checksum
from tinyml_utils.report import results
from tinyml_utils.tools import cli


# ---------------------------------------------------------------- data
def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="keywords, motion, vision"):
        data.load("cifar10")


def test_vision_splits_are_stratified_disjoint_and_seeded():
    a, b = data.load("vision", seed=0), data.load("vision", seed=0)
    assert (len(a.train), len(a.val), len(a.test)) == (3500, 500, 1000)
    assert np.array_equal(a.test.x, b.test.x)
    assert a.train.x.dtype == np.float32 and a.train.x.shape[1:] == (1, 28, 28)
    assert 0.0 <= a.train.x.min() and a.train.x.max() <= 1.0
    assert (np.bincount(a.test.y) == 100).all()
    hashes = {s: {x.tobytes() for x in getattr(a, s).x} for s in ("train", "val", "test")}
    assert not hashes["train"] & hashes["test"] and not hashes["val"] & hashes["test"]
    q = data.load("vision", quick=True)
    assert len(q.train) == 1000 and np.array_equal(q.test.y, a.test.y)


def test_motion_windows_split_by_recording():
    ds = data.load("motion")
    assert ds.train.x.shape[1:] == (6, 30) and ds.num_classes == 4
    rec = ds.meta["recordings"]
    assert (rec["train"], rec["val"], rec["test"]) == (32, 8, 40)
    assert len(ds.train) == 32 * 8 and len(ds.test) == 40 * 8


def test_motion_windows_function():
    x = np.arange(2 * 3 * 100, dtype=np.float32).reshape(2, 3, 100)
    from tinyml_utils.data.motion import windows

    w = windows(x, 30, 10)
    assert w.shape == (2, 8, 3, 30) and np.array_equal(w[1, 2], x[1, :, 20:50])


def test_stratified_split_covers_everything_once():
    y = np.repeat(np.arange(4), 25)
    parts = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    allidx = np.concatenate(parts)
    assert sorted(allidx) == list(range(100))
    assert [len(p) for p in parts] == [60, 20, 20]


def test_checksum_errors_name_file_and_fix(tmp_path):
    f = tmp_path / "x.bin"
    with pytest.raises(DataError, match="Missing dataset file: .*x.bin. re-run"):
        verify_checksum(f, "0" * 64, "re-run")
    f.write_bytes(b"abc")
    with pytest.raises(DataError, match="Corrupt dataset file: .*x.bin"):
        verify_checksum(f, "0" * 64, "delete it")


def test_offline_datasets_open_no_socket(monkeypatch, tmp_path):
    """Nothing opens a network connection by default (keywords generation included)."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TINYML_DATA_CACHE", str(tmp_path))
    for name in ("vision", "motion"):
        assert len(data.load(name, quick=True).test) > 0
    kw = data.load("keywords", quick=True, per_class=2)
    assert kw.meta["sample_rate"] == 16000 and kw.train.x.shape[1] == 16000


# ---------------------------------------------------------------- models, profile
@pytest.mark.parametrize("width", [8, 16, 32])
def test_vision_macs_match_formula_and_params(width):
    m = models.vision_cnn(width)
    w = width
    by_hand = 28 * 28 * w * 9 + 14 * 14 * 2 * w * w * 9 + 7 * 7 * 4 * w * 2 * w * 9 + 4 * w * 10
    assert measure.count_macs(m, torch.zeros(1, 1, 28, 28)) == by_hand
    conv = 9 * (w + 2 * w * w + 8 * w * w)
    bn = 2 * (w + 2 * w + 4 * w)
    assert measure.count_params(m) == conv + bn + 4 * w * 10 + 10


def test_other_models_forward_shapes():
    assert models.ds_cnn()(torch.zeros(2, 1, 49, 10)).shape == (2, 12)
    assert models.motion_cnn()(torch.zeros(2, 6, 30)).shape == (2, 4)
    with pytest.raises(ValueError, match="student"):
        models.vision_cnn("huge")


def test_size_accounting_equals_file_on_disk(tmp_path):
    m = models.vision_cnn(8)
    p = tmp_path / "m.pt"
    assert measure.state_dict_bytes(m, p) == p.stat().st_size == measure.file_bytes(p)
    assert measure.state_dict_bytes(m) == measure.state_dict_bytes(m, tmp_path / "model.pt")
    assert measure.zipped_bytes(p) < p.stat().st_size


def test_latency_harness_reports_ordered_statistics():
    lat = measure.measure_latency(lambda: sum(range(1000)), warmup=3, repeats=50, threads=1)
    assert lat.repeats == 50 and lat.threads == 1
    assert lat.min_ms <= lat.p50_ms <= lat.p95_ms <= lat.max_ms


def test_latency_harness_caps_time():
    import time

    lat = measure.measure_latency(lambda: time.sleep(0.01), warmup=0, repeats=1000, max_seconds=0.2)
    assert 10 <= lat.repeats < 1000 and 9 < lat.p50_ms < 30


# ---------------------------------------------------------------- train
def _tiny_split(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = (x[:, 0, :14].mean((1, 2)) > x[:, 0, 14:].mean((1, 2))).astype(np.int64)
    return Split(x, y)


def test_fit_is_deterministic_and_learns():
    tr, va = _tiny_split(128, 0), _tiny_split(64, 1)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # different global state must not matter: fit seeds itself
        m = models.vision_cnn(4, num_classes=2)
        h = train.fit(m, tr, va, epochs=3, batch_size=32, seed=7, augment=train.random_affine())
        runs.append((m, h))
    for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()):
        assert torch.equal(a, b)
    assert runs[0][1].epochs[-1]["train_loss"] < runs[0][1].epochs[0]["train_loss"]
    assert set(runs[0][1].frame().columns) >= {"train_loss", "val_accuracy"}


def test_fit_early_stopping_and_custom_loss():
    tr = _tiny_split(64)
    calls = []

    def loss_fn(logits, y, x):
        calls.append(x.shape[0])
        return torch.nn.functional.cross_entropy(logits, y)

    m = models.vision_cnn(4, num_classes=2)
    h = train.fit(m, tr, Split(tr.x[:8], 1 - tr.y[:8]), epochs=30, lr=1e-1, patience=2, loss_fn=loss_fn)
    assert calls and (h.stopped_early or len(h.epochs) == 30)
    assert 0 <= measure.accuracy(m, tr) <= 1


# ---------------------------------------------------------------- results
def test_results_shape_and_claims(tmp_path):
    claims = results.Claims()
    claims.check(True, "a true claim")
    with pytest.raises(AssertionError, match="Claim failed: bound"):
        claims.check(False, "bound", "measured 2")
    rec = results.Record("m", "baseline", "pytorch-eager", accuracy=0.9, size_bytes=10, npu_cycles=5, estimated=True)
    path = results.write("99_test", Context(quick=True), [rec], claims, directory=tmp_path)
    doc = json.loads(path.read_text())
    assert doc["chapter"] == "99_test" and doc["quick"] is True
    assert doc["records"] == [{"name": "m", "technique": "baseline", "runtime": "pytorch-eager", "accuracy": 0.9,
                               "size_bytes": 10, "npu_cycles": 5, "estimated": True}]
    assert [c["passed"] for c in doc["claims"]] == [True, False]
    assert set(doc["records"][0]) <= set(results.RECORD_FIELDS)
    with pytest.raises(ValueError, match="leave it out"):
        results.Record("n", "t", "r", accuracy=float("nan")).to_dict()
    with pytest.raises(FileNotFoundError, match="run --quick 98"):
        results.load("98_missing", Context(quick=True), directory=tmp_path)
    assert len(results.records_frame(results.load_all(Context(quick=True), directory=tmp_path))) == 1


# ---------------------------------------------------------------- ExecuTorch
def test_executorch_matches_eager(tmp_path):
    m = models.vision_cnn(8).eval()
    pte = executorch.to_executorch(m, torch.zeros(1, 1, 28, 28), tmp_path / "m.pte")
    runner = runtimes.ExecuTorchPte(pte)
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    ref = m(torch.as_tensor(x)).detach().numpy()
    assert np.abs(runner.predict(x) - ref).max() < 1e-4
    df, _ = executorch.delegation_summary(m, torch.zeros(1, 1, 28, 28))
    conv = df[df.op_type == "aten_convolution_default"].iloc[0]
    assert conv.occurrences_in_delegated_graphs == 3 and conv.occurrences_in_non_delegated_graphs == 0


# ---------------------------------------------------------------- cli, doctor
def test_cli_reports_notebook_cell_and_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("QUICK = False")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), p, nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("assert QUICK is True\nraise ValueError('boom here')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_fail.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(cli.ChapterFailed) as err:
        cli.execute(path, quick=True)
    msg = str(err.value)
    assert "99_fail.ipynb" in msg and "ValueError" in msg and "boom here" in msg and "cell 4" in msg
    assert not nbformat.read(path, as_version=4).cells[3].get("outputs"), "source notebook was written to"


def test_cli_chapter_selection():
    all_ch = cli.chapters()
    assert cli.chapters(["02"]) == [p for p in all_ch if p.stem.startswith("02_")]
    with pytest.raises(SystemExit, match="No chapter matches"):
        cli.chapters(["zz"])


def test_doctor_pins_parse():
    from tinyml_utils.tools.doctor import pinned

    pins = pinned()
    assert pins["torch"] == "2.13.0" and pins["tf-keras"] == "2.21.0"
