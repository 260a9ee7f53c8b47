"""kws_eval: long keyword-spotting evaluation streams (16 kHz) spoken offline by eSpeak NG, as :data:`CARD` says.

Every draw comes from ``default_rng((seed, split, kind, block))``: one seed gives byte-identical audio on any machine.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, pcm16
from .base import DataCard
from .espeak import cached, run_workers
from .keywords import ACCENTS, KEYWORDS, NOISES, PITCH, PITCH_RANGE, RATE, UNKNOWN_INDEX, UNKNOWN_WORDS, VARIANTS
from .noise import noise as make_noise
from .stream import Event, Stream

GENERATOR_VERSION = 1
KINDS = ("negative", "keyword")
SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}
SNR_DB = (25.0, 15.0, 10.0, 5.0)   # speech-to-noise ratio of a block (speech RMS over noise RMS)
SPEECH_RMS = (0.02, 0.2)           # a block's speech RMS, log-uniform
QUIET_SHARE = 0.15                 # share of blocks with noise only
BLOCK_S = 30.0                     # seconds per block (one noise, one SNR)
GAP_S = (0.3, 2.5)                 # pause between utterances, uniform
CHUNK = 200                        # utterances per fresh eSpeak worker (part of the recipe)

# Everyday English words that are not keywords, not homophones of one ("know", "write"), and do
# not start with one ("yesterday", "going", "upon", "often", "nobody"): a keyword spotter should
# stay silent on all of them. Near-misses ("lift", "stock", "gun") are kept on purpose.
VOCABULARY = (
    "a about after again air all also always and animal another answer any apple are around art as ask at away "
    "baby back bad ball bank be bear beautiful because been before began begin being below best better between "
    "big black blue boat body book both box boy bread bring brother brown build busy but buy by call came can "
    "car care carry case cat catch center change child city class clean clear close cold color come common "
    "cook cool corner could country course cover cross cup cut dark day dear did different dinner do doctor "
    "does dog done door draw dream dress drink drive dry during each early earth easy eat egg end enough even "
    "evening ever every eye face fact fall family far farm fast father feel few field fill find fine fire "
    "first fish five floor flower fly follow food foot for forest form found four free friend from front "
    "fruit full fun garden gave get girl give glass good great green ground group grow gun had hair half hand "
    "happen happy hard has hat have he head hear heart heavy help her here high hill him his hold home horse "
    "hot hour house how hundred idea if important in inside into is island it its just keep kind king kitchen "
    "lake land large last late laugh lay lead learn leave let letter life lift light like line lion list "
    "listen little live long look lost lot love low made make man many map market may me mean men middle might "
    "mile milk mind minute miss money moon more morning most mother mountain mouth move much music must my "
    "name near need never new next nice night now number ocean old open orange other our out over page paint "
    "paper park part party pass people person picture piece place plan plant play please point poor possible "
    "power pull push put question quick quiet rain ran read ready real red remember rest rich ride river road "
    "rock room round run said same sat saw say school sea second see seem sell send sentence set seven shape "
    "she ship shoe short should show side sign simple since sing sister sit six sky sleep slow small smile snow "
    "so some song soon sound south space speak special spring square stand star start station stay step still "
    "stock story street strong study such summer sun sure table take talk tall teacher tell ten than thank that "
    "the their them then there these they thing think this those though three through time tiny to today "
    "together told too took top town train tree true try turn two under until us use very voice wait walk wall "
    "want warm was watch water way we wear weather week well went were west what wheel when where which while "
    "white who why wide wife will wind window winter with woman wonder wood word work world would year young "
    "your").split()

#: The card of the evaluation streams (a section of ``data/keywords.md``); :func:`describe` adds a stream's size.
CARD = DataCard(
    name="kws_eval: evaluation streams for streaming keyword spotting (eSpeak NG)",
    caveats=[
        "False accepts per hour on these streams say little about a product in a real home: real negatives "
        "(TV, music, conversations, other languages) are far more varied than eSpeak's voices.",
        "Voices: the split's eSpeak voice variants (val and test never appear in the keyword set's training "
        "split); the 8 English accents are shared by all splits.",
        "Negative speech contains no keyword, no homophone of one and no word that starts with one; a real "
        "product also hears 'know', 'yesterday' and 'going'.",
    ],
    source="Generated on your machine by tinyml_utils.data.kws_eval with the eSpeak NG formant synthesizer "
           "(the espeakng-loader wheel) and NumPy noise; no download",
    real_or_synthetic="Synthetic: text-to-speech of a robotic-sounding formant synthesizer, not human "
                      "recordings; the 'speakers' are eSpeak voice variants and accents; the sentences are "
                      "random word sequences (speech-like sound, no grammar); the noises are synthetic "
                      "(white, pink, brown, mains hum, babble-like), with no room acoustics or microphone.",
    input_description="A continuous mono stream at 16 kHz, float32 in [-1, 1] (16-bit PCM / 32,768), with "
                      "the start and end time of every utterance (events).",
    license="Generated data: no third-party content. eSpeak NG is GPL-3.0-or-later; its output audio is "
            "not covered by the GPL.",
    splits="streams from one split's voices (`val` or `test`: eSpeak voice variants never heard by the keyword "
           "set's training split; `train` exists for training-data experiments), of two kinds: `negative`, "
           "non-keyword speech only (about 30 % of the time: random sentences of 2-9 words from a 500-word "
           "everyday vocabulary and isolated words, the same vocabulary plus the 25 Speech Commands auxiliary "
           "words, with pauses of 0.3-2.5 s and noise-only stretches), and `keyword`, the same conditions with one "
           "of the ten keywords spoken alone before every other utterance (about 10 keywords a minute). Conditions: "
           "30 s blocks, each with one synthetic background noise, a speech level (RMS 0.02-0.2, log-uniform) and "
           "an SNR of 25, 15, 10 or 5 dB; 15 % of blocks are noise only; every utterance has its own accent, voice "
           "variant, pitch and speaking rate. About 1 s of CPU per minute of audio to generate.",
    checksums="every choice comes from the seed and eSpeak runs in fresh worker processes over fixed chunks, so one "
              "seed gives byte-identical audio. Each stream is cached in `data/cache/kws_eval/<config hash>/` "
              "(`audio.npz` as int16 PCM, `manifest.json` with the configuration, the file's SHA-256 and every "
              "utterance's start, end and text) and checked on every load; a mismatch raises an error naming the "
              "file and the fix (delete the folder).",
)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def _voice(rng: np.random.Generator, split: str) -> dict:
    accent, variant = str(rng.choice(ACCENTS)), str(rng.choice(VARIANTS[split]))
    return dict(voice=f"{accent}+{variant}", pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                rate=int(rng.integers(RATE[0], RATE[1] + 1)), espeak_seed=int(rng.integers(0, 2 ** 31 - 1)))


def _text(rng: np.random.Generator) -> str:
    if rng.random() < 0.25:   # an isolated word
        return str(rng.choice(VOCABULARY + UNKNOWN_WORDS))
    return " ".join(rng.choice(VOCABULARY, int(rng.integers(2, 10))))


def plan(split: str, kind: str, duration_s: float, seed: int) -> list[dict]:
    """Every random choice of a stream (no audio yet): blocks, each with its noise, levels and utterances
    (text, voice, keyword label or -1, gap before it in s)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if split not in SPLIT_INDEX:
        raise ValueError(f"split must be one of {tuple(SPLIT_INDEX)}, got {split!r}")
    blocks, n_utt = [], 0
    for b in range(int(np.ceil(duration_s / BLOCK_S))):
        rng = _rng(seed, SPLIT_INDEX[split], KINDS.index(kind), b)
        speech_rms = float(np.exp(rng.uniform(*np.log(SPEECH_RMS))))
        snr = float(rng.choice(SNR_DB))
        block = {"noise": str(rng.choice(NOISES)), "speech_rms": speech_rms, "snr_db": snr,
                 "noise_rms": speech_rms / 10 ** (snr / 20), "quiet": bool(rng.random() < QUIET_SHARE),
                 "audio_seed": int(rng.integers(0, 2 ** 63 - 1)), "utterances": []}
        # utterances are planned for the block's length with a guess of their duration (0.35 s a
        # word); the audio is cut at the block's end, so the plan never depends on rendering
        t = 0.0
        while not block["quiet"]:
            gap = float(rng.uniform(*GAP_S))
            if kind == "keyword" and n_utt % 2 == 0:
                label = int(rng.integers(len(KEYWORDS)))
                text = KEYWORDS[label]
            else:
                label, text = -1, _text(rng)
            guess = 0.35 * len(text.split())
            if t + gap + guess > BLOCK_S - 0.5:
                break
            block["utterances"].append({"text": text, "label": label, "gap_s": gap,
                                        "gain": float(np.exp(rng.uniform(-0.35, 0.35))), **_voice(rng, split)})
            t += gap + guess
            n_utt += 1
        blocks.append(block)
    return blocks


def _speak(jobs: list[dict]) -> tuple[str, list[np.ndarray]]:
    """In a worker: speak ``jobs`` (eSpeak NG → trim → 16 kHz at unit peak → int16 PCM)."""
    from .espeak import ESpeak, speech_16k

    engine, out = ESpeak(), []
    for j in jobs:
        s = speech_16k(engine.say(j["text"], j["voice"], j["pitch"], j["pitch_range"], j["rate"], j["espeak_seed"]))
        out.append(pcm16(s / (np.abs(s).max() + 1e-12)))
    return engine.version, out


def render(blocks: list[dict], duration_s: float) -> tuple[str, np.ndarray, list[dict]]:
    """The stream of a :func:`plan`: eSpeak version, int16 PCM and event dicts."""
    jobs = [u for b in blocks for u in b["utterances"]]
    requests = [(jobs[i:i + CHUNK],) for i in range(0, len(jobs), CHUNK)]
    version, outs = run_workers("tinyml_utils.data.kws_eval:_speak", requests)
    speech = [pcm.astype(np.float64) / 32768.0 for out in outs for pcm in out]
    n_block = int(BLOCK_S * SAMPLE_RATE)
    audio = np.zeros(len(blocks) * n_block)
    fade = np.linspace(0.0, 1.0, SAMPLE_RATE // 100)
    events, first = [], np.cumsum([0] + [len(b["utterances"]) for b in blocks])
    for b, block in enumerate(blocks):
        rng = _rng(block["audio_seed"])
        bg = make_noise(block["noise"], rng, n_block) * block["noise_rms"]
        bg[:len(fade)] *= fade          # 10 ms fades between blocks
        bg[-len(fade):] *= fade[::-1]
        t = 0
        for i, u in enumerate(block["utterances"]):
            s = speech[first[b] + i]
            start = t + int(u["gap_s"] * SAMPLE_RATE)
            if start + len(s) > n_block - SAMPLE_RATE // 4:
                break
            rms = float(np.sqrt(np.mean(s ** 2)))
            bg[start:start + len(s)] += s * block["speech_rms"] * u["gain"] / max(rms, 1e-9)
            t0 = b * BLOCK_S + start / SAMPLE_RATE
            events.append({"start_s": round(t0, 5), "end_s": round(t0 + len(s) / SAMPLE_RATE, 5),
                           "label": u["label"] if u["label"] >= 0 else UNKNOWN_INDEX, "word": u["text"],
                           "keyword": u["label"] >= 0})
            t = start + len(s)
        audio[b * n_block:(b + 1) * n_block] = bg
    audio = audio[:int(round(duration_s * SAMPLE_RATE))]
    events = [e for e in events if e["end_s"] <= len(audio) / SAMPLE_RATE]
    return version, pcm16(audio), events


def _config(split: str, kind: str, duration_s: float, seed: int) -> dict:
    from importlib import metadata

    return {"generator_version": GENERATOR_VERSION, "split": split, "kind": kind, "duration_s": float(duration_s),
            "seed": int(seed), "variants": VARIANTS[split], "accents": ACCENTS, "vocabulary": VOCABULARY,
            "unknown_words": UNKNOWN_WORDS, "keywords": KEYWORDS, "noises": NOISES, "snr_db": SNR_DB,
            "speech_rms": SPEECH_RMS, "quiet_share": QUIET_SHARE, "block_s": BLOCK_S, "gap_s": GAP_S,
            "chunk": CHUNK, "pitch": PITCH, "pitch_range": PITCH_RANGE, "rate_wpm": RATE,
            "sample_rate": SAMPLE_RATE, "espeakng_loader": metadata.version("espeakng-loader")}


def _generate(split: str, kind: str, duration_s: float, seed: int, folder: Path) -> dict:
    version, audio, events = render(plan(split, kind, duration_s, seed), duration_s)
    np.savez(folder / "audio.npz", audio=audio)
    return {"espeak_version": version, "events": events}


def load(split: str, kind: str, duration_s: float, seed: int = 0) -> Stream:
    """A ``negative`` or ``keyword`` stream with ``split``'s voices, generated on first use (about 1 s of CPU a
    minute of audio), then read from the checksummed cache."""
    config = _config(split, kind, duration_s, seed)
    folder, manifest = cached("kws_eval", config, ("audio.npz",),
                              lambda tmp: _generate(split, kind, duration_s, seed, tmp))
    with np.load(folder / "audio.npz") as npz:
        audio = npz["audio"].astype(np.float32) / np.float32(32768.0)
    stream = Stream(audio, SAMPLE_RATE, [Event(**e) for e in manifest["events"]])
    stream.cache_dir = str(folder)
    stream.config_hash = folder.name
    return stream


def describe(stream: Stream, name: str) -> DataCard:
    """:data:`CARD` named with the stream's size."""
    kw = stream.keyword_events()
    return replace(CARD, name=f"kws_eval {name}: {stream.duration_s / 3600:.2f} h, {len(kw)} keywords, "
                              f"{len(stream.events) - len(kw)} non-keyword utterances")

