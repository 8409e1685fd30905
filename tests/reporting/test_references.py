"""Reference numbers as data: the typed rows are self-consistent, and compare() does the arithmetic it claims."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.report import main as report_main
from rtriever_eval.reporting.references import (
    AVG_SPANS,
    compare,
    comparison_markdown,
    get_reference,
    load_references,
    normalise_domain,
    reference_domains,
)
from rtriever_eval.results.contract import collect_summaries
from rtriever_eval.settings.registry import BRIGHT_DOMAINS
from tests.helpers import call_main

REFS = load_references()


def test_the_design_table_is_all_there() -> None:
    names = set(REFS.index)
    assert {
        "bm25_paper",
        "anserini_bm25",
        "sbert_mpnet",
        "e5_mistral_7b",
        "sfr_embedding_mistral",
        "gritlm_7b",
        "gte_qwen1_5_7b",
        "qwen3_embedding_4b_thirdparty",
        "reasonir_8b",
        "diver_retriever_4b",
    } <= names
    assert len([n for n in names if n.endswith("_gpt4_reason")]) == 6
    assert {"rtriever_4b_bright_pro", "qwen3_embedding_4b_bright_pro"} <= names
    for name, row in REFS.iterrows():
        assert row["source"] and row["note"], name
        assert row["metric"] == "nDCG@10"


def test_spot_values_typed_from_the_sources() -> None:
    assert REFS.loc["bm25_paper", "biology"] == 18.9
    assert REFS.loc["anserini_bm25", "biology"] == 18.24
    assert REFS.loc["reasonir_8b", "leetcode"] == 35.0
    assert REFS.loc["diver_retriever_4b", "theoremqa_theorems"] == 37.3
    assert REFS.loc["bm25_paper_gpt4_reason", "avg"] == 27.0
    assert REFS.loc["rtriever_4b_bright_pro", "avg"] == 47.2
    assert REFS.loc["qwen3_embedding_4b_bright_pro", "dataset"] == "bright_pro"


@pytest.mark.parametrize("name", [n for n in REFS.index if reference_domains(get_reference(str(n), REFS))])
def test_reported_average_is_the_mean_of_the_reported_domains(name: str) -> None:
    """The sources print one decimal: avg must equal the mean of its domains within rounding (0.05)."""
    row = get_reference(name, REFS)
    span = AVG_SPANS[str(row["avg_over"])]
    assert reference_domains(row) == list(span), "a per-domain row reports every domain its average spans"
    mean = sum(float(row[d]) for d in span) / len(span)
    assert abs(mean - float(row["avg"])) <= 0.05 + 1e-9, f"{name}: mean {mean:.3f} vs avg {row['avg']}"


@pytest.mark.parametrize(
    ("heading", "key"),
    [
        ("bio", "biology"),
        ("Earth", "earth_science"),
        ("Earth Science", "earth_science"),
        ("earth-science", "earth_science"),
        ("theoQ", "theoremqa_questions"),
        ("TheoT.", "theoremqa_theorems"),
        ("Stack Overflow", "stackoverflow"),
        ("sus", "sustainable_living"),
        ("leetcode", "leetcode"),
        ("avg", None),
    ],
)
def test_domain_headings_normalise_to_bright_keys(heading: str, key: str | None) -> None:
    assert normalise_domain(heading) == key


def test_loaded_columns_are_brights_keys() -> None:
    assert [c for c in REFS.columns if c in BRIGHT_DOMAINS] == list(BRIGHT_DOMAINS)


def _results(tmp_path: Path, runs: dict[str, dict[str, float]], dataset: str = "bright") -> pd.DataFrame:
    for run, values in runs.items():
        for domain, v in values.items():
            folder = tmp_path / "exp" / run / dataset / domain
            folder.mkdir(parents=True)
            summary = {
                "experiment": "exp",
                "run": run,
                "model": run,
                "dataset": dataset,
                "domain": domain,
                "metrics": {"nDCG@10": v},
            }
            (folder / "summary.json").write_text(json.dumps(summary))
    return collect_summaries(tmp_path)


def test_delta_arithmetic_and_flags(tmp_path: Path) -> None:
    df = _results(tmp_path, {"mine": {"biology": 0.200, "earth_science": 0.270, "leetcode": 0.150}})
    table = compare(df, "bm25_paper", tolerance=1.0)
    rows = table.set_index("domain")
    assert list(rows.index) == ["biology", "earth_science", "leetcode", "avg"]
    assert rows.loc["biology", "reported"] == 18.9
    assert rows.loc["biology", "reproduced"] == pytest.approx(20.0)
    assert rows.loc["biology", "delta"] == pytest.approx(1.1)
    assert bool(rows.loc["biology", "beyond_tolerance"])  # 1.1 > 1.0
    assert rows.loc["earth_science", "delta"] == pytest.approx(-0.2)
    assert not rows.loc["earth_science", "beyond_tolerance"]
    assert rows.loc["leetcode", "delta"] == pytest.approx(-9.4) and rows.loc["leetcode", "beyond_tolerance"]
    # a partial run has no comparable average: NaN, never flagged
    assert math.isnan(float(rows["reproduced"]["avg"])) and not rows.loc["avg", "beyond_tolerance"]
    # exactly at the tolerance is within it
    at = compare(df, "bm25_paper", tolerance=1.1).set_index("domain")
    assert not at.loc["biology", "beyond_tolerance"]


def test_complete_runs_get_an_average_over_the_span(tmp_path: Path) -> None:
    ref = get_reference("anserini_bm25")
    exact = {d: float(ref[d]) / 100 for d in BRIGHT_DOMAINS}
    df = _results(tmp_path, {"anserini_again": exact, "partial": {"biology": 0.1824}})
    table = compare(df, "anserini_bm25", tolerance=0.05)
    again = table[table["run"] == "anserini_again"].set_index("domain")
    assert again.loc[list(BRIGHT_DOMAINS), "delta"].abs().max() < 1e-9
    # the printed avg (13.7) vs the mean of the printed domains (13.69...): within rounding, not flagged
    assert again.loc["avg", "reproduced"] == pytest.approx(sum(exact.values()) / 12 * 100)
    assert abs(float(again["delta"]["avg"])) < 0.05 and not again.loc["avg", "beyond_tolerance"]
    partial = table[table["run"] == "partial"]
    assert list(partial["domain"]) == ["biology", "avg"]
    assert compare(df, "anserini_bm25", runs=["partial"])["run"].unique().tolist() == ["partial"]


def test_stackexchange_span_for_bright_pro(tmp_path: Path) -> None:
    se = {d: 0.5 for d in BRIGHT_DOMAINS[:7]}
    table = compare(_results(tmp_path, {"rt": se}, dataset="bright_pro"), "rtriever_4b_bright_pro")
    assert list(table["domain"]) == ["avg"]  # BRIGHT-Pro's row reports only the mean
    assert table.iloc[0]["reproduced"] == pytest.approx(50.0)
    assert table.iloc[0]["delta"] == pytest.approx(2.8)


def test_bad_names_metric_and_tolerance(tmp_path: Path) -> None:
    df = _results(tmp_path, {"mine": {"biology": 0.2}})
    with pytest.raises(InputError) as err:
        compare(df, "bm25_papr")
    assert "unknown reference 'bm25_papr'" in str(err.value) and "anserini_bm25" in str(err.value)
    with pytest.raises(InputError, match="reports nDCG@10, not RR"):
        compare(df, "bm25_paper", metric="RR")
    with pytest.raises(InputError, match="tolerance"):
        compare(df, "bm25_paper", tolerance=-1)
    with pytest.raises(InputError, match="not in the results"):
        compare(df, "bm25_paper", runs=["nope"])


def test_markdown_shows_the_flags_and_the_note(tmp_path: Path) -> None:
    df = _results(tmp_path, {"mine": {"biology": 0.200, "earth_science": 0.270}})
    md = comparison_markdown(compare(df, "bm25_paper", tolerance=1.0), "bm25_paper", 1.0)
    assert "| mine | bright | biology | 18.90 | 20.00 | +1.10 | **off** |" in md
    assert "| mine | bright | earth_science | 27.20 | 27.00 | -0.20 | ok |" in md
    assert "model=bm25_bright" in md  # the reference's note says how to reproduce it
    assert "1 of 2 compared value(s) beyond tolerance" in md


def test_bad_reference_file_names_file_line_and_field(tmp_path: Path) -> None:
    good = (Path(__file__).resolve().parents[2] / "rtriever_eval/reporting/references/bright.tsv").read_text()
    header, first, *_ = good.splitlines()
    (tmp_path / "x.tsv").write_text(header + "\n" + first.replace("18.9", "18,9", 1) + "\n")
    with pytest.raises(InputError) as err:
        load_references(tmp_path)
    assert "x.tsv" in str(err.value) and "line 2" in str(err.value) and "bio" in str(err.value)
    (tmp_path / "x.tsv").write_text(header.replace("\tbio\t", "\tbiolgy\t") + "\n")
    with pytest.raises(InputError, match="unknown column 'biolgy'"):
        load_references(tmp_path)


@dataclasses.dataclass(frozen=True)
class _Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[..., _Done]:
    """`rtriever-report <args>` through its main(), in-process."""
    return lambda *args: _Done(*call_main(report_main, list(args), capsys))


def test_cli_compare_to_prints_and_writes(tmp_path: Path, report: Callable[..., _Done]) -> None:
    _results(tmp_path, {"bm25": {"biology": 0.189, "leetcode": 0.30}})
    proc = report(str(tmp_path), "--compare-to", "bm25_paper", "--ref-tolerance", "0.5", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    assert "reproduced vs bm25_paper" in proc.stdout
    assert "| bm25 | bright | biology | 18.90 | 18.90 | +0.00 | ok |" in proc.stdout
    assert "| bm25 | bright | leetcode | 24.40 | 30.00 | +5.60 | **off** |" in proc.stdout
    folder = tmp_path / "report"
    assert (folder / "compare_bm25_paper.md").read_text().startswith("### nDCG@10")
    csv = pd.read_csv(folder / "compare_bm25_paper.csv")
    assert list(csv.columns) == ["run", "dataset", "domain", "reported", "reproduced", "delta", "beyond_tolerance"]
    assert not list(folder.glob("*.png"))  # --no-plots


def test_cli_unknown_reference_lists_valid_ones(tmp_path: Path, report: Callable[..., _Done]) -> None:
    _results(tmp_path, {"bm25": {"biology": 0.189}})
    proc = report(str(tmp_path), "--compare-to", "bm25_papr")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    flat = " ".join(proc.stderr.split())
    assert "unknown reference 'bm25_papr'; valid references: bm25_paper, anserini_bm25" in flat
    assert not (tmp_path / "report").exists()  # fails before writing anything
