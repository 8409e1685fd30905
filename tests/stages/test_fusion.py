"""Fusion: hand-computed RRF, interpolation, CombSUM and CombMNZ on inline runs; then through the real config on
the sample data, equal to an RRF computed independently from the two run files; inputs checked before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.trec import ranked, read_run
from rtriever_eval.data.loading import load_domain
from rtriever_eval.settings import DatasetSettings, FusionSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.stages.fusion import fuse, normalise
from tests.helpers import evaluate_in_process

SAMPLE = PACKAGE_DIR / "data" / "sample"
A = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
B = [("b", 0.9), ("d", 0.3)]


def _settings(**kw: object) -> FusionSettings:
    return FusionSettings(name="f", inputs=["x", "y"], **kw)  # type: ignore[arg-type]


def test_rrf_by_hand() -> None:
    got = fuse([A, B], _settings(method="rrf", rrf_k=60))
    assert got == {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 63, "d": 1 / 62}
    weighted = fuse([A, B], _settings(method="rrf", rrf_k=0, weights=[2.0, 1.0]))
    assert weighted == {"a": 2.0, "b": 1.0 + 1.0, "c": 2 / 3, "d": 0.5}


def test_interpolation_combsum_combmnz_by_hand() -> None:
    assert normalise([3, 2, 1], "minmax").tolist() == [1.0, 0.5, 0.0]
    assert normalise([5, 5], "minmax").tolist() == [1.0, 1.0]
    assert normalise([1, 3], "zscore").tolist() == [-1.0, 1.0]
    inter = fuse([A, B], _settings(method="interpolation", weights=[0.75, 0.25]))
    # B's floor (its lowest normalised score, 0) stands in for a, c; A's floor (0) for d
    assert inter == pytest.approx({"a": 0.75, "b": 0.75 * 0.5 + 0.25, "c": 0.0, "d": 0.0}, abs=1e-15)
    assert fuse([A, B], _settings(method="combsum")) == {"a": 1.0, "b": 1.5, "c": 0.0, "d": 0.0}
    assert fuse([A, B], _settings(method="combmnz")) == {"a": 1.0, "b": 3.0, "c": 0.0, "d": 0.0}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fusion")
    for model in ("bm25", "bm25_bright"):
        evaluate_in_process(f"model={model}", f"paths.results_dir={root}", "print_report=false")
    return root


def _rrf_from_files(files: list[Path], k: float) -> dict[str, dict[str, float]]:
    """RRF written out again from the run files alone (trec_eval's order), independent of the stage's code."""
    runs = [read_run(f) for f in files]
    out: dict[str, dict[str, float]] = {}
    for qid in set().union(*runs):
        scores: dict[str, float] = {}
        for run in runs:
            order = sorted(run.get(qid, {}).items(), key=lambda item: (item[1], item[0]), reverse=True)
            for rank, (doc, _) in enumerate(order, start=1):
                scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
        out[qid] = scores
    return out


def test_rrf_of_two_saved_runs_through_the_config(two_runs: Path) -> None:
    outcomes = evaluate_in_process("model=fusion", "model.inputs=[bm25,bm25_bright]", f"paths.results_dir={two_runs}",
                                   "print_report=false")  # fmt: skip
    assert [o.domain for o in outcomes] == ["biology", "earth_science", "leetcode"]
    for o in outcomes:
        files = [two_runs / "default" / run / "sample" / o.domain / "run.trec" for run in ("bm25", "bm25_bright")]
        expected = _rrf_from_files(files, 60.0)
        fused = read_run(o.out_dir / "run.trec")
        queries = [q.id for q in load_domain(DatasetSettings("sample", "sample", path=str(SAMPLE)), o.domain).queries]
        # every query of the domain, each with every document either input ranked (fewer than top_k here)
        assert sorted(fused) == sorted(queries) and len(queries) == 8
        assert {qid: len(fused[qid]) for qid in fused} == {qid: len(expected[qid]) for qid in queries}
        for qid, scores in fused.items():
            assert [d for d, _ in ranked(scores)] == [d for d, _ in ranked(expected[qid])][: len(scores)]
            assert all(scores[d] == expected[qid][d] for d in scores)
        summary = json.loads((o.out_dir / "summary.json").read_text())
        assert summary["fingerprint"]["model"]["kind"] == "fusion"
        assert set(summary["fingerprint"]["model"]["inputs"]) == {"bm25", "bm25_bright"}
        assert summary["instruction"] is None and summary["query_prompt"] == ""


def test_an_input_missing_a_domain_or_on_other_data_is_refused_before_any_work(two_runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no results for domain 'biology'"):
        evaluate_in_process("model=fusion", "model.inputs=[bm25,minilm]", f"paths.results_dir={two_runs}",
                            "domains=[biology]", "print_report=false")  # fmt: skip
    copy = tmp_path / "results"
    shutil.copytree(two_runs, copy)
    summary = copy / "default" / "bm25" / "sample" / "leetcode" / "summary.json"
    data = json.loads(summary.read_text())
    data["fingerprint"]["evaluation_sha256"] = "0" * 64  # as if bm25 had been run on another copy of the data
    summary.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="computed on other data"):
        evaluate_in_process("model=fusion", "model.inputs=[bm25,bm25_bright]", f"paths.results_dir={copy}",
                            "domains=[leetcode]", "run_name=fresh", "print_report=false")  # fmt: skip
    assert not (copy / "default" / "fresh").exists()
