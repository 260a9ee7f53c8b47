"""The results dashboard page: one sortable table of every record and one Pareto figure, built
into a strict (-W) book from the committed results."""
from __future__ import annotations

import sys
from pathlib import Path

from tinyml_utils.core.context import Context
from tinyml_utils.report import results
from tinyml_utils.tools import dashboard

RESULTS = Path(__file__).resolve().parent.parent / "results"


def test_table_has_every_record_and_families():
    docs = results.load_all(Context(), RESULTS)
    df = dashboard.records_table(docs)
    assert len(df) == sum(len(d["records"]) for d in docs)
    assert dashboard.technique_family("int8 QAT PT2E (3 epochs)") == "QAT"
    assert dashboard.technique_family("distill+prune+qat") == "distillation"
    assert dashboard.runtime_family("ExecuTorch XNNPACK")[0] == "ExecuTorch"
    assert dashboard.runtime_family("tflite-micro")[0] == "TFLite Micro"   # was PyTorch's x by default
    html = dashboard.table_html(df)
    assert html.count("<tr>") == len(df) + 1 and "tinyml-sortable" in html and "http" not in html


def test_page_builds_in_the_book(tmp_path, monkeypatch):
    """book.stage_book writes the page and book/_toc.yml lists it: it renders in a strict (-W) book build."""
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest_book import _png_bytes, make_executed_notebook

    from tinyml_utils.core import paths
    from tinyml_utils.tools import book

    monkeypatch.setenv("TINYML_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("TINYML_RESULTS", str(RESULTS))      # the committed records, read only
    make_executed_notebook(paths.executed_dir(True) / "00_fake_chapter.ipynb", _png_bytes())
    make_executed_notebook(tmp_path / "notebooks" / "00_fake_chapter.ipynb", _png_bytes())   # its "source"
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path / "notebooks")   # only existing chapters are published
    assert "- file: dashboard" in (paths.BOOK / "_toc.yml").read_text()
    html = book.build_book(quick=True, strict=True, partial=True)   # one fake chapter: the others are missing
    page = (html / "dashboard.html").read_text(encoding="utf-8")
    assert "Results dashboard" in page and "tinyml-sortable" in page
    assert page.count("<tr>") == sum(len(d["records"]) for d in results.load_all(Context(), RESULTS)) + 1
    assert any(p.name.startswith("dashboard_tasks") for p in (html / "_images").glob("*.png"))


def test_one_size_definition_on_every_size_axis():
    """Chapter 03 records a zipped size; the size axes use the raw file's bytes it keeps beside."""
    from tinyml_utils.report import results
    from tinyml_utils.tools import dashboard

    zipped = {"name": "sparse", "technique": "unstructured", "runtime": "executorch-xnnpack", "accuracy": 0.97,
              "size_bytes": 19_000, "extra": {"size_is": "zipped .pte (DEFLATE level 9)", "dense_bytes": 101_288}}
    raw = {"name": "int8", "technique": "int8 PTQ", "runtime": "litert", "accuracy": 0.98, "size_bytes": 31_224}
    eager = {"name": "base", "technique": "baseline", "runtime": "pytorch-eager", "accuracy": 0.98,
             "size_bytes": 104_919}
    unknown = {"name": "x", "technique": "x", "runtime": "executorch", "size_bytes": 5,
               "extra": {"size_is": "zipped"}}
    assert results.file_bytes(zipped) == 101_288 and results.file_bytes(raw) == 31_224
    assert results.file_bytes(eager) == 104_919 and results.file_bytes(unknown) is None
    assert results.deployable_file_bytes(eager) is None and results.deployable_file_bytes(zipped) == 101_288
    df = dashboard.records_table([{"chapter": "03_pruning", "records": [zipped, raw, eager]}])
    assert df["size_bytes"].tolist() == [101_288, 31_224, 104_919]


def test_every_runtime_has_a_marker_and_tasks_never_mix():
    """Each committed record's runtime has a marker (an unknown one raises), and the figure's tasks are
    the datasets the chapters measure: motion models never share an axis with MNIST digits."""
    import pytest

    with pytest.raises(ValueError, match="no marker"):
        dashboard.runtime_family("a runtime nobody added")
    docs = results.load_all(Context(), RESULTS)
    df = dashboard.records_table(docs)   # raises on a runtime without a marker
    tasks = dict(zip(df["name"], df["task"]))
    assert tasks["motion_features_dense_int8"] == "motion" and tasks["dscnn_int8"] == "keywords"
    assert tasks["anomaly_gaussian_int8"] == "anomaly" and tasks["tinyllama_8da4w_pte"] == "language model"
    assert set(df.loc[df["chapter"].str[:2] <= "07", "task"].dropna()) == {"vision"}
    assert dashboard.technique_family("on-device fine-tuning") == "on-device training"   # chapter 10's
    assert dashboard.technique_family("federated averaging") == "federated"
    assert dashboard.task_of("08_keywords", {"name": "s", "technique": "streaming", "runtime": "pytorch-eager"}) is None
    assert df.loc[df["name"].isin(["streaming_dscnn_float", "m4_budget_dscnn_40ms"]), "task"].isna().all()


def test_task_figure_draws_one_row_per_task(tmp_path):
    df = dashboard.records_table(results.load_all(Context(), RESULTS))
    path, drawn = dashboard.task_figure(df, tmp_path / "t.png")
    assert path.stat().st_size > 10_000
    assert drawn[:3] == ["vision", "keywords", "motion"] and "anomaly" in drawn and "language model" in drawn
