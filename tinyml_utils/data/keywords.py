"""keywords: spoken keywords synthesized offline with the eSpeak NG engine, synthetic noise mixed in.

Twelve classes in the layout of Google's Speech Commands benchmark: ten keywords, ``unknown``
(other words) and ``silence`` (background noise only). Every example is one second of 16 kHz
audio, float32 in [-1, 1].

How an example is made
    1. eSpeak NG (the C library that the ``espeakng-loader`` wheel ships, called through ctypes)
       speaks one word at 22,050 Hz with a random English accent, a voice variant (the
       "speaker"), pitch, pitch range and speaking rate.
    2. Leading and trailing silence is trimmed, the word is resampled to 16 kHz
       (``scipy.signal.resample_poly``, 320/441) and placed at a random offset in a 1 s buffer.
    3. A synthetic background noise (white, pink, brown, mains hum with harmonics, or a
       babble-like mixture of modulated speech-shaped noise) is mixed in at a random SNR.
    4. The mixture is scaled to a random peak level and stored as 16-bit PCM.

Every random choice comes from ``numpy.random.default_rng((seed, split, class, index))``, so the
same seed gives byte-identical arrays. eSpeak NG keeps a little state between utterances (the
phase of its pitch "flutter" table, an automatic gain), so synthesis runs in fresh worker
processes over fixed chunks of requests: the output does not depend on what ran before in your
kernel, nor on how many CPU cores you have.

Splits (by speaker, :data:`VARIANTS`), the cache and its checksums: see the card, :data:`CARD`
(rendered into ``data/keywords.md``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.io import atomic_folder
from .base import DataCard, DataError, Dataset, Split, sha256_file, verify_checksum
from .espeak import ESPEAK_RATE, ESpeak, espeak_paths, render_all, sweep_stale
from .noise import noise as make_noise

GENERATOR_VERSION = 1          # bump when the generation recipe changes: it changes the cache key
SAMPLE_RATE = 16_000           # Hz, output sample rate
CLIP_SAMPLES = SAMPLE_RATE     # 1 s per example

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
CLASSES = KEYWORDS + ["unknown", "silence"]
UNKNOWN_INDEX = CLASSES.index("unknown")
SILENCE_INDEX = CLASSES.index("silence")

# The auxiliary words of Speech Commands v0.02, so that "unknown" means the same thing here.
UNKNOWN_WORDS = ["backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward",
                 "four", "happy", "house", "learn", "marvin", "nine", "one", "seven", "sheila",
                 "six", "three", "tree", "two", "visual", "wow", "zero"]

# eSpeak NG English accents (language voices); all of them are used in every split.
ACCENTS = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-029", "en-us-nyc"]

# Voice variants (files in espeak-ng-data/voices/!v) play the role of speakers: each one sets a
# timbre (formants, pitch base, roughness, breath) or a different synthesizer (the klatt family).
# Families of near-identical variants (steph, steph2, steph3; mike, mike2; iven..iven4) stay in
# one split. Gimmick voices (robots, whisper, croak, "Demonic") are left out.
VARIANTS = {
    "train": ["m1", "m2", "m4", "m5", "m6", "m8", "f1", "f3", "f5", "klatt", "klatt2", "klatt4",
              "klatt6", "adam", "Alex", "Andrea", "Andy", "aunty", "belinda", "benjamin", "caleb",
              "edward", "grandma", "ian", "iven", "iven2", "iven3", "iven4", "john", "linda",
              "max", "Michael", "norbert", "paul", "quincy", "rob", "travis", "victor", "zac"],
    "val": ["m3", "f4", "klatt5", "Alicia", "david", "robert", "steph", "steph2", "steph3"],
    "test": ["m7", "f2", "klatt3", "Annie", "boris", "grandpa", "Lee", "Mike", "mike2"],
}

NOISES = ["white", "pink", "brown", "hum", "babble"]

SPLITS = ("train", "val", "test")
FULL_COUNTS = {"train": 200, "val": 50, "test": 50}     # examples per class
QUICK_COUNTS = {"train": 30, "val": 10, "test": 10}

PITCH = (20, 80)         # eSpeak pitch parameter, 0-100 (50 = the variant's own pitch)
PITCH_RANGE = (30, 80)   # eSpeak intonation range, 0-100
RATE = (120, 230)        # words per minute (eSpeak default 175)
SNR_DB = (3.0, 25.0)     # speech-to-noise ratio in dB, over the word's own duration
PEAK = (0.05, 0.9)       # peak amplitude of a keyword clip, log-uniform
SILENCE_RMS = (5e-4, 0.15)  # RMS of a silence clip, log-uniform (overlaps the keyword noise levels)

CHUNK = 400              # examples per fresh worker process (fixed: part of the recipe)

CARD_TEXT = dict(
    source="Generated on your machine by tinyml_utils.data.keywords with the eSpeak NG "
           "formant synthesizer (the C library and voice data shipped in the espeakng-loader "
           "wheel); no download",
    real_or_synthetic="Synthetic. The speech is real text-to-speech output of a real engine, but "
                      "it is not human recordings: eSpeak NG is a formant synthesizer and sounds "
                      "robotic. The 'speakers' are eSpeak voice variants and accents. The "
                      "background noises are synthetic too (white, pink and brown noise, mains "
                      "hum with harmonics, a babble-like mixture of modulated speech-shaped noise),"
                      " generated with NumPy: no recorded noise, no room acoustics, no microphone.",
    input_description="1 s of mono audio at 16 kHz: float32 array of 16,000 samples in [-1, 1] "
                      "(16-bit PCM divided by 32,768)",
    license="Generated data: no third-party content. eSpeak NG is GPL-3.0-or-later; its output "
            "audio is not covered by the GPL.",
)
CAVEATS = [
    "Accuracy on this set says little about accuracy on human speech: expect a large drop on "
    "Speech Commands (tinyml_utils.data.public.speech_commands) or a real microphone.",
    "Speaker split: validation and test use eSpeak voice variants never seen in training; the 8 "
    "English accents are shared by all splits because eSpeak has only these.",
    "'unknown' words are the 25 auxiliary words of Speech Commands v0.02, used in every split.",
    "SNR is measured over the word's own samples, not the whole second.",
    "Classes are balanced (unlike Speech Commands, where unknown dominates).",
]


#: The card of ``data/keywords.md``; :func:`load` names the generated configuration and its timing.
CARD = DataCard(
    name="keywords: synthesized spoken keywords (eSpeak NG)", caveats=CAVEATS,
    splits="200 / 50 / 50 examples a class (quick: 30 / 10 / 10), balanced, 12 classes: yes, no, up, down, "
           "left, right, on, off, stop, go, unknown (the 25 auxiliary words of Speech Commands v0.02), silence. "
           "Speaker split: validation and test use eSpeak voice variants never heard in training; the 8 English "
           "accents are shared by all splits.",
    checksums="written at generation into `data/cache/keywords-<config hash>/manifest.json` (configuration, "
              "per-file SHA-256, counts, per-example metadata) and verified on every load; the config hash changes "
              "with the generation recipe (`GENERATOR_VERSION`), so a new recipe regenerates.",
    **CARD_TEXT)

# --------------------------------------------------------------------------------------------
# Synthesis in worker processes (the engine: :mod:`.espeak`)
# --------------------------------------------------------------------------------------------
_engine = None


def _render_chunk(seed: int, jobs: list[tuple[str, dict]]) -> tuple[str, np.ndarray, list[dict]]:
    """Speak and mix a fixed list of ``(split, plan row)`` jobs in this process.

    Returns the eSpeak version, int16 clips (len(jobs), 16000) and the rows with the metadata
    that only rendering knows (offset, duration).
    """
    global _engine
    clips, rows = [], []
    for split, row in jobs:
        row = dict(row)
        speech = None
        if row["label"] != SILENCE_INDEX:
            if _engine is None:
                _engine = ESpeak()
            speech = _engine.say(row["word"], row["voice"], row["pitch"], row["pitch_range"],
                                 row["rate"], row["espeak_seed"])
        clips.append(_render(row, speech, seed, split))
        rows.append(row)
    version = _engine.version if _engine is not None else ""
    x = np.stack(clips) if clips else np.zeros((0, CLIP_SAMPLES), np.int16)
    return version, x, rows


# --------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------
def _rng(seed: int, split: str, label: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), label, index])


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _available(names: list[str], folder: Path) -> list[str]:
    return [v for v in names if (folder / v).is_file()]


def _config(seed: int, counts: dict[str, int]) -> dict:
    """Everything that determines the arrays; its hash names the cache folder."""
    from importlib import metadata

    _, data_path = espeak_paths()
    variants = {s: _available(v, Path(data_path) / "voices" / "!v") for s, v in VARIANTS.items()}
    for split, names in variants.items():
        if not names:
            raise DataError(f"None of the eSpeak voice variants for the {split} split exist under "
                            f"{data_path}/voices/!v. Fix: pip install --force-reinstall "
                            "espeakng-loader")
    return {
        "generator_version": GENERATOR_VERSION, "seed": int(seed), "counts_per_class": counts,
        "classes": CLASSES, "unknown_words": UNKNOWN_WORDS, "accents": ACCENTS,
        "variants": variants, "noises": NOISES, "pitch": PITCH, "pitch_range": PITCH_RANGE,
        "rate_wpm": RATE, "snr_db": SNR_DB, "peak": PEAK, "silence_rms": SILENCE_RMS,
        "sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES, "chunk": CHUNK,
        "espeakng_loader": metadata.version("espeakng-loader"),
    }


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _plan(config: dict) -> dict[str, list[dict]]:
    """Draw every random choice of every example (no audio yet)."""
    plan: dict[str, list[dict]] = {}
    for split in SPLITS:
        rows = []
        for label, name in enumerate(CLASSES):
            for i in range(config["counts_per_class"][split]):
                rng = _rng(config["seed"], split, label, i)
                row: dict = {"label": label, "class": name, "index": i,
                             "noise": str(rng.choice(NOISES))}
                if label == SILENCE_INDEX:
                    row["rms"] = _loguniform(rng, *SILENCE_RMS)
                else:
                    word = name if label != UNKNOWN_INDEX else str(rng.choice(UNKNOWN_WORDS))
                    row.update(_speech_row(rng, word, config["variants"][split]))
                rows.append(row)
        plan[split] = rows
    return plan


def _speech_row(rng: np.random.Generator, word: str, variants: list[str]) -> dict:
    """The random voice of one spoken example: accent, variant, pitch, rate, SNR, peak, eSpeak seed."""
    accent, variant = str(rng.choice(ACCENTS)), str(rng.choice(variants))
    return dict(word=word, accent=accent, variant=variant, voice=f"{accent}+{variant}",
                pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                rate=int(rng.integers(RATE[0], RATE[1] + 1)), snr_db=float(rng.uniform(*SNR_DB)),
                peak=_loguniform(rng, *PEAK), espeak_seed=int(rng.integers(0, 2 ** 31 - 1)))


def synthesize(words: list[str], n: int, split: str = "train", seed: int = 1234) -> np.ndarray:
    """``n`` one-second clips of each of ``words`` (any text eSpeak NG can speak), with the
    ``split``'s voices and this generator's recipe (random accent, pitch, rate, noise and SNR).

    Returns float32 (len(words) · n, 16000) in [-1, 1], word by word. Not cached: it takes a few
    seconds per hundred clips. Draws use labels 100, 101, ... so they never repeat a dataset clip.
    """
    import tempfile

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    variants = _config(seed, {s: 1 for s in SPLITS})["variants"][split]
    jobs = []
    for w, word in enumerate(words):
        for i in range(n):
            rng = _rng(seed, split, 100 + w, i)
            row = {"label": 100 + w, "class": word, "index": i, "noise": str(rng.choice(NOISES))}
            jobs.append((split, {**row, **_speech_row(rng, word, variants)}))
    with tempfile.TemporaryDirectory(prefix="keywords_") as tmp:
        _, x, _ = render_all(seed, jobs, Path(tmp), module="tinyml_utils.data.keywords", chunk=CHUNK,
                             clip_samples=CLIP_SAMPLES)
    return x.astype(np.float32) / np.float32(32768.0)


def _trim(audio: np.ndarray, rel_threshold: float = 0.02, pad: int = 160) -> np.ndarray:
    """Cut leading/trailing samples below ``rel_threshold`` × peak, keeping ``pad`` samples."""
    loud = np.flatnonzero(np.abs(audio) > rel_threshold * np.abs(audio).max())
    if len(loud) == 0:
        return audio
    return audio[max(0, loud[0] - pad):loud[-1] + pad]


def _render(row: dict, speech22k: np.ndarray | None, seed: int, split: str) -> np.ndarray:
    """One example as int16 PCM at 16 kHz; adds offset/duration metadata to ``row``."""
    from scipy.signal import resample_poly

    rng = _rng(seed, split, row["label"], row["index"])
    rng = np.random.default_rng(rng.integers(0, 2 ** 63 - 1, size=4))  # audio stream != plan stream
    noise = make_noise(row["noise"], rng)
    if speech22k is None:  # silence: noise only
        mix = noise * row["rms"]
    else:
        speech = _trim(speech22k.astype(np.float64) / 32768.0, pad=int(0.01 * ESPEAK_RATE))
        speech = resample_poly(speech, SAMPLE_RATE, ESPEAK_RATE)
        max_len = CLIP_SAMPLES - SAMPLE_RATE // 50  # leave at least 20 ms
        row["cropped"] = bool(len(speech) > max_len)
        if row["cropped"]:
            speech = speech[:max_len].copy()
            speech[-SAMPLE_RATE // 100:] *= np.linspace(1.0, 0.0, SAMPLE_RATE // 100)  # 10 ms fade
        speech /= np.abs(speech).max() + 1e-12
        offset = int(rng.integers(0, CLIP_SAMPLES - len(speech) + 1))
        row["offset_s"] = offset / SAMPLE_RATE
        row["duration_s"] = len(speech) / SAMPLE_RATE
        clean = np.zeros(CLIP_SAMPLES)
        clean[offset:offset + len(speech)] = speech
        speech_rms = float(np.sqrt(np.mean(speech ** 2)))
        mix = clean + noise * speech_rms / 10 ** (row["snr_db"] / 20)
        mix *= row["peak"] / (np.abs(mix).max() + 1e-12)
    return np.round(np.clip(mix, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _generate(config: dict, folder: Path) -> dict:
    """Speak, mix and write every split into ``folder``; returns the manifest."""
    t0 = time.perf_counter()
    plan = _plan(config)
    jobs = [(split, row) for split in SPLITS for row in plan[split]]
    work = folder / "work"
    version, x_all, rows = render_all(config["seed"], jobs, work, module="tinyml_utils.data.keywords",
                                      chunk=CHUNK, clip_samples=CLIP_SAMPLES)
    shutil.rmtree(work, ignore_errors=True)
    files, counts, examples, start = {}, {}, {}, 0
    for split in SPLITS:
        n = len(plan[split])
        x, examples[split] = x_all[start:start + n], rows[start:start + n]
        start += n
        y = np.array([r["label"] for r in examples[split]], dtype=np.int64)
        path = folder / f"{split}.npz"
        np.savez(path, x=x, y=y)
        files[path.name] = sha256_file(path)
        counts[split] = np.bincount(y, minlength=len(CLASSES)).tolist()
    return {"config": config, "config_hash": _config_hash(config), "espeak_version": version,
            "files": files, "counts": counts, "examples": examples,
            "generation_seconds": round(time.perf_counter() - t0, 2)}


def _fix(folder: Path) -> str:
    return (f"Fix: delete the folder {folder} and re-run keywords.load(); it will be regenerated "
            "(about a minute).")


def _read(folder: Path, config: dict) -> tuple[dict, dict[str, Split]]:
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"Corrupt dataset file: {manifest_path} cannot be read ({e}). "
                        f"{_fix(folder)}") from e
    if manifest.get("config") != json.loads(json.dumps(config)):
        raise DataError(f"Corrupt dataset file: {manifest_path} describes another configuration "
                        f"than its folder name says. {_fix(folder)}")
    splits = {}
    for split in SPLITS:
        path = folder / f"{split}.npz"
        if path.name not in files:
            raise DataError(f"Corrupt dataset file: {manifest_path} lists no checksum for "
                            f"{path.name}. {_fix(folder)}")
        verify_checksum(path, files[path.name], _fix(folder))
        try:
            with np.load(path) as npz:
                x, y = npz["x"], npz["y"]
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"Corrupt dataset file: {path} cannot be read ({e}). "
                            f"{_fix(folder)}") from e
        splits[split] = Split((x.astype(np.float32) / np.float32(32768.0)), y.astype(np.int64))
    return manifest, splits


def load(quick: bool = False, seed: int = 0, per_class: int | None = None) -> Dataset:
    """The 12-class spoken-keyword set (generated on first use, then read from the cache).

    Args:
        quick: 30 / 10 / 10 examples per class for train / val / test instead of 200 / 50 / 50.
        seed: fixes every random choice; the same seed gives byte-identical arrays.
        per_class: training examples per class, overriding ``quick``; validation and test then
            get ``max(2, per_class // 4)`` each.

    Returns:
        A :class:`Dataset` whose splits hold ``x`` of shape (N, 16000), float32 in [-1, 1] (1 s at
        16 kHz) and ``y`` int64 labels indexing :data:`CLASSES`. ``meta`` holds ``sample_rate``
        (Hz), ``config`` and ``config_hash``, ``cache_dir``, ``espeak_version`` and per-example
        ``examples`` metadata (word, voice, pitch, rate, noise, SNR in dB, offset in s) by split.

    Raises:
        DataError: a cached file is missing or corrupt (the message names it and the fix), or
            eSpeak NG is not installed.
    """
    if per_class is not None:
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1, got {per_class}")
        other = max(2, per_class // 4)
        counts = {"train": int(per_class), "val": other, "test": other}
    else:
        counts = dict(QUICK_COUNTS if quick else FULL_COUNTS)
    config = _config(seed, counts)
    digest = _config_hash(config)
    folder = paths.data_cache() / "keywords" / digest
    if not (folder / "manifest.json").exists():
        sweep_stale(folder.parent)
        if folder.exists():  # a leftover without a manifest: never trust it
            shutil.rmtree(folder)
        with atomic_folder(folder) as tmp:
            manifest = _generate(config, tmp)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    manifest, splits = _read(folder, config)
    card = replace(CARD, name=f"keywords (eSpeak NG synthetic speech, 12 classes, config {digest})",
                   caveats=CAVEATS + [f"Generated in {manifest['generation_seconds']} s "
                                      f"with eSpeak NG {manifest['espeak_version']}."])
    meta = {"sample_rate": SAMPLE_RATE, "config": config, "config_hash": digest,
            "cache_dir": str(folder), "espeak_version": manifest["espeak_version"],
            "generation_seconds": manifest["generation_seconds"],
            "examples": manifest["examples"]}
    return Dataset("keywords", splits["train"], splits["val"], splits["test"], list(CLASSES),
                   card, meta)


if __name__ == "__main__":  # the worker: python -m tinyml_utils.data.keywords JOBS.json OUT.npz
    import sys

    _request = json.loads(Path(sys.argv[1]).read_text())
    _version, _x, _rows = _render_chunk(_request["seed"], [tuple(j) for j in _request["jobs"]])
    np.savez(sys.argv[2], x=_x, rows=np.array(json.dumps(_rows)), version=np.array(_version))
