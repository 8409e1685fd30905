"""Tests for the BM25 retrievers: hand-computed scores, Lucene's length norm, gensim parity, CACM run."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from rtriever_eval.retrievers.bm25_scoring import BrightBM25, LuceneBM25, lucene_decoded_length
from rtriever_eval.retrievers.lucene_analyzer import LuceneEnglishAnalyzer
from tests.helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
CACM_DIR = ROOT.parent / "shared" / "data" / "cacm"

K1, B = 0.9, 0.4
# Three documents the analyzer leaves nearly alone: cat/dog/bird/fish are not stemmed, "the", "and" stopped.
DOCS = ["The cat and the dog", "dog dog bird", "fish"]
N_DOCS = 3
LENGTHS = [2, 3, 1]  # terms after analysis
AVGDL = 6 / 3
DF = {"cat": 1, "dog": 2, "bird": 1, "fish": 1}
TF = [{"cat": 1, "dog": 1}, {"dog": 2, "bird": 1}, {"fish": 1}]


def idf(term: str) -> float:
    """Lucene / gensim LuceneBM25Model idf, written out."""
    return math.log(1 + (N_DOCS - DF[term] + 0.5) / (DF[term] + 0.5))


def saturated(tf: float, length: float) -> float:
    return tf / (tf + K1 * (1 - B + B * length / AVGDL))


def lucene_expected(query_terms: list[str]) -> list[float]:
    """Sum over query term occurrences of idf * tf / (tf + k1 (1 - b + b dl / avgdl))."""
    return [sum(idf(t) * saturated(TF[d][t], LENGTHS[d]) for t in query_terms if t in TF[d]) for d in range(N_DOCS)]


def bright_expected(query_terms: list[str]) -> list[float]:
    """Query weighted like a document, idf * qtf / (qtf + k1 (1 - b + b qlen / avgdl)); then a dot product."""
    known = [t for t in query_terms if t in DF]
    qtf = {t: known.count(t) for t in set(known)}
    qlen = len(known)
    query_w = {t: idf(t) * saturated(c, qlen) for t, c in qtf.items()}
    return [
        sum(w * idf(t) * saturated(TF[d][t], LENGTHS[d]) for t, w in query_w.items() if t in TF[d])
        for d in range(N_DOCS)
    ]


def test_hand_example_analysis() -> None:
    assert [LuceneEnglishAnalyzer()(d) for d in DOCS] == [["cat", "dog"], ["dog", "dog", "bird"], ["fish"]]


def test_hand_values_of_the_formula() -> None:
    # the numbers behind the helpers, so a slip in the helpers shows: idf(dog) = ln(1 + 1.5/2.5) = ln 1.6
    assert idf("dog") == pytest.approx(math.log(1.6))
    assert idf("cat") == pytest.approx(math.log(8 / 3))
    # dog in doc 1: tf 2, dl 3: 2 / (2 + 0.9 * (0.6 + 0.4 * 1.5)) = 2 / 3.08
    assert lucene_expected(["dog"])[1] == pytest.approx(math.log(1.6) * 2 / 3.08)
    # dog in doc 0: tf 1, dl 2 = avgdl: 1 / (1 + 0.9)
    assert lucene_expected(["dog"])[0] == pytest.approx(math.log(1.6) / 1.9)


@pytest.mark.parametrize("query", ["dog", "cat dog", "bird fish cat", "dog dog cat", "zebra dog"])
def test_lucene_hand_computed(query: str) -> None:
    bm25 = LuceneBM25(k1=K1, b=B)
    bm25.index(DOCS)
    scores = bm25.score([query])
    assert scores.dtype == np.float32 and scores.shape == (1, 3)
    terms = [t for t in query.split() if t != "zebra"]
    np.testing.assert_allclose(scores[0], lucene_expected(terms), rtol=1e-6)


@pytest.mark.parametrize("query", ["dog", "cat dog", "bird fish cat", "dog dog cat", "zebra dog"])
def test_bright_hand_computed(query: str) -> None:
    bm25 = BrightBM25(k1=K1, b=B)
    bm25.index(DOCS)
    scores = bm25.score([query])
    assert scores.dtype == np.float32 and scores.shape == (1, 3)
    np.testing.assert_allclose(scores[0], bright_expected(query.split()), rtol=1e-6)


def test_repeated_query_terms() -> None:
    lucene = LuceneBM25()
    lucene.index(DOCS)
    once, twice, thrice = lucene.score(["dog", "dog dog", "dog dog dog"])
    np.testing.assert_allclose(twice, 2 * once, rtol=1e-6)  # each occurrence is its own clause
    np.testing.assert_allclose(thrice, 3 * once, rtol=1e-6)

    bright = BrightBM25()
    bright.index(DOCS)
    b_once, b_twice = bright.score(["dog", "dog dog"])
    # the query tf saturates against the query length: 2 occurrences in a 2-term query
    ratio = saturated(2, 2) / saturated(1, 1)
    np.testing.assert_allclose(b_twice, ratio * b_once, rtol=1e-6)
    assert 1 < ratio < 2


def test_empty_and_unknown_queries_give_zero_rows() -> None:
    for cls in (LuceneBM25, BrightBM25):
        bm25 = cls()
        bm25.index(DOCS)
        scores = bm25.score(["", "the of and", "zebra", "dog"])
        assert scores.shape == (4, 3)
        assert not scores[:3].any()
        assert scores[3].any()
        assert bm25.score([]).shape == (0, 3)


def test_empty_corpus_and_unindexed() -> None:
    for cls in (LuceneBM25, BrightBM25):
        bm25 = cls()
        with pytest.raises(RuntimeError):
            bm25.score(["dog"])
        bm25.index([])
        out = bm25.score(["dog", "cat"])
        assert out.shape == (2, 0) and out.dtype == np.float32


def test_documents_without_terms() -> None:
    # Lucene counts only documents with a term in N and avgdl; gensim counts every document.
    docs = [*DOCS, "the and of"]
    lucene = LuceneBM25()
    lucene.index(docs)
    np.testing.assert_allclose(lucene.score(["dog"])[0], [*lucene_expected(["dog"]), 0.0], rtol=1e-6)
    bright = BrightBM25()
    bright.index(docs)
    n, avgdl = 4, 6 / 4
    w = math.log(1 + (n - 2 + 0.5) / 2.5)
    q = w * 1 / (1 + K1 * (1 - B + B * 1 / avgdl))
    d1 = w * 2 / (2 + K1 * (1 - B + B * 3 / avgdl))
    assert bright.score(["dog"])[0, 1] == pytest.approx(q * d1, rel=1e-6)


def test_inputs_not_mutated_and_rows_follow_query_order() -> None:
    docs, queries = list(DOCS), ["fish", "dog", "cat"]
    docs_before, queries_before = list(docs), list(queries)
    bm25 = LuceneBM25()
    bm25.index(docs)
    scores = bm25.score(queries)
    assert docs == docs_before and queries == queries_before
    assert scores.argmax(axis=1).tolist() == [2, 1, 0]
    np.testing.assert_array_equal(scores[1:2], bm25.score(["dog"]))


def test_many_queries_span_several_internal_blocks() -> None:
    bm25 = LuceneBM25()
    bm25.index(DOCS)
    queries = ["dog", "cat", "", "bird fish"] * 20
    scores = bm25.score(queries)
    for i in range(4):
        np.testing.assert_array_equal(scores[i::4], np.repeat(scores[i : i + 1], 20, axis=0))


def test_describe() -> None:
    info = LuceneBM25(k1=1.2, b=0.75, unused_setting=1).describe()
    assert info["k1"] == 1.2 and info["b"] == 0.75
    assert info["flavour"] == "lucene" and info["analyzer"] == "lucene-english"
    assert info["doc_length_norm"] == "lucene-lossy-byte4"
    assert LuceneBM25(exact_lengths=True).describe()["doc_length_norm"] == "exact"
    assert BrightBM25().describe()["flavour"] == "bright"
    assert LuceneBM25.name == "bm25" and BrightBM25.name == "bm25_bright"


# --- Lucene's lossy document length -------------------------------------------------------------------


def test_lucene_decoded_length_by_hand() -> None:
    # SmallFloat.intToByte4 keeps 0..23 exactly; above, 24 + (length - 24) truncated to 4 significant bits:
    #   39 -> 24 + 15 (1111b, 4 bits, exact); 41 -> 24 + 17 (10001b -> 10000b) = 40;
    #   100 -> 24 + 76 (1001100b -> 1001000b = 72) = 96; 1000 -> 24 + 976 (1111010000b -> 1111000000b) = 984
    lengths = np.array([0, 1, 23, 24, 31, 32, 33, 39, 40, 41, 100, 1000])
    expected = [0, 1, 23, 24, 31, 32, 33, 39, 40, 40, 96, 984]
    assert lucene_decoded_length(lengths).tolist() == expected
    assert lengths.tolist() == [0, 1, 23, 24, 31, 32, 33, 39, 40, 41, 100, 1000]


def test_lossy_length_changes_the_score_of_a_long_document() -> None:
    docs = ["dog " + "cat " * 40, "bird"]  # 41 terms: Lucene sees 40
    n, avgdl = 2, 42 / 2
    idf_dog = math.log(1 + (n - 1 + 0.5) / 1.5)
    lossy = LuceneBM25()
    lossy.index(docs)
    exact = LuceneBM25(exact_lengths=True)
    exact.index(docs)
    assert lossy.score(["dog"])[0, 0] == pytest.approx(idf_dog / (1 + K1 * (1 - B + B * 40 / avgdl)), rel=1e-6)
    assert exact.score(["dog"])[0, 0] == pytest.approx(idf_dog / (1 + K1 * (1 - B + B * 41 / avgdl)), rel=1e-6)


# --- gensim parity (what BRIGHT's retrievers.py computes) ---------------------------------------------


def _random_corpus(n_docs: int, vocab_size: int, seed: int, max_len: int = 30) -> list[str]:
    rng = random.Random(seed)
    words = [f"w{i}x" for i in range(vocab_size)]  # analyzer-stable: lower-case, not stop words, not stemmed
    weights = [1 / (i + 1) for i in range(vocab_size)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(0, max_len))) for _ in range(n_docs)]


def _gensim_scores(docs: list[str], queries: list[str], prune_at: int | None = 2_000_000) -> np.ndarray:
    from gensim.corpora import Dictionary
    from gensim.models import LuceneBM25Model
    from gensim.similarities import SparseMatrixSimilarity

    analyzer = LuceneEnglishAnalyzer()
    corpus = analyzer.analyze_batch(docs)
    dictionary = Dictionary(corpus, prune_at=prune_at)
    model = LuceneBM25Model(dictionary=dictionary, k1=K1, b=B)
    index = SparseMatrixSimilarity(
        model[list(map(dictionary.doc2bow, corpus))],
        num_docs=len(corpus),
        num_terms=len(dictionary),
        normalize_queries=False,
        normalize_documents=False,
    )
    return np.vstack([index[model[dictionary.doc2bow(q)]] for q in analyzer.analyze_batch(queries)])


def test_bright_equals_gensim() -> None:
    docs = [*_random_corpus(200, 60, seed=1), "The Dog's running quickly!", "", "cats and dogs running"]
    queries = [*_random_corpus(25, 80, seed=2, max_len=12), "dog run", "", "w0x w0x w0x w1x", "unknown words"]
    bm25 = BrightBM25(k1=K1, b=B)
    bm25.index(docs)
    ours = bm25.score(queries)
    theirs = _gensim_scores(docs, queries)
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert np.count_nonzero(theirs) > 1000


def test_bright_reproduces_gensim_dictionary_pruning() -> None:
    # gensim prunes to the prune_at most frequent terms every 10,000 documents; 25,000 documents over a
    # 400-word vocabulary with prune_at=150 trigger it twice, and forgotten terms come back with fresh counts.
    docs = _random_corpus(25_000, 400, seed=3, max_len=8)
    queries = _random_corpus(40, 400, seed=4, max_len=10)
    bm25 = BrightBM25(k1=K1, b=B, prune_at=150)
    bm25.index(docs)
    ours = bm25.score(queries)
    theirs = _gensim_scores(docs, queries, prune_at=150)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    unpruned = BrightBM25(k1=K1, b=B)
    unpruned.index(docs)
    assert not np.allclose(unpruned.score(queries), theirs, atol=1e-5)  # the pruning really mattered


# --- CACM reproduction --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (CACM_DIR / "cacm.tar.gz").is_file(), reason="../shared/data/cacm is absent")
def test_cacm_reproduces_anserini_bm25() -> None:
    bench = load_benchmark("cacm_bm25")
    cacm = bench.load_cacm(CACM_DIR)
    assert len(cacm.doc_ids) == 3204 and len(cacm.topic_ids) == 64
    result = bench.run_flavour("lucene", cacm)
    assert result["n_queries"] == 52
    assert abs(result["map"] - 0.3123) <= 0.005
    assert abs(result["P_30"] - 0.1942) <= 0.005
