"""Reranking a saved run: its top ``depth`` per query rescored by a reranker, interpolated with the first stage
(``alpha`` on per-query normalised scores), the documents below ``depth`` kept in the first stage's order
beneath the reranked head, excluded documents never brought back.

Knows the first stage's ranking and a Reranker; reads the first stage through stages/inputs.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rtriever_eval.base.trec import ranked
from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.search import Ranked, SearchOutcome
from rtriever_eval.settings.stages import RerankSettings
from rtriever_eval.stages.fusion import normalise
from rtriever_eval.stages.inputs import RunContext, input_digest, input_ranking, input_summary
from rtriever_eval.stages.rerankers.base import Reranker


def interpolate(head: Ranked, reranked: Mapping[str, float], alpha: float, normalization: str) -> dict[str, float]:
    """alpha x normalised reranker score + (1 - alpha) x normalised first-stage score, over the head."""
    ids = [d for d, _ in head]
    first = normalise([s for _, s in head], normalization)
    second = normalise([reranked[d] for d in ids], normalization)
    return {d: alpha * float(r) + (1.0 - alpha) * float(f) for d, r, f in zip(ids, second, first, strict=True)}


def rerank_list(first: Ranked, reranked: Mapping[str, float], settings: RerankSettings, k: int) -> Ranked:
    """The head (first ``depth``) in interpolated order, then the tail in the first stage's order.

    Tail documents score the head's lowest score minus their position in the tail: they carry the first
    stage's order beneath the head, not a relevance value.
    """
    head, tail = first[: settings.depth], first[settings.depth : k]
    scores = interpolate(head, reranked, settings.alpha, settings.normalization)
    out = ranked(scores)
    floor = min(scores.values()) if scores else 0.0
    out += [(d, floor - (j + 1)) for j, (d, _) in enumerate(tail)]
    return out[:k]


class RerankRetriever:
    def __init__(self, settings: RerankSettings, reranker: Reranker, context: RunContext) -> None:
        self.settings = settings
        self.reranker = reranker
        self.context = context
        self.name = settings.name
        self._identity: dict[str, dict[str, Any]] = {}  # per domain, as planned: search checks it still holds

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {"kind": "rerank", "first_stage": s.first_stage, "depth": s.depth, "alpha": s.alpha,
                "normalization": s.normalization, "reranker": self.reranker.describe()}  # fmt: skip

    def identity(self, domain: str) -> dict[str, Any]:
        if domain not in self._identity:
            first = input_summary(self.context, self.settings.first_stage, domain, role="first-stage")
            self._identity[domain] = {"kind": "rerank", "first_stage": input_digest(first),
                                      "reranker": self.reranker.identity()}  # fmt: skip
        return self._identity[domain]

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts]) -> None:
        for domain in domains:
            input_summary(self.context, self.settings.first_stage, domain, role="first-stage")
        self.reranker.preflight(list(prompts.values()))

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        first = input_ranking(self.context, self.settings.first_stage, data, role="first-stage", depth=k,
                              digest=self.identity(data.name)["first_stage"])  # fmt: skip
        excluded = {q.id: q.excluded_ids for q in data.queries}
        first = {qid: [(d, s) for d, s in items if d not in excluded[qid]] for qid, items in first.items()}
        heads = {qid: [d for d, _ in items[: self.settings.depth]] for qid, items in first.items()}
        t1 = time.perf_counter()
        scores = self.reranker.rerank(data, heads, prompts)
        t2 = time.perf_counter()
        out = [rerank_list(first[q.id], scores[q.id], self.settings, k) for q in data.queries]
        counts: dict[str, int | bool] = {"queries": len(data.queries), "pairs": sum(map(len, heads.values()))}
        scored = getattr(self.reranker, "last_scored", None)
        if scored is not None:
            counts["pairs_scored"] = int(scored)
        counts.update(getattr(self.reranker, "last_counts", {}))
        damaged = getattr(getattr(self.reranker, "cache", None), "damaged", 0)
        if damaged:
            counts["pair_scores_repaired"] = int(damaged)
        return SearchOutcome(out, {"read_s": t1 - t0, "rerank_s": t2 - t1, "merge_s": time.perf_counter() - t2},
                             counts)  # fmt: skip
