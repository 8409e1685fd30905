"""dataset.subset=candidates: the depth rule by hand, subset runs through the real CLI on the sample and on a
generated BRIGHT-shaped copy (gold kept, size bounded, same ids twice), the fingerprint, and the gate refusing
a subset-vs-full comparison while passing the committed CPU gate baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.cli.check import main as check_main
from rtriever_eval.data.synthetic import write_bright_copy
from rtriever_eval.job.plan import StaleResultsError
from rtriever_eval.job.subset import _depth
from tests.conftest import Quickstart
from tests.helpers import PROJECT_ROOT, call_main, compose_config, evaluate_in_process, run_eval_child


def test_depth_is_the_largest_that_fits_by_hand() -> None:
    rankings = [["a", "b", "c", "d"], ["b", "e", "f", "g"]]
    # depth 1: {g1, a, b} = 3; depth 2: + e = 4 ({g1,a,b,e}); depth 3: + c, f = 6
    assert _depth(rankings, {"g1"}, 4) == (2, {"g1", "a", "b", "e"})
    assert _depth(rankings, {"g1"}, 5)[0] == 2
    assert _depth(rankings, {"g1"}, 6)[0] == 3
    assert _depth(rankings, {"g1", "g2"}, 1) == (0, {"g1", "g2"})  # the gold alone, even above the budget


def _summaries(results: Path, run: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {p.parent.name: json.loads(p.read_text()) for p in results.glob(f"*/{run}/*/*/summary.json")}


def test_subset_on_the_sample_through_the_cli_is_reproducible(tmp_path: Path) -> None:
    args = ("model=bm25", "dataset=sample", "dataset.subset=candidates", "dataset.subset_max_documents=30")
    first = run_eval_child(*args, f"paths.cache_dir={tmp_path / 'c1'}", "paths.results_dir=r1", cwd=tmp_path)
    second = run_eval_child(*args, f"paths.cache_dir={tmp_path / 'c2'}", "paths.results_dir=r2", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:]
    assert "Subset runs (bm25)" in first.stdout and "never in papers" in first.stdout
    a, b = _summaries(tmp_path / "r1", "bm25"), _summaries(tmp_path / "r2", "bm25")
    assert set(a) == {"biology", "earth_science", "leetcode"}
    for domain, s in a.items():
        assert s["subset"] == b[domain]["subset"]
        assert s["n_docs"] == s["subset"]["documents"] <= 30 < s["subset"]["full_documents"]
        run = next((tmp_path / "r1").glob(f"*/bm25/*/{domain}/run.trec")).read_bytes()
        assert run == next((tmp_path / "r2").glob(f"*/bm25/*/{domain}/run.trec")).read_bytes()


def test_subset_on_a_bright_shaped_copy_keeps_gold_and_bounds_size(tmp_path: Path) -> None:
    write_bright_copy(tmp_path / "bright", scale=0.002, query_scale=0.1)
    proc = run_eval_child(
        "model=bm25", "dataset=bright", f"dataset.path={tmp_path / 'bright'}", "dataset.subset=candidates",
        "dataset.subset_max_documents=120", f"paths.cache_dir={tmp_path / 'c'}", "print_report=false", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summaries = _summaries(tmp_path / "results", "bm25")
    assert len(summaries) == 12
    for domain, s in summaries.items():
        rows = [json.loads(line) for line in (tmp_path / "bright" / "examples" / f"{domain}.jsonl").open()]
        gold = {g for row in rows for g in row["gold_ids"]}
        assert s["subset"]["gold_documents"] == len(gold)
        assert s["n_docs"] <= max(120, len(gold)) and s["subset"]["full_documents"] >= s["n_docs"]
        assert s["metrics"]["R@1000"] == 1.0  # every gold document is in the subset
        ranked: dict[str, set[str]] = {}
        for line in next((tmp_path / "results").glob(f"*/bm25/*/{domain}/run.trec")).open():
            qid, _, doc = line.split()[:3]
            ranked.setdefault(qid, set()).add(doc)
        excluded = {row["id"]: set(row["excluded_ids"]) - {"N/A"} for row in rows}
        if domain in ("leetcode", "aops", "theoremqa_questions"):
            assert any(excluded.values())
        assert all(not (excluded[q] & docs) for q, docs in ranked.items())


def test_the_subset_is_in_the_fingerprint(tmp_path: Path) -> None:
    common = ("model=bm25", "dataset=sample", "domains=[biology]", "print_report=false",
              f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}")  # fmt: skip
    evaluate_in_process(*common)
    from rtriever_eval.job.plan import plan_run

    with pytest.raises(StaleResultsError, match=r"dataset\.subset"):
        plan_run(compose_config(*common, "dataset.subset=candidates"))


def test_gate_refuses_subset_against_full_and_passes_the_committed_subset_baseline(
    quickstart: Quickstart, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = run_eval_child("experiment=ci_gate_sample", f"paths.cache_dir={tmp_path / 'c'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    current = tmp_path / "results" / "ci_gate_sample"
    baseline = PROJECT_ROOT / "results" / "baselines" / "ci_gate_sample.json"
    code, out, _ = call_main(check_main, [str(baseline), str(current)], capsys)
    assert code == 0 and "OK: no domain dropped" in out
    full = quickstart.root / "results" / "quickstart"
    code, _, err = call_main(check_main, [str(full), str(current)], capsys)
    assert code == 2
    assert "full corpus" in " ".join(err.split()) and "dataset.subset" in err
    code, _, err = call_main(check_main, [str(PROJECT_ROOT / "results" / "baselines" / "quickstart.json"),
                                          str(current)], capsys)  # fmt: skip
    assert code == 2 and "subset" in err
