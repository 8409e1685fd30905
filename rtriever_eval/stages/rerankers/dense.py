"""A dense model as a reranker: every candidate rescored with the cosine of its embeddings, through the same
embedding cache as dense retrieval (so a reranker that is also a first stage encodes nothing twice).

Knows candidates and the dense retriever's embeddings; nothing of first stages or interpolation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.dense import DenseRetriever
from rtriever_eval.settings.job import CacheSettings
from rtriever_eval.settings.models import DenseSettings
from rtriever_eval.stages.rerankers.base import Candidates


class DenseReranker:
    def __init__(self, settings: DenseSettings, *, cache_dir: str | None, cache: CacheSettings) -> None:
        self.dense = DenseRetriever(settings, cache_dir=cache_dir, cache_mode=cache.mode, shard_size=cache.shard_size)
        self.last_counts: dict[str, int] = {}

    def identity(self) -> dict[str, Any]:
        return {"kind": "dense", "weights": self.dense.model_identity}

    def describe(self) -> dict[str, Any]:
        return self.dense.describe()

    def preflight(self, prompts: list[Prompts]) -> None:
        self.dense.preflight([], prompts)

    def rerank(self, data: DomainData, candidates: Candidates, prompts: Prompts) -> dict[str, dict[str, float]]:
        wanted = {d for docs in candidates.values() for d in docs}
        pool = [(d.id, d.text) for d in data.documents if d.id in wanted]  # corpus order: a stable cache key
        label = f"{data.dataset}/{data.name} candidates"
        docs, doc_rows, dstats = self.dense.embeddings("documents", prompts.document, pool, label)
        qpairs = [(q.id, q.text) for q in data.queries if q.id in candidates]
        queries, query_rows, qstats = self.dense.embeddings("queries", prompts.query, qpairs, label)
        dmat, qmat = docs.to_array(), queries.to_array()
        row_of = {pid: int(r) for (pid, _), r in zip(pool, doc_rows.inverse, strict=True)}
        out: dict[str, dict[str, float]] = {}
        for (qid, _), qrow in zip(qpairs, query_rows.inverse, strict=True):
            ids = list(candidates[qid])
            rows = np.asarray([row_of[d] for d in ids], dtype=np.int64)
            out[qid] = dict(zip(ids, (dmat[rows] @ qmat[int(qrow)]).tolist(), strict=True))
        self.last_counts = {"documents_encoded": dstats.rows_encoded, "queries_encoded": qstats.rows_encoded}
        return out
