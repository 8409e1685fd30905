"""BM25 retrievers behind the Retriever protocol: index the domain's corpus, score query chunks, rank exactly.

Knows nothing about instructions (lexical models take none) or about metrics and files.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rtriever_eval.errors import ConfigError
from rtriever_eval.retrievers.base import SearchOutcome
from rtriever_eval.search import exact_topk
from rtriever_eval.types import DomainData

FLAVOURS = ("lucene", "bright")


class SparseRetriever:
    document_prompt = ""

    def __init__(self, model: Mapping[str, Any]) -> None:
        flavour = str(model.get("flavour", "lucene"))
        if flavour not in FLAVOURS:
            raise ConfigError(f"unknown BM25 flavour {flavour!r}; valid: {', '.join(FLAVOURS)}", field="model.flavour")
        self.name = str(model["name"])
        self.flavour = flavour
        self.k1 = float(model.get("k1", 0.9))
        self.b = float(model.get("b", 0.4))
        self.query_chunk = int(model.get("query_chunk", 64))

    def _new_index(self) -> Any:
        from rtriever_eval.retrievers.bm25 import BrightBM25, LuceneBM25

        cls = LuceneBM25 if self.flavour == "lucene" else BrightBM25
        return cls(k1=self.k1, b=self.b)

    def query_prompt(self, instruction: str | None) -> str:
        return ""

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": "bm25", "flavour": self.flavour}
        info.update(self._new_index().describe())
        return info

    def identity(self) -> dict[str, Any]:
        return {"kind": "bm25", "implementation": type(self._new_index()).__name__}

    def preflight(self, query_prompts: list[str]) -> None:
        """BM25 takes no prompt and loads nothing: nothing can fail before the data is read."""

    def search(self, data: DomainData, query_prompt: str, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        index = self._new_index()
        doc_ids = [d.id for d in data.documents]
        index.index([d.text for d in data.documents])
        t1 = time.perf_counter()
        texts = [query_prompt + q.text for q in data.queries]

        def block(qs: slice, ds: slice) -> Any:
            return index.score(texts[qs])[:, ds]

        ranked = exact_topk(
            block,
            len(texts),
            doc_ids,
            k,
            [q.excluded_ids for q in data.queries],
            query_chunk=self.query_chunk,
            doc_chunk=max(1, len(doc_ids)),
        )
        if self.flavour == "lucene":
            # Lucene/Anserini return matching documents only; BRIGHT's code keeps zero scores to fill the top k.
            ranked = [[(d, s) for d, s in r if s > 0.0] for r in ranked]
        t2 = time.perf_counter()
        counts: dict[str, int | bool] = {"documents": len(doc_ids), "queries": len(texts)}
        return SearchOutcome(ranked, {"index_s": t1 - t0, "search_s": t2 - t1}, counts)
