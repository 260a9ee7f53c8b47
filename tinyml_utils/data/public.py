"""The full public datasets, read from files you fetched: Speech Commands (12-class layout) and MNIST.

Nothing downloads at run time: a missing file raises a ``DataError`` naming its URL, its SHA-256 (the
value TensorFlow Datasets publishes, checked before use) and where to put it.
"""
from __future__ import annotations

import gzip
import math
import shutil
import struct
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import paths
from .base import DataCard, DataError, Dataset, Split, stratified_split, verify_checksum
from .keywords import CLASSES as KEYWORD_CLASSES
from .keywords import CLIP_SAMPLES, KEYWORDS, SAMPLE_RATE, SILENCE_INDEX, UNKNOWN_INDEX

# From TensorFlow Datasets, tensorflow_datasets/url_checksums/speech_commands.txt
# (v0.02 archive: 2,428,923,189 bytes).
SPEECH_COMMANDS_SHA256 = {"v0.02": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"}
SPEECH_COMMANDS_URL = "https://download.tensorflow.org/data/speech_commands_{version}.tar.gz"

# From TensorFlow Datasets, tensorflow_datasets/url_checksums/mnist.txt.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/{name}"

BACKGROUND = "_background_noise_"
# Background recordings are cut in time so that no silence clip of one split overlaps another's.
NOISE_SPANS = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}

#: The card of ``data/speech_commands.md``; :func:`speech_commands` adds the run's own details.
SPEECH_COMMANDS_CARD = DataCard(
    name="Speech Commands (optional, fetched by you)",
    source="Google's Speech Commands v0.02 (2.3 GB archive), which you fetch yourself from "
           f"`{SPEECH_COMMANDS_URL.format(version='v0.02')}` into `data/cache/speech_commands/`; "
           "`data.public.speech_commands()` never downloads: a missing file raises an error naming the URL, "
           "its SHA-256 and where to put it.",
    license="CC BY 4.0 (Warden, \"Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition\", 2018).",
    real_or_synthetic="real crowd-sourced recordings of 35 words by thousands of speakers through their own "
                      "microphones, plus background-noise recordings (two of which, white and pink noise, are "
                      "themselves synthetic); the silence class is cut from those recordings.",
    input_description="1 s mono at 16 kHz (shorter clips zero-padded at the end), float32 in [-1, 1] "
                      "(16-bit PCM / 32,768); mapped to the same 12 classes as `keywords` (10 words, unknown, "
                      "silence).",
    splits="the dataset's own `validation_list.txt` / `testing_list.txt` (by speaker hash: speakers do not cross "
           "splits; not the separate canonical test archive); the background-noise files are cut in time, "
           "80 / 10 / 10 %, so no silence clip is shared between splits.",
    checksums=f"v0.02 archive SHA-256 `{SPEECH_COMMANDS_SHA256['v0.02']}` "
              "(TensorFlow Datasets' published value), checked before use.",
    caveats=["the unknown class dominates unless subsampled; classes are not balanced",
             "many clips are shorter than 1 s or contain clipping and noise: it is real data"],
)


def _missing(path: Path, url: str, sha256: str) -> DataError:
    return DataError(f"Missing dataset file: {path}. Fix: fetch {url} (SHA-256 {sha256}) and place it at "
                     f"{path}; nothing is downloaded at run time.")


def _read_wav(path: Path) -> np.ndarray:
    """One 16 kHz int16 mono wav as float32 in [-1, 1]."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (OSError, ValueError) as e:
        raise DataError(f"Corrupt dataset file: {path} is not a readable wav ({e}). Fix: delete "
                        "the extracted folder and load again to re-extract the archive.") from e
    if rate != SAMPLE_RATE or data.dtype != np.int16 or data.ndim != 1:
        raise DataError(f"{path} holds {data.dtype} {data.shape} at {rate} Hz; Speech Commands is int16 mono "
                        f"at {SAMPLE_RATE} Hz")
    return data.astype(np.float32) / 32768.0


def _fit(audio: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    out = np.zeros(n, np.float32)
    out[:min(n, len(audio))] = audio[:n]
    return out


def _extracted_dir(root: Path, version: str) -> Path:
    """The extracted Speech Commands folder, extracting the archive if needed."""
    folder = root / f"speech_commands_{version}"
    if (folder / "validation_list.txt").exists() and (folder / "testing_list.txt").exists():
        return folder
    archive = root / f"speech_commands_{version}.tar.gz"
    expected = SPEECH_COMMANDS_SHA256[version]
    url = SPEECH_COMMANDS_URL.format(version=version)
    if not archive.exists():
        raise _missing(archive, url, expected)
    verify_checksum(archive, expected, f"Fix: delete {archive} and place a good copy of {url} there.")
    tmp = root / f"speech_commands_{version}.extracting"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:   # verified above: a failure here is the disk's, not the file's
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)   # the archive holds its files at the top level
    return folder


def speech_commands(root: str | Path | None = None, version: str = "v0.02", *, seed: int = 0,
                    unknown_fraction: float = 0.1, silence_fraction: float = 0.1,
                    max_per_class: int | None = None) -> Dataset:
    """Google Speech Commands in the 12-class layout of :mod:`.keywords`: x (N, 16000) float32, zero-padded.

    As TensorFlow's training script: all keyword clips, plus ``unknown`` (other words) and ``silence`` (1 s of
    background recordings) clips, each a fraction of the split's keyword count. ``max_per_class`` saves memory
    (full v0.02 train: ~2.4 GB). ``meta["files"]``: ``word/name.wav`` or ``_background_noise_/name.wav@<start>``.
    """
    if version not in SPEECH_COMMANDS_SHA256:
        raise ValueError(f"version must be one of {sorted(SPEECH_COMMANDS_SHA256)}, got {version!r}")
    root = Path(root) if root is not None else paths.data_cache() / "speech_commands"
    folder = _extracted_dir(root, version)
    val_list = set((folder / "validation_list.txt").read_text().split())
    test_list = set((folder / "testing_list.txt").read_text().split())

    known: dict[str, list[str]] = {s: [] for s in NOISE_SPANS}
    unknown: dict[str, list[str]] = {s: [] for s in NOISE_SPANS}
    words = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("_"))
    for word in words:
        for wav in sorted((folder / word).glob("*.wav")):
            rel = f"{word}/{wav.name}"
            split = "val" if rel in val_list else "test" if rel in test_list else "train"
            (known if word in KEYWORDS else unknown)[split].append(rel)
    noise_files = sorted((folder / BACKGROUND).glob("*.wav"))
    if silence_fraction > 0 and not noise_files:
        raise DataError(f"Missing dataset files: {folder / BACKGROUND} holds no background-noise recordings "
                        "(the silence class). Fix: extract the whole archive there, or pass silence_fraction=0.")
    noises = [(f"{BACKGROUND}/{p.name}", _read_wav(p)) for p in noise_files]

    rng = np.random.default_rng(seed)
    splits = {}
    files: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        n_known = len(known[split])
        chosen = list(known[split])
        labels = [KEYWORDS.index(rel.split("/")[0]) for rel in chosen]
        n_unknown = min(len(unknown[split]), math.ceil(round(n_known * unknown_fraction, 6)))
        if n_unknown:
            picked = rng.choice(len(unknown[split]), size=n_unknown, replace=False)
            chosen += [unknown[split][i] for i in sorted(picked)]
            labels += [UNKNOWN_INDEX] * n_unknown
        if max_per_class is not None:
            keep = []
            labels_arr = np.array(labels, dtype=np.int64)
            for c in np.unique(labels_arr):
                idx = np.flatnonzero(labels_arr == c)
                keep += sorted(rng.permutation(idx)[:max_per_class].tolist())
            keep.sort()
            chosen, labels = [chosen[i] for i in keep], [labels[i] for i in keep]
        x = [_fit(_read_wav(folder / rel)) for rel in chosen]
        n_silence = math.ceil(round(n_known * silence_fraction, 6)) if noises else 0
        if max_per_class is not None:
            n_silence = min(n_silence, max_per_class)
        lo, hi = NOISE_SPANS[split]
        for _ in range(n_silence):
            name, audio = noises[int(rng.integers(len(noises)))]
            start_lo, start_hi = int(lo * len(audio)), int(hi * len(audio)) - CLIP_SAMPLES
            start = int(rng.integers(start_lo, max(start_lo, start_hi) + 1))
            end = min(start + CLIP_SAMPLES, int(hi * len(audio)))
            x.append(_fit(audio[start:end] * np.float32(rng.uniform(0.0, 1.0))))
            chosen.append(f"{name}@{start}")
            labels.append(SILENCE_INDEX)
        arr = np.stack(x).astype(np.float32) if x else np.zeros((0, CLIP_SAMPLES), np.float32)
        splits[split] = Split(arr, np.asarray(labels, dtype=np.int64))
        files[split] = chosen

    card = replace(SPEECH_COMMANDS_CARD, name=f"Speech Commands {version} (12-class layout, read from {root})",
                   caveats=SPEECH_COMMANDS_CARD.caveats + [
                       f"unknown = {unknown_fraction:.0%} and silence = {silence_fraction:.0%} of each split's "
                       "keyword count, sampled with the seed."])
    return Dataset(f"speech_commands_{version}", splits["train"], splits["val"], splits["test"],
                   list(KEYWORD_CLASSES), card,
                   meta={"sample_rate": SAMPLE_RATE, "version": version, "root": str(folder),
                         "files": files})


def _read_idx(path: Path) -> np.ndarray:
    """One gzip-compressed idx file of unsigned bytes (header unchecked: the file's SHA-256 was)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist_full(root: str | Path | None = None, *, val_fraction: float = 1 / 12, seed: int = 0) -> Dataset:
    """All 70,000 MNIST digits from the four original idx files in ``root``: x (N, 1, 28, 28) float32 in [0, 1];
    validation is ``val_fraction`` of the training file (stratified), test the official test file."""
    root = Path(root) if root is not None else paths.data_cache() / "mnist"
    arrays = {}
    for name, expected in MNIST_SHA256.items():
        path = root / name
        url = MNIST_URL.format(name=name)
        if not path.exists():
            raise _missing(path, url, expected)
        verify_checksum(path, expected, f"Fix: delete {path} and place a good copy of {url} there.")
        arrays[name] = _read_idx(path)
    images = {k: arrays[f"{k}-images-idx3-ubyte.gz"] for k in ("train", "t10k")}
    labels = {k: arrays[f"{k}-labels-idx1-ubyte.gz"] for k in ("train", "t10k")}
    x_train = images["train"][:, None].astype(np.float32) / 255.0
    y_train = labels["train"].astype(np.int64)
    tr, va = stratified_split(y_train, (1.0 - val_fraction, val_fraction), seed)
    test = Split(images["t10k"][:, None].astype(np.float32) / 255.0,
                 labels["t10k"].astype(np.int64))
    card = DataCard(
        name="MNIST (full, from the original idx files)",
        source=f"Y. LeCun, C. Cortes, C. J. C. Burges, the MNIST database; idx files read from "
               f"{root}",
        real_or_synthetic="Real: handwritten digits from NIST Special Databases 1 and 3, "
                          "size-normalized and centred in 28×28 pixels.",
        input_description="1×28×28 grayscale image, float32 in [0, 1] (raw pixel / 255)",
        license="MNIST terms of its authors (commonly redistributed as CC BY-SA 3.0)",
        caveats=[f"validation = {len(va)} digits carved from the training file (stratified, "
                 f"seed {seed}); test = the official test file"],
    )
    return Dataset("mnist_full", Split(x_train[tr], y_train[tr]), Split(x_train[va], y_train[va]),
                   test, [str(d) for d in range(10)], card, meta={"image_shape": (1, 28, 28)})
