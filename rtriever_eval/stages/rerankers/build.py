"""The reranker a rerank stage's settings ask for: a dense model, a sentence-transformers cross-encoder or a
Qwen3-Reranker-style LLM, each imported when first asked for.

Knows which settings class names which reranker; how each scores a pair is its own.
"""

from __future__ import annotations

from typing import Any

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.job import CacheSettings
from rtriever_eval.settings.models import DenseSettings
from rtriever_eval.settings.stages import CrossEncoderSettings, LLMRerankerSettings
from rtriever_eval.stages.rerankers.base import Reranker


def build_reranker(settings: Any, *, cache_dir: str | None, cache: CacheSettings | None = None) -> Reranker:
    cache = cache or CacheSettings()
    if isinstance(settings, DenseSettings):
        from rtriever_eval.stages.rerankers.dense import DenseReranker

        return DenseReranker(settings, cache_dir=cache_dir, cache=cache)
    if isinstance(settings, CrossEncoderSettings):
        from rtriever_eval.stages.rerankers.cross_encoder import CrossEncoderReranker

        return CrossEncoderReranker(settings, cache_dir=cache_dir, mode=cache.mode)
    if isinstance(settings, LLMRerankerSettings):
        from rtriever_eval.stages.rerankers.llm import LLMReranker

        return LLMReranker(settings, cache_dir=cache_dir, mode=cache.mode)
    raise ConfigError(f"unknown reranker settings {type(settings).__name__}", field="reranker")
