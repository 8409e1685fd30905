"""Judged@k: by hand (ties in trec_eval's order, a short run, an empty one, grade-0 judgments count), and equal per
query to ir_measures' own Judged@10 on the sample's runs and on the four published ReasonIR runs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import ir_measures
import pytest
from ir_measures import Judged

from rtriever_eval.base.trec import read_run
from rtriever_eval.metrics.judged import judged_at
from rtriever_eval.metrics.trec_measures import evaluate
from tests.conftest import Quickstart
from tests.helpers import shared_data


def test_judged_at_by_hand() -> None:
    judged = {"a": 1, "c": 0, "e": 2}  # a judgment of grade 0 is a judgment
    run = {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0, "e": 0.5}
    # b and c tie at 2.0: trec_eval's order (doc id descending) puts c first, so the top 2 is a, c: both judged.
    # ir_measures breaks ties the other way (doc id ascending: a, b), the one place the two can differ; every other
    # measure here ranks as trec_eval does, so Judged@k does too.
    assert judged_at(run, judged, 2) == 1.0
    theirs = next(ir_measures.iter_calc([Judged @ 2], {"q": judged}, {"q": run})).value
    assert theirs == 0.5
    assert judged_at(run, judged, 3) == 2 / 3
    assert judged_at(run, judged, 10) == 3 / 5  # fewer than k ranked: over the run's length, as ir_measures does
    assert judged_at({}, judged, 10) == 0.0
    per_query = evaluate({"q1": judged, "q2": {"x": 1}}, {"q1": run}, ["Judged@3"]).per_query["Judged@3"]
    assert per_query.to_dict() == {"q1": 2 / 3, "q2": 0.0}  # a judged query the run lacks: 0, as trec_eval -c


def _equal_to_ir_measures(qrels: dict, run: dict) -> int:  # type: ignore[type-arg]
    ours = evaluate(qrels, run, ["Judged@10"]).per_query["Judged@10"].to_dict()
    theirs = {m.query_id: m.value for m in ir_measures.iter_calc([Judged @ 10], qrels, run)}
    assert theirs and {q: ours[q] for q in theirs} == theirs
    return len(theirs)


def test_equal_to_ir_measures_on_the_sample_runs(quickstart: Quickstart) -> None:
    checked = 0
    for path in sorted(quickstart.results.rglob("run.trec")):
        examples = Path(__file__).parents[2] / "rtriever_eval" / "data" / "sample" / "examples"
        rows = [json.loads(x) for x in (examples / f"{path.parent.name}.jsonl").read_text().splitlines()]
        qrels = {r["id"]: {g: 1 for g in r["gold_ids"]} for r in rows}
        checked += _equal_to_ir_measures(qrels, read_run(path))
    assert checked == 3 * 3 * 8  # three runs, three domains, eight queries


@pytest.mark.slow
def test_equal_to_ir_measures_on_the_published_runs() -> None:
    runs, topics = shared_data("runs") / "reasonir_gpt4_reason_top100", shared_data("bright") / "topics"
    checked = 0
    for domain in ("biology", "leetcode", "pony", "theoremqa_theorems"):
        with gzip.open(topics / f"topics.bright-{domain.replace('_', '-')}-original.jsonl.gz", "rt") as fh:
            rows = [json.loads(x) for x in fh]
        qrels = {r["id"]: {g: 1 for g in r["gold_ids"] if g != "N/A"} for r in rows}
        checked += _equal_to_ir_measures({q: g for q, g in qrels.items() if g}, read_run(runs / f"{domain}.trec"))
    assert checked == 103 + 142 + 112 + 76
