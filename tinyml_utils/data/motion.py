"""motion: aeon's BasicMotions smart-watch IMU recordings (80 × 10 s at 10 Hz), cut into overlapping windows.

Trap: aeon's own ``.ts`` loader imports numba, which is not installed, so the files are parsed here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DataCard, DataError, Dataset, Split, stratified_split

CHANNELS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
SAMPLE_RATE_HZ = 10.0
WINDOW = 30   # samples (3 s)
STRIDE = 10   # samples (1 s): 8 windows per 10 s recording

CARD = DataCard(
    name="motion: BasicMotions smart-watch IMU (from aeon)",
    source="the UEA archive's BasicMotions, as shipped in the `aeon` 1.6.0 wheel "
           "(`aeon/datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts`). No download.",
    real_or_synthetic="real accelerometer and gyroscope recordings (a smart watch, four activities: standing, "
                      "walking, running, badminton). Windowing is our processing; nothing is synthesized.",
    input_description=f"6 channels (acc x/y/z, gyro x/y/z) × {WINDOW} samples (3 s at 10 Hz), float32 in sensor "
                      "units (accelerometer in g, gyroscope in rad/s as recorded).",
    license="UEA & UCR time-series classification archive, free for research use.",
    splits="by recording, never by window (windows of one recording overlap): the 40 TRAIN recordings are split "
           "32 / 8 into train / validation (8 / 2 a class, fixed by the seed), the 40 TEST recordings are the test "
           "set; each 10 s recording gives 8 windows (stride 1 s). Quick mode is the same.",
    checksums="SHA-256, aeon 1.6.0: `BasicMotions_TRAIN.ts` "
              "`8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6`, `BasicMotions_TEST.ts` "
              "`79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc`.",
    caveats=["80 recordings (20 a class), so accuracies move in large steps",
             "windows of one recording overlap and are correlated, hence splits by recording",
             "10 Hz is low for activity recognition"],
)


def _ts_path(split: str) -> Path:
    try:
        import aeon
    except ImportError as e:  # pragma: no cover
        raise DataError("The motion set comes from the aeon package, which is not installed. "
                        "Fix: pip install --no-deps -r requirements/nodeps.txt") from e
    return Path(aeon.__file__).parent / "datasets" / "data" / "BasicMotions" / f"BasicMotions_{split}.ts"


def read_ts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An equal-length multivariate ``.ts`` file: x (N, channels, T) float32 and string labels."""
    xs, labels, in_data = [], [], False
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            in_data = True
            continue
        if not in_data:
            continue
        *dims, label = line.split(":")
        xs.append([[float(v) for v in d.split(",")] for d in dims])
        labels.append(label)
    return np.asarray(xs, dtype=np.float32), np.asarray(labels)


def windows(x: np.ndarray, window: int = WINDOW, stride: int = STRIDE) -> np.ndarray:
    """Cut recordings (N, C, T) into overlapping windows (N, n_windows, C, window)."""
    starts = range(0, x.shape[-1] - window + 1, stride)
    return np.stack([x[..., s:s + window] for s in starts], axis=1)


def _windowed(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
    w = windows(x[idx])                      # (n, k, C, W)
    k = w.shape[1]
    return Split(w.reshape(-1, *w.shape[2:]).astype(np.float32), np.repeat(y[idx], k))


def load(quick: bool = False, seed: int = 0) -> Dataset:
    """Windows of the 40 TRAIN recordings (32 / 8 into train / val by recording) and the 40 TEST ones;
    ``quick`` changes nothing."""
    x_tr, l_tr = read_ts(_ts_path("TRAIN"))
    x_te, l_te = read_ts(_ts_path("TEST"))
    classes = sorted(set(l_tr))
    to_id = {c: i for i, c in enumerate(classes)}
    y_tr = np.array([to_id[c] for c in l_tr], dtype=np.int64)
    y_te = np.array([to_id[c] for c in l_te], dtype=np.int64)
    tr, va = stratified_split(y_tr, (0.75, 0.25), seed)
    all_te = np.arange(len(y_te))
    return Dataset("motion", _windowed(x_tr, y_tr, tr), _windowed(x_tr, y_tr, va),
                   _windowed(x_te, y_te, all_te), classes, CARD,
                   meta={"sample_rate": SAMPLE_RATE_HZ, "channels": CHANNELS, "window": WINDOW,
                         "stride": STRIDE, "recordings": {"train": len(tr), "val": len(va),
                                                          "test": len(all_te)}})


def rotate_imu(x: np.ndarray, axis: str = "x", degrees: float = 90.0) -> np.ndarray:
    """Windows (N, 6, T) of [acc_xyz, gyr_xyz] as seen by a sensor rotated about ``axis``."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3, dtype=np.float32)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    out = np.array(x, dtype=np.float32, copy=True)
    for k in (0, 3):
        out[:, k:k + 3] = np.einsum("ij,njt->nit", r, x[:, k:k + 3])
    return out
