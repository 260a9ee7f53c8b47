"""The reproduction report: `compare()` passes on a results file against itself and fails on a
deliberately altered record or claim; the `reproduce --compare-only` command exits accordingly."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from tinyml_utils.tools import cli, reproduce

RESULTS = Path(__file__).resolve().parent.parent / "results"
BASELINE = RESULTS / "02_baseline.json"


@pytest.fixture
def doc():
    return json.loads(BASELINE.read_text())


def test_results_match_themselves():
    result = reproduce.compare(BASELINE, BASELINE)
    assert result.ok, result.table()
    assert len(result.rows) >= 3 + 1           # every record and every claim got a row
    assert not result.mismatches


@pytest.mark.parametrize("alter, expect", [
    (lambda d: d["records"][1].update(size_bytes=d["records"][1]["size_bytes"] + 1), "size_bytes"),
    (lambda d: d["records"][0].update(accuracy=d["records"][0]["accuracy"] - 0.02), "accuracy"),
    (lambda d: d["records"][2].update(latency_ms_p50=None), "latency"),
    (lambda d: d["records"][0].update(runtime="onnxruntime"), "runtime"),
    (lambda d: d["records"].pop(), "missing"),
    (lambda d: d["claims"][0].update(passed=False), "passed"),
    (lambda d: d["claims"].pop(), "not checked"),
    (lambda d: d.update(quick=True), "quick"),
])
def test_an_altered_record_or_claim_fails(doc, alter, expect):
    altered = copy.deepcopy(doc)
    alter(altered)
    result = reproduce.compare(BASELINE, altered)
    assert not result.ok
    assert any(expect in r.detail for r in result.mismatches), result.table()


def test_tolerances_are_what_they_say(doc):
    within = copy.deepcopy(doc)
    within["records"][0]["accuracy"] -= 0.009                  # < 1 pt
    for r in within["records"]:                                # the machine is 2x slower: ratios hold
        r["latency_ms_p50"] *= 2
    within["records"][2]["latency_ms_p50"] *= 2.5              # one ratio moves 2.5x: inside a 3x band
    assert reproduce.compare(BASELINE, within, reproduce.Tolerances(latency_band=3.0)).ok
    assert not reproduce.compare(BASELINE, within, reproduce.Tolerances(latency_band=2.0)).ok


def test_latency_is_shown_not_compared_by_default(doc):
    """Recorded latencies of separate runs on a shared machine move (a ratio moved 3.5x between a loaded
    and an idle run): by default they are printed; the chapters' interleaved timing claims are checked."""
    moved = copy.deepcopy(doc)
    moved["records"][2]["latency_ms_p50"] *= 10
    result = reproduce.compare(BASELINE, moved)
    assert result.ok, result.table()
    assert any("latency" in r.detail for r in result.rows)    # still shown
    banded = reproduce.compare(BASELINE, moved, reproduce.Tolerances(latency_band=3.0))
    assert any("latency" in r.detail and "band 3x" in r.detail for r in banded.mismatches), banded.table()


def test_reproduce_command_compare_only(tmp_path, doc, capsys):
    out = tmp_path / "repro"
    (out / "results").mkdir(parents=True)
    shutil.copy(BASELINE, out / "results" / BASELINE.name)
    assert cli.main(["reproduce", "02", "--compare-only", "--out", str(out)]) == 0
    assert "0 mismatches" in capsys.readouterr().out
    doc["records"][0]["params"] += 1
    (out / "results" / BASELINE.name).write_text(json.dumps(doc))
    assert cli.main(["reproduce", "02", "--compare-only", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "MISMATCH" in printed and "params 24,058 -> 24,059" in printed


def test_a_raised_bar_or_edited_detail_in_the_committed_file_is_a_mismatch(doc):
    """Issue 20 item 6: claims were paired by position and only `passed` compared, so a committed claim
    whose bar was raised (">= 97.5%" -> ">= 99.5%") or whose detail was edited still compared "ok"."""
    i = next(k for k, c in enumerate(doc["claims"]) if ">= 97.5%" in c["text"])
    raised = copy.deepcopy(doc)
    raised["claims"][i]["text"] = raised["claims"][i]["text"].replace(">= 97.5%", ">= 99.5%")
    result = reproduce.compare(raised, BASELINE)
    assert [r.item for r in result.mismatches] == [f"claim {i + 1}: {raised['claims'][i]['text']}"], result.table()
    assert "says something else" in result.mismatches[0].detail and ">= 97.5%" in result.mismatches[0].detail
    edited = copy.deepcopy(doc)
    edited["claims"][i]["detail"] += " (on every machine)"
    assert "wording differs" in reproduce.compare(edited, BASELINE).mismatches[0].detail
    moved = copy.deepcopy(doc)                       # measured numbers in a detail may move: shown, not failed
    moved["claims"][i]["detail"] = "".join("7" if ch.isdigit() else ch for ch in moved["claims"][i]["detail"])
    assert reproduce.compare(moved, BASELINE).ok


@pytest.mark.parametrize("damage, expect", [
    ("{not json", "is not valid JSON"), ('{"records": [{"accuracy": 1.0}], "claims": []}', "records[0] has no 'name'"),
    ("[1, 2]", "not an object"),
])
def test_a_damaged_results_file_is_one_row_naming_it(tmp_path, damage, expect):
    committed, repro = tmp_path / "committed", tmp_path / "repro"
    committed.mkdir()
    repro.mkdir()
    shutil.copy(BASELINE, repro / BASELINE.name)
    (committed / BASELINE.name).write_text(damage)
    result = reproduce.compare_dirs(committed, repro, [BASELINE.stem])
    assert len(result.rows) == 1 and result.rows[0].status == "MISMATCH"
    assert expect in result.rows[0].detail and str(committed / BASELINE.name) in result.rows[0].detail
    assert "git checkout" in result.rows[0].detail
