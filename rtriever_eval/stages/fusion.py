"""Fusion of saved runs into one: reciprocal rank fusion, weighted interpolation of per-query normalised scores,
CombSUM and CombMNZ; the pure functions, and the retriever that applies them to a domain's input runs.

Knows rankings and scores only: it loads no model and reads its inputs through stages/inputs.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rtriever_eval.base.trec import ranked
from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.search import Ranked, SearchOutcome
from rtriever_eval.settings.stages import FusionSettings
from rtriever_eval.stages.inputs import RunContext, input_digest, input_ranking, input_summary


def normalise(scores: Sequence[float], method: str) -> np.ndarray:
    """Per-query normalisation: ``minmax`` to [0, 1] (all 1.0 when every score is equal), ``zscore`` (mean 0,
    population sd 1; all 0.0 when the sd is 0), ``none``."""
    s = np.asarray(scores, dtype=np.float64)
    if method == "none" or not s.size:
        return s
    if method == "minmax":
        low, high = float(s.min()), float(s.max())
        return np.ones_like(s) if high == low else (s - low) / (high - low)
    sd = float(s.std())
    return np.zeros_like(s) if sd == 0.0 else (s - float(s.mean())) / sd


def fuse(lists: Sequence[Ranked], settings: FusionSettings) -> dict[str, float]:
    """The fused score of every document in any of `lists` (each in its run's order, best first)."""
    weights = settings.weights or [1.0] * len(lists)
    fused: dict[str, float] = {}
    if settings.method == "rrf":
        for weight, items in zip(weights, lists, strict=True):
            for rank, (doc, _) in enumerate(items, start=1):
                fused[doc] = fused.get(doc, 0.0) + weight / (settings.rrf_k + rank)
        return fused
    normalised = [dict(zip((d for d, _ in items), normalise([s for _, s in items], settings.normalization),
                           strict=True)) for items in lists]  # fmt: skip
    every = list(dict.fromkeys(d for items in lists for d, _ in items))
    if settings.method == "interpolation":
        floors = [min(n.values()) if n else 0.0 for n in normalised]
        return {d: sum(w * n.get(d, f) for w, n, f in zip(weights, normalised, floors, strict=True)) for d in every}
    for d in every:
        held = [(w, n[d]) for w, n in zip(weights, normalised, strict=True) if d in n]
        total = sum(w * v for w, v in held)
        fused[d] = total * len(held) if settings.method == "combmnz" else total
    return fused


class FusionRetriever:
    """Fuses, per domain, the saved runs named in ``settings.inputs`` (same experiment and dataset)."""

    def __init__(self, settings: FusionSettings, context: RunContext) -> None:
        self.settings = settings
        self.context = context
        self.name = settings.name
        self._identity: dict[str, dict[str, Any]] = {}  # per domain, as planned: search checks it still holds

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {"kind": "fusion", "inputs": list(s.inputs), "method": s.method, "rrf_k": s.rrf_k,
                "weights": s.weights, "normalization": s.normalization, "depth": s.depth}  # fmt: skip

    def identity(self, domain: str) -> dict[str, Any]:
        """The inputs' own fingerprints: recomputing an input differently makes this result stale too."""
        if domain not in self._identity:
            digests = {run: input_digest(input_summary(self.context, run, domain, role="input"))
                       for run in self.settings.inputs}  # fmt: skip
            self._identity[domain] = {"kind": "fusion", "inputs": digests}
        return self._identity[domain]

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts]) -> None:
        for domain in domains:
            for run in self.settings.inputs:
                input_summary(self.context, run, domain, role="input")

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        planned = self.identity(data.name)["inputs"]
        inputs = [input_ranking(self.context, run, data, role="input", depth=self.settings.depth, digest=planned[run])
                  for run in self.settings.inputs]  # fmt: skip
        out: list[Ranked] = []
        for q in data.queries:
            fused = fuse([ranking[q.id] for ranking in inputs], self.settings)
            for doc in q.excluded_ids:
                fused.pop(doc, None)
            out.append(ranked(fused)[:k])
        counts: dict[str, int | bool] = {"queries": len(data.queries), "inputs": len(inputs)}
        return SearchOutcome(out, {"fuse_s": time.perf_counter() - t0}, counts)
