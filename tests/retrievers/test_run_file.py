"""model=run_file: published runs evaluated as runs of this harness on a copy holding BRIGHT's examples alone (no
corpus), equal to an independent pytrec_eval scoring and within a point of the published row; a harness run written
out and read back (TREC, JSON, MTEB predictions) gives its own run.trec byte for byte; imported runs fuse and are
reranked like any run; bad input is a clear error before anything of the domain is written."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytrec_eval

from rtriever_eval.base.errors import ConfigError, InputError
from tests.helpers import call_main, evaluate_in_process, run_eval_child, shared_data

PUBLISHED = {"biology": 43.6, "leetcode": 31.5, "pony": 19.6, "theoremqa_theorems": 35.7}
"""ReasonIR-8B, GPT-4 reasoning queries, nDCG@10 x100 (the ReasonIR paper's BRIGHT table)."""


def _examples_only(root: Path, domains: list[str]) -> Path:
    """A BRIGHT local copy holding examples/<domain>.jsonl alone, written from ../shared/data/bright's topics (the
    hub's examples rows), with no documents."""
    topics = shared_data("bright") / "topics"
    (root / "examples").mkdir(parents=True)
    for d in domains:
        with gzip.open(topics / f"topics.bright-{d.replace('_', '-')}-original.jsonl.gz", "rt") as fh:
            (root / "examples" / f"{d}.jsonl").write_text(fh.read())
    return root


def _independent_ndcg10(run_file: Path, examples: Path) -> float:
    """nDCG@10 with pytrec_eval, written here from the file and the topics alone: gold_ids relevant, excluded ids
    dropped before ranking, every judged query counted (0 when the run lacks it)."""
    rows = [json.loads(line) for line in examples.read_text().splitlines()]
    qrels = {r["id"]: {g: 1 for g in r["gold_ids"] if g != "N/A"} for r in rows}
    qrels = {q: g for q, g in qrels.items() if g}
    excluded = {r["id"]: set(r["excluded_ids"]) - {"N/A"} for r in rows}
    run: dict[str, dict[str, float]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, _, score, *_ = line.split()
        if doc not in excluded.get(qid, set()):
            run.setdefault(qid, {})[doc] = float(score)
    values = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return float(np.mean([values[q]["ndcg_cut_10"] if q in values else 0.0 for q in sorted(qrels)]))


@pytest.mark.slow
def test_published_reasonir_runs_without_a_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = shared_data("runs") / "reasonir_gpt4_reason_top100"
    copy = _examples_only(tmp_path / "bright", list(PUBLISHED))
    outcomes = evaluate_in_process(
        "model=run_file", f"model.path='{runs}/{{domain}}.trec'", "run_name=reasonir", "dataset=bright",
        f"dataset.path={copy}", f"domains=[{','.join(PUBLISHED)}]", f"paths.results_dir={tmp_path / 'r'}",
        "print_report=false",
    )  # fmt: skip
    for o in outcomes:
        ours = o.summary.metrics["nDCG@10"]
        assert ours == _independent_ndcg10(runs / f"{o.domain}.trec", copy / "examples" / f"{o.domain}.jsonl")
        assert abs(ours * 100 - PUBLISHED[o.domain]) <= 1.0, (o.domain, ours)
        assert o.summary.n_docs is None and o.summary.model_facts["similarity"] == "imported run"
        assert o.summary.fingerprint["model"]["kind"] == "run_file"
        assert o.summary.counts["judged_queries_absent_from_file"] == 0
        assert "ranked_ids_absent_from_corpus" not in o.summary.counts  # no corpus to count them against
    # downstream, as any run: tables with significance, the HTML report (ids only: no corpus), a bundle that
    # validates, the gate, a fusion of two imported runs
    results = tmp_path / "r"
    _import(results, f"{runs}/{{domain}}.trec", "reasonir-again", "dataset=bright", f"dataset.path={copy}",
            f"domains=[{','.join(PUBLISHED)}]")  # fmt: skip
    evaluate_in_process("model=fusion", "model.inputs=[reasonir,reasonir-again]", "dataset=bright",
                        f"dataset.path={copy}", f"domains=[{','.join(PUBLISHED)}]", f"paths.results_dir={results}",
                        "print_report=false")  # fmt: skip
    from rtriever_eval.cli.check import main as check
    from rtriever_eval.cli.report import main as report

    code, out, err = call_main(report, [str(results), "--html", "--baseline", "reasonir", "--no-plots"], capsys)
    assert code == 0 and "reasonir-again" in out and (results / "report" / "report.html").is_file(), err
    assert call_main(report, [str(results), "--bundle", str(tmp_path / "bundle")], capsys)[0] == 0
    assert call_main(check, ["--validate", str(tmp_path / "bundle")], capsys)[0] == 0
    assert call_main(check, [str(results), str(results)], capsys)[0] == 0
    # every other model needs the documents, and says so in one line
    with pytest.raises(ConfigError, match="This model needs the documents; only model=run_file"):
        evaluate_in_process("model=bm25", "dataset=bright", f"dataset.path={copy}", "domains=[pony]",
                            f"paths.results_dir={tmp_path / 'r'}")  # fmt: skip


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample_runs")
    for model in ("bm25", "minilm"):
        evaluate_in_process(f"model={model}", f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}",
                            "print_report=false")  # fmt: skip
    return root


def _files(results: Path, run: str) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted((results / "default" / run / "sample").glob("*/run.trec"))}


def _import(root: Path, path: str, run: str, *extra: str) -> Any:
    return evaluate_in_process("model=run_file", f"model.path='{path}'", f"run_name={run}",
                               f"paths.results_dir={root}", "print_report=false", *extra)  # fmt: skip


@pytest.mark.parametrize("fmt", ["trec", "json", "mteb"])
def test_a_harness_run_written_out_and_read_back_is_byte_identical(sample_runs: Path, tmp_path: Path,
                                                                   fmt: str) -> None:  # fmt: skip
    from rtriever_eval.base.trec import read_run

    source = sample_runs / "r" / "default" / "minilm" / "sample"
    for folder in source.iterdir():
        run = read_run(folder / "run.trec")
        target = tmp_path / "files" / f"{folder.name}.{fmt}"
        target.parent.mkdir(exist_ok=True)
        if fmt == "trec":
            shutil.copy(folder / "run.trec", target)
        elif fmt == "json":
            target.write_text(json.dumps(run))
        else:
            target.write_text(json.dumps({"mteb_model_meta": {"model_name": "m", "revision": "r"},
                                          "default": {"standard": run}}))  # fmt: skip
    outcomes = _import(tmp_path / "r", f"{tmp_path}/files/{{domain}}.{fmt}", "minilm")
    assert _files(tmp_path / "r", "minilm") == _files(sample_runs / "r", "minilm")
    by_domain = {o.domain: o.summary for o in outcomes}
    original = {p.parent.name: json.loads(p.read_text()) for p in source.glob("*/summary.json")}
    for domain, summary in by_domain.items():
        assert summary.metrics == original[domain]["metrics"]
        assert summary.n_docs == original[domain]["n_docs"]  # the corpus is at hand: its size is known
        assert summary.counts["ranked_ids_absent_from_corpus"] == 0


def test_imported_runs_fuse_and_are_reranked_like_the_runs_they_came_from(sample_runs: Path, tmp_path: Path) -> None:
    results = tmp_path / "r"
    shutil.copytree(sample_runs / "r", results)
    _import(results, f"{results}/default/minilm/sample/{{domain}}/run.trec", "imported")
    args = [f"paths.results_dir={results}", f"paths.cache_dir={sample_runs / 'c'}", "print_report=false"]
    evaluate_in_process("model=fusion", "model.inputs=[bm25,minilm]", "run_name=fused", *args)
    evaluate_in_process("model=fusion", "model.inputs=[bm25,imported]", "run_name=fused-imported", *args)
    evaluate_in_process("model=rerank", "model.first_stage=minilm", "reranker=minilm", "model.depth=10",
                        "run_name=reranked", *args)  # fmt: skip
    evaluate_in_process("model=rerank", "model.first_stage=imported", "reranker=minilm", "model.depth=10",
                        "run_name=reranked-imported", *args)  # fmt: skip
    for run in ("fused", "reranked"):
        mine = {d: b.replace(f"rtriever-eval.{run}-imported".encode(), f"rtriever-eval.{run}".encode())
                for d, b in _files(results, f"{run}-imported").items()}  # fmt: skip
        assert mine == _files(results, run) and len(mine) == 3


def test_bad_imported_runs_stop_with_exit_2_and_write_nothing(sample_runs: Path, tmp_path: Path) -> None:
    runs = sample_runs / "r" / "default" / "minilm" / "sample"
    other = runs / "biology" / "run.trec"  # biology's run offered for leetcode: the same query ids, other documents
    with pytest.raises(InputError, match=r"none of the file's \d+ ranked ids is among its corpus \(sample/leetcode\)"
                       r": a run for another domain") as caught:  # fmt: skip
        _import(tmp_path / "r", str(other), "wrong", "domains=[leetcode]")
    assert caught.value.path == str(other) and caught.value.line == 1 and caught.value.field == "docid"
    assert not list((tmp_path / "r").rglob("run.trec"))
    unknown = tmp_path / "unknown.trec"
    unknown.write_text((runs / "leetcode" / "run.trec").read_text() + "q999 Q0 d 1 0.5 x\n")
    with pytest.raises(InputError, match=r"query 'q999' is not a query of sample/leetcode") as caught:
        _import(tmp_path / "r", str(unknown), "wrong", "domains=[leetcode]")
    assert caught.value.line == len(unknown.read_text().splitlines()) and caught.value.field == "qid"
    bad = tmp_path / "bad.json"
    bad.write_text('{"' + "L1" + '": {"d": "high"}}')
    proc = run_eval_child("model=run_file", f"model.path={bad}", "run_name=bad", "domains=[leetcode]",
                          f"paths.results_dir={tmp_path / 'r'}", "print_report=false", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "not a finite number" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((tmp_path / "r").rglob("summary.json"))
    with pytest.raises(ConfigError, match=r"names one file for 3 domains: put \{domain\} in the path"):
        _import(tmp_path / "r", str(other), "one-file")


def test_a_file_changed_after_planning_is_refused_not_scored(tmp_path: Path) -> None:
    from rtriever_eval.base.types import Document, DomainData, Query
    from rtriever_eval.prompts.resolve import Prompts
    from rtriever_eval.retrievers.run_file import RunFileRetriever
    from rtriever_eval.settings.models import RunFileSettings

    path = tmp_path / "x.trec"
    path.write_text("0 Q0 d1 1 2.0 a\n0 Q0 d2 2 1.0 a\n")
    data = DomainData("x", "sample", (Query("0", "q"),), (Document("d1", "a"), Document("d2", "b")), {"0": {"d1": 1}})
    retriever = RunFileRetriever(RunFileSettings(name="r", path=str(path)))
    planned = retriever.identity("x")  # what the fingerprint was computed from
    assert [d for d, _ in retriever.search(data, Prompts(None, "", ""), 10).ranked[0]] == ["d1", "d2"]
    path.write_text("0 Q0 d1 1 1.0 a\n0 Q0 d2 2 2.0 a\n")  # replaced between planning and searching
    with pytest.raises(InputError, match="the run file changed while this run was using it"):
        retriever.search(data, Prompts(None, "", ""), 10)
    assert retriever.identity("x") == planned
