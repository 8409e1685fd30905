"""The protocols a job calls: a Retriever ranks a domain's corpus; a CorpusEncoder also caches its corpus
representation in shards, so encoding can run apart from the search.

Knows no retriever kind (job/build.py picks one from the settings); the scoring lives in bm25.py / dense.py, the
ranking in search.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.search import SearchOutcome


class Retriever(Protocol):
    """Ranks a domain's corpus for its queries; exclusions applied before the top-k cut."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Settings that determine the scores, for the results summary."""
        ...

    def identity(self, domain: str) -> dict[str, Any]:
        """What scores `domain` (a weight folder's content hash, a hub commit; for BM25 its formula; for a later
        stage its inputs' fingerprints), for the results fingerprint."""
        ...

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts]) -> None:
        """Raise ConfigError before any work when these domains, prompts or settings cannot work."""
        ...

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
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
