"""The capstone page (book/capstone.md): its budget check against a hand computation, and its starting-point
code, run as a learner would paste it (quick mode; slow, opt-in)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tinyml_utils.core import paths
from tinyml_utils.course import capstone

PAGE = paths.BOOK / "capstone.md"


def test_budget_lines_by_hand(capsys):
    # 1.6 M instructions at 80 MHz and CPI 1 = 20 ms = 50 % of a 40 ms hop: exactly on the line
    assert capstone.check_budget(instructions_per_hop=1_600_000, flash_bytes=100_000, sram_bytes=50_000,
                                 int8_accuracy=0.90)
    out = capsys.readouterr().out
    assert "20.0 ms at 80 MHz = 50% of each 40 ms hop" in out and "✓ within the budget of the Cortex-M4 MCU" in out
    assert not capstone.check_budget(instructions_per_hop=1_600_001, flash_bytes=2 * 1024 * 1024,
                                     sram_bytes=128 * 1024 + 1, int8_accuracy=0.849)
    out = capsys.readouterr().out
    assert out.count("✗ ") == 5 and "flash: 2,097,152 B of 1,048,576 B" in out and "SRAM: 131,073 B of 131,072 B" in out
    assert "CPI 1 assumed" in out   # the one estimate says so


def test_budget_reads_the_device_table():
    from tinyml_utils.deploy import devices

    dev = devices.profile(capstone.BUDGET.device)
    assert (dev.clock_hz, dev.sram_bytes, dev.flash_bytes) == (80e6, 128 * 1024, 1024 * 1024)
    assert "128 KB SRAM" in PAGE.read_text() and "80 MHz" in PAGE.read_text()


def _code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "the page has one starting-point block"
    return blocks[0]


@pytest.mark.slow
def test_starting_point_runs_as_pasted(tmp_path):
    env = {**os.environ, "TINYML_BUILD": str(tmp_path), "TINYML_QUIET": "1"}
    proc = subprocess.run([sys.executable, "-c", _code()], capture_output=True, text=True, env=env, timeout=1200,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict = proc.stdout.strip().splitlines()
    assert re.match(r"[✓✗] (within|over) the budget of the Cortex-M4 MCU", verdict[-1]), proc.stdout[-2000:]
    assert sum(line[:2] in ("✓ ", "✗ ") for line in verdict) == 5
