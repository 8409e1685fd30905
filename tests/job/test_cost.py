"""The cost record in every summary: its token counts equal the model's tokenizer's (MiniLM, counted here with
transformers alone), cached tokens come back from the shard records, and no cost field enters the fingerprint: a
rerun with another batch size changes timings, never reuse. rtriever-report --cost writes the tables and the Pareto
plot, and the HTML report's model facts carry a cost column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from rtriever_eval.cli.report import main as report_main
from rtriever_eval.reporting.cost import pareto_front
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.testing import minilm_path
from tests.conftest import Quickstart
from tests.helpers import call_main, evaluate_in_process

SAMPLE = PACKAGE_DIR / "data" / "sample"


def _distinct(path: Path, field: str) -> list[str]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return list(dict.fromkeys(r[field] for r in rows))


def test_every_summary_of_the_quickstart_records_its_cost(quickstart: Quickstart) -> None:
    summaries = [json.loads(p.read_text()) for p in quickstart.results.rglob("summary.json")]
    assert len(summaries) == 9
    for s in summaries:
        cost = s["cost"]
        stages = {"load_s", "tokenise_s", "encode_s", "search_s", "evaluate_s", "write_s", "total_s"}
        assert set(cost["wall_s"]) == stages
        assert cost["device"]["count"] == 1 and cost["device"]["kind"].startswith("cpu")
        assert cost["device_hours"] == pytest.approx(cost["wall_s"]["total_s"] / 3600, abs=1e-6)
        assert cost["peak_memory_mb"]["rss"] > 0
        assert "cost" not in json.dumps(s["fingerprint"])


def test_token_counts_equal_the_tokenizers(tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    outcomes = evaluate_in_process("model=minilm", f"paths.results_dir={tmp_path / 'r'}",
                                   f"paths.cache_dir={tmp_path / 'c'}", "print_report=false")  # fmt: skip
    for o in outcomes:
        docs = _distinct(SAMPLE / "documents" / f"{o.domain}.jsonl", "content")
        queries = _distinct(SAMPLE / "examples" / f"{o.domain}.jsonl", "query")
        expected = {side: sum(len(ids) for ids in tok(texts, truncation=True, max_length=256)["input_ids"])
                    for side, texts in (("documents", docs), ("queries", queries))}  # fmt: skip
        tokens = o.summary.cost["tokens"]
        assert {side: tokens[side]["encoded"] for side in tokens} == expected
        assert {side: tokens[side]["cached"] for side in tokens} == {"documents": 0, "queries": 0}
    # the same run under another name and batch size: everything cached, the cached tokens read from the records
    again = evaluate_in_process("model=minilm", "model.batch_size=3", "run_name=again",
                                f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}",
                                "print_report=false")  # fmt: skip
    for a, b in zip(outcomes, again, strict=True):
        ta, tb = a.summary.cost["tokens"], b.summary.cost["tokens"]
        assert {s: tb[s]["cached"] for s in tb} == {s: ta[s]["encoded"] for s in ta}
        assert all(tb[s]["encoded"] == 0 for s in tb)


def test_a_cost_never_decides_reuse(tmp_path: Path) -> None:
    """Another batch size and token budget change every timing in the cost record, never the fingerprint: the rerun
    reuses the results as written."""
    args = ["model=minilm", "domains=[leetcode]", f"paths.results_dir={tmp_path / 'r'}", "print_report=false"]
    (first,) = evaluate_in_process(*args, f"paths.cache_dir={tmp_path / 'c1'}")
    (second,) = evaluate_in_process(*args, "model.batch_size=2", "model.max_tokens_per_batch=300",
                                    f"paths.cache_dir={tmp_path / 'c2'}")  # fmt: skip
    assert second.skipped and second.summary.fingerprint == first.summary.fingerprint
    # the same settings run for real elsewhere: other costs (the batches differ), the same fingerprint
    (third,) = evaluate_in_process(*args[:2], f"paths.results_dir={tmp_path / 'r2'}", "print_report=false",
                                   "model.batch_size=2", "model.max_tokens_per_batch=300",
                                   f"paths.cache_dir={tmp_path / 'c3'}")  # fmt: skip
    assert not third.skipped and third.summary.fingerprint == first.summary.fingerprint
    assert third.summary.cost["wall_s"] != first.summary.cost["wall_s"]
    assert third.summary.cost["tokens"] == first.summary.cost["tokens"]  # the same texts, the same tokens


def test_report_cost_tables_pareto_and_the_html_cost_column(quickstart: Quickstart, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    results = tmp_path / "results"
    shutil.copytree(quickstart.results, results)
    code, out, err = call_main(report_main, [str(results), "--cost", "--html", "--out", str(tmp_path / "rep")], capsys)
    assert code == 0, err
    assert "### Cost of minilm on sample" in out and "device-hours" in out
    assert {p.name for p in (tmp_path / "rep").iterdir()} >= {"cost.md", "cost.csv", "cost_pareto.png", "report.html"}
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "cost (all domains)" in html and "Effectiveness against cost" in html


def test_the_pareto_front_by_hand() -> None:
    points = [(1.0, 10.0), (2.0, 20.0), (3.0, 15.0), (0.5, 5.0), (2.0, 19.0)]
    assert pareto_front(points) == [0, 1, 3]
