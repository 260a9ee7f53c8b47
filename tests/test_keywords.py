"""Tests of the eSpeak NG keyword set: determinism, layout, speaker split, cache integrity, no network."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("espeakng_loader")
pytest.importorskip("scipy")

from tinyml_utils.data import keywords  # noqa: E402
from tinyml_utils.data.base import DataError  # noqa: E402

PER_CLASS = 4  # train 4, val 2, test 2 per class: 96 clips, a couple of seconds


def _load(cache: Path, monkeypatch, **kwargs):
    monkeypatch.setenv("TINYML_DATA_CACHE", str(cache))
    return keywords.load(**kwargs)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("kw_cache")
    try:
        ds = _load(cache, mp, per_class=PER_CLASS, seed=3)
    finally:
        mp.undo()
    return ds, cache


def test_layout_shapes_and_meta(small):
    ds, _ = small
    assert ds.classes == keywords.CLASSES and ds.num_classes == 12
    assert ds.classes[:10] == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
    assert ds.classes[10:] == ["unknown", "silence"]
    assert len(keywords.UNKNOWN_WORDS) >= 20
    assert not set(keywords.UNKNOWN_WORDS) & set(keywords.KEYWORDS)
    assert ds.meta["sample_rate"] == 16000
    for name, n in (("train", PER_CLASS), ("val", 2), ("test", 2)):
        split = getattr(ds, name)
        assert split.x.shape == (12 * n, 16000) and split.x.dtype == np.float32
        assert split.y.dtype == np.int64
        assert np.bincount(split.y, minlength=12).tolist() == [n] * 12
        assert np.abs(split.x).max() <= 1.0
        assert len(ds.meta["examples"][name]) == len(split)


def test_every_clip_has_signal_and_metadata(small):
    ds, _ = small
    for name in ("train", "val", "test"):
        split, rows = getattr(ds, name), ds.meta["examples"][name]
        rms = np.sqrt((split.x.astype(np.float64) ** 2).mean(axis=1))
        assert np.all(rms > 1e-4), "every clip, silence included, carries some signal"
        for row, label in zip(rows, split.y):
            assert row["label"] == label and row["noise"] in keywords.NOISES
            if label == keywords.SILENCE_INDEX:
                continue
            assert row["word"] == keywords.CLASSES[label] or (
                label == keywords.UNKNOWN_INDEX and row["word"] in keywords.UNKNOWN_WORDS)
            assert keywords.SNR_DB[0] <= row["snr_db"] <= keywords.SNR_DB[1]
            assert 0.0 <= row["offset_s"] and row["offset_s"] + row["duration_s"] <= 1.0
            assert row["voice"] == f"{row['accent']}+{row['variant']}"


def test_speaker_split(small):
    ds, _ = small
    used = {s: {r["variant"] for r in ds.meta["examples"][s] if "variant" in r}
            for s in ("train", "val", "test")}
    assert not used["train"] & used["test"], "test voices must not appear in training"
    assert not used["train"] & used["val"] and not used["val"] & used["test"]
    assert not set(keywords.VARIANTS["train"]) & set(keywords.VARIANTS["test"])


def test_same_seed_gives_byte_identical_arrays(small, tmp_path, monkeypatch):
    ds1, cache1 = small
    ds2 = _load(tmp_path / "other_cache", monkeypatch, per_class=PER_CLASS, seed=3)
    assert ds2.meta["cache_dir"] != ds1.meta["cache_dir"]
    for name in ("train", "val", "test"):
        a, b = getattr(ds1, name), getattr(ds2, name)
        assert a.x.tobytes() == b.x.tobytes(), f"{name} audio differs between two generations"
        assert a.y.tobytes() == b.y.tobytes()
    m1 = json.loads((Path(ds1.meta["cache_dir"]) / "manifest.json").read_text())
    m2 = json.loads((Path(ds2.meta["cache_dir"]) / "manifest.json").read_text())
    assert m1["files"] == m2["files"], "the .npz files must hash the same"
    assert m1["examples"] == m2["examples"]


def test_other_seed_gives_other_data(small, tmp_path, monkeypatch):
    ds1, _ = small
    ds2 = _load(tmp_path, monkeypatch, per_class=PER_CLASS, seed=4)
    assert ds2.meta["config_hash"] != ds1.meta["config_hash"]
    assert not np.array_equal(ds1.train.x, ds2.train.x)


def test_second_load_reads_the_cache(small, monkeypatch):
    ds1, cache = small
    monkeypatch.setattr(keywords, "_generate", lambda *a, **k: pytest.fail("regenerated"))
    ds2 = _load(cache, monkeypatch, per_class=PER_CLASS, seed=3)
    assert ds2.train.x.tobytes() == ds1.train.x.tobytes()


def _copy_cache(src_dir: Path, dst_root: Path) -> Path:
    import shutil

    dst = dst_root / "keywords" / src_dir.name
    shutil.copytree(src_dir, dst)
    return dst


def test_corrupt_file_raises_dataerror_naming_it(small, tmp_path, monkeypatch):
    ds, _ = small
    folder = _copy_cache(Path(ds.meta["cache_dir"]), tmp_path)
    target = folder / "val.npz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        _load(tmp_path, monkeypatch, per_class=PER_CLASS, seed=3)
    msg = str(err.value)
    assert str(target) in msg, msg
    assert "delete the folder" in msg and str(folder) in msg and "regenerated" in msg


def test_missing_file_and_bad_manifest_raise_dataerror(small, tmp_path, monkeypatch):
    ds, _ = small
    folder = _copy_cache(Path(ds.meta["cache_dir"]), tmp_path)
    (folder / "test.npz").unlink()
    with pytest.raises(DataError, match="test.npz"):
        _load(tmp_path, monkeypatch, per_class=PER_CLASS, seed=3)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json"):
        _load(tmp_path, monkeypatch, per_class=PER_CLASS, seed=3)


def test_quick_mode_sizes_and_time(tmp_path, monkeypatch):
    t0 = time.perf_counter()
    ds = _load(tmp_path, monkeypatch, quick=True)
    seconds = time.perf_counter() - t0
    assert [len(ds.train), len(ds.val), len(ds.test)] == [12 * 30, 12 * 10, 12 * 10]
    assert seconds < 20, f"quick generation took {seconds:.1f} s; the bound is 20 s (target < 10 s)"


def test_no_network_during_generation(tmp_path, monkeypatch):
    """Blocks sockets here and, through a sitecustomize on PYTHONPATH, in the worker processes."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(textwrap.dedent("""
        import socket
        def _blocked(*args, **kwargs):
            raise RuntimeError("network access attempted")
        socket.socket.connect = _blocked
        socket.socket.connect_ex = _blocked
        socket.create_connection = _blocked
    """))
    monkeypatch.setenv("PYTHONPATH", str(guard))
    probe = subprocess.run([sys.executable, "-c", "import socket; "
                            "socket.create_connection(('127.0.0.1', 9))"],
                           capture_output=True, text=True)
    assert "network access attempted" in probe.stderr, "the guard must be active in subprocesses"

    def blocked(*args, **kwargs):
        raise AssertionError("keywords.load opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket.socket, "connect_ex", blocked)
    ds = _load(tmp_path / "cache", monkeypatch, per_class=2, seed=11)
    assert len(ds.train) == 24


@pytest.mark.slow
def test_full_mode_under_a_minute(tmp_path, monkeypatch):
    t0 = time.perf_counter()
    ds = _load(tmp_path, monkeypatch)
    seconds = time.perf_counter() - t0
    assert [len(ds.train), len(ds.val), len(ds.test)] == [12 * 200, 12 * 50, 12 * 50]
    assert seconds < 90, f"full generation took {seconds:.1f} s; the bound is 90 s (target < 60 s)"


def test_synthesize_speaks_new_words_deterministically():
    x = keywords.synthesize(["hello", "yes"], 2, "test", seed=5)
    assert x.shape == (4, keywords.CLIP_SAMPLES) and x.dtype == np.float32
    assert np.abs(x).max() <= 1.0 and np.all(np.abs(x).max(axis=1) > 0.01)
    np.testing.assert_array_equal(x[:1], keywords.synthesize(["hello"], 1, "test", seed=5))
    with pytest.raises(ValueError):
        keywords.synthesize(["hello"], 1, "dev")
