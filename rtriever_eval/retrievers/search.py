"""Exact top-k ranking over score blocks (in memory, or streamed over memory-mapped cache shards), with per-query
exclusions applied before the cut.

Ties are broken as trec_eval breaks them (score descending, then doc id descending), so a written run
re-ranks identically; this module knows nothing about models, files or metrics.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtriever_eval.cache.matrix import ShardedMatrix
from rtriever_eval.retrievers.dedup import group_by_row

Ranked = list[tuple[str, float]]


class NonFiniteScores(ValueError):
    """A score block held NaN: ``query`` and ``document`` are the positions of the first such score."""

    def __init__(self, query: int, document: int) -> None:
        self.query, self.document = query, document
        super().__init__(f"NaN score for query #{query}, document #{document}")


@dataclass(frozen=True)
class SearchOutcome:
    """What one domain's search gives: per query (same order as the domain's), the k best (doc id, score);
    timings in seconds; counts (documents, distinct texts, how many were encoded this run); and usage, what the
    search spent (tokens encoded and found cached per side, tokenising and forward seconds, cache bytes written)."""

    ranked: list[Ranked]
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int | bool] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)


def descending_id_order(doc_ids: Sequence[str]) -> np.ndarray:
    """Position of each doc in descending doc-id order (0 = largest id): the trec_eval tie-break key."""
    order = sorted(range(len(doc_ids)), key=doc_ids.__getitem__, reverse=True)
    pos = np.empty(len(doc_ids), dtype=np.int64)
    pos[np.asarray(order, dtype=np.int64)] = np.arange(len(doc_ids), dtype=np.int64)
    return pos


def _excluded_positions(
    excluded: Sequence[Collection[str]] | None, n_queries: int, id_to_pos: dict[str, int]
) -> list[np.ndarray]:
    empty = np.empty(0, dtype=np.int64)
    if excluded is None:
        return [empty] * n_queries
    if len(excluded) != n_queries:
        raise ValueError(f"excluded has {len(excluded)} entries for {n_queries} queries")
    out = []
    for ex in excluded:
        pos = [id_to_pos[d] for d in ex if d in id_to_pos]
        out.append(np.asarray(sorted(pos), dtype=np.int64) if pos else empty)
    return out


def _best(scores: np.ndarray, cols: np.ndarray, tiekey: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score desc, tiekey asc) among candidates; exact even when ties straddle the cut."""
    valid = ~np.isneginf(scores)
    scores, cols = scores[valid], cols[valid]
    if scores.size > k:
        thr = np.partition(scores, scores.size - k)[scores.size - k]
        keep = scores >= thr
        scores, cols = scores[keep], cols[keep]
    order = np.lexsort((tiekey[cols], -scores.astype(np.float64)))[:k]
    return scores[order], cols[order]


def exact_topk(
    score_block: Callable[[slice, slice], np.ndarray],
    n_queries: int,
    doc_ids: Sequence[str],
    k: int,
    excluded: Sequence[Collection[str]] | None = None,
    *,
    query_chunk: int = 256,
    doc_chunk: int = 65536,
) -> list[Ranked]:
    """Rank every document for every query and keep the k best, excluded ids removed first.

    Args:
        score_block: returns float scores of shape (len(q_slice), len(d_slice)) for a block.
        n_queries: number of queries.
        doc_ids: document ids in the column order used by `score_block`.
        k: how many documents to keep per query.
        excluded: per query, the doc ids that must not be ranked (unknown ids are ignored).
        query_chunk: queries per block; doc_chunk: documents per block. Memory is O(blocks + k), not O(n_docs).

    Returns:
        Per query, a list of (doc_id, score) in trec_eval order; scores are float32 values as Python floats.
    """
    n_docs = len(doc_ids)
    edges = [*range(0, n_docs, max(1, doc_chunk)), n_docs]
    blocks = [np.arange(a, b, dtype=np.int64) for a, b in itertools.pairwise(edges)]
    slices = [slice(a, b) for a, b in itertools.pairwise(edges)]
    return topk_over_blocks(
        lambda qs, j: score_block(qs, slices[j]), n_queries, doc_ids, k, blocks, excluded, query_chunk=query_chunk
    )


def topk_over_blocks(
    score_block: Callable[[slice, int], np.ndarray],
    n_queries: int,
    doc_ids: Sequence[str],
    k: int,
    blocks: Sequence[np.ndarray],
    excluded: Sequence[Collection[str]] | None = None,
    *,
    query_chunk: int = 256,
) -> list[Ranked]:
    """`exact_topk` over blocks of document positions of any shape: ``score_block(qs, j)`` returns the scores
    of queries ``qs`` for the documents ``blocks[j]``, shape (len(qs), len(blocks[j])).

    Every document must lie in exactly one block. Grouping lets a caller score each distinct text once and
    copy that one value to every document holding it (see ``retrievers.dense``), so duplicates tie exactly.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    n_docs = len(doc_ids)
    id_to_pos = {d: i for i, d in enumerate(doc_ids)}
    if len(id_to_pos) != n_docs:
        raise ValueError("doc_ids must be unique")
    block_of = np.full(n_docs, -1, dtype=np.int64)
    slot_of = np.zeros(n_docs, dtype=np.int64)
    for j, cols in enumerate(blocks):
        block_of[cols] = j
        slot_of[cols] = np.arange(cols.size, dtype=np.int64)
    if (n_docs and int(block_of.min()) < 0) or sum(int(c.size) for c in blocks) != n_docs:
        raise ValueError("every document must lie in exactly one block")
    tiekey = descending_id_order(doc_ids)
    excl = _excluded_positions(excluded, n_queries, id_to_pos)
    results: list[Ranked] = []
    for q0 in range(0, n_queries, query_chunk):
        q1 = min(q0 + query_chunk, n_queries)
        best_s = [np.empty(0, dtype=np.float32) for _ in range(q1 - q0)]
        best_c = [np.empty(0, dtype=np.int64) for _ in range(q1 - q0)]
        for j, cols in enumerate(blocks):
            if not cols.size:
                continue
            block = np.asarray(score_block(slice(q0, q1), j), dtype=np.float32)
            if block.shape != (q1 - q0, cols.size):
                raise ValueError(f"score block has shape {block.shape}, expected {(q1 - q0, cols.size)}")
            if np.isnan(block).any():
                where = np.argwhere(np.isnan(block))[0]
                raise NonFiniteScores(q0 + int(where[0]), int(cols[int(where[1])]))
            for i in range(q1 - q0):
                row = block[i]
                ex = excl[q0 + i]
                if ex.size:
                    ex = ex[block_of[ex] == j]
                    if ex.size:
                        row = row.copy()
                        row[slot_of[ex]] = -np.inf
                s = np.concatenate([best_s[i], row])
                c = np.concatenate([best_c[i], cols])
                best_s[i], best_c[i] = _best(s, c, tiekey, k)
        for s, c in zip(best_s, best_c, strict=True):
            results.append([(doc_ids[j], float(v)) for v, j in zip(s.tolist(), c.tolist(), strict=True)])
    return results


def topk_from_scores(
    scores: np.ndarray,
    doc_ids: Sequence[str],
    k: int,
    excluded: Sequence[Collection[str]] | None = None,
) -> list[Ranked]:
    """`exact_topk` over an in-memory (n_queries, n_docs) score matrix."""
    mat = np.asarray(scores)
    if mat.ndim != 2 or mat.shape[1] != len(doc_ids):
        raise ValueError(f"scores shape {mat.shape} does not match {len(doc_ids)} documents")
    return exact_topk(lambda qs, ds: mat[qs, ds], mat.shape[0], doc_ids, k, excluded)


def to_run(query_ids: Sequence[str], ranked: Sequence[Ranked]) -> dict[str, dict[str, float]]:
    """Build a Run (qid -> docid -> score) from ranked lists; dict order keeps the ranking order."""
    return {qid: dict(r) for qid, r in zip(query_ids, ranked, strict=True)}


def rank_sharded(
    queries: np.ndarray,
    docs: ShardedMatrix,
    doc_ids: Sequence[str],
    k: int,
    excluded: Sequence[Collection[str]] | None = None,
    *,
    doc_rows: np.ndarray | None = None,
    query_rows: np.ndarray | None = None,
    min_chunk: int = 16384,
) -> list[Ranked]:
    """Exact top-k of fp32 dot products, streaming over the document shards (whole shards per block).

    ``docs`` holds one row per distinct text; ``doc_rows[i]`` is document ``i``'s row (identity when None),
    and likewise ``query_rows`` for ``queries``. Each (query text, document text) score is computed once and
    copied to every document holding that text, so duplicate documents tie exactly and are ordered by
    trec_eval's rule (doc id descending). Peak memory is one (query chunk x block) score matrix plus the
    running top-k, whatever the corpus size; memory-mapped shards are read in place, never joined.
    """
    q32 = np.ascontiguousarray(queries, dtype=np.float32)
    rows = np.arange(len(doc_ids), dtype=np.int64) if doc_rows is None else np.asarray(doc_rows, dtype=np.int64)
    if rows.size != len(doc_ids) or (rows.size and (int(rows.min()) < 0 or int(rows.max()) >= docs.n)):
        raise ValueError(f"{docs.n} document vectors do not cover the rows of {len(doc_ids)} ids")
    q_rows = np.arange(q32.shape[0], dtype=np.int64) if query_rows is None else np.asarray(query_rows, dtype=np.int64)
    shard = max(docs.block_rows(), 1)
    chunk = shard * max(1, -(-min_chunk // shard))
    edges = [*range(0, docs.n, chunk), docs.n]
    blocks = group_by_row(rows, edges)

    def block(qs: slice, j: int) -> np.ndarray:
        wanted, pos = np.unique(q_rows[qs], return_inverse=True)
        scores = docs.dot_t(q32[wanted], slice(edges[j], edges[j + 1]))
        return scores[np.ix_(pos.ravel(), rows[blocks[j]] - edges[j])]

    return topk_over_blocks(block, q_rows.size, doc_ids, k, blocks, excluded)
