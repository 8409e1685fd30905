"""The retriever a job's model settings ask for: BM25, dense, an imported run, or a stage after retrieval (fusion,
rerank, with its reranker), each imported when first asked for, so a BM25 job never loads torch.

Knows every kind of retriever and which settings class names it; nothing of what they do.
"""

from __future__ import annotations

from typing import Any

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.retrievers.base import Retriever
from rtriever_eval.settings.job import CacheSettings
from rtriever_eval.settings.models import BM25Settings, DenseSettings, RunFileSettings
from rtriever_eval.settings.stages import FusionSettings, ModelSettings, RerankSettings
from rtriever_eval.stages.inputs import RunContext


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
        from rtriever_eval.stages.rerankers.build import build_reranker

        if reranker is None:
            raise ConfigError("model=rerank needs reranker=<name>", field="reranker")
        return RerankRetriever(model, build_reranker(reranker, cache_dir=cache_dir, cache=cache), context)
    raise ConfigError(f"unknown model settings {type(model).__name__}", field="model")
