"""α-nDCG@k and weighted aspect recall@k: a worked example by hand, then edge cases and properties."""

from __future__ import annotations

import itertools
import logging
import math
import random

import pandas as pd
import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.types import Aspect, Document, DomainData, Query
from rtriever_eval.metrics.aspects import (
    DEFAULT_ASPECT_MEASURES,
    alpha_dcg,
    alpha_ndcg,
    aspect_recall,
    aspect_settings,
    evaluate_aspects,
    ideal_alpha_dcg,
    normalised_weights,
    parse_aspect_measure,
    ranked_ids,
    with_aspect_metrics,
)
from rtriever_eval.metrics.trec_measures import evaluate


def _a(aid: str, weight: float, *docs: str) -> Aspect:
    return Aspect(aid, weight, frozenset(docs))


LOG2_3 = math.log2(3)  # 1.584962500721156

# ---------------------------------------------------------------------------------------------------------------
# The worked example: 2 queries with 3 aspects each, alpha = 0.5, k = 3.
#
# q1: a1 (weight 3) supported by d1, d2;  a2 (weight 2) by d3;  a3 (weight 1) by d4.
#     Normalised weights: 3/6 = 0.5, 2/6 = 1/3, 1/6.
#     Run (score): d1 .9, d2 .8, x1 .7, d3 .6, d4 .5   -> top 3 = d1, d2, x1   (x1 supports no aspect)
#     alpha-DCG@3:
#       rank 1, d1, a1 seen 0 times: 0.5 * 0.5^0 / log2(2) = 0.5
#       rank 2, d2, a1 seen once:    0.5 * 0.5^1 / log2(3) = 0.25 / 1.5849625 = 0.1577324
#       rank 3, x1, no aspect:       0
#       DCG = 0.6577324
#     ideal (greedy: at each rank the largest w(a) * 0.5^seen(a) among aspects with a document left):
#       rank 1: a1 0.5 | a2 0.3333 | a3 0.1667      -> a1: 0.5 / 1         = 0.5
#       rank 2: a1 0.25 | a2 0.3333 | a3 0.1667     -> a2: 0.3333 / 1.585  = 0.2103099
#       rank 3: a1 0.25 | a3 0.1667                 -> a1: 0.25 / 2        = 0.125
#       IDCG = 0.8353099
#     alpha-nDCG@3 = 0.6577324 / 0.8353099 = 0.7874113
#     A-Recall@3: aspects covered in the top 3 = {a1}            -> 0.5
#
# q2: b1 (weight 1) supported by e1;  b2 (weight 1) by e2;  b3 (weight 2) by e3.
#     Normalised weights: 0.25, 0.25, 0.5.
#     Run: e2 .9, e3 .8, y1 .7, e1 .6                         -> top 3 = e2, e3, y1
#     alpha-DCG@3: 0.25 / 1 + 0.5 / 1.585 + 0 = 0.25 + 0.3154649 = 0.5654649
#     ideal: rank 1 b3 0.5 / 1 = 0.5; rank 2 b1 and b2 tie at 0.25: 0.25 / 1.585 = 0.1577324;
#            rank 3 the other one: 0.25 / 2 = 0.125            -> IDCG = 0.7827324 (either tie order gives it)
#     alpha-nDCG@3 = 0.5654649 / 0.7827324 = 0.7224242
#     A-Recall@3: {b2, b3} covered -> 0.25 + 0.5 = 0.75
#
# Means: alpha-nDCG@3 = (0.7874113 + 0.7224242) / 2 = 0.7549177;  A-Recall@3 = (0.5 + 0.75) / 2 = 0.625
# ---------------------------------------------------------------------------------------------------------------
Q1 = (_a("a1", 3, "d1", "d2"), _a("a2", 2, "d3"), _a("a3", 1, "d4"))
Q2 = (_a("b1", 1, "e1"), _a("b2", 1, "e2"), _a("b3", 2, "e3"))
ASPECTS = {"q1": Q1, "q2": Q2}
RUN = {
    "q1": {"d1": 0.9, "d2": 0.8, "x1": 0.7, "d3": 0.6, "d4": 0.5},
    "q2": {"e2": 0.9, "e3": 0.8, "y1": 0.7, "e1": 0.6},
}
QRELS = {"q1": {d: 1 for d in ("d1", "d2", "d3", "d4")}, "q2": {d: 1 for d in ("e1", "e2", "e3")}}

Q1_DCG = 0.5 + 0.25 / LOG2_3
Q1_IDCG = 0.5 + (1 / 3) / LOG2_3 + 0.25 / 2
Q2_DCG = 0.25 + 0.5 / LOG2_3
Q2_IDCG = 0.5 + 0.25 / LOG2_3 + 0.25 / 2


def test_hand_values_step_by_step() -> None:
    assert abs(Q1_DCG - 0.6577324) < 1e-7
    assert abs(Q1_IDCG - 0.8353099) < 1e-7
    assert abs(Q2_DCG - 0.5654649) < 1e-7
    assert abs(Q2_IDCG - 0.7827324) < 1e-7
    r1, r2 = ranked_ids(RUN["q1"]), ranked_ids(RUN["q2"])
    assert r1 == ["d1", "d2", "x1", "d3", "d4"] and r2 == ["e2", "e3", "y1", "e1"]
    assert alpha_dcg(r1, Q1, alpha=0.5, k=3) == pytest.approx(Q1_DCG, abs=1e-12)
    assert ideal_alpha_dcg(Q1, alpha=0.5, k=3) == pytest.approx(Q1_IDCG, abs=1e-12)
    assert alpha_dcg(r2, Q2, alpha=0.5, k=3) == pytest.approx(Q2_DCG, abs=1e-12)
    assert ideal_alpha_dcg(Q2, alpha=0.5, k=3) == pytest.approx(Q2_IDCG, abs=1e-12)
    assert alpha_ndcg(r1, Q1, alpha=0.5, k=3) == pytest.approx(0.7874113, abs=1e-7)
    assert alpha_ndcg(r2, Q2, alpha=0.5, k=3) == pytest.approx(0.7224242, abs=1e-7)
    assert aspect_recall(r1, Q1, k=3) == pytest.approx(0.5, abs=1e-12)
    assert aspect_recall(r2, Q2, k=3) == pytest.approx(0.75, abs=1e-12)


def test_hand_example_per_query_frame_and_means() -> None:
    result = evaluate_aspects(QRELS, ASPECTS, RUN, ["alpha-nDCG@3", "A-Recall@3"], alpha=0.5)
    assert list(result.per_query.index) == ["q1", "q2"] and result.per_query.index.name == "qid"
    assert list(result.per_query.columns) == ["alpha-nDCG@3", "A-Recall@3"]
    assert result.per_query.loc["q1", "alpha-nDCG@3"] == pytest.approx(Q1_DCG / Q1_IDCG, abs=1e-12)
    assert result.per_query.loc["q2", "alpha-nDCG@3"] == pytest.approx(Q2_DCG / Q2_IDCG, abs=1e-12)
    assert result.summary["alpha-nDCG@3"] == pytest.approx(0.7549177, abs=1e-7)
    assert result.summary["A-Recall@3"] == pytest.approx(0.625, abs=1e-12)
    # the summary is exactly the mean of the per-query column (reports check this)
    for name, value in result.summary.items():
        assert value == float(result.per_query[name].mean())


def test_query_without_aspects_scores_zero_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    qrels = {**QRELS, "q3": {"z1": 1}}
    run = {**RUN, "q3": {"z1": 1.0}}
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.metrics.aspects"):
        result = evaluate_aspects(qrels, {**ASPECTS, "q3": ()}, run, ["alpha-nDCG@3", "A-Recall@3"])
    assert result.per_query.loc["q3"].tolist() == [0.0, 0.0]
    assert result.summary["A-Recall@3"] == pytest.approx((0.5 + 0.75 + 0.0) / 3)
    assert result.summary["alpha-nDCG@3"] == pytest.approx((Q1_DCG / Q1_IDCG + Q2_DCG / Q2_IDCG) / 3)
    assert "1 of 3 judged queries have no aspect" in caplog.text
    # absent from the annotations altogether is the same as an empty tuple
    again = evaluate_aspects(qrels, ASPECTS, run, ["alpha-nDCG@3", "A-Recall@3"])
    pd.testing.assert_frame_equal(again.per_query, result.per_query)
    assert alpha_ndcg(["z1"], (), k=3) == 0.0 and aspect_recall(["z1"], (), k=3) == 0.0


def test_k_larger_than_the_run() -> None:
    ranking = ["d3", "d1"]  # two documents only
    # DCG: d3 (a2, 1/3) at rank 1, d1 (a1, 0.5) at rank 2
    dcg = (1 / 3) / 1 + 0.5 / LOG2_3
    # ideal@10 places all four supporting documents: a1 0.5, a2 1/3, a1 0.25, a3 1/6
    ideal = 0.5 / 1 + (1 / 3) / LOG2_3 + 0.25 / 2 + (1 / 6) / math.log2(5)
    assert ideal_alpha_dcg(Q1, k=10) == pytest.approx(ideal, abs=1e-12)
    assert alpha_ndcg(ranking, Q1, k=10) == pytest.approx(dcg / ideal, abs=1e-12)
    assert aspect_recall(ranking, Q1, k=10) == pytest.approx(0.5 + 1 / 3, abs=1e-12)
    assert alpha_ndcg([], Q1, k=10) == 0.0 and aspect_recall([], Q1, k=10) == 0.0


def test_documents_without_aspects_gain_nothing() -> None:
    assert alpha_dcg(["x1", "x2", "x3"], Q1, k=3) == 0.0
    assert aspect_recall(["x1", "x2", "x3"], Q1, k=3) == 0.0
    # pushing a gold document down by unaspected ones only changes its discount
    assert alpha_dcg(["x1", "d3"], Q1, k=3) == pytest.approx((1 / 3) / LOG2_3, abs=1e-12)


def test_ties_in_the_ideal_ranking_do_not_change_the_value() -> None:
    for order in itertools.permutations(Q2):
        assert ideal_alpha_dcg(order, k=3) == pytest.approx(Q2_IDCG, abs=1e-12)
    equal = (_a("c1", 2, "f1", "f2"), _a("c2", 2, "f3", "f4"), _a("c3", 2, "f5"))
    # every aspect first (1/3 each), then the two seconds (1/6 each)
    ideal = (1 / 3) * (1 + 1 / LOG2_3 + 1 / 2) + (1 / 6) * (1 / math.log2(5) + 1 / math.log2(6))
    for order in itertools.permutations(equal):
        assert ideal_alpha_dcg(order, k=5) == pytest.approx(ideal, abs=1e-12)


def test_ties_in_the_run_follow_trec_eval_order() -> None:
    assert ranked_ids({"d1": 1.0, "d3": 1.0, "x1": 2.0}) == ["x1", "d3", "d1"]
    assert ranked_ids({"d1": 1.0, "d3": 1.0, "x1": 2.0}, 2) == ["x1", "d3"]
    # A-Recall@2 sees x1 then d3 (a2), not d1 (a1)
    run = {"q1": {"d1": 1.0, "d3": 1.0, "x1": 2.0}}
    result = evaluate_aspects({"q1": QRELS["q1"]}, ASPECTS, run, ["A-Recall@2"])
    assert result.summary["A-Recall@2"] == pytest.approx(1 / 3, abs=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        ranked_ids({"d1": float("nan")})


def test_perfect_ranking_and_missing_query() -> None:
    perfect = ["d1", "d3", "d2", "d4"]  # exactly the greedy ideal order
    assert alpha_ndcg(perfect, Q1, k=4) == pytest.approx(1.0, abs=1e-12)
    assert aspect_recall(perfect, Q1, k=4) == pytest.approx(1.0, abs=1e-12)
    result = evaluate_aspects(QRELS, ASPECTS, {"q1": RUN["q1"]}, ["alpha-nDCG@3", "A-Recall@3"])
    assert result.per_query.loc["q2"].tolist() == [0.0, 0.0]


def test_document_with_two_aspects_gains_both() -> None:
    aspects = (_a("a", 1, "m", "p"), _a("b", 1, "m", "q"))  # m supports both a and b
    # m at rank 1: 0.5 + 0.5 = 1; p at rank 2: a seen once, 0.5 * 0.5 / log2(3)
    assert alpha_dcg(["m", "p"], aspects, k=2) == pytest.approx(1.0 + 0.25 / LOG2_3, abs=1e-12)
    # the greedy ideal starts with m, then p or q (0.25 each): 1 + 0.25 / log2(3) + 0.25 / 2
    assert ideal_alpha_dcg(aspects, k=3) == pytest.approx(1.0 + 0.25 / LOG2_3 + 0.25 / 2, abs=1e-12)
    assert aspect_recall(["m"], aspects, k=1) == pytest.approx(1.0)


def test_alpha_zero_and_one() -> None:
    # alpha = 0: no novelty discount, weighted DCG: 0.5 + 0.5 / log2(3)
    assert alpha_dcg(["d1", "d2"], Q1, alpha=0.0, k=2) == pytest.approx(0.5 + 0.5 / LOG2_3, abs=1e-12)
    # alpha = 1: a repeated aspect gains nothing
    assert alpha_dcg(["d1", "d2"], Q1, alpha=1.0, k=2) == pytest.approx(0.5, abs=1e-12)
    assert ideal_alpha_dcg(Q1, alpha=1.0, k=10) == pytest.approx(0.5 + (1 / 3) / LOG2_3 + (1 / 6) / 2, abs=1e-12)


def test_only_weight_ratios_matter() -> None:
    scaled = tuple(Aspect(a.id, a.weight * 7.5, a.doc_ids) for a in Q1)
    assert normalised_weights(scaled) == pytest.approx([0.5, 1 / 3, 1 / 6])
    ranking = ranked_ids(RUN["q1"])
    assert alpha_ndcg(ranking, scaled, k=3) == pytest.approx(alpha_ndcg(ranking, Q1, k=3), abs=1e-12)


def test_aspect_without_documents_still_counts_in_the_weights() -> None:
    aspects = (_a("a", 1, "d1"), _a("b", 1))  # b has no (gold) supporting document
    assert aspect_recall(["d1"], aspects, k=1) == pytest.approx(0.5)
    assert alpha_ndcg(["d1"], aspects, k=1) == pytest.approx(1.0)


def test_greedy_ideal_is_optimal_with_one_aspect_per_document() -> None:
    rng = random.Random(7)
    for _ in range(40):
        n_aspects = rng.randint(1, 3)
        aspects = []
        doc = 0
        for j in range(n_aspects):  # at most 7 documents: the brute force below tries all 7! orders
            docs = [f"d{doc + i}" for i in range(min(rng.randint(1, 3), 7 - doc - (n_aspects - j - 1)))]
            doc += len(docs)
            aspects.append(_a(f"a{j}", rng.randint(1, 3), *docs))
        all_docs = [d for a in aspects for d in a.doc_ids]
        k = rng.randint(1, len(all_docs) + 1)
        alpha = rng.choice([0.0, 0.25, 0.5, 0.9])
        best = max(alpha_dcg(list(p), aspects, alpha=alpha, k=k) for p in itertools.permutations(all_docs))
        assert ideal_alpha_dcg(aspects, alpha=alpha, k=k) == pytest.approx(best, abs=1e-12)


def test_inputs_are_not_modified() -> None:
    run = {q: dict(d) for q, d in RUN.items()}
    qrels = {q: dict(d) for q, d in QRELS.items()}
    evaluate_aspects(qrels, ASPECTS, run, DEFAULT_ASPECT_MEASURES)
    assert run == RUN and qrels == QRELS


@pytest.mark.parametrize(
    "name", ["alpha-nDCG", "alpha-nDCG@0", "A-Recall@03", "nDCG@10", "a-recall@10", "", "α-nDCG@5"]
)
def test_unknown_measure_names(name: str) -> None:
    with pytest.raises(ValueError, match="valid forms"):
        parse_aspect_measure(name)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha"):
        alpha_ndcg(["d1"], Q1, alpha=1.5, k=3)
    with pytest.raises(ValueError, match="k must"):
        aspect_recall(["d1"], Q1, k=0)
    with pytest.raises(ValueError, match="weight"):
        normalised_weights((_a("a", 0, "d1"),))
    with pytest.raises(ValueError, match="no judged query"):
        evaluate_aspects({}, ASPECTS, RUN)
    assert parse_aspect_measure("A-Recall@25").k == 25


def _domain(aspects: dict[str, tuple[Aspect, ...]] | None) -> DomainData:
    return DomainData(
        name="toy",
        dataset="toy",
        queries=(Query("q1", "x"), Query("q2", "y")),
        documents=tuple(Document(d, d) for d in ("d1", "d2", "d3", "d4", "e1", "e2", "e3", "x1", "y1")),
        qrels=QRELS,
        aspects=aspects,
    )


def test_with_aspect_metrics_adds_columns_beside_the_standard_ones() -> None:
    base = evaluate(QRELS, RUN, ("nDCG@10", "R@10"))
    out = with_aspect_metrics(base, _domain(ASPECTS), RUN, ["alpha-nDCG@3"], 0.5)
    assert list(out.per_query.columns) == ["nDCG@10", "R@10", "alpha-nDCG@3"]
    assert out.summary["alpha-nDCG@3"] == pytest.approx(0.7549177, abs=1e-7)
    assert out.summary["nDCG@10"] == base.summary["nDCG@10"]
    assert list(base.per_query.columns) == ["nDCG@10", "R@10"]  # the input result is untouched
    # defaults when the config says nothing; no annotations -> the same object back
    assert set(with_aspect_metrics(base, _domain(ASPECTS), RUN, None, None).summary) >= set(DEFAULT_ASPECT_MEASURES)
    assert with_aspect_metrics(base, _domain(None), RUN, None, None) is base


def test_aspect_settings_from_config() -> None:
    assert aspect_settings(None, None) == (DEFAULT_ASPECT_MEASURES, 0.5)
    assert aspect_settings(["A-Recall@5"], 0.25) == (("A-Recall@5",), 0.25)
    with pytest.raises(ConfigError, match=r"dataset\.aspect_metrics"):
        aspect_settings(["alpha-ndcg@10"], None)
    with pytest.raises(ConfigError, match=r"dataset\.aspect_alpha"):
        aspect_settings(None, -0.1)
    with pytest.raises(ConfigError, match=r"dataset\.aspect_metrics"):
        aspect_settings([], None)
