"""Tests of the full-public-set loaders on tiny fixtures generated here (no data files committed).

The fixtures mimic the real layouts: Speech Commands is a folder per word of 16 kHz int16 mono
wavs plus validation_list.txt, testing_list.txt and _background_noise_/; MNIST is four
gzip-compressed idx files. Every sample value encodes where it came from, so the tests can check
that each example reached the right split with the right label.
"""
from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from tinyml_utils.data import public
from tinyml_utils.data.base import DataError
from tinyml_utils.data.keywords import CLASSES, KEYWORDS, SILENCE_INDEX, UNKNOWN_INDEX

UNKNOWN_FIXTURE_WORDS = ["bed", "cat", "marvin"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test here fails if anything tries to open a network connection."""
    def blocked(*args, **kwargs):
        raise AssertionError("a loader opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket.socket, "connect_ex", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)


# --------------------------------------------------------------------------------------------
# Fixture generators
# --------------------------------------------------------------------------------------------
def _code(word_index: int, clip: int) -> int:
    """The int16 value every sample of a fixture clip carries: identifies word and clip."""
    return 100 * (word_index + 1) + clip


def make_speech_commands(folder: Path, clips_per_word: int = 5) -> dict:
    """Write a tiny Speech Commands tree into ``folder``; returns the expected split of each file."""
    folder.mkdir(parents=True, exist_ok=True)
    words = KEYWORDS + UNKNOWN_FIXTURE_WORDS
    expected, val, test = {}, [], []
    for w, word in enumerate(words):
        (folder / word).mkdir()
        for c in range(clips_per_word):
            name = f"{c:08x}_nohash_0.wav"
            length = 16000 if c % 2 == 0 else 12000  # some clips shorter than 1 s, as in the real set
            wavfile.write(folder / word / name, 16000, np.full(length, _code(w, c), np.int16))
            rel = f"{word}/{name}"
            split = "val" if c == 3 else "test" if c == 4 else "train"
            {"val": val, "test": test}.get(split, []).append(rel)
            expected[rel] = split
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    noise = folder / "_background_noise_"
    noise.mkdir()
    rng = np.random.default_rng(0)
    for name in ("white_noise.wav", "running_tap.wav"):
        wavfile.write(noise / name, 16000, (rng.normal(0, 3000, 16000 * 12)).astype(np.int16))
    (folder / "README.md").write_text("fixture")
    return expected


def make_archive(tmp_path: Path, root: Path, version: str = "v0.02") -> Path:
    """A .tar.gz of a fixture tree, laid out like the real archive (files at the top level)."""
    tree = tmp_path / "tree"
    make_speech_commands(tree)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"speech_commands_{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(tree.iterdir()):
            tar.add(item, arcname=f"./{item.name}")
    return archive


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def make_mnist(root: Path, n_train: int = 120, n_test: int = 30) -> dict[str, bytes]:
    """Four tiny idx files; image i is filled with the value (i % 250) + its label offset."""
    root.mkdir(parents=True, exist_ok=True)
    blobs = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.zeros((n, 28, 28), np.uint8)
        images[:] = (np.arange(n) % 25 * 10 + labels)[:, None, None]
        blobs[f"{prefix}-images-idx3-ubyte.gz"] = _idx(images)
        blobs[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(labels)
    for name, blob in blobs.items():
        (root / name).write_bytes(blob)
    return blobs


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


# --------------------------------------------------------------------------------------------
# Speech Commands
# --------------------------------------------------------------------------------------------
def test_speech_commands_parses_fixture_folder(tmp_path):
    expected = make_speech_commands(tmp_path / "speech_commands_v0.02")
    ds = public.speech_commands(root=tmp_path, seed=0)
    assert ds.classes == CLASSES and ds.meta["sample_rate"] == 16000
    n_known = {"train": 10 * 3, "val": 10, "test": 10}
    n_extra = {"train": 3, "val": 1, "test": 1}  # ceil(10 % of the keyword clips)
    for name in ("train", "val", "test"):
        split, files = getattr(ds, name), ds.meta["files"][name]
        assert split.x.shape == (len(split), 16000) and split.x.dtype == np.float32
        assert split.y.dtype == np.int64 and len(files) == len(split)
        counts = np.bincount(split.y, minlength=12)
        per_word = n_known[name] // 10
        assert counts[:10].tolist() == [per_word] * 10, "every keyword clip is kept"
        assert counts[UNKNOWN_INDEX] == n_extra[name]
        assert counts[SILENCE_INDEX] == n_extra[name]
        for rel, label, x in zip(files, split.y, split.x):
            if label == SILENCE_INDEX:
                assert rel.startswith("_background_noise_/")
                continue
            assert expected[rel] == name, f"{rel} belongs to {expected[rel]}, found in {name}"
            word = rel.split("/")[0]
            assert CLASSES[label] == word if word in KEYWORDS else label == UNKNOWN_INDEX
            w = (KEYWORDS + UNKNOWN_FIXTURE_WORDS).index(word)
            clip = int(rel.split("/")[1][:8], 16)
            length = 16000 if clip % 2 == 0 else 12000
            np.testing.assert_array_equal(x[:length], np.float32(_code(w, clip) / 32768))
            assert np.all(x[length:] == 0), "short clips are zero-padded at the end"


def test_speech_commands_silence_clips_stay_in_their_time_span(tmp_path):
    make_speech_commands(tmp_path / "speech_commands_v0.02")
    ds = public.speech_commands(root=tmp_path, seed=1, silence_fraction=1.0)
    total = 16000 * 12
    for name, (lo, hi) in public.NOISE_SPANS.items():
        starts = [int(f.split("@")[1]) for f in ds.meta["files"][name] if "@" in f]
        assert starts, f"{name} has silence clips"
        assert all(lo * total <= s and s + 16000 <= hi * total for s in starts)
        sil = getattr(ds, name).x[getattr(ds, name).y == SILENCE_INDEX]
        assert np.abs(sil).max() <= 1.0


def test_speech_commands_max_per_class_and_seed(tmp_path):
    make_speech_commands(tmp_path / "speech_commands_v0.02")
    ds = public.speech_commands(root=tmp_path, max_per_class=2)
    assert np.bincount(ds.train.y, minlength=12).max() <= 2
    a = public.speech_commands(root=tmp_path, seed=5)
    b = public.speech_commands(root=tmp_path, seed=5)
    assert a.train.x.tobytes() == b.train.x.tobytes()


def test_speech_commands_extracts_a_verified_archive(tmp_path, monkeypatch):
    root = tmp_path / "root"
    archive = make_archive(tmp_path, root)
    monkeypatch.setitem(public.SPEECH_COMMANDS_SHA256, "v0.02", _sha(archive.read_bytes()))
    ds = public.speech_commands(root=root)
    assert (root / "speech_commands_v0.02" / "validation_list.txt").exists()
    assert len(ds.test) == 10 + 1 + 1
    archive.unlink()  # the extracted folder is enough from now on
    assert len(public.speech_commands(root=root).train) == len(ds.train)


def test_speech_commands_corrupt_archive_raises_naming_it(tmp_path):
    root = tmp_path / "root"
    archive = make_archive(tmp_path, root)  # real published checksum: the fixture cannot match
    with pytest.raises(DataError) as err:
        public.speech_commands(root=root)
    assert str(archive) in str(err.value) and "SHA-256" in str(err.value)
    assert not (root / "speech_commands_v0.02").exists()


@pytest.mark.parametrize("loader, file, url, digest", [
    ("speech_commands", "speech_commands_v0.02.tar.gz",
     "https://download.tensorflow.org/data/speech_commands_v0.02.tar.gz", ("SPEECH_COMMANDS_SHA256", "v0.02")),
    ("mnist_full", "train-images-idx3-ubyte.gz",
     "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz",
     ("MNIST_SHA256", "train-images-idx3-ubyte.gz"))])
def test_missing_file_says_what_to_fetch_and_where(tmp_path, loader, file, url, digest):
    with pytest.raises(DataError) as err:
        getattr(public, loader)(root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / file) in msg and "place" in msg
    assert url in msg and getattr(public, digest[0])[digest[1]] in msg


def test_speech_commands_unknown_version():
    with pytest.raises(ValueError, match="version"):
        public.speech_commands(version="v9")


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------
def test_mnist_parses_fixture(tmp_path, monkeypatch):
    blobs = make_mnist(tmp_path)
    for name, blob in blobs.items():
        monkeypatch.setitem(public.MNIST_SHA256, name, _sha(blob))
    ds = public.mnist_full(root=tmp_path, val_fraction=1 / 6, seed=0)
    assert ds.classes == [str(d) for d in range(10)]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (100, 20, 30)
    for split in (ds.train, ds.val, ds.test):
        assert split.x.shape[1:] == (1, 28, 28) and split.x.dtype == np.float32
        assert split.y.dtype == np.int64 and 0.0 <= split.x.min() and split.x.max() <= 1.0
    assert np.bincount(ds.val.y, minlength=10).tolist() == [2] * 10, "val is stratified"
    # pixel value = (index % 25) * 10 + label, so the label is recoverable from the image
    for split in (ds.train, ds.val, ds.test):
        pixel = np.round(split.x[:, 0, 0, 0] * 255).astype(int)
        assert np.array_equal(pixel % 10, split.y)
    assert np.round(ds.test.x[7, 0, 5, 5] * 255) == 77, "test keeps the file's order"
    seen = np.concatenate([ds.train.x[:, 0, 0, 0], ds.val.x[:, 0, 0, 0]])
    assert len(seen) == 120, "train + val hold every training image once"


def test_mnist_checksum_mismatch_names_the_file(tmp_path):
    make_mnist(tmp_path)  # fixtures never match the published SHA-256 values
    with pytest.raises(DataError) as err:
        public.mnist_full(root=tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(err.value)


def test_published_checksums_look_like_sha256():
    for value in list(public.MNIST_SHA256.values()) + [public.SPEECH_COMMANDS_SHA256["v0.02"]]:
        assert len(value) == 64 and int(value, 16) >= 0
