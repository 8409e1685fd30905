"""BM25 retrievers behind the Retriever protocol: index the domain's corpus, score query chunks, rank exactly.

Knows nothing about instructions (lexical models take none) or about metrics and files; the weighting formulas
live in bm25_scoring.py, the analyzer in lucene_analyzer.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.bm25_scoring import BrightBM25, LuceneBM25
from rtriever_eval.retrievers.search import SearchOutcome, exact_topk
from rtriever_eval.settings.models import BM25Settings


class BM25Retriever:
    """Lucene/Anserini BM25 (``flavour=lucene``) or BRIGHT's gensim flavour (``flavour=bright``)."""

    def __init__(self, settings: BM25Settings) -> None:
        self.settings = settings
        self.name = settings.name

    def _new_index(self) -> LuceneBM25 | BrightBM25:
        cls = LuceneBM25 if self.settings.flavour == "lucene" else BrightBM25
        return cls(k1=self.settings.k1, b=self.settings.b)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": "bm25", "flavour": self.settings.flavour}
        info.update(self._new_index().describe())
        return info

    def identity(self, domain: str) -> dict[str, Any]:
        return {"kind": "bm25", "implementation": type(self._new_index()).__name__}

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts]) -> None:
        """BM25 takes no prompt and loads nothing: nothing can fail before the data is read."""

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        index = self._new_index()
        doc_ids = [d.id for d in data.documents]
        index.index([d.text for d in data.documents])
        t1 = time.perf_counter()
        texts = [prompts.query + q.text for q in data.queries]

        def block(qs: slice, ds: slice) -> Any:
            return index.score(texts[qs])[:, ds]

        ranked = exact_topk(
            block,
            len(texts),
            doc_ids,
            k,
            [q.excluded_ids for q in data.queries],
            query_chunk=self.settings.query_chunk,
            doc_chunk=max(1, len(doc_ids)),
        )
        if self.settings.flavour == "lucene":
            # Lucene/Anserini return matching documents only; BRIGHT's code keeps zero scores to fill the top k.
            ranked = [[(d, s) for d, s in r if s > 0.0] for r in ranked]
        t2 = time.perf_counter()
        counts: dict[str, int | bool] = {"documents": len(doc_ids), "queries": len(texts)}
        return SearchOutcome(ranked, {"index_s": t1 - t0, "search_s": t2 - t1}, counts)
