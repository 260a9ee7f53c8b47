"""keywords: Speech Commands' 12-class layout spoken offline by eSpeak NG, with synthetic noise mixed in.

Every draw comes from ``default_rng((seed, split, class, index))``: one seed gives byte-identical arrays on any
machine.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, pcm16
from .base import DataCard, Dataset, Split
from .espeak import ESpeak, cached, espeak_paths, run_workers, speech_16k
from .noise import noise as make_noise

GENERATOR_VERSION = 1          # bump when the generation recipe changes: it changes the cache key
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
    splits="200 / 50 / 50 examples a class (quick: 30 / 10 / 10), balanced, 12 classes: yes, no, up, down, "
           "left, right, on, off, stop, go, unknown (the 25 auxiliary words of Speech Commands v0.02), silence. "
           "Speaker split: validation and test use eSpeak voice variants never heard in training; the 8 English "
           "accents are shared by all splits.",
    checksums="written at generation into `data/cache/keywords-<config hash>/manifest.json` (configuration, "
              "per-file SHA-256, counts, per-example metadata) and verified on every load; the config hash changes "
              "with the generation recipe (`GENERATOR_VERSION`), so a new recipe regenerates.",
)

def _render_chunk(seed: int, jobs: list[tuple[str, dict]]) -> tuple[str, tuple[np.ndarray, list[dict]]]:
    """In a worker: eSpeak version, then int16 clips (len(jobs), 16000) and the ``(split, row)`` jobs' rows
    with what only rendering knows (offset, duration)."""
    engine = ESpeak()
    clips, rows = [], []
    for split, row in jobs:
        speech = None
        if row["label"] != SILENCE_INDEX:
            speech = engine.say(row["word"], row["voice"], row["pitch"], row["pitch_range"],
                                row["rate"], row["espeak_seed"])
        clips.append(_render(row, speech, seed, split))
        rows.append(row)
    return engine.version, (np.stack(clips), rows)


def _render_all(seed: int, jobs: list[tuple[str, dict]]) -> tuple[str, np.ndarray, list[dict]]:
    """:func:`_render_chunk` over every job in fresh workers, :data:`CHUNK` jobs each."""
    requests = [(seed, jobs[i:i + CHUNK]) for i in range(0, len(jobs), CHUNK)]
    version, outs = run_workers("tinyml_utils.data.keywords:_render_chunk", requests)
    x = np.concatenate([x for x, _ in outs]) if outs else np.zeros((0, CLIP_SAMPLES), np.int16)
    return version, x, [row for _, rows in outs for row in rows]


def _rng(seed: int, split: str, label: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), label, index])


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _config(seed: int, counts: dict[str, int]) -> dict:
    """Everything that determines the arrays; its hash names the cache folder."""
    from importlib import metadata

    folder = Path(espeak_paths()[1]) / "voices" / "!v"
    variants = {s: [v for v in names if (folder / v).is_file()] for s, names in VARIANTS.items()}
    return {
        "generator_version": GENERATOR_VERSION, "seed": int(seed), "counts_per_class": counts,
        "classes": CLASSES, "unknown_words": UNKNOWN_WORDS, "accents": ACCENTS,
        "variants": variants, "noises": NOISES, "pitch": PITCH, "pitch_range": PITCH_RANGE,
        "rate_wpm": RATE, "snr_db": SNR_DB, "peak": PEAK, "silence_rms": SILENCE_RMS,
        "sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES, "chunk": CHUNK,
        "espeakng_loader": metadata.version("espeakng-loader"),
    }


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
    """``n`` clips of each of ``words`` with the ``split``'s voices and this recipe: float32 (len(words) · n,
    16000), word by word. Not cached. Draws use labels 100, 101, ... so they never repeat a dataset clip."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    variants = _config(seed, {s: 1 for s in SPLITS})["variants"][split]
    jobs = []
    for w, word in enumerate(words):
        for i in range(n):
            rng = _rng(seed, split, 100 + w, i)
            row = {"label": 100 + w, "class": word, "index": i, "noise": str(rng.choice(NOISES))}
            jobs.append((split, {**row, **_speech_row(rng, word, variants)}))
    _, x, _ = _render_all(seed, jobs)
    return x.astype(np.float32) / np.float32(32768.0)


def _render(row: dict, speech22k: np.ndarray | None, seed: int, split: str) -> np.ndarray:
    """One example as int16 PCM at 16 kHz; adds offset/duration metadata to ``row``."""
    rng = _rng(seed, split, row["label"], row["index"])
    rng = np.random.default_rng(rng.integers(0, 2 ** 63 - 1, size=4))  # audio stream != plan stream
    noise = make_noise(row["noise"], rng)
    if speech22k is None:  # silence: noise only
        mix = noise * row["rms"]
    else:
        speech = speech_16k(speech22k)
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
    return pcm16(mix)


def _generate(config: dict, folder: Path) -> dict:
    """Speak, mix and write every split into ``folder``; returns the manifest's entries."""
    t0 = time.perf_counter()
    plan = _plan(config)
    jobs = [(split, row) for split in SPLITS for row in plan[split]]
    version, x_all, rows = _render_all(config["seed"], jobs)
    counts, examples, start = {}, {}, 0
    for split in SPLITS:
        n = len(plan[split])
        x, examples[split] = x_all[start:start + n], rows[start:start + n]
        start += n
        y = np.array([r["label"] for r in examples[split]], dtype=np.int64)
        np.savez(folder / f"{split}.npz", x=x, y=y)
        counts[split] = np.bincount(y, minlength=len(CLASSES)).tolist()
    return {"espeak_version": version, "counts": counts, "examples": examples,
            "generation_seconds": round(time.perf_counter() - t0, 2)}


def load(quick: bool = False, seed: int = 0, per_class: int | None = None) -> Dataset:
    """The 12-class set, x (N, 16000) float32 in [-1, 1], generated on first use, then read from the checksummed
    cache; ``per_class`` overrides train's count (val and test get ``max(2, per_class // 4)``)."""
    if per_class is not None:
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1, got {per_class}")
        other = max(2, per_class // 4)
        counts = {"train": int(per_class), "val": other, "test": other}
    else:
        counts = dict(QUICK_COUNTS if quick else FULL_COUNTS)
    config = _config(seed, counts)
    folder, manifest = cached("keywords", config, tuple(f"{s}.npz" for s in SPLITS),
                              lambda tmp: _generate(config, tmp))
    splits = {}
    for split in SPLITS:
        with np.load(folder / f"{split}.npz") as npz:
            splits[split] = Split(npz["x"].astype(np.float32) / np.float32(32768.0), npz["y"].astype(np.int64))
    digest = folder.name
    card = replace(CARD, name=f"keywords (eSpeak NG synthetic speech, 12 classes, config {digest})",
                   caveats=CAVEATS + [f"Generated in {manifest['generation_seconds']} s "
                                      f"with eSpeak NG {manifest['espeak_version']}."])
    meta = {"sample_rate": SAMPLE_RATE, "config": config, "config_hash": digest,
            "cache_dir": str(folder), "espeak_version": manifest["espeak_version"],
            "generation_seconds": manifest["generation_seconds"],
            "examples": manifest["examples"]}
    return Dataset("keywords", splits["train"], splits["val"], splits["test"], list(CLASSES),
                   card, meta)

