"""eSpeak NG through ctypes for :mod:`.keywords` and :mod:`.kws_eval`, its workers and their checksummed cache.

Trap: eSpeak NG keeps state between utterances (pitch-flutter phase, gain): each fixed chunk is spoken in a
fresh ``subprocess`` (not ``multiprocessing``, whose spawn re-runs a script's top level) that dies with its
parent, so the output never depends on what ran before, nor on the number of cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.io import atomic_folder, sha256_file
from .audio import SAMPLE_RATE
from .base import DataError, verify_checksum

ESPEAK_RATE = 22_050           # Hz, eSpeak NG's native output rate
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4


def espeak_paths() -> tuple[str, str]:
    """(library path, data path) of the eSpeak NG that ``espeakng-loader`` ships."""
    import espeakng_loader

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class ESpeak:
    """A minimal synchronous eSpeak NG: text in, int16 samples at 22,050 Hz out."""

    def __init__(self) -> None:
        import ctypes

        lib_path, data_path = espeak_paths()
        lib = ctypes.CDLL(lib_path)   # functions return int unless their restype says otherwise
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != ESPEAK_RATE:
            raise DataError(f"eSpeak NG initialization returned {rate} (expected {ESPEAK_RATE} Hz) "
                            f"with data at {data_path}. Fix: pip install --force-reinstall "
                            "espeakng-loader")
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                                         ctypes.c_int, ctypes.c_void_p)

        def on_audio(wav, n, _events):
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            return 0  # 0 = keep synthesizing

        self._callback = callback_type(on_audio)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)
        # Breath noise in some variants draws random numbers: seed eSpeak's own generator and libc's rand().
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._libc = ctypes.CDLL(None)
        self.lib = lib
        self.version = lib.espeak_Info(None).decode()

    def say(self, word: str, voice: str, pitch: int, pitch_range: int, rate: int,
            seed: int) -> np.ndarray:
        """Speak ``word`` with ``voice`` ("en-us+m3"); returns int16 samples at 22,050 Hz."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DataError(f"eSpeak NG has no voice {voice!r}")
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch),
                             (_PARAM_RANGE, pitch_range)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self.lib.espeak_ng_SetRandSeed(seed)
        self._libc.srand(seed & 0x7FFFFFFF)
        self._chunks.clear()
        text = word.encode("utf-8")
        err = self.lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                    None, None)
        if err != 0 or not self._chunks:
            raise DataError(f"eSpeak NG failed to speak {word!r} with voice {voice!r} (error {err})")
        return np.concatenate(self._chunks)


def speech_16k(raw: np.ndarray) -> np.ndarray:
    """eSpeak's int16 output, trimmed to its samples above 2 % of the peak (plus 10 ms each side) and
    resampled to 16 kHz: float64."""
    from scipy.signal import resample_poly

    speech = raw.astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(speech) > 0.02 * np.abs(speech).max())
    if len(loud):
        pad = int(0.01 * ESPEAK_RATE)
        speech = speech[max(0, loud[0] - pad):loud[-1] + pad]
    return resample_poly(speech, SAMPLE_RATE, ESPEAK_RATE)


def _die_with_parent() -> None:
    """In a worker, before exec: Linux kills it when its parent dies (PR_SET_PDEATHSIG); elsewhere a no-op."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_worker(func: str, args: tuple, out: Path):
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])   # the workers import this very package
    python_path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": python_path}
    proc = subprocess.run([sys.executable, "-m", "tinyml_utils.data.espeak", func, str(out)], env=env,
                          input=pickle.dumps(args), capture_output=True, preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        raise DataError(f"The eSpeak NG worker failed (exit code {proc.returncode}):\n"
                        f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return pickle.loads(out.read_bytes())


def run_workers(func: str, requests: list[tuple]) -> tuple[str, list]:
    """``func(*request)`` (``"module:function"``, returning ``(espeak_version, payload)``) for each request,
    each in a fresh process, up to one per core: the eSpeak NG version and the payloads, in request order."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="espeak_") as tmp, \
            ThreadPoolExecutor(max(1, min(len(requests), os.cpu_count() or 1))) as pool:
        outs = list(pool.map(lambda i: _run_worker(func, requests[i], Path(tmp) / f"out{i}.pkl"),
                             range(len(requests))))
    return next((version for version, _ in outs if version), ""), [payload for _, payload in outs]


def cached(name: str, config: dict, files: tuple[str, ...], generate) -> tuple[Path, dict]:
    """The folder ``data_cache()/name/<config hash>`` and its manifest; ``generate(tmp_folder)`` writes
    ``files`` on first use and returns the manifest's entries. Every load checks the files' SHA-256."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    folder = paths.data_cache() / name / digest
    path = folder / "manifest.json"
    if not path.exists():
        import psutil

        for d in folder.parent.glob("*.tmp-*"):   # left by a generation whose process no longer runs
            pid = d.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)  # a leftover without a manifest: never trust it
        with atomic_folder(folder) as tmp:
            manifest = {"config": config, "config_hash": folder.name, **generate(tmp)}
            manifest["files"] = {f: sha256_file(tmp / f) for f in files}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    fix = f"Fix: delete the folder {folder} and load again; it will be regenerated."
    try:
        manifest = json.loads(path.read_text())
        digests = [manifest["files"][f] for f in files]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"Corrupt dataset file: {path} cannot be read or lists no checksum ({e}). {fix}") from e
    if manifest.get("config") != json.loads(json.dumps(config)):
        raise DataError(f"Corrupt dataset file: {path} describes another configuration than its folder name "
                        f"says. {fix}")
    for f, digest in zip(files, digests):
        verify_checksum(folder / f, digest, fix)
    return folder, manifest


if __name__ == "__main__":  # a worker: python -m tinyml_utils.data.espeak MODULE:FUNCTION OUT.pkl < ARGS.pkl
    import importlib
    import sys

    _module, _name = sys.argv[1].split(":")
    _result = getattr(importlib.import_module(_module), _name)(*pickle.load(sys.stdin.buffer))
    Path(sys.argv[2]).write_bytes(pickle.dumps(_result))
