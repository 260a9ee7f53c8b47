"""Runs that fail safely: atomic writes, sealed checkpoints, chapter runs that leave no stale or
half-written state, a kernel that imports this checkout, and the pruner's regression cases live
in test_prune.py."""
from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch

from tinyml_utils import measure
from tinyml_utils.core import io, paths
from tinyml_utils.core.context import Context
from tinyml_utils.report import results
from tinyml_utils.tools import cli


# ---------------------------------------------------------------- atomic writes
def test_failed_write_leaves_previous_file_intact(tmp_path):
    target = tmp_path / "results.json"
    io.write_json(target, {"good": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        with io.atomic_writer(target) as tmp:
            tmp.write_text('{"good": 2, "trunc')   # half a file ...
            raise RuntimeError("disk full")         # ... then the write fails
    assert json.loads(target.read_text()) == {"good": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "temporary file left behind"


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "model.pte"
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_writer(target) as tmp:
            tmp.write_bytes(b"\x00" * 10)
            raise KeyboardInterrupt
    assert not any(tmp_path.iterdir())


def test_results_write_is_atomic_and_load_names_a_damaged_file(tmp_path):
    claims = results.Claims()
    claims.check(True, "a claim")
    out = results.write("99_test", Context(quick=True), [results.Record("m", "none", "torch", accuracy=0.5)], claims,
                        directory=tmp_path)
    assert results.load("99_test", Context(quick=True), directory=tmp_path)["records"][0]["accuracy"] == 0.5
    out.write_text(out.read_text()[:40])   # truncated, as by a crash without atomic writes
    with pytest.raises(io.ArtifactError) as err:
        results.load("99_test", Context(quick=True), directory=tmp_path)
    assert str(out) in str(err.value) and "rerun chapter 99_test" in str(err.value)


def test_claims_print_a_visible_check(capsys):
    claims = results.Claims()
    claims.check(1 < 2, "one is less than two", "1 vs 2")
    assert "✓ one is less than two — 1 vs 2" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Claim failed: two is less than one"):
        claims.check(2 < 1, "two is less than one")


# ---------------------------------------------------------------- sealed checkpoints
def _sealed_checkpoint(path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with io.atomic_writer(path) as tmp:
        io.torch_save(model.state_dict(), tmp)
    io.seal(path)
    return path, model


def test_sealed_checkpoint_verifies_and_loads(tmp_path):
    path, m = _sealed_checkpoint(tmp_path / "m.pt")
    assert io.verify(path, required=True) == io.sha256_file(path) == io.recorded_digest(path)
    state = torch.load(path, weights_only=True)
    for k, v in m.state_dict().items():
        assert torch.equal(state[k], v)


@pytest.mark.parametrize("damage", ["bitflip", "truncate", "garbage"])
def test_corrupt_checkpoint_names_file_and_fix(tmp_path, damage):
    path, _ = _sealed_checkpoint(tmp_path / "m.pt")
    data = bytearray(path.read_bytes())
    if damage == "bitflip":      # one bit in the middle of a weight: loads silently without a hash
        data[len(data) // 2] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray(b"not a checkpoint")
    path.write_bytes(bytes(data))
    with pytest.raises(io.ArtifactError, match="is corrupt") as err:
        io.verify(path, fix="rerun chapter 02", required=True)
    assert str(path) in str(err.value) and "rerun chapter 02" in str(err.value)


def test_checkpoint_without_sidecar_is_not_trusted(tmp_path):
    """A checkpoint whose sidecar is gone cannot be told apart from a damaged one (issue 20 item 4)."""
    path, _ = _sealed_checkpoint(tmp_path / "m.pt")
    io.sidecar(path).unlink()
    with pytest.raises(io.ArtifactError, match="no recorded SHA-256") as err:
        io.verify(path, fix="rerun chapter 02", required=True)
    assert str(path) in str(err.value) and "rerun chapter 02" in str(err.value)
    assert io.verify(path) == io.sha256_file(path)            # not required: accepted


# ---------------------------------------------------------------- chapter runs
def _notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("QUICK = False")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_failed_chapter_leaves_no_stale_results_or_executed_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    nb = _notebook(tmp_path / "98_flaky.ipynb", "raise ValueError('flaky')")
    stale = paths.results_dir(True) / "98_flaky.json"
    stale.write_text('{"chapter": "98_flaky", "records": [], "claims": []}')
    old_copy = paths.executed_dir(True) / "98_flaky.ipynb"
    old_copy.write_text("{}")
    with pytest.raises(cli.ChapterFailed) as err:
        cli.execute(nb, quick=True)
    assert "cell 3" in str(err.value) and "flaky" in str(err.value)   # after the injected parameters
    assert not stale.exists(), "a failed run must not leave the previous run's results behind"
    assert not old_copy.exists(), "a failed run must not leave the previous executed copy for the book"
    assert (paths.executed_dir(True) / "98_flaky.failed.ipynb").exists()


def test_kernel_imports_this_checkout(tmp_path, monkeypatch):
    """The kernel imports tinyml_utils from this repository, whatever PYTHONPATH or cwd say."""
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))        # a decoy first on the path
    (tmp_path / "tinyml_utils").mkdir()
    (tmp_path / "tinyml_utils" / "__init__.py").write_text("raise ImportError('the decoy checkout')")
    out = tmp_path / "where.txt"
    nb = _notebook(tmp_path / "97_where.ipynb",
                   f"import tinyml_utils, pathlib\npathlib.Path({str(out)!r}).write_text(tinyml_utils.__file__)")
    run = cli.execute(nb, quick=True)
    assert run.ok and out.read_text().startswith(str(paths.REPO / "tinyml_utils"))


def test_run_keeps_going_and_reports_every_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    src = tmp_path / "notebooks"
    src.mkdir()
    _notebook(src / "01_bad.ipynb", "raise RuntimeError('first')")
    _notebook(src / "02_good.ipynb", "x = 1")
    _notebook(src / "03_bad.ipynb", "raise RuntimeError('third')")
    monkeypatch.setattr(paths, "NOTEBOOKS", src)
    runs = cli.run(quick=True, log_native=False)
    assert [r.ok for r in runs] == [False, True, False]
    err = capsys.readouterr().err
    assert "01_bad" in err and "03_bad" in err and "2 of 3 chapter(s) failed" in err
    runs = cli.run(quick=True, fail_fast=True, log_native=False)
    assert [r.ok for r in runs] == [False]


def test_kernel_start_failure_is_not_called_a_cell_error():
    msg = cli._describe_failure(paths.REPO / "notebooks" / "x.ipynb", None,
                                RuntimeError("Kernel didn't respond in 60 seconds"))
    assert "cell" not in msg.split("(")[0] and "loopback" in msg
    msg = cli._describe_failure(paths.REPO / "notebooks" / "x.ipynb", None, PermissionError(13, "denied"))
    assert "writable" in msg and "raised" not in msg


# ---------------------------------------------------------------- timing method
def test_compare_is_robust_to_added_noise():
    """Preempted calls only add time: a 2x effect stays 2x when random stalls hit both sides."""
    import time

    rng = np.random.default_rng(0)

    def work(n):
        def f():
            t_end = time.perf_counter() + n * 1e-4
            if rng.random() < 0.3:          # a stall, as when another process takes the core
                t_end += 5e-4
            while time.perf_counter() < t_end:
                pass
        return f

    cmp_ = measure.compare(
        {"slow": work(4), "fast": work(2)}, rounds=7, calls=20, warmup=2)
    r = cmp_.ratio("fast", "slow")
    assert 0.4 < r.lo <= r.estimate <= r.hi < 0.62, r
    assert cmp_["slow"].p95_ms > cmp_["slow"].low_ms


def test_doctor_sees_this_checkout():
    from tinyml_utils.tools import doctor

    assert doctor.check_package() == []


def test_native_log_lines_stay_out_of_cell_outputs(tmp_path, monkeypatch):
    """ExecuTorch-style chunked log lines and glog lines leave the cell; the chapter's own stderr stays."""
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    body = ("import sys\n"
            "for ch in ['[', 'cpuinfo_utils.cpp', ':', '71', '] ', 'Reading file x', '\\n']:\n"
            "    sys.stderr.write(ch); sys.stderr.flush()\n"
            "sys.stderr.write('W1201 14:49:38.065000 21311 pytree.py:630] noise\\n')\n"
            "import warnings\n"
            "warnings.warn('LeafSpec is deprecated', FutureWarning)\n"
            "print('hello')\n"
            "sys.stderr.write('a real warning\\n')")
    run = cli.execute(_notebook(tmp_path / "96_noise.ipynb", body), quick=True)
    outs = nbformat.read(run.output, as_version=4).cells[-1].outputs
    text = "".join(o.get("text", "") for o in outs)
    assert "hello" in text and "a real warning" in text
    assert "cpuinfo" not in text and "pytree" not in text and "LeafSpec" not in text, text
    assert "warnings.warn" not in text, text   # the warning's source line went with it


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    p = io.atomic_write_text(tmp_path / "r.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


# ---------------------------------------------------------------- the runner under faults (issue 20)
def _three_chapters(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    src = tmp_path / "notebooks"
    src.mkdir()
    for stem in ("01_a", "02_b", "03_c"):
        _notebook(src / f"{stem}.ipynb", "x = 1")
    monkeypatch.setattr(paths, "NOTEBOOKS", src)
    return src


def _fake_execute(outcomes: dict):
    def execute(nb, quick, **kw):
        what = outcomes.get(nb.stem, "ok")
        if what == "interrupt":
            raise KeyboardInterrupt
        if what == "fail":
            raise cli.ChapterFailed(f"{nb.name}: cell 2 raised RuntimeError: boom")
        return cli.ChapterRun(nb.stem, 0.1, True, nb)
    return execute


def test_ctrl_c_prints_a_summary_and_what_to_rerun_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Issue 20 item 10: Ctrl-C printed ~190 lines of traceback and no summary."""
    _three_chapters(tmp_path, monkeypatch)
    monkeypatch.setattr(cli, "execute", _fake_execute({"02_b": "interrupt"}))
    assert cli.main(["run", "--quick"]) == 130
    out, err = capsys.readouterr()
    assert "01_a" in out and "INTERRUPTED" in out and "Traceback" not in out + err
    assert "Interrupted during 02_b" in err and "Saved: 01_a" in err
    assert "To finish: python -m tinyml_utils run --quick 02 03" in err


def test_fail_fast_lists_the_chapters_it_skipped(tmp_path, monkeypatch, capsys):
    _three_chapters(tmp_path, monkeypatch)
    monkeypatch.setattr(cli, "execute", _fake_execute({"01_a": "fail"}))
    runs = cli.run(quick=True, fail_fast=True, log_native=False)
    assert [r.chapter for r in runs] == ["01_a"]
    err = capsys.readouterr().err
    assert "Skipped after the first failure (--fail-fast): 02_b, 03_c" in err
    assert "python -m tinyml_utils run --quick 02 03" in err


def test_unwritable_log_folder_does_not_stop_the_run(tmp_path, monkeypatch, capsys):
    """Issue 20 item 7: an unwritable build/logs crashed `run` with a raw traceback, no summary, later
    chapters skipped. (A file where the folder should be: permissions do not stop root.)"""
    _three_chapters(tmp_path, monkeypatch)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "logs").write_text("not a folder")
    monkeypatch.setattr(cli, "execute", _fake_execute({}))
    runs = cli.run(quick=True)
    assert [r.ok for r in runs] == [True, True, True]
    out = capsys.readouterr().out
    assert out.count("native log not written") == 3 and "total" in out


def test_run_matches_chapter_numbers_without_the_zero(tmp_path, monkeypatch):
    _three_chapters(tmp_path, monkeypatch)
    assert [p.stem for p in cli.chapters(["2"])] == [p.stem for p in cli.chapters(["02"])] == ["02_b"]
    with pytest.raises(SystemExit, match="No chapter matches '7'"):
        cli.chapters(["7"])


def test_failure_outside_cells_does_not_promise_a_traceback(tmp_path):
    copy = tmp_path / "x.failed.ipynb"
    copy.write_text("{}")
    msg = cli._describe_failure(tmp_path / "x.ipynb", copy, RuntimeError("Kernel didn't respond in 60 seconds"))
    assert "full traceback" not in msg and "holds no traceback" in msg


def test_make_kernel_pins_this_checkout_and_doctor_checks_it(tmp_path):
    """Issue 20 item 1: `make kernel` installed the `tinyml` kernelspec with no env, so in a clone beside
    another clone's venv the lab kernel imported the other checkout. The recipe (from `make -n`, so no
    setup step runs) now pins PYTHONPATH; doctor fails a kernelspec that does not."""
    import re
    import subprocess

    from tinyml_utils.tools import doctor

    dry = subprocess.run(["make", "-n", "-s", "kernel", f"KERNEL_PREFIX=--prefix={tmp_path}"], cwd=paths.REPO,
                         capture_output=True, text=True, check=True).stdout
    install = re.search(r"^\S*python -m ipykernel install .*?(?<!\\)$", dry, re.M | re.S).group(0)
    assert "--env PYTHONPATH" in install
    subprocess.run(["bash", "-c", install], cwd=paths.REPO, check=True, capture_output=True)
    spec_file = tmp_path / "share" / "jupyter" / "kernels" / "tinyml" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["env"]["PYTHONPATH"] == str(paths.REPO)
    assert doctor.check_lab_kernel(spec_file) == []
    decoy = tmp_path / "other_clone"
    (decoy / "tinyml_utils").mkdir(parents=True)
    (decoy / "tinyml_utils" / "__init__.py").write_text("")
    spec["env"]["PYTHONPATH"] = str(decoy)                    # the other clone's kernelspec
    spec_file.write_text(json.dumps(spec))
    problems = doctor.check_lab_kernel(spec_file)
    assert any("does not pin this checkout" in p for p in problems)
    assert any(str(decoy / "tinyml_utils") in p for p in problems), problems
    del spec["env"]                                          # the old recipe: no env at all
    spec_file.write_text(json.dumps(spec))
    assert any("does not pin this checkout" in p for p in doctor.check_lab_kernel(spec_file))
