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
    from tinyml_utils.course import artifacts

    spec = artifacts.Spec(tmp_path / "m.pt", {"kind": "test"})
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
    from tinyml_utils.course import artifacts

    spec, build, load, builds = _store_roundtrip(tmp_path, capsys)
    artifacts.load_or_build(spec, load, build)
    assert builds == [1] and "sha256" in io.read_json(spec.meta_path, "")
    io.sidecar(spec.path).unlink()
    state, info = artifacts.load_or_build(spec, load, build)            # intact file: the key file's digest
    assert builds == [1] and info == {"n": 1}
    data = bytearray(spec.path.read_bytes())
    data[len(data) // 2] ^= 0x10
    spec.path.write_bytes(bytes(data))
    capsys.readouterr()
    state, info = artifacts.load_or_build(spec, load, build)
    assert builds == [1, 1] and info == {"n": 2}
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"rebuilding {spec.path}: is corrupt"), out


def test_store_file_with_no_recorded_digest_is_stale(tmp_path, capsys):
    """A key file from before digests were kept, and no sidecar: nothing vouches for the bytes."""
    import json

    from tinyml_utils.core import io
    from tinyml_utils.course import artifacts

    spec, build, load, builds = _store_roundtrip(tmp_path, capsys)
    artifacts.load_or_build(spec, load, build)
    meta = json.loads(spec.meta_path.read_text())
    del meta["sha256"]
    spec.meta_path.write_text(json.dumps(meta))
    assert artifacts.fresh(spec) is not None                            # the sidecar still vouches
    io.sidecar(spec.path).unlink()
    info, why = artifacts.staleness(spec)
    assert info is None and "no recorded SHA-256" in why


def test_checkpoints_are_byte_reproducible(tmp_path):
    """Issue 20 item 5: torch.save(obj, tmp_path) wrote the random temporary name into the zip."""
    import torch

    from tinyml_utils.core import io

    state = {"w": torch.arange(10, dtype=torch.float32)}
    a = io.save_torch(state, tmp_path / "a" / "m.pt", meta={"x": 1})
    b = io.save_torch(state, tmp_path / "b" / "m.pt", meta={"x": 1})
    assert a.read_bytes() == b.read_bytes()
    paths = []
    for sub in ("c", "d"):                                # a writer that hands the temporary *path* to torch
        with io.atomic_writer(tmp_path / sub / "m.pt") as tmp:
            torch.save(state, tmp)
        paths.append(tmp_path / sub / "m.pt")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["m.pt"]   # no temporary folder left
