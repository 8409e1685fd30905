"""BM25 scoring of query texts against an indexed corpus, in two flavours: Lucene/Anserini's and BRIGHT's.

Returns dense score rows in corpus order, nothing more: it knows nothing of ids, exclusions, top-k, metrics.

Both flavours analyse text with :class:`LuceneEnglishAnalyzer`, count terms into a scipy CSR matrix and
precompute one float32 weight per (document, term); scoring a chunk of queries is then a sparse-times-dense
product over the rows of the terms those queries use, accumulated in float64.

``LuceneBM25`` is Lucene 9's BM25Similarity as Anserini runs it: idf = ln(1 + (N - df + 0.5) / (df + 0.5))
with N the number of documents that have at least one term, a document term weighs
idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), and a query term counts once per occurrence (Anserini's
bag-of-words query boosts each term by its count). Like Lucene it stores document lengths lossily
(SmallFloat.intToByte4: exact below 24, then 4 significant bits); on CACM that gives MAP 0.3124 / P@30 0.1942
(Anserini: 0.3123 / 0.1942) against 0.3129 / 0.1929 with exact lengths, so lossy is the default and
``exact_lengths=True`` turns it off. The per-term arithmetic is done in float32 in Lucene's order.

``BrightBM25`` is what BRIGHT's retrievers.py does with gensim: a Dictionary over the corpus terms,
LuceneBM25Model(k1, b) applied to the document bows AND to the query bow (query tf saturated by the query's
own length against the corpus avgdl), score = unnormalised dot product. It reproduces gensim's Dictionary,
including the pruning to the 2,000,000 most frequent terms that gensim applies every 10,000 documents once
the vocabulary outgrows that size.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Final

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from rtriever_eval.retrievers.lucene_analyzer import LuceneEnglishAnalyzer

logger = logging.getLogger(__name__)

_PROGRESS_MIN_DOCS: Final[int] = 10_000
_ANALYSIS_BATCH: Final[int] = 2_000
_QUERY_BLOCK: Final[int] = 16
"""Queries scored together: bounds the float64 scratch block to 16 rows of n_docs."""

GENSIM_PRUNE_AT: Final[int] = 2_000_000
GENSIM_PRUNE_EVERY: Final[int] = 10_000


# --------------------------------------------------------------------------------------------------
# Lucene's lossy document-length norm
# ----------------------------------------------------------------------------------------------------

_FREE_NORM_VALUES: Final[int] = 24
"""SmallFloat.intToByte4 stores lengths below 24 exactly (255 minus the 231 codes that 4-bit floats need)."""


def lucene_decoded_length(lengths: np.ndarray) -> np.ndarray:
    """The document lengths Lucene's BM25 sees: byte4ToInt(intToByte4(length)), element-wise.

    Below 24 a length is kept as is; above, 24 is subtracted and the rest keeps its 4 most significant bits
    (the lower bits are truncated), e.g. 100 -> 24 + (76 with 3 low bits cleared) = 96.
    """
    dl = np.asarray(lengths, dtype=np.int64)
    rest = dl - _FREE_NORM_VALUES
    big = rest >= 8  # 4 or more significant bits: truncate to 4
    if not big.any():
        return dl.copy()
    _, exponent = np.frexp(rest[big].astype(np.float64))  # exponent == bit length for positive integers
    shift = exponent.astype(np.int64) - 4
    out = dl.copy()
    out[big] = _FREE_NORM_VALUES + ((rest[big] >> shift) << shift)
    return out


# --------------------------------------------------------------------------------------------------
# Corpus counting
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    """Term counts of a corpus: tf[d, t] (CSR, int32), terms in first-appearance order."""

    tf: sp.csr_matrix
    vocab: dict[str, int]

    @property
    def doc_lengths(self) -> np.ndarray:
        return np.asarray(self.tf.sum(axis=1), dtype=np.int64).ravel()


def _count_terms(analyzer: LuceneEnglishAnalyzer, doc_texts: Sequence[str], desc: str) -> _Counts:
    n_docs = len(doc_texts)
    vocab: dict[str, int] = {}
    blocks: list[sp.csr_matrix] = []
    with tqdm(total=n_docs, desc=desc, unit="doc", disable=n_docs <= _PROGRESS_MIN_DOCS) as bar:
        for start in range(0, n_docs, _ANALYSIS_BATCH):
            term_lists = analyzer.analyze_batch(doc_texts[start : start + _ANALYSIS_BATCH])
            lengths = np.fromiter(map(len, term_lists), dtype=np.int64, count=len(term_lists))
            ids = np.fromiter(
                (vocab.setdefault(t, len(vocab)) for t in chain.from_iterable(term_lists)),
                dtype=np.int32,
                count=int(lengths.sum()),
            )
            rows = np.repeat(np.arange(len(term_lists), dtype=np.int32), lengths)
            block = sp.coo_matrix(
                (np.ones(ids.size, dtype=np.int32), (rows, ids)), shape=(len(term_lists), len(vocab))
            ).tocsr()
            block.sum_duplicates()
            blocks.append(block)
            bar.update(len(term_lists))
    n_terms = len(vocab)
    if not blocks:
        return _Counts(sp.csr_matrix((0, 0), dtype=np.int32), vocab)
    for block in blocks:
        block.resize((block.shape[0], n_terms))
    tf = sp.vstack(blocks, format="csr", dtype=np.int32)
    tf.sort_indices()
    return _Counts(tf, vocab)


def _query_counts(analyzer: LuceneEnglishAnalyzer, vocab: dict[str, int], texts: Sequence[str]) -> list[Counter[int]]:
    """Per query, term id -> occurrences, terms unknown to the corpus dropped."""
    out: list[Counter[int]] = []
    for terms in analyzer.analyze_batch(texts):
        out.append(Counter(i for i in map(vocab.get, terms) if i is not None))
    return out


# --------------------------------------------------------------------------------------------------
# The shared sparse scorer
# ----------------------------------------------------------------------------------------------------


class _SparseBM25:
    """Index = a (terms x docs) CSR matrix of float32 weights; score = query weights @ those rows."""

    name: str = ""
    flavour: str = ""

    def __init__(self, k1: float = 0.9, b: float = 0.4, **_ignored: object) -> None:
        self.k1 = float(k1)
        self.b = float(b)
        self.analyzer = LuceneEnglishAnalyzer()
        self._vocab: dict[str, int] | None = None
        self._term_doc: sp.csr_matrix | None = None
        self._n_docs = 0
        if _ignored:
            logger.debug("%s ignores settings %s", type(self).__name__, sorted(_ignored))

    # -- subclass hooks -------------------------------------------------------------------------------
    def _doc_weights(self, counts: _Counts) -> sp.csr_matrix:
        """(docs x terms) float32 weights from the counts."""
        raise NotImplementedError

    def _query_weights(self, term_ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Weights of one query's distinct known terms, given how often each occurs in the query."""
        raise NotImplementedError

    # -- public interface -----------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        return {
            "flavour": self.flavour,
            "k1": self.k1,
            "b": self.b,
            "analyzer": self.analyzer.name,
            "analyzer_chain": self.analyzer.describe()["filters"],
        }

    @property
    def n_docs(self) -> int:
        return self._n_docs

    @property
    def n_terms(self) -> int:
        return 0 if self._vocab is None else len(self._vocab)

    def index(self, doc_texts: Sequence[str]) -> None:
        """Analyse and weight the corpus; replaces any previous index."""
        counts = _count_terms(self.analyzer, doc_texts, desc=f"{self.name} index")
        self._n_docs = len(doc_texts)
        self._vocab = counts.vocab
        weights = self._doc_weights(counts) if self._n_docs else sp.csr_matrix((0, 0), dtype=np.float32)
        self._term_doc = weights.T.tocsr()
        self._term_doc.sort_indices()
        logger.info(
            "%s: indexed %d documents, %d terms, %d postings",
            self.name,
            self._n_docs,
            len(counts.vocab),
            self._term_doc.nnz,
        )

    def score(self, query_texts: Sequence[str]) -> np.ndarray:
        """float32 (n_queries, n_docs): row i holds query i's score for every document in index order."""
        if self._term_doc is None or self._vocab is None:
            raise RuntimeError(f"{type(self).__name__}.score called before index()")
        n_queries = len(query_texts)
        out = np.zeros((n_queries, self._n_docs), dtype=np.float32)
        if self._n_docs == 0 or n_queries == 0:
            return out
        query_counts = _query_counts(self.analyzer, self._vocab, query_texts)
        for q0 in range(0, n_queries, _QUERY_BLOCK):
            block = query_counts[q0 : q0 + _QUERY_BLOCK]
            used = np.unique(np.fromiter(chain.from_iterable(block), dtype=np.int64))
            if used.size == 0:
                continue
            query_matrix = np.zeros((len(block), used.size), dtype=np.float64)
            for row, counter in enumerate(block):
                if not counter:
                    continue
                ids = np.fromiter(counter.keys(), dtype=np.int64, count=len(counter))
                tfs = np.fromiter(counter.values(), dtype=np.int64, count=len(counter))
                query_matrix[row, np.searchsorted(used, ids)] = self._query_weights(ids, tfs)
            rows = self._term_doc[used].astype(np.float64)  # (used terms x docs)
            out[q0 : q0 + len(block)] = (rows.T @ query_matrix.T).T
        return out


# --------------------------------------------------------------------------------------------------
# Lucene / Anserini
# ----------------------------------------------------------------------------------------------------


class LuceneBM25(_SparseBM25):
    """Lucene's BM25Similarity with Anserini's bag-of-words queries (see the module docstring)."""

    name = "bm25"
    flavour = "lucene"

    def __init__(self, k1: float = 0.9, b: float = 0.4, *, exact_lengths: bool = False, **_ignored: object) -> None:
        super().__init__(k1, b, **_ignored)
        self.exact_lengths = bool(exact_lengths)

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["doc_length_norm"] = "exact" if self.exact_lengths else "lucene-lossy-byte4"
        info["idf"] = "ln(1 + (N - df + 0.5) / (df + 0.5)), N = documents with at least one term"
        info["query_terms"] = "each occurrence counts"
        return info

    def _doc_weights(self, counts: _Counts) -> sp.csr_matrix:
        tf = counts.tf
        dl = counts.doc_lengths
        n_with_terms = int(np.count_nonzero(dl))
        weights = tf.astype(np.float32)
        if n_with_terms == 0:
            return weights
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        idf = np.log(1.0 + (n_with_terms - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = np.float32(dl.sum() / n_with_terms)
        seen = dl if self.exact_lengths else lucene_decoded_length(dl)
        k1, b = np.float32(self.k1), np.float32(self.b)
        inverse_norm = np.float32(1.0) / (k1 * ((np.float32(1.0) - b) + b * seen.astype(np.float32) / avgdl))
        rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
        w = idf[tf.indices]
        freq = tf.data.astype(np.float32)
        # Lucene's BM25Scorer: weight - weight / (1 + freq * (1 / norm)), all in float32.
        weights.data = (w - w / (np.float32(1.0) + freq * inverse_norm[rows])).astype(np.float32)
        return weights

    def _query_weights(self, term_ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return counts.astype(np.float64)


# --------------------------------------------------------------------------------------------------
# BRIGHT (gensim)
# ----------------------------------------------------------------------------------------------------


def _gensim_dictionary_stats(
    counts: _Counts, prune_at: int | None, prune_every: int = GENSIM_PRUNE_EVERY
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What gensim's Dictionary(corpus, prune_at) ends up holding: (kept, dfs, cfs) per term id.

    Without pruning that is every term with its document and collection frequency. When the vocabulary seen
    so far exceeds `prune_at` at a check (before documents 10,000, 20,000, ...), gensim keeps the `prune_at`
    terms of highest df (ties: earlier gensim id first) and forgets the others' counts; a forgotten term that
    reappears starts from zero. Gensim numbers the new terms of a document in sorted order: that decides ties.
    """
    tf = counts.tf
    n_docs, n_terms = tf.shape
    df_all = np.bincount(tf.indices, minlength=n_terms).astype(np.int64)
    cf_all = np.bincount(tf.indices, weights=tf.data, minlength=n_terms).astype(np.int64)
    checkpoints = np.arange(prune_every, n_docs, prune_every)
    if prune_at is None or checkpoints.size == 0:
        return np.ones(n_terms, dtype=bool), df_all, cf_all
    # ids were given in first-appearance order, so the vocabulary before doc c is (largest id in docs[:c]) + 1
    row_max = np.full(n_docs, -1, dtype=np.int64)
    nonempty = np.diff(tf.indptr) > 0
    row_max[nonempty] = np.maximum.reduceat(tf.indices, tf.indptr[:-1][nonempty])
    vocab_before = np.maximum.accumulate(row_max)[checkpoints - 1] + 1
    if not (vocab_before > prune_at).any():
        return np.ones(n_terms, dtype=bool), df_all, cf_all

    logger.warning("vocabulary exceeds gensim's prune_at=%d: emulating Dictionary pruning", prune_at)
    tokens = [""] * n_terms
    for token, i in counts.vocab.items():
        tokens[i] = token
    order: dict[int, int] = {}  # term id -> gensim's id order (insertion order is kept by the dict)
    dfs: dict[int, int] = {}
    cfs: dict[int, int] = {}
    next_key = 0
    indptr, indices, data = tf.indptr, tf.indices, tf.data
    for start in range(0, n_docs, prune_every):
        if len(order) > prune_at:
            keep = set(sorted(order, key=lambda t: (-dfs[t], order[t]))[:prune_at])
            order = {t: k for t, k in order.items() if t in keep}
            dfs = {t: dfs[t] for t in order}
            cfs = {t: cfs[t] for t in order}
        for d in range(start, min(start + prune_every, n_docs)):
            ids = indices[indptr[d] : indptr[d + 1]].tolist()
            tfs = data[indptr[d] : indptr[d + 1]].tolist()
            for t in sorted((t for t in ids if t not in order), key=tokens.__getitem__):
                order[t] = next_key
                next_key += 1
            for t, c in zip(ids, tfs, strict=True):
                dfs[t] = dfs.get(t, 0) + 1
                cfs[t] = cfs.get(t, 0) + c
    kept = np.zeros(n_terms, dtype=bool)
    df = np.zeros(n_terms, dtype=np.int64)
    cf = np.zeros(n_terms, dtype=np.int64)
    kept_ids = np.fromiter(order.keys(), dtype=np.int64, count=len(order))
    kept[kept_ids] = True
    df[kept_ids] = np.fromiter((dfs[t] for t in order), dtype=np.int64, count=len(order))
    cf[kept_ids] = np.fromiter((cfs[t] for t in order), dtype=np.int64, count=len(order))
    return kept, df, cf


class BrightBM25(_SparseBM25):
    """BRIGHT's BM25: gensim LuceneBM25Model weights on documents and queries (see the module docstring)."""

    name = "bm25_bright"
    flavour = "bright"

    def __init__(
        self, k1: float = 0.9, b: float = 0.4, *, prune_at: int | None = GENSIM_PRUNE_AT, **_ignored: object
    ) -> None:
        super().__init__(k1, b, **_ignored)
        self.prune_at = prune_at
        self._idf: np.ndarray = np.zeros(0)
        self._avgdl = 0.0

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["weights"] = "gensim LuceneBM25Model on document and query bows, unnormalised dot product"
        info["gensim_prune_at"] = self.prune_at
        return info

    def _doc_weights(self, counts: _Counts) -> sp.csr_matrix:
        kept, df, cf = _gensim_dictionary_stats(counts, self.prune_at)
        n_docs = counts.tf.shape[0]
        tf = counts.tf
        if not kept.all():
            tf = tf.multiply(kept[np.newaxis, :].astype(np.int32)).tocsr()
            tf.eliminate_zeros()
            tf.sort_indices()
        self._avgdl = float(cf[kept].sum()) / n_docs
        # gensim: log(num_docs + 1.0) - log(freq + 0.5), which is ln(1 + (N - df + 0.5) / (df + 0.5))
        with np.errstate(divide="ignore"):
            self._idf = np.where(kept, np.log(n_docs + 1.0) - np.log(df + 0.5), 0.0)
        weights = tf.astype(np.float32)
        if tf.nnz == 0:
            return weights
        dl = np.asarray(tf.sum(axis=1), dtype=np.float64).ravel()
        rows = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        freq = tf.data.astype(np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * dl[rows] / self._avgdl)
        weights.data = (self._idf[tf.indices] * (freq / (freq + norm))).astype(np.float32)
        return weights

    def _query_weights(self, term_ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        known = self._idf[term_ids] > 0  # pruned terms are not in gensim's dictionary: doc2bow drops them
        freq = np.where(known, counts, 0).astype(np.float64)
        length = freq.sum()
        if length == 0:
            return np.zeros(term_ids.size)
        weights = self._idf[term_ids] * (freq / (freq + self.k1 * (1.0 - self.b + self.b * length / self._avgdl)))
        return weights.astype(np.float32).astype(np.float64)  # gensim's index holds float32
