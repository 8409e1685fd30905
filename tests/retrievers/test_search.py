"""Exact top-k: trec_eval tie order, exclusions before the cut, chunking invariance."""

from __future__ import annotations

import numpy as np
import pytest

from rtriever_eval.retrievers.search import exact_topk, topk_from_scores


def test_ties_break_by_doc_id_descending_like_trec_eval() -> None:
    ids = ["d1", "d10", "d2", "d3"]
    scores = np.array([[0.5, 0.5, 0.9, 0.5]], dtype=np.float32)
    ranked = topk_from_scores(scores, ids, k=4)[0]
    # d2 first (0.9); then the 0.5 tie in descending string order: d3 > d10 > d1
    assert [d for d, _ in ranked] == ["d2", "d3", "d10", "d1"]


def test_ties_across_the_cut_keep_the_largest_ids() -> None:
    ids = [f"d{i}" for i in range(10)]
    scores = np.zeros((1, 10), dtype=np.float32)
    ranked = topk_from_scores(scores, ids, k=3)[0]
    assert [d for d, _ in ranked] == ["d9", "d8", "d7"]


def test_exclusions_are_removed_before_the_cut() -> None:
    ids = ["a", "b", "c", "d"]
    scores = np.array([[4, 3, 2, 1], [4, 3, 2, 1]], dtype=np.float32)
    ranked = topk_from_scores(scores, ids, k=2, excluded=[{"a", "zzz-unknown"}, set()])
    assert [d for d, _ in ranked[0]] == ["b", "c"]  # the cut happens after removing "a": still 2 documents
    assert [d for d, _ in ranked[1]] == ["a", "b"]


def test_k_larger_than_corpus_and_empty_corpus() -> None:
    assert len(topk_from_scores(np.ones((1, 3), dtype=np.float32), ["x", "y", "z"], k=10)[0]) == 3
    assert topk_from_scores(np.zeros((2, 0), dtype=np.float32), [], k=10) == [[], []]


@pytest.mark.parametrize(("qc", "dc"), [(1, 1), (2, 3), (7, 64), (256, 65536)])
def test_chunking_does_not_change_the_result(qc: int, dc: int) -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(7, 50)).astype(np.float32)  # many ties on purpose
    ids = [f"doc{i:03d}" for i in range(50)]
    excluded = [{ids[i]} for i in range(7)]
    expected = []
    for qi in range(7):
        cands = [(ids[j], float(scores[qi, j])) for j in range(50) if ids[j] not in excluded[qi]]
        cands.sort(key=lambda t: (-t[1], [-ord(c) for c in t[0]]))
        expected.append(cands[:10])
    got = exact_topk(lambda qs, ds: scores[qs, ds], 7, ids, 10, excluded, query_chunk=qc, doc_chunk=dc)
    assert got == expected


def test_nan_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        topk_from_scores(np.array([[np.nan, 1.0]], dtype=np.float32), ["a", "b"], k=1)


def test_duplicate_doc_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        topk_from_scores(np.ones((1, 2), dtype=np.float32), ["a", "a"], k=1)
