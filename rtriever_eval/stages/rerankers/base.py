"""The Reranker protocol the rerank stage calls, the shared pair-scoring loop (cache first, the model only for
what is missing, in chunks a stopped run keeps).

Knows pairs and the pair-score cache; how a model scores a pair is each reranker's own (build.py picks one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.types import DomainData
from rtriever_eval.cache.pairs import PairScoreCache, pair_hash
from rtriever_eval.prompts.resolve import Prompts

Candidates = Mapping[str, Sequence[str]]
"""qid -> the document ids to score for it."""

PAIR_CHUNK = 4096
"""Pairs scored per call of the model and then cached: a stopped run (SIGTERM, a kill) loses at most one chunk."""


class Reranker(Protocol):
    def identity(self) -> dict[str, Any]:
        """The model and every setting that changes a score (for fingerprints and the pair cache)."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def preflight(self, prompts: list[Prompts]) -> None: ...

    def rerank(self, data: DomainData, candidates: Candidates, prompts: Prompts) -> dict[str, dict[str, float]]:
        """Per query, a score for each of its candidates (higher is better)."""
        ...


def score_pairs_cached(
    cache: PairScoreCache,
    data: DomainData,
    candidates: Candidates,
    instruction: str | None,
    score: Callable[[list[tuple[str, str]]], np.ndarray],
) -> tuple[dict[str, dict[str, float]], int]:
    """Scores of every (query, candidate) pair: cached ones read, the rest scored by `score` in one call (which
    batches as it likes) and cached. Returns the scores and how many pairs the model scored."""
    queries = {q.id: q.text for q in data.queries}
    texts = {d.id: d.text for d in data.documents}
    keys = [(qid, doc) for qid, docs in candidates.items() for doc in docs]
    digests = [pair_hash(instruction, queries[qid], texts[doc]) for qid, doc in keys]
    found = cache.get(digests)
    todo = [i for i, v in enumerate(found) if v is None]
    for start in range(0, len(todo), PAIR_CHUNK):
        check_interrupt()  # a safe point: every chunk scored so far is cached
        part = todo[start : start + PAIR_CHUNK]
        fresh = np.asarray(score([(queries[keys[i][0]], texts[keys[i][1]]) for i in part]), dtype=np.float64)
        if fresh.shape != (len(part),):
            raise ValueError(f"reranker returned {fresh.shape} scores for {len(part)} pairs")
        bad = np.flatnonzero(~np.isfinite(fresh))
        if bad.size:
            qid, doc = keys[part[int(bad[0])]]
            raise InputError(
                f"{data.dataset}/{data.name}: the reranker scored {bad.size} of {len(part)} pairs as NaN or inf "
                f"(first: query {qid!r}, document {doc!r}); none of this chunk was cached. In float16 an LLM's "
                "activations overflow: set reranker.dtype=bfloat16 or float32",
                field="reranker.dtype",
            )
        cache.put([digests[i] for i in part], fresh.tolist())
        for i, v in zip(part, fresh.tolist(), strict=True):
            found[i] = v
    out: dict[str, dict[str, float]] = {qid: {} for qid in candidates}
    for (qid, doc), value in zip(keys, found, strict=True):
        assert value is not None
        out[qid][doc] = float(value)
    return out, len(todo)
