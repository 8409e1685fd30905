"""Comparison tables from hand-made summary files: averages, partial rows, formats, significance marks, bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.report import main as report_main
from rtriever_eval.reporting.render import to_latex, to_markdown
from rtriever_eval.reporting.tables import SignificanceOptions, comparison_table, significance_table
from rtriever_eval.results.contract import collect_summaries, load_per_query
from tests.helpers import call_main


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


def test_report_cli_writes_md_csv_tex(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call_main(report_main, [str(results)], capsys)
    assert code == 0, err
    assert "| dense_model | 30.0 | 10.0 | 20.0 |" in out
    files = {p.name for p in (results / "report").iterdir()}  # figures may sit beside the tables
    assert {"table_bright_nDCG_at_10.csv", "table_bright_nDCG_at_10.md", "table_bright_nDCG_at_10.tex"} <= files
    assert "significance.csv" not in files  # no --baseline: no tests
    csv = (results / "report" / "table_bright_nDCG_at_10.csv").read_text().splitlines()
    assert csv[0] == "run,biology,leetcode,avg" and csv[1].startswith("bm25,0.189000,0.244000,0.216500")
    code, _, err = call_main(report_main, [str(results / "nope")], capsys)
    assert code == 2 and "results folder does not exist" in err


# Significance marks: hand-made results where the exact randomization p-values are known.
QIDS = [f"q{i}" for i in range(8)]
BASE_BIO = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
BASE_LEET = [0.5, 0.5, 0.4, 0.4, 0.3, 0.3, 0.2, 0.2]


def _domain(root: Path, run: str, domain: str, values: list[float], qids: list[str] = QIDS) -> None:
    folder = root / "exp" / run / "bright" / domain
    folder.mkdir(parents=True)
    rows = "".join(f"{q}\t{v!r}\t{v / 2!r}\n" for q, v in zip(qids, values, strict=True))
    (folder / "per_query.tsv").write_text("qid\tnDCG@10\tRR\n" + rows)
    mean = sum(values) / len(values)
    data = {"experiment": "exp", "run": run, "model": run, "dataset": "bright", "domain": domain, "n_queries": 8}
    (folder / "summary.json").write_text(json.dumps({**data, "metrics": {"nDCG@10": mean, "RR": mean / 2}}))


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    _domain(tmp_path, "bm25", "biology", BASE_BIO)
    _domain(tmp_path, "bm25", "leetcode", BASE_LEET)
    # dense: every biology query +0.1 (exact p = 2/256), every leetcode query -0.1 (p = 2/256); Holm over 2
    # domains gives 4/256 = 0.015625 < 0.05 for both.
    _domain(tmp_path, "dense", "biology", [v + 0.1 for v in BASE_BIO])
    _domain(tmp_path, "dense", "leetcode", [v - 0.1 for v in BASE_LEET])
    # tweak: one biology query +0.4 (p = 1), the rest unchanged; leetcode identical (p = 1): nothing marked.
    _domain(tmp_path, "tweak", "biology", [BASE_BIO[0] + 0.4, *BASE_BIO[1:]])
    _domain(tmp_path, "tweak", "leetcode", BASE_LEET)
    return tmp_path


def _options(**kw: object) -> SignificanceOptions:
    return SignificanceOptions(**{"baseline": "bm25", "n_resamples": 500, **kw})  # type: ignore[arg-type]


def test_significance_table_marks_better_and_worse(paired: Path) -> None:
    marked = significance_table(collect_summaries(paired), "nDCG@10", _options(), dataset="bright")
    assert marked.marks.loc["dense"].tolist() == ["better", "worse", ""]
    assert marked.marks.loc["tweak"].tolist() == ["", "", ""]
    assert marked.marks.loc["bm25"].tolist() == ["", "", ""]
    tests = marked.tests.set_index(["run", "domain"])
    assert tests.loc[("dense", "biology"), "p_value"] == pytest.approx(2 / 256)
    assert tests.loc[("dense", "biology"), "p_holm"] == pytest.approx(4 / 256)
    assert tests.loc[("dense", "leetcode"), "diff"] == pytest.approx(-0.1)
    assert tests.loc[("dense", "leetcode"), ["wins", "ties", "losses"]].tolist() == [0, 0, 8]
    assert tests.loc[("tweak", "biology"), "p_value"] == 1.0
    assert tests.loc[("tweak", "leetcode"), ["ties", "d_z"]].tolist() == [8, 0.0]
    assert list(marked.tests.columns[:16]) == [
        "run", "baseline", "dataset", "domain", "metric", "n", "mean_run", "mean_base", "diff", "d_z",
        "wins", "ties", "losses", "p_value", "p_holm", "significant",
    ]  # fmt: skip
    md = to_markdown(marked.table, marks=marked.marks, legend=marked.legend_md)
    assert "| dense | **55.0**† | 25.0‡ | 40.0 |" in md
    assert "| tweak | 50.0 | **35.0** | **42.5** |" in md  # bold still marks the best of each column
    assert md.rstrip().splitlines()[-1].startswith("† / ‡: significantly better / worse than bm25")
    assert "Holm–Bonferroni" in md and "α = 0.05" in md and "randomization" in md
    tex = to_latex(marked.table, marks=marked.marks, legend=marked.legend_tex)
    assert r"dense & \textbf{55.0}$^{\dagger}$ & 25.0$^{\ddagger}$ & 40.0 \\" in tex
    assert r"$\alpha = 0.05$" in tex


def test_ttest_option_and_alpha(paired: Path) -> None:
    df = collect_summaries(paired)
    marked = significance_table(df, "nDCG@10", _options(test="ttest"))
    assert marked.tests["test"].unique().tolist() == ["ttest"]
    tests = marked.tests.set_index(["run", "domain"])
    # tweak/biology: d = (0.4, 0 x 7), mean 0.05, sd = sqrt((0.35² + 7 * 0.05²) / 7) = sqrt(0.02), so
    # t = 0.05 / (sqrt(0.02) / sqrt(8)) = 1.0 with 7 df: p = 2 * t.sf(1, 7) = 0.3506.
    assert tests.loc[("tweak", "biology"), "p_value"] == pytest.approx(0.350617, abs=1e-6)
    # dense: a constant shift, sd 0: p is the limit 0, so both domains are marked.
    assert tests.loc[("dense", "biology"), "p_value"] == 0.0
    assert marked.marks.loc["dense"].tolist() == ["better", "worse", ""]
    assert "paired t-test" in marked.legend_md
    strict = significance_table(df, "nDCG@10", _options(alpha=0.01))  # 0.015625 > 0.01: nothing significant
    assert (strict.marks == "").all().all()


def test_bootstrap_intervals_bracket_the_means(paired: Path) -> None:
    marked = significance_table(collect_summaries(paired), "nDCG@10", _options())
    iv, table = marked.intervals, marked.table
    for run in table.index:
        for col in table.columns:
            assert iv.loc[run, f"{col}_lo"] <= table.loc[run, col] <= iv.loc[run, f"{col}_hi"]
    assert iv.loc["tweak", "leetcode_lo"] < iv.loc["tweak", "leetcode_hi"]


def test_baseline_errors_are_input_errors(paired: Path) -> None:
    df = collect_summaries(paired)
    with pytest.raises(InputError, match="baseline run 'nope' not found in dataset 'bright'; runs: bm25, dense"):
        significance_table(df, "nDCG@10", _options(baseline="nope"), dataset="bright")
    (paired / "exp" / "dense" / "bright" / "biology" / "per_query.tsv").unlink()
    with pytest.raises(InputError, match="per-query file is missing") as info:
        significance_table(df, "nDCG@10", _options())
    assert info.value.path is not None and info.value.path.endswith("dense/bright/biology/per_query.tsv")


def test_different_queries_name_run_and_domain(tmp_path: Path) -> None:
    _domain(tmp_path, "bm25", "biology", BASE_BIO)
    _domain(tmp_path, "dense", "biology", BASE_BIO, qids=[*QIDS[:7], "other"])
    with pytest.raises(InputError, match=r"run 'dense' vs baseline 'bm25', domain 'biology': .*different queries"):
        significance_table(collect_summaries(tmp_path), "nDCG@10", _options())


def test_bad_per_query_file_names_line_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "per_query.tsv").write_text("qid\tnDCG@10\nq1\t0.5\nq2\tabc\n")
    with pytest.raises(InputError, match="line 3, field 'nDCG@10': not a finite number: 'abc'"):
        load_per_query(folder, "nDCG@10")
    (folder / "per_query.tsv").write_text("qid\tnDCG@10\n007\t0.5\nNA\t0.25\n")
    assert load_per_query(folder, "nDCG@10").index.tolist() == ["007", "NA"]  # ids stay strings
    with pytest.raises(InputError, match="available: nDCG@10"):
        load_per_query(folder, "AP")


def test_report_cli_with_baseline_writes_marks_intervals_and_significance_csv(
    paired: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = call_main(report_main, [str(paired), "--baseline", "bm25"], capsys)
    assert code == 0, err
    assert "| dense | **55.0**† | 25.0‡ | 40.0 |" in out
    report = paired / "report"
    assert {
        "significance.csv",
        "table_bright_nDCG_at_10.csv",
        "table_bright_nDCG_at_10.md",
        "table_bright_nDCG_at_10.tex",
    } <= {p.name for p in report.iterdir()}
    csv = (report / "table_bright_nDCG_at_10.csv").read_text().splitlines()
    assert csv[0] == "run,biology,biology_lo,biology_hi,leetcode,leetcode_lo,leetcode_hi,avg,avg_lo,avg_hi"
    sig = pd.read_csv(report / "significance.csv")
    assert len(sig) == 4 and set(sig["run"]) == {"dense", "tweak"} and set(sig["baseline"]) == {"bm25"}
    dense_bio = sig[(sig["run"] == "dense") & (sig["domain"] == "biology")].iloc[0]
    assert dense_bio["p_holm"] == pytest.approx(0.015625) and bool(dense_bio["significant"])
    assert "$^{\\ddagger}$" in (report / "table_bright_nDCG_at_10.tex").read_text()
    code, _, err = call_main(report_main, [str(paired), "--baseline", "nope"], capsys)
    assert code == 2 and "baseline run 'nope' not found" in err


def test_runs_trained_on_the_benchmark_are_marked_and_subset_runs_noted(tmp_path: Path) -> None:
    from rtriever_eval.reporting.tables import build_reports

    _summary(tmp_path, "diver", "biology", 0.4)
    _summary(tmp_path, "rtriever", "biology", 0.3)
    path = tmp_path / "exp" / "diver" / "bright" / "biology" / "summary.json"
    data = json.loads(path.read_text())
    data["model_facts"] = {"training_data_overlap": "trained on ReasonIR's data, drawn from BRIGHT's corpora"}
    path.write_text(json.dumps(data))
    text, _ = build_reports(tmp_path)
    assert "| diver ⚠ |" in text and "| rtriever |" in text and "⚠: the model was trained on data overlapping" in text
    assert "Subset runs" not in text
    path = tmp_path / "exp" / "rtriever" / "bright" / "biology" / "summary.json"
    data = json.loads(path.read_text())
    data["subset"] = {"kind": "candidates", "first_stage": "bm25", "documents": 9000, "ids_sha256": "ab" * 32}
    path.write_text(json.dumps(data))
    text, _ = build_reports(tmp_path)
    assert "Subset runs (rtriever)" in text
