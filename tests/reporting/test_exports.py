"""Result files in other projects' layouts: MTEB's (loaded back with mteb's own TaskResult, task names and dataset
revisions as mteb's task metadata gives them, main_score equal to the summary's headline; read back through
--compare-to with the same numbers) and BRIGHT's score.json / results.json; datasets MTEB has no task for refused."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from rtriever_eval.base.trec import ranked, read_run
from rtriever_eval.cli.report import main as report_main
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.settings.registry import MTEB_TASKS
from tests.conftest import Quickstart
from tests.helpers import call_main, evaluate_in_process

mteb = pytest.importorskip("mteb")


def test_every_mapped_task_is_mtebs_with_its_split_subset_and_main_score() -> None:
    for (bench, track), tasks in MTEB_TASKS.items():
        for task in tasks.values():
            meta = mteb.get_task(task.name).metadata
            assert task.split in meta.eval_splits and task.subset in (mteb.get_task(task.name).hf_subsets or [])
            assert meta.main_score == ("recall_at_1" if track == "long" else "ndcg_at_10")
            assert meta.dataset["path"] == ("mteb/BRIGHT" if bench == "bright" else f"mteb/{task.name}")


@pytest.fixture(scope="module")
def bright_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample in a BRIGHT local copy's layout (its domains are BRIGHT's), BM25 run on both tracks."""
    root = tmp_path_factory.mktemp("bright_copy")
    shutil.copytree(PACKAGE_DIR / "data" / "sample", root / "copy")
    common = [f"dataset.path={root / 'copy'}", f"paths.results_dir={root / 'r'}", "print_report=false"]
    evaluate_in_process("model=bm25", "dataset=bright", "domains=[biology,earth_science,leetcode]", *common)
    evaluate_in_process("model=bm25", "dataset=bright_long", "domains=[biology,earth_science]", *common)
    return root


def _independent_ndcg10(root: Path, domain: str, run_file: Path) -> float:
    """nDCG@10 by pytrec_eval straight from a run file and BRIGHT's gold_ids, averaged over every query (-c)."""
    import pytrec_eval

    rows = [json.loads(x) for x in (root / "copy" / "examples" / f"{domain}.jsonl").read_text().splitlines()]
    qrels = {str(r["id"]): {str(d): 1 for d in r["gold_ids"]} for r in rows}
    run: dict[str, dict[str, float]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    values = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return sum(values.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / len(qrels)


def _summaries(root: Path) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    return {(p.parts[-3], p.parts[-2]): json.loads(p.read_text()) for p in (root / "r").rglob("summary.json")}


def test_mteb_files_load_with_mtebs_task_result_and_hold_the_summarys_numbers(
    bright_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mteb"
    code, printed, err = call_main(report_main, [str(bright_copy / "r"), "--mteb", str(out), "--mteb-model",
                                                 "bm25=test-org/bm25-lucene"], capsys)  # fmt: skip
    assert code == 0, err
    assert "5 MTEB task result(s)" in printed
    folder = out / "test-org__bm25-lucene" / "no_revision_available"
    summaries = _summaries(bright_copy)
    from mteb.results import TaskResult

    for (dataset, domain), summary in summaries.items():
        long = dataset == "bright_long"
        name = next(t.name for (b, tr), ts in MTEB_TASKS.items() for d, t in ts.items()
                    if b == "bright" and tr == ("long" if long else "short") and d == domain)  # fmt: skip
        result = TaskResult.from_disk(folder / f"{name}.json")
        meta = mteb.get_task(name).metadata
        assert result.task_name == name and result.dataset_revision == meta.dataset["revision"]
        split = "long" if long else "standard"
        (entry,) = result.scores[split]
        headline = "R@1" if long else "nDCG@10"
        assert entry["main_score"] == summary["metrics"][headline]  # exactly, full precision
        assert entry["ndcg_at_10"] == summary["metrics"]["nDCG@10"]
        if not long:  # and equal to pytrec_eval run here on run.trec and the copy's own gold_ids
            run_file = bright_copy / "r" / "default" / "bm25" / dataset / domain / "run.trec"
            assert entry["ndcg_at_10"] == pytest.approx(_independent_ndcg10(bright_copy, domain, run_file), abs=1e-12)
        assert entry["recall_at_100"] == summary["metrics"]["R@100"]
        assert result.get_score() == entry["main_score"]
        predictions = json.loads((folder / f"{name}_predictions.json").read_text())
        run = read_run(bright_copy / "r" / "default" / "bm25" / dataset / domain / "run.trec")
        assert predictions["default"][split] == run
        assert predictions["mteb_model_meta"] == {"model_name": "test-org/bm25-lucene",
                                                  "revision": "no_revision_available"}  # fmt: skip
    lines = [json.loads(x) for x in (folder / "run_settings.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and all("rtriever-eval" in x["evaluated_by"] for x in lines)
    assert json.loads((folder / "model_meta.json").read_text())["name"] == "test-org/bm25-lucene"
    # the same command again finds the same files and changes nothing; other content is never overwritten
    before = {p: p.read_bytes() for p in folder.iterdir()}
    assert call_main(report_main, [str(bright_copy / "r"), "--mteb", str(out), "--mteb-model",
                                   "bm25=test-org/bm25-lucene"], capsys)[0] == 0  # fmt: skip
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_an_mteb_folder_read_back_through_compare_to_gives_the_same_numbers(
    bright_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mteb"
    assert call_main(report_main, [str(bright_copy / "r" / "default" / "bm25" / "bright"), "--mteb", str(out)],
                     capsys)[0] == 0  # fmt: skip
    code, _, err = call_main(report_main, [str(bright_copy / "r" / "default" / "bm25" / "bright"),
                                           "--compare-to", str(out), "--no-plots", "--out",
                                           str(tmp_path / "report")], capsys)  # fmt: skip
    assert code == 0, err
    table = tmp_path / "report" / "compare_mteb.csv"
    rows = [line.split(",") for line in table.read_text().splitlines()[1:]]
    assert len(rows) == 4 and {r[2] for r in rows} == {"biology", "earth_science", "leetcode", "avg"}
    assert all(abs(float(r[5])) < 1e-9 for r in rows)  # reported (MTEB files) == reproduced (summaries)


def test_datasets_mteb_has_no_task_for_are_refused(quickstart: Quickstart, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, _, err = call_main(report_main, [str(quickstart.results), "--mteb", str(tmp_path / "m")], capsys)
    err = " ".join(err.split())
    assert code == 2 and "is no MTEB task" in err and "dataset 'sample'" in err
    assert not (tmp_path / "m").exists()


def test_brights_own_files(bright_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = bright_copy / "r" / "default" / "bm25" / "bright"
    code, _, err = call_main(report_main, [str(results), "--bright", str(tmp_path / "b")], capsys)
    assert code == 0, err
    folder = tmp_path / "b" / "bm25" / "biology_bm25_long_False"
    score = json.loads((folder / "score.json").read_text())
    run = read_run(results / "biology" / "run.trec")
    assert score == run
    values = json.loads((folder / "results.json").read_text())
    summary = json.loads((results / "biology" / "summary.json").read_text())
    assert values["NDCG@10"] == summary["metrics"]["nDCG@10"] and values["MRR"] == summary["metrics"]["RR"]
    keys = [f"{m}@{k}" for m in ("NDCG", "MAP", "Recall", "P") for k in (1, 5, 10, 25, 50, 100)]
    assert list(values) == [*keys, "MRR", *(f"Oracle NDCG@{k}" for k in (1, 5, 10, 25, 50, 100))]
    # the oracle reranker's nDCG@10, by hand: the gold documents of each query's top 100 put first
    examples = [json.loads(x) for x in (bright_copy / "copy" / "examples" / "biology.jsonl").read_text().splitlines()]
    per_query = []
    for row in examples:
        gold = set(row["gold_ids"])
        found = len(gold & {d for d, _ in ranked(run.get(row["id"], {}))[:100]})
        dcg = sum(1 / math.log2(i + 2) for i in range(min(found, 10)))
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), 10)))
        per_query.append(dcg / ideal)
    assert abs(values["Oracle NDCG@10"] - sum(per_query) / len(per_query)) < 1e-12


def test_two_results_for_one_file_are_refused_naming_both_and_nothing_is_written(
    bright_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one run name in two experiments (another k1): the same MTEB model folder and the same BRIGHT file
    results = tmp_path / "r"
    shutil.copytree(bright_copy / "r" / "default" / "bm25" / "bright", results / "default" / "bm25" / "bright")
    evaluate_in_process("model=bm25", "dataset=bright", "domains=[biology]", "experiment_name=deeper", "model.k1=1.2",
                        f"dataset.path={bright_copy / 'copy'}", f"paths.results_dir={results}",
                        "print_report=false")  # fmt: skip
    for args, hint in ((["--mteb", str(tmp_path / "m")], "--mteb-model RUN=ORG/NAME"),
                       (["--bright", str(tmp_path / "b")], "export one experiment's folder at a time"),
                       (["--mteb", str(tmp_path / "m"), "--bright", str(tmp_path / "b")], "--mteb-model")):
        code, _, err = call_main(report_main, [str(results), *args], capsys)
        err = " ".join(err.split())
        assert code == 2 and "would both be written to this file" in err and hint in err, err
        assert str(results / "deeper" / "bm25" / "bright" / "biology") in err
        assert str(results / "default" / "bm25" / "bright" / "biology") in err
        assert not (tmp_path / "m").exists() and not (tmp_path / "b").exists()


def test_both_exports_are_refused_before_either_writes(bright_copy: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    results = bright_copy / "r" / "default" / "bm25" / "bright"
    taken = tmp_path / "b" / "bm25" / "biology_bm25_long_False" / "score.json"
    taken.parent.mkdir(parents=True)
    taken.write_text("{}\n")  # BRIGHT's file exists with other content: --bright is refused, so --mteb writes nothing
    code, _, err = call_main(report_main, [str(results), "--mteb", str(tmp_path / "m"), "--bright",
                                           str(tmp_path / "b")], capsys)  # fmt: skip
    assert code == 2 and "exists with other content" in err
    assert not (tmp_path / "m").exists() and taken.read_text() == "{}\n"


def test_the_mteb_date_is_when_the_result_was_written(bright_copy: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import datetime as dt

    results = tmp_path / "r"
    shutil.copytree(bright_copy / "r" / "default" / "bm25" / "bright", results)
    os.utime(results / "biology" / "run.trec", (1e9, 1e9))  # the file's mtime says 2001: not when it was written
    assert call_main(report_main, [str(results), "--mteb", str(tmp_path / "m")], capsys)[0] == 0
    summary = json.loads((results / "biology" / "summary.json").read_text())
    written = json.loads(next((tmp_path / "m").rglob("BrightBiologyRetrieval.json")).read_text())
    assert written["date"] == dt.datetime.fromisoformat(summary["written_at"]).timestamp()


def test_compare_to_never_mixes_two_revisions_in_one_row(bright_copy: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    results = bright_copy / "r" / "default" / "bm25" / "bright"
    for revision in ("rev1", "rev2"):
        assert call_main(report_main, [str(results), "--mteb", str(tmp_path / "m"), "--mteb-revision",
                                       f"bm25={revision}"], capsys)[0] == 0  # fmt: skip
    model = next((tmp_path / "m").iterdir())
    args = ["--no-plots", "--out", str(tmp_path / "rep")]
    code, _, err = call_main(report_main, [str(results), "--compare-to", str(model), *args], capsys)
    assert code == 2 and "more than one model or revision" in " ".join(err.split())
    code, _, err = call_main(report_main, [str(results), "--compare-to", str(model / "rev2"), *args], capsys)
    assert code == 0, err
