"""The Retriever protocol the pipeline calls, and the factory that builds one from a model config.

Knows which retriever kinds exist; the scoring itself lives in bm25.py / dense.py, the ranking in search.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rtriever_eval.errors import ConfigError
from rtriever_eval.search import Ranked
from rtriever_eval.types import DomainData


@dataclass(frozen=True)
class SearchOutcome:
    """What one domain's search gives: per query (same order as the domain's), the k best (doc id, score);
    timings in seconds; and counts (documents, distinct texts, how many were encoded this run)."""

    ranked: list[Ranked]
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int | bool] = field(default_factory=dict)


class Retriever(Protocol):
    """Ranks a domain's corpus for its queries; exclusions applied before the top-k cut."""

    name: str
    document_prompt: str

    def query_prompt(self, instruction: str | None) -> str:
        """The exact string put before each query text for this instruction ("" when none)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings that determine the scores, for the results summary."""
        ...

    def identity(self) -> dict[str, Any]:
        """What the scoring model *is* (a weight folder's content hash, a hub commit; for BM25 its formula),
        for the results fingerprint."""
        ...

    def preflight(self, query_prompts: list[str]) -> None:
        """Raise ConfigError before any work when these prompts or the model's settings cannot work."""
        ...

    def search(self, data: DomainData, query_prompt: str, k: int) -> SearchOutcome:
        """Per query of `data.queries` (same order), the k best (doc id, score), with timings and counts."""
        ...


@runtime_checkable
class CorpusEncoder(Protocol):
    """A retriever whose corpus representation is cached in shards, so it can be built apart from the search."""

    def encode_corpus(self, data: DomainData, *, shard_index: int = 0, shard_count: int = 1) -> Any:
        """Build and cache the corpus shards numbered j with j % shard_count == shard_index."""
        ...

    def require_corpus_cached(self, data: DomainData) -> None:
        """Raise InputError (listing what is missing) unless the whole corpus is cached."""
        ...


KINDS = ("bm25", "dense")


def build_retriever(
    model: Mapping[str, Any],
    *,
    cache_dir: str | None = None,
    cache_mode: str = "readwrite",
    shard_size: int = 4096,
) -> Retriever:
    kind = model.get("kind")
    if kind == "bm25":
        from rtriever_eval.retrievers.sparse import SparseRetriever

        return SparseRetriever(model)
    if kind == "dense":
        from rtriever_eval.retrievers.dense import DenseRetriever

        return DenseRetriever(model, cache_dir=cache_dir, cache_mode=cache_mode, shard_size=shard_size)
    raise ConfigError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}", field="model.kind")
