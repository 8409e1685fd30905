"""Tests for rtriever_eval.metrics.trec_measures: hand-computed goldens and conformance with trec_eval's outputs.

Conformance tests read trec_eval's own test suite from ../shared/data/trec_eval; they skip when it is absent.
"""

from __future__ import annotations

import copy
import math
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rtriever_eval.base.trec import ranked, read_qrels, read_run, write_run
from rtriever_eval.base.types import Qrels, Run
from rtriever_eval.metrics.trec_measures import DEFAULT_MEASURES, EvalResult, evaluate, parse_measure, to_pytrec_names

TOLERANCE = 5e-5 + 1e-9  # trec_eval prints 4 decimals


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- hand-computed goldens -----------------------------------------------------------------------------

QRELS_TEXT = """\
q1 0 d1 1
q1 0 d3 1
q1 0 d5 0
q2 0 d2 2
q2 0 d4 1
q3 0 d1 1
"""
# q3 is judged but absent from the run; q4 is in the run but not judged. The rank column is scrambled on
# purpose: only the scores order the documents.
RUN_TEXT = """\
q1 Q0 d5 1 0.5 t
q1 Q0 d1 5 0.9 t
q1 Q0 d2 4 0.8 t
q1 Q0 d3 3 0.7 t
q1 Q0 d4 2 0.6 t
q2 Q0 d1 1 0.9 t
q2 Q0 d2 1 0.8 t
q2 Q0 d3 1 0.7 t
q2 Q0 d4 1 0.6 t
q2 Q0 d5 1 0.5 t
q4 Q0 d1 1 0.9 t
"""

L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)
# q1 ranking: d1 (rel 1), d2 (unjudged), d3 (rel 1), d4 (unjudged), d5 (grade 0); 2 relevant.
#   RR = 1/1; AP = (1/1 + 2/3) / 2 = 5/6; R@1 = 1/2, R@10 = 2/2; P@5 = 2/5
#   nDCG@10 (gain = grade, discount log2(rank + 1)): DCG = 1/log2(2) + 1/log2(4) = 1.5,
#   ideal = 1/log2(2) + 1/log2(3)
# q2 ranking: d1 (unjudged), d2 (grade 2), d3, d4 (grade 1), d5; 2 relevant at level 1.
#   RR = 1/2; AP = (1/2 + 2/4) / 2 = 1/2; R@1 = 0, R@10 = 1; P@5 = 2/5
#   nDCG@10: DCG = 2/log2(3) + 1/log2(5), ideal = 2/log2(2) + 1/log2(3)
# q3: judged, nothing retrieved: 0 everywhere.
GOLDEN = {
    "q1": {
        "RR": 1.0,
        "AP": 5 / 6,
        "R@1": 0.5,
        "R@10": 1.0,
        "P@5": 0.4,
        "nDCG@10": (1 / L2 + 1 / math.log2(4)) / (1 / L2 + 1 / L3),
        "RR@1": 1.0,
    },
    "q2": {
        "RR": 0.5,
        "AP": 0.5,
        "R@1": 0.0,
        "R@10": 1.0,
        "P@5": 0.4,
        "nDCG@10": (2 / L3 + 1 / L5) / (2 / L2 + 1 / L3),
        "RR@1": 0.0,
    },
    "q3": dict.fromkeys(("RR", "AP", "R@1", "R@10", "P@5", "nDCG@10", "RR@1"), 0.0),
}


@pytest.fixture
def golden(tmp_path: Path) -> tuple[Qrels, Run]:
    return read_qrels(_write(tmp_path, "qrels", QRELS_TEXT)), read_run(_write(tmp_path, "run", RUN_TEXT))


def test_golden_values(golden: tuple[Qrels, Run]) -> None:
    qrels, run = golden
    measures = ("RR", "AP", "R@1", "R@10", "P@5", "nDCG@10", "RR@1")
    result = evaluate(qrels, run, measures)
    assert isinstance(result, EvalResult)
    frame = result.per_query
    assert list(frame.index) == ["q1", "q2", "q3"]  # q4 (no judgments) ignored, q3 (no run) kept
    assert frame.index.name == "qid"
    assert list(frame.columns) == list(measures)
    for qid, expected in GOLDEN.items():
        for measure, value in expected.items():
            assert frame.loc[qid, measure] == pytest.approx(value, abs=1e-12), (qid, measure)
    for measure in measures:
        mean = sum(GOLDEN[qid][measure] for qid in GOLDEN) / 3
        assert result.summary[measure] == pytest.approx(mean, abs=1e-12)
    assert result.summary["nDCG@10"] == pytest.approx((0.9197207891481876 + 0.6433224083306327) / 3, abs=1e-12)


def test_relevance_level(golden: tuple[Qrels, Run]) -> None:
    qrels, run = golden
    result = evaluate(qrels, run, ("RR", "AP", "R@10"), relevance_level=2)
    # Only q2's d2 (grade 2) is relevant at level 2: ranked second. q1 and q3 hold nothing relevant.
    assert result.per_query.loc["q2"].to_dict() == {"RR": 0.5, "AP": 0.5, "R@10": 1.0}
    assert result.per_query.loc["q1"].to_dict() == {"RR": 0.0, "AP": 0.0, "R@10": 0.0}


def test_judged_query_missing_from_run_scores_zero() -> None:
    qrels = {"a": {"d1": 1}, "b": {"d2": 1}, "c": {"d3": 1}}
    run = {"a": {"d1": 1.0}, "c": {}}  # b absent, c retrieved nothing
    result = evaluate(qrels, run)
    assert list(result.per_query.loc["a"]) == [1.0] * len(DEFAULT_MEASURES)
    assert list(result.per_query.loc["b"]) == [0.0] * len(DEFAULT_MEASURES)
    assert list(result.per_query.loc["c"]) == [0.0] * len(DEFAULT_MEASURES)
    assert result.summary == dict.fromkeys(DEFAULT_MEASURES, pytest.approx(1 / 3))


def test_empty_run_scores_zero_everywhere() -> None:
    result = evaluate({"a": {"d1": 1}}, {})
    assert result.summary == dict.fromkeys(DEFAULT_MEASURES, 0.0)


def test_queries_with_only_non_relevant_judgments_count_as_zero() -> None:
    # trec_eval counts such a query (out.comment.test, checked below, holds one and averages over it).
    qrels = {"a": {"d1": 1}, "b": {"d2": 0, "d3": -1}, "empty": {}}
    run = {"a": {"d1": 1.0}, "b": {"d2": 1.0, "d3": 0.5}, "empty": {"d1": 1.0}}
    result = evaluate(qrels, run, ("RR", "nDCG@10"))
    assert list(result.per_query.index) == ["a", "b"]  # an empty judgment list is no judgment
    assert list(result.per_query.loc["b"]) == [0.0, 0.0]
    assert result.summary == {"RR": 0.5, "nDCG@10": 0.5}


def test_tie_order_larger_docid_first(tmp_path: Path) -> None:
    # Equal scores: trec_eval (and pytrec_eval, its code) ranks the larger docid string first.
    run = {"q": {"d10": 1.0, "d9": 1.0, "a": 2.0}}
    assert evaluate({"q": {"d9": 1}}, run, ("RR",)).summary["RR"] == 0.5  # a, d9, d10
    assert evaluate({"q": {"d10": 1}}, run, ("RR",)).summary["RR"] == pytest.approx(1 / 3)
    path = tmp_path / "run.trec"
    write_run(path, run, "t")
    written = [line.split()[2:4] for line in path.read_text().splitlines()]
    assert written == [["a", "1"], ["d9", "2"], ["d10", "3"]]
    assert evaluate({"q": {"d10": 1}}, read_run(path), ("RR",)).summary["RR"] == pytest.approx(1 / 3)


def test_rr_at_k_truncates_in_trec_eval_order() -> None:
    run = {"q": {"x": 1.0, "b": 0.5, "a": 0.5}}
    qrels = {"q": {"a": 1}}
    # order: x, b, a  -> RR = 1/3, RR@2 = 0, RR@3 = 1/3
    assert evaluate(qrels, run, ("RR", "RR@2", "RR@3")).summary == {
        "RR": pytest.approx(1 / 3),
        "RR@2": 0.0,
        "RR@3": pytest.approx(1 / 3),
    }


def test_inputs_not_mutated_and_numpy_scores_accepted() -> None:
    qrels: Qrels = {"a": {"d1": 1, "d2": 0}, "b": {"d3": 2}}
    run: Run = {"a": {"d1": np.float32(0.5), "d2": np.float32(0.7)}, "z": {"d1": 1.0}}  # type: ignore[dict-item]
    qrels_before, run_before = copy.deepcopy(qrels), copy.deepcopy(run)
    evaluate(qrels, run, (*DEFAULT_MEASURES, "RR@1"))
    assert qrels == qrels_before
    assert run == run_before
    assert type(run["a"]["d1"]) is np.float32


def test_measure_names() -> None:
    assert to_pytrec_names(["nDCG@10", "R@100", "RR", "AP", "P@5", "AP@10", "nDCG", "Success@5", "Rprec"]) == {
        "nDCG@10": "ndcg_cut_10",
        "R@100": "recall_100",
        "RR": "recip_rank",
        "AP": "map",
        "P@5": "P_5",
        "AP@10": "map_cut_10",
        "nDCG": "ndcg",
        "Success@5": "success_5",
        "Rprec": "Rprec",
    }
    assert parse_measure("RR@10").truncate_at == 10


@pytest.mark.parametrize("name", ["ndcg@10", "NDCG@10", "R", "P", "MRR", "nDCG@0", "nDCG@010", "Rprec@5", "R@x", ""])
def test_unknown_measure_lists_valid_forms(name: str) -> None:
    with pytest.raises(ValueError, match=r"nDCG@k"):
        evaluate({"a": {"d": 1}}, {}, (name,))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no judged query"):
        evaluate({"a": {}}, {"a": {"d": 1.0}})
    with pytest.raises(ValueError, match="NaN"):
        evaluate({"a": {"d": 1}}, {"a": {"d": float("nan")}})


def test_1000_queries_by_1000_docs_give_one_row_each() -> None:
    rng = random.Random(0)
    qrels = {f"q{i}": {f"d{rng.randrange(20000)}": rng.choice((1, 2)) for _ in range(5)} for i in range(1000)}
    run = {f"q{i}": {f"d{rng.randrange(20000)}": rng.random() for _ in range(1000)} for i in range(1000)}
    result = evaluate(qrels, run, (*DEFAULT_MEASURES, "RR@10", "P@10"))
    assert len(result.per_query) == 1000 and result.per_query.notna().all().all()


# -- conformance with trec_eval's expected outputs ------------------------------------------------------

_TREC_KEYS = [
    (re.compile(r"map\Z"), "AP"),
    (re.compile(r"recip_rank\Z"), "RR"),
    (re.compile(r"ndcg\Z"), "nDCG"),
    (re.compile(r"Rprec\Z"), "Rprec"),
    (re.compile(r"P_(\d+)\Z"), "P@{}"),
    (re.compile(r"recall_(\d+)\Z"), "R@{}"),
    (re.compile(r"ndcg_cut_(\d+)\Z"), "nDCG@{}"),
    (re.compile(r"map_cut_(\d+)\Z"), "AP@{}"),
    (re.compile(r"success_(\d+)\Z"), "Success@{}"),
]


def _our_name(trec_key: str) -> str | None:
    for pattern, template in _TREC_KEYS:
        match = pattern.match(trec_key)
        if match:
            return template.format(*match.groups())
    return None


def _parse_expected(path: Path) -> dict[str, dict[str, str]]:
    """trec_eval output lines `measure<TAB>qid<TAB>value` -> measure -> qid -> value text."""
    table: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        key, qid, value = (part.strip() for part in line.split("\t"))
        table.setdefault(key, {})[qid] = value
    return table


# (expected output, qrels, run, -c, -M depth, -l level); arguments from ../shared/data/README.md.
# out.comment.test's arguments are not listed there: trec_eval's test script runs the default measures on
# qrels.comment.test and results.comment.test (ids holding '#'); every number below matches that reading.
CASES = [
    ("out.test", "qrels.test", "results.test", False, None, 1),
    ("out.test.a", "qrels.test", "results.test", False, None, 1),
    ("out.test.aq", "qrels.test", "results.test", False, None, 1),
    ("out.test.aqc", "qrels.test", "results.trunc", True, None, 1),
    ("out.test.aqcM", "qrels.test", "results.trunc", True, 100, 1),
    ("out.test.aql", "qrels.rel_level", "results.test", False, None, 2),
    ("out.test.meas_params", "qrels.test", "results.test", False, None, 1),
    ("out.comment.test", "qrels.comment.test", "results.comment.test", False, None, 1),
]


def _check_case(
    trec_eval_dir: Path,
    expected_name: str,
    qrels_name: str,
    run_name: str,
    complete: bool,
    depth: int | None,
    level: int,
) -> list[str]:
    expected = _parse_expected(trec_eval_dir / expected_name)
    qrels = read_qrels(trec_eval_dir / qrels_name)
    run = read_run(trec_eval_dir / run_name)
    if depth is not None:  # -M: only the first `depth` documents in trec_eval's order count
        run = {qid: dict(ranked(docs)[:depth]) for qid, docs in run.items()}
    compared = {key: name for key in expected if (name := _our_name(key)) is not None}
    assert compared, f"no comparable measure in {expected_name}"
    for key, name in compared.items():
        assert to_pytrec_names([name]) == {name: key}

    result = evaluate(qrels, run, tuple(compared.values()), relevance_level=level)
    judged = {qid for qid, docs in qrels.items() if docs}
    # Without -c trec_eval averages over the judged queries the run has; with -c over every judged query.
    counted = sorted(judged if complete else judged & {qid for qid, docs in run.items() if docs})
    if "num_q" in expected:  # absent when -m names only parameterised measures
        assert int(expected["num_q"]["all"]) == len(counted)
    rows = result.per_query.to_dict(orient="index")
    means = result.summary if complete else {m: sum(rows[q][m] for q in counted) / len(counted) for m in result.summary}

    for key, name in compared.items():
        per_query = {qid: value for qid, value in expected[key].items() if qid != "all"}
        if per_query:  # -q output: one value per evaluated query
            assert sorted(per_query) == counted, key
        for qid, text in per_query.items():
            ours = rows[qid][name]
            assert abs(ours - float(text)) <= TOLERANCE, f"{expected_name} {key} {qid}: {ours} vs {text}"
        assert abs(means[name] - float(expected[key]["all"])) <= TOLERANCE, (
            f"{expected_name} {key} all: {means[name]} vs {expected[key]['all']}"
        )
    return sorted(compared)


@pytest.mark.parametrize(("expected_name", "qrels_name", "run_name", "complete", "depth", "level"), CASES)
def test_conformance_with_trec_eval(
    trec_eval_dir: Path,
    expected_name: str,
    qrels_name: str,
    run_name: str,
    complete: bool,
    depth: int | None,
    level: int,
) -> None:
    compared = _check_case(trec_eval_dir, expected_name, qrels_name, run_name, complete, depth, level)
    if expected_name in {"out.test.aq", "out.test.aqc", "out.test.aqcM", "out.test.aql"}:
        # every default measure is checked per query against these all_trec outputs
        assert {parse_measure(m).key for m in DEFAULT_MEASURES} <= set(compared)


def test_conformance_minus_c_differs_from_run_only_average(trec_eval_dir: Path) -> None:
    # results.trunc lacks query 302: evaluate() follows -c (302 counts as 0) and matches out.test.aqc.
    qrels = read_qrels(trec_eval_dir / "qrels.test")
    run = read_run(trec_eval_dir / "results.trunc")
    result = evaluate(qrels, run, ("AP", "nDCG@10"))
    assert list(result.per_query.index) == ["301", "302", "303"]
    assert list(result.per_query.loc["302"]) == [0.0, 0.0]
    expected = _parse_expected(trec_eval_dir / "out.test.aqc")
    assert abs(result.summary["AP"] - float(expected["map"]["all"])) <= TOLERANCE
    rows = result.per_query.to_dict(orient="index")
    run_only = (rows["301"]["AP"] + rows["303"]["AP"]) / 2
    assert run_only > result.summary["AP"] + 0.01


def test_rr_at_k_matches_trec_eval_minus_m(trec_eval_dir: Path) -> None:
    # RR@100 on the full run equals trec_eval's recip_rank with -M100 (out.test.aqcM).
    qrels = read_qrels(trec_eval_dir / "qrels.test")
    run = read_run(trec_eval_dir / "results.trunc")
    expected = _parse_expected(trec_eval_dir / "out.test.aqcM")["recip_rank"]
    result = evaluate(qrels, run, ("RR@100",))
    rows = result.per_query.to_dict(orient="index")
    for qid, text in expected.items():
        value = result.summary["RR@100"] if qid == "all" else rows[qid]["RR@100"]
        assert abs(value - float(text)) <= TOLERANCE


def test_written_run_evaluates_like_the_original(tmp_path: Path, trec_eval_dir: Path) -> None:
    qrels = read_qrels(trec_eval_dir / "qrels.test")
    run = read_run(trec_eval_dir / "results.test")
    path = tmp_path / "run.trec"
    write_run(path, run, "STANDARD")
    before = evaluate(qrels, run).per_query
    after = evaluate(qrels, read_run(path)).per_query
    pd.testing.assert_frame_equal(before, after)
