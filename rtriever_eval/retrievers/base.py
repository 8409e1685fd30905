"""The Retriever protocol the pipeline calls, and the factory that builds one from typed model settings.

Knows which retriever kinds exist; the scoring itself lives in bm25.py / dense.py, the ranking in search.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.search import SearchOutcome
from rtriever_eval.settings import (
    BM25Settings,
    CacheSettings,
    DenseSettings,
    FusionSettings,
    ModelSettings,
    RerankSettings,
    RunFileSettings,
)
from rtriever_eval.stages.inputs import RunContext


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


def build_retriever(
    model: ModelSettings,
    *,
    cache_dir: str | None = None,
    cache: CacheSettings | None = None,
    context: RunContext | None = None,
    reranker: Any = None,
    benchmark: str = "",
    track: str = "short",
) -> Retriever:
    """The retriever for `model`; later stages (fusion, rerank) read their inputs from `context`; an imported run
    takes the `benchmark` and `track` (an MTEB predictions file's subset and split follow from them)."""
    cache = cache or CacheSettings()
    if isinstance(model, RunFileSettings):
        from rtriever_eval.retrievers.run_file import RunFileRetriever

        return RunFileRetriever(model, benchmark=benchmark, track=track)
    if isinstance(model, BM25Settings):
        from rtriever_eval.retrievers.bm25 import BM25Retriever

        return BM25Retriever(model)
    if isinstance(model, DenseSettings):
        from rtriever_eval.retrievers.dense import DenseRetriever

        return DenseRetriever(model, cache_dir=cache_dir, cache_mode=cache.mode, shard_size=cache.shard_size)
    if context is None:
        raise ConfigError(f"a {model.kind} stage needs the results of other runs (no run context)", field="model")
    if isinstance(model, FusionSettings):
        from rtriever_eval.stages.fusion import FusionRetriever

        return FusionRetriever(model, context)
    if isinstance(model, RerankSettings):
        from rtriever_eval.stages.rerank import RerankRetriever
        from rtriever_eval.stages.rerankers.base import build_reranker

        if reranker is None:
            raise ConfigError("model=rerank needs reranker=<name>", field="reranker")
        return RerankRetriever(model, build_reranker(reranker, cache_dir=cache_dir, cache=cache), context)
    raise ConfigError(f"unknown model settings {type(model).__name__}", field="model")
