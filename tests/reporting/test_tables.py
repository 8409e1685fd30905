"""Comparison tables from hand-made summary files: averages, partial rows, formats, and bad files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from rtriever_eval.errors import InputError
from rtriever_eval.reporting.tables import collect_summaries, comparison_table, to_latex, to_markdown


def _summary(root: Path, run: str, domain: str, ndcg: float, dataset: str = "bright") -> None:
    folder = root / "exp" / run / dataset / domain
    folder.mkdir(parents=True)
    data = {
        "experiment": "exp",
        "run": run,
        "model": run,
        "dataset": dataset,
        "domain": domain,
        "n_queries": 3,
        "metrics": {"nDCG@10": ndcg, "RR": ndcg / 2},
    }
    (folder / "summary.json").write_text(json.dumps(data))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    _summary(tmp_path, "bm25", "leetcode", 0.244)
    _summary(tmp_path, "bm25", "biology", 0.189)
    _summary(tmp_path, "dense_model", "biology", 0.30)
    _summary(tmp_path, "dense_model", "leetcode", 0.10)
    _summary(tmp_path, "partial", "biology", 0.5)
    (tmp_path / "exp" / "bm25" / "bright" / ".hydra").mkdir()
    (tmp_path / "exp" / "bm25" / "bright" / ".hydra" / "summary.json").write_text("not json: hidden, ignored")
    return tmp_path


def test_table_averages_complete_rows_only(results: Path) -> None:
    table = comparison_table(collect_summaries(results), "nDCG@10")
    assert list(table.columns) == ["biology", "leetcode", "avg"]  # BRIGHT's domain order, then the average
    assert table.loc["bm25", "avg"] == pytest.approx((0.189 + 0.244) / 2)
    assert table.loc["dense_model", "avg"] == pytest.approx(0.20)
    assert math.isnan(table.loc["partial", "avg"])  # a partial average would compare different things


def test_markdown_bolds_the_best_and_scales(results: Path) -> None:
    md = to_markdown(comparison_table(collect_summaries(results)))
    assert "| bm25 | 18.9 | **24.4** | **21.6** |" in md
    assert "| partial | **50.0** |  |  |" in md


def test_latex_escapes_underscores(results: Path) -> None:
    tex = to_latex(comparison_table(collect_summaries(results)), caption="nDCG@10 x100")
    assert r"dense\_model & 30.0 & 10.0 & 20.0 \\" in tex
    assert r"\begin{tabular}{lrrr}" in tex


def test_unknown_metric_lists_available(results: Path) -> None:
    with pytest.raises(InputError, match="available: RR, nDCG@10"):
        comparison_table(collect_summaries(results), "AP")


def test_broken_summary_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text("{")
    with pytest.raises(InputError, match="not a valid summary") as info:
        collect_summaries(tmp_path)
    assert info.value.path is not None and info.value.path.endswith("x/summary.json")


def test_report_cli_writes_md_csv_tex(results: Path) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "rtriever-report"), str(results)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| dense_model | 30.0 | 10.0 | 20.0 |" in proc.stdout
    files = sorted(p.name for p in (results / "report").iterdir())
    assert files == ["table_bright_nDCG_at_10.csv", "table_bright_nDCG_at_10.md", "table_bright_nDCG_at_10.tex"]
    csv = (results / "report" / "table_bright_nDCG_at_10.csv").read_text().splitlines()
    assert csv[0] == "run,biology,leetcode,avg" and csv[1].startswith("bm25,0.189000,0.244000,0.216500")
    bad = subprocess.run(
        [str(Path(sys.executable).parent / "rtriever-report"), str(results / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "results folder does not exist" in bad.stderr
