"""What the eSpeak NG sets (:mod:`.keywords`, :mod:`.kws_eval`) share: the engine through ctypes, the
fresh worker processes that run it, and the checksummed cache of what they generate.

Trap: eSpeak NG keeps state between utterances (pitch-flutter phase, gain), so synthesis runs in
fresh worker processes over fixed chunks: the output never depends on what ran before, nor on
the number of cores. Workers are ``subprocess`` runs (not ``multiprocessing``: it works the same from
a notebook or pytest) that die with their parent.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..core import paths
from ..core.io import atomic_folder, sha256_file
from .base import DataError, verify_checksum

ESPEAK_RATE = 22_050           # Hz, eSpeak NG's native output rate
SAMPLE_RATE = 16_000           # Hz, the generated audio's rate
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
        lib = ctypes.CDLL(lib_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
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


def _trim(audio: np.ndarray, rel_threshold: float = 0.02, pad: int = 160) -> np.ndarray:
    """Cut leading/trailing samples below ``rel_threshold`` × peak, keeping ``pad`` samples."""
    loud = np.flatnonzero(np.abs(audio) > rel_threshold * np.abs(audio).max())
    if len(loud) == 0:
        return audio
    return audio[max(0, loud[0] - pad):loud[-1] + pad]


def speech_16k(raw: np.ndarray) -> np.ndarray:
    """eSpeak's int16 output trimmed of silence (10 ms kept) and resampled to 16 kHz, float64."""
    from scipy.signal import resample_poly

    speech = _trim(raw.astype(np.float64) / 32768.0, pad=int(0.01 * ESPEAK_RATE))
    return resample_poly(speech, SAMPLE_RATE, ESPEAK_RATE)


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as int16 PCM (× 32768, rounded, saturated)."""
    return np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _die_with_parent() -> None:
    """In a worker, before exec: ask Linux to kill it when its parent dies (PR_SET_PDEATHSIG), so a
    killed generation leaves no orphan workers. A no-op where prctl is unavailable."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_worker(module: str, request_file: Path, out_file: Path) -> None:
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", module, str(request_file), str(out_file)], env=env,
                          capture_output=True, text=True, preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        raise DataError(f"The eSpeak NG worker failed (exit code {proc.returncode}):\n{proc.stderr[-2000:]}")


def run_workers(module: str, requests: list, workdir: Path) -> tuple[str, list[dict]]:
    """``python -m module IN.json OUT.npz`` for each request, in fresh processes (up to one per core).

    Returns the eSpeak NG version the workers report and each OUT's arrays, in request order.
    """
    from concurrent.futures import ThreadPoolExecutor

    workdir.mkdir(parents=True, exist_ok=True)
    files = [(workdir / f"jobs{i}.json", workdir / f"out{i}.npz") for i in range(len(requests))]
    for (req, _), request in zip(files, requests):
        req.write_text(json.dumps(request))
    with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
        list(pool.map(lambda f: _run_worker(module, *f), files))
    outs = []
    for _, out in files:
        with np.load(out) as npz:
            outs.append({k: npz[k] for k in npz.files})
    versions = {str(o["version"]) for o in outs} - {""}
    if len(versions) > 1:
        raise DataError(f"The eSpeak NG workers ran different versions: {sorted(versions)}")
    return (versions.pop() if versions else ""), outs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def cached(name: str, config: dict, files: tuple[str, ...], generate) -> tuple[Path, dict]:
    """The folder ``data_cache()/name/<config hash>`` and its manifest, generated on first use.

    ``generate(folder)`` writes ``files`` into a temporary folder and returns the manifest's entries;
    the manifest gets ``config``, ``config_hash`` and each file's SHA-256 (``files``). Every load checks
    them; a missing or corrupt file raises :class:`DataError` naming it and the fix.
    """
    folder = paths.data_cache() / name / config_hash(config)
    path = folder / "manifest.json"
    if not path.exists():
        for d in folder.parent.glob("*.tmp-*"):   # left by a generation whose process no longer runs
            pid = d.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
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
