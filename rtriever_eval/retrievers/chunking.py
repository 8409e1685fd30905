"""Chunk-max scoring of long documents: cut each document into token windows kept as text spans (so a chunk is
cached and encoded like any text), and turn chunk scores into document scores before the exact top-k.

Knows a fast tokenizer's offsets and score arithmetic; nothing of models, caches, files or metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtriever_eval.cache import ShardedMatrix
from rtriever_eval.encoders.tokenization import PRECUT_CHARS_PER_TOKEN
from rtriever_eval.retrievers.search import Ranked, topk_over_blocks

log = logging.getLogger(__name__)

CHUNK_ID_SEPARATOR = "\x1f"
"""Between a document id and its chunk number in the ids the embedding cache is keyed by (never in real ids)."""

AGGREGATIONS = ("max", "mean_top_k")
_SCORE_CELLS = 1 << 24
"""Float32 cells of one (queries x chunks) score block: bounds ranking memory at 64 MiB, whatever the corpus."""

Offsets = Callable[[str], Sequence[tuple[int, int]]]
"""A text's token character spans, in order (the tokenizer's offsets, no special tokens)."""


@dataclass(frozen=True)
class Chunks:
    """The chunks of a corpus: document ``i`` owns ``texts[ptr[i]:ptr[i + 1]]`` (at least one each)."""

    texts: list[str]
    ptr: np.ndarray
    n_capped: int  # documents with more windows than max_chunks (their tail is not scored)
    n_split: int  # documents cut into two chunks or more
    window: int  # text tokens per chunk

    def counts(self) -> dict[str, int]:
        """What a summary's counts say of the chunking."""
        return {"chunk_tokens": self.window, "chunks": len(self.texts), "documents_split": self.n_split,
                "documents_capped": self.n_capped}  # fmt: skip

    def pairs(self, doc_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(chunk id, chunk text) for the embedding cache's key, in chunk order."""
        out = []
        for i, doc_id in enumerate(doc_ids):
            for j in range(int(self.ptr[i]), int(self.ptr[i + 1])):
                out.append((f"{doc_id}{CHUNK_ID_SEPARATOR}{j - int(self.ptr[i])}", self.texts[j]))
        return out


def tokenizer_offsets(tokenizer: object) -> Offsets:
    """The ``Offsets`` of a transformers fast tokenizer (its Rust backend, no special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(f"chunking needs a fast tokenizer, not {type(tokenizer).__name__}")
    if backend.truncation is not None:  # some tokenizer.json files carry both (all-MiniLM's pads to 128)
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    return lambda text: backend.encode(text, add_special_tokens=False).offsets


def window_budget(tokenizer: Any, max_length: int, prompt: str, *, append_eos: bool) -> int:
    """Text tokens that fit beside the prompt, the special tokens and an appended EOS within ``max_length``."""
    backend = tokenizer.backend_tokenizer
    processor = backend.post_processor
    special = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
    used = (len(backend.encode(prompt, add_special_tokens=False).ids) if prompt else 0) + special + int(append_eos)
    return max_length - used


def _windows(n_tokens: int, window: int, stride: int, max_chunks: int) -> tuple[list[tuple[int, int]], bool]:
    """Token ranges [a, b) covering ``n_tokens`` (the last one ends at the text's end), capped at ``max_chunks``."""
    starts = list(range(0, max(n_tokens - (window - stride), 1), stride))
    capped = len(starts) > max_chunks
    return [(a, min(a + window, n_tokens)) for a in starts[:max_chunks]], capped


def chunk_documents(texts: Sequence[str], offsets: Offsets, *, window: int, overlap: int, max_chunks: int) -> Chunks:
    """Cut each text into windows of ``window`` tokens overlapping by ``overlap``, at most ``max_chunks`` each.

    A text of at most ``window`` tokens is its own single chunk, verbatim, so it is encoded and scored exactly
    as without chunking. A chunk is the text's characters from its first token's start to its last token's end
    (the first chunk from character 0). A text is tokenised once; one whose windows are capped is tokenised from
    a prefix long enough for every kept window (``PRECUT_CHARS_PER_TOKEN`` characters per token, checked), so
    a 9M-character document never has all its tokens in memory.
    """
    if window < 1 or not 0 <= overlap < window or max_chunks < 1:
        raise ValueError(f"need window >= 1, 0 <= overlap < window, max_chunks >= 1 (got {window}, {overlap}, "
                         f"{max_chunks})")  # fmt: skip
    stride = window - overlap
    needed = (max_chunks - 1) * stride + window  # tokens the capped windows read
    cut_at = (needed + 64) * PRECUT_CHARS_PER_TOKEN
    out: list[str] = []
    ptr = [0]
    n_capped = n_split = 0
    for text in texts:
        prefix = len(text) > cut_at
        spans = offsets(text[:cut_at] if prefix else text)
        if prefix and len(spans) <= needed + 32:  # the prefix may not hold every kept token: tokenise it all
            spans, prefix = offsets(text), False
        if len(spans) <= window:
            out.append(text)
        else:
            # a prefix holding more than `needed` tokens means more windows than max_chunks, all of them read
            # at least 32 tokens before the prefix's end, where its tokens are the full text's
            ranges, capped = _windows(len(spans), window, stride, max_chunks)
            n_capped += capped or prefix
            n_split += 1
            for a, b in ranges:
                out.append(text[(0 if a == 0 else spans[a][0]) : spans[b - 1][1]])
        ptr.append(len(out))
    return Chunks(out, np.asarray(ptr, dtype=np.int64), n_capped, n_split, window)


def aggregate(scores: np.ndarray, rows: np.ndarray, ptr: np.ndarray, how: str, top_k: int) -> np.ndarray:
    """Document scores (n_queries, n_docs) from chunk-row scores (n_queries, n_rows): document ``i``'s chunks are
    the rows ``rows[ptr[i]:ptr[i + 1]]``. ``max``: the best chunk; ``mean_top_k``: the mean of its ``top_k`` best
    (all of them when it has fewer). Equal chunk lists give equal scores bit for bit (duplicates tie)."""
    gathered = scores[:, rows]
    if how == "max":
        return np.maximum.reduceat(gathered, ptr[:-1], axis=1).astype(np.float32, copy=False)
    if how != "mean_top_k":
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, not {how!r}")
    counts = np.diff(ptr)
    width = int(counts.max()) if counts.size else 1
    pad = np.full((counts.size, width), -1, dtype=np.int64)
    within = np.arange(gathered.shape[1]) - np.repeat(ptr[:-1], counts)
    pad[np.repeat(np.arange(counts.size), counts), within] = np.arange(gathered.shape[1])
    grid = np.where(pad >= 0, gathered[:, np.maximum(pad, 0)], -np.inf)  # (q, docs, width)
    best = -np.sort(-grid, axis=2)[:, :, : max(top_k, 1)]
    kept = np.minimum(counts, max(top_k, 1)).astype(np.float32)
    return (np.where(np.isfinite(best), best, 0.0).sum(axis=2, dtype=np.float32) / kept).astype(np.float32)


def rank_chunked(
    queries: np.ndarray,
    chunks: ShardedMatrix,
    doc_ids: Sequence[str],
    chunk_rows: np.ndarray,
    ptr: np.ndarray,
    k: int,
    excluded: Sequence[Collection[str]] | None = None,
    *,
    query_rows: np.ndarray | None = None,
    how: str = "max",
    top_k: int = 3,
) -> list[Ranked]:
    """Exact top-k of documents scored by their chunks (``aggregate``), exclusions applied at document level.

    ``chunks`` holds one row per distinct chunk text, ``chunk_rows`` each chunk's row (documents in order), and
    ``query_rows`` each query's row of ``queries``. Every (query text, chunk text) score is computed once, over
    the whole chunk matrix in fixed slices, so the same chunk scores the same wherever it occurs.
    """
    q32 = np.ascontiguousarray(queries, dtype=np.float32)
    q_rows = np.arange(q32.shape[0], dtype=np.int64) if query_rows is None else np.asarray(query_rows, np.int64)
    rows = np.asarray(chunk_rows, dtype=np.int64)
    if ptr.size != len(doc_ids) + 1 or int(ptr[-1]) != rows.size or bool((np.diff(ptr) < 1).any()):
        raise ValueError("every document needs one chunk or more, and ptr must cover chunk_rows")
    cells = max(chunks.n, rows.size, 1)
    if how == "mean_top_k":  # aggregate builds a (queries x documents x most chunks) grid
        cells = max(cells, len(doc_ids) * int(np.diff(ptr).max(initial=1)))
    query_chunk = int(np.clip(_SCORE_CELLS // cells, 1, 256))

    def block(qs: slice, j: int) -> np.ndarray:
        wanted, pos = np.unique(q_rows[qs], return_inverse=True)
        scores = chunks.dot_t(q32[wanted], slice(0, chunks.n))
        return aggregate(scores, rows, ptr, how, top_k)[pos.ravel()]

    every = [np.arange(len(doc_ids), dtype=np.int64)]
    return topk_over_blocks(block, q_rows.size, doc_ids, k, every, excluded, query_chunk=query_chunk)
