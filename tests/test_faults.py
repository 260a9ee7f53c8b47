"""Fault tests of issue 20 (each started from the issue's repro): empty splits, bad audio, model files that
are not what their name says, store checkpoints without a trusted digest, byte-reproducible ``.pt`` files."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_utils.data.base import Split


def _tiny_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))


# ------------------------------------------------------------------ item 9: empty splits

def test_fit_on_an_empty_split_says_so():
    from tinyml_utils import train

    empty = Split(np.zeros((0, 1, 2, 3), np.float32), np.zeros(0, np.int64))
    full = Split(np.zeros((4, 1, 2, 3), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="training split is empty"):
        train.fit(_tiny_model(), empty, epochs=1)
    with pytest.raises(ValueError, match="validation split is empty"):
        train.fit(_tiny_model(), full, empty, epochs=1)


def test_accuracy_on_an_empty_split_says_so():
    from tinyml_utils import measure

    with pytest.raises(ValueError, match="split is empty"):
        measure.accuracy(_tiny_model(), Split(np.zeros((0, 1, 2, 3), np.float32), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        measure.accuracy(_tiny_model(), np.zeros((3, 1, 2, 3), np.float32), np.zeros(2, np.int64))


# ------------------------------------------------------------------ items 4 and 5: the store's digests, .pt bytes

def _store_roundtrip(tmp_path, capsys):
    import torch

    from tinyml_utils.core import io
    from tinyml_utils.course import store

    spec = store.Spec(tmp_path / "m.pt", {"kind": "test"})
    builds = []

    def build():
        builds.append(1)
        state = {"w": torch.arange(64, dtype=torch.float32)}
        return state, lambda p: io.torch_save(state, p), {"n": len(builds)}

    def load(p):
        return torch.load(p, weights_only=True)

    return spec, build, load, builds


def test_store_file_without_sidecar_but_flipped_bytes_is_rebuilt_with_a_reason(tmp_path, capsys):
    """Issue 20 item 4: with the sidecar gone, bit-flipped weights used to be trusted ("written before
    checksums existed"); the key file now holds the digest, so the file is rebuilt and a line says why."""
    from tinyml_utils.core import io
    from tinyml_utils.course import store

    spec, build, load, builds = _store_roundtrip(tmp_path, capsys)
    store.load_or_build(spec, load, build)
    assert builds == [1] and "sha256" in io.read_json(spec.meta_path, "")
    io.sidecar(spec.path).unlink()
    state, info = store.load_or_build(spec, load, build)            # intact file: the key file's digest
    assert builds == [1] and info == {"n": 1}
    data = bytearray(spec.path.read_bytes())
    data[len(data) // 2] ^= 0x10
    spec.path.write_bytes(bytes(data))
    capsys.readouterr()
    state, info = store.load_or_build(spec, load, build)
    assert builds == [1, 1] and info == {"n": 2}
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"rebuilding {spec.path}: is corrupt"), out


def test_store_file_with_no_recorded_digest_is_stale(tmp_path, capsys):
    """A key file from before digests were kept, and no sidecar: nothing vouches for the bytes."""
    import json

    from tinyml_utils.core import io
    from tinyml_utils.course import store

    spec, build, load, builds = _store_roundtrip(tmp_path, capsys)
    store.load_or_build(spec, load, build)
    meta = json.loads(spec.meta_path.read_text())
    del meta["sha256"]
    spec.meta_path.write_text(json.dumps(meta))
    assert store.staleness(spec)[0] is not None               # the sidecar still vouches
    io.sidecar(spec.path).unlink()
    info, why = store.staleness(spec)
    assert info is None and "no recorded SHA-256" in why


def test_checkpoints_are_byte_reproducible(tmp_path):
    """Issue 20 item 5: torch.save(obj, tmp_path) wrote the random temporary name into the zip."""
    import torch

    from tinyml_utils.core import io

    state = {"w": torch.arange(10, dtype=torch.float32)}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = io.torch_save(state, tmp_path / "a" / "m.pt")
    b = io.torch_save(state, tmp_path / "b" / "x.pt")   # another name: the same bytes
    assert a.read_bytes() == b.read_bytes()
    paths = []
    for sub in ("c", "d"):                                # a writer that hands the temporary *path* to torch
        with io.atomic_writer(tmp_path / sub / "m.pt") as tmp:
            torch.save(state, tmp)
        paths.append(tmp_path / sub / "m.pt")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["m.pt"]   # no temporary folder left


# ------------------------------------------------------------------ item 9: audio and IMU inputs

def _clip(n=16000, seed=0):
    t = np.arange(n) / 16000
    noise = 0.01 * np.random.default_rng(seed).standard_normal(n)
    return (0.3 * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32)


def _front_ends():
    from tinyml_utils.data import audio

    out = {"numpy": audio.numpy_mfcc}
    try:
        out["cmsis f32"], out["cmsis q15"] = audio.CmsisMfcc("f32"), audio.CmsisMfcc("q15")
    except ImportError:  # cmsisdsp not installed: the NumPy front end still shows the checks
        pass
    return out


@pytest.mark.parametrize("bad, expect", [
    ("nan", "NaN/Inf"), ("inf", "NaN/Inf"), ("column", r"\(samples, 1\) column"), ("short", "too short"),
    ("empty", "empty"), ("int16", "PCM"), ("pcm_as_float", "int16 PCM passed as float"),
])
def test_audio_front_ends_reject_bad_clips_with_what_was_expected(bad, expect):
    """Issue 20 item 9: NaN/Inf audio gave NaN MFCCs (f32, NumPy) or finite garbage (q15); a (16000, 1),
    100-sample or empty clip gave numpy's "window shape cannot be larger than input array shape"; int16
    PCM was accepted as float."""
    x = _clip()
    clip = {"nan": np.where(np.arange(16000) == 5000, np.nan, x).astype(np.float32),
            "inf": np.where(np.arange(16000) == 7, np.inf, x).astype(np.float32),
            "column": x[:, None], "short": x[:100], "empty": x[:0],
            "int16": (x * 32767).astype(np.int16), "pcm_as_float": (x * 32767).astype(np.float32)}[bad]
    for name, fe in _front_ends().items():
        with pytest.raises(ValueError, match=expect):
            fe(clip)
    assert _front_ends()["numpy"](x).shape == (49, 10)          # a good clip still goes through


@pytest.mark.parametrize("bad, expect", [
    (np.full((2, 3, 30), np.nan), "NaN/Inf"), (np.zeros((3, 30)), r"\(N, channels, T\)"),
    (np.zeros((0, 3, 30)), "no data"), (np.zeros((2, 3, 1)), "too short"),
])
def test_imu_features_reject_bad_windows(bad, expect):
    from tinyml_utils.data import imu

    with pytest.raises(ValueError, match=expect):
        imu.window_features(bad)
    with pytest.raises(ValueError, match=expect):
        imu.dsp_features(bad)


# ------------------------------------------------------------------ item 8: the book and deleted chapters

def test_book_refuses_an_executed_copy_whose_chapter_is_gone(tmp_path, monkeypatch):
    """Issue 20 item 8: executed copies of a deleted or renamed notebook were published silently."""
    import json

    from conftest_book import _png_bytes, make_executed_notebook

    from tinyml_utils.core import paths
    from tinyml_utils.tools import book

    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    src = tmp_path / "notebooks"
    src.mkdir()
    (src / "01_kept.ipynb").write_text(json.dumps({"cells": []}))
    monkeypatch.setattr(paths, "NOTEBOOKS", src)
    exe = paths.executed_dir(True)
    for name in ("01_kept.ipynb", "02_renamed_away.ipynb"):
        make_executed_notebook(exe / name, _png_bytes())
    with pytest.raises(book.BookBuildError) as err:
        book.executed_chapters(quick=True)
    assert "02_renamed_away.ipynb: its chapter notebooks/02_renamed_away.ipynb no longer exists" in str(err.value)
    assert [p.name for p in book.executed_chapters(quick=True, partial=True)] == ["01_kept.ipynb"]


def test_stability_table_prints_whole_details(monkeypatch, capsys):
    """Trivia of issue 20: the stability table cut chapter 06's detail at 160 characters."""
    import pandas as pd

    from tinyml_utils.tools import stability

    detail = "ratio " + "x" * 300 + " END"
    df = pd.DataFrame([{"claim": "c", "pass rate": "1/1", "passed": 1, "runs": 1, "example": detail}])
    monkeypatch.setattr(stability, "benchmark", lambda n, load=True: df)
    assert stability.main(["-n", "1"]) == 0
    assert detail in capsys.readouterr().out
