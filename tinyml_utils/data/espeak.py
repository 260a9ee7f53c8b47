"""eSpeak NG through ctypes, and the fresh worker processes that run it (for :mod:`.keywords`).

Trap: eSpeak NG keeps state between utterances (pitch-flutter phase, gain), so synthesis runs in
fresh worker processes over fixed chunks: the output never depends on what ran before, nor on
the number of cores. Workers are plain ``subprocess`` runs that die with their parent.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .base import DataError

ESPEAK_RATE = 22_050           # Hz, eSpeak NG's native output rate
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4

def espeak_paths() -> tuple[str, str]:
    """(library path, data path) of the eSpeak NG that ``espeakng-loader`` ships."""
    try:
        import espeakng_loader
    except ImportError as e:
        raise DataError("The keywords set is synthesized with eSpeak NG from the espeakng-loader "
                        "package, which is not installed. Fix: pip install -r "
                        "requirements/base.txt") from e
    lib = espeakng_loader.get_library_path()
    data = (espeakng_loader.get_data_path() if hasattr(espeakng_loader, "get_data_path")
            else str(Path(lib).parent / "espeak-ng-data"))
    if not Path(lib).exists() or not Path(data).is_dir():
        raise DataError(f"eSpeak NG files are missing ({lib}, {data}): the espeakng-loader install "
                        "looks damaged. Fix: pip install --force-reinstall espeakng-loader")
    return lib, data


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
        # Breath noise in some variants calls libc rand(); newer eSpeak has its own seedable one.
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
        try:
            self._libc = ctypes.CDLL(None)  # the C library eSpeak's rand() comes from (POSIX)
        except OSError:  # pragma: no cover - Windows
            self._libc = None
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
        if self._set_seed is not None:
            self._set_seed(seed)
        if self._libc is not None:
            self._libc.srand(seed & 0x7FFFFFFF)
        self._chunks.clear()
        text = word.encode("utf-8")
        err = self.lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                    None, None)
        if err != 0 or not self._chunks:
            raise DataError(f"eSpeak NG failed to speak {word!r} with voice {voice!r} (error {err})")
        return np.concatenate(self._chunks)


def _die_with_parent() -> None:
    """In a worker, before exec: ask Linux to kill it when its parent dies (PR_SET_PDEATHSIG), so a
    killed generation leaves no orphan workers. A no-op where prctl is unavailable."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(parent: Path) -> None:
    """Remove ``<hash>.tmp-<pid>`` folders left by a generation whose process no longer runs."""
    if not parent.is_dir():
        return
    for d in parent.glob("*.tmp-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _run_worker(module: str, request_file: Path, out_file: Path) -> None:
    """Run one chunk in a fresh interpreter (``python -m <module> IN OUT``)."""
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", module, str(request_file), str(out_file)], env=env,
                          capture_output=True, text=True, preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        raise DataError(f"The keyword generation worker failed (exit code {proc.returncode}):\n"
                        f"{proc.stderr[-2000:]}")


def render_all(seed: int, jobs: list[tuple[str, dict]], workdir: Path, *, module: str, chunk: int,
               clip_samples: int) -> tuple[str, np.ndarray, list[dict]]:
    """Render every job in fresh worker processes (``python -m module``), ``chunk`` jobs each, up
    to one per CPU core.

    Fresh processes because eSpeak NG keeps state between utterances (pitch-flutter phase,
    gain): with a fixed chunking the output never depends on what ran before, nor on the number
    of cores. Workers are plain ``subprocess`` runs, not ``multiprocessing``, so this works the
    same from a notebook, a script without a ``__main__`` guard, or pytest. Their files live in
    ``workdir`` (inside the generation's own temporary folder in the cache, removed with it).
    """
    from concurrent.futures import ThreadPoolExecutor

    chunks = [jobs[i:i + chunk] for i in range(0, len(jobs), chunk)]
    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, chunk in enumerate(chunks):
        req, out = workdir / f"jobs{i}.json", workdir / f"clips{i}.npz"
        req.write_text(json.dumps({"seed": seed, "jobs": chunk}))
        files.append((req, out))
    workers = max(1, min(len(chunks), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda f: _run_worker(module, *f), files))
    versions, xs, rows = set(), [], []
    for _, out in files:
        with np.load(out) as npz:
            versions.add(str(npz["version"]))
            xs.append(npz["x"])
            rows += json.loads(str(npz["rows"]))
    versions.discard("")
    if len(versions) > 1 or sum(len(x) for x in xs) != len(jobs):
        raise DataError(f"The keyword workers returned {sum(len(x) for x in xs)} clips for "
                        f"{len(jobs)} jobs (eSpeak versions {sorted(versions)})")
    x = np.concatenate(xs) if xs else np.zeros((0, clip_samples), np.int16)
    return (versions.pop() if versions else ""), x, rows
