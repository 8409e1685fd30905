"""A sentence-transformers cross-encoder as a reranker: each (query, document) pair scored with the model's own
activation, pairs sorted by token length and batched by a token budget; scores cached per pair.

Knows sentence-transformers' CrossEncoder; nothing of first stages or interpolation. Loads the model lazily:
a rerun whose pairs are all cached never loads it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.types import DomainData
from rtriever_eval.cache import FingerprintMemo, model_identity
from rtriever_eval.cache.pairs import PairScoreCache
from rtriever_eval.encoders.batching import plan_batches
from rtriever_eval.encoders.kernels import resolve_device
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.settings.stages import CrossEncoderSettings
from rtriever_eval.stages.rerankers.base import Candidates, score_pairs_cached

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    loads = 0  # how many times any instance loaded a model (tests check a cached rerun loads none)

    def __init__(self, settings: CrossEncoderSettings, *, cache_dir: str | None, mode: str) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        memo = FingerprintMemo(Path(cache_dir) if cache_dir else None, writable=mode == "readwrite")
        self._identity = model_identity(settings.path, settings.revision, memo)
        memo.save()
        self.cache = PairScoreCache(cache_dir, self.identity(), mode)
        self._model: Any = None
        self.last_scored = 0

    def identity(self) -> dict[str, Any]:
        return {"kind": "cross_encoder", "weights": self._identity, "max_length": self.settings.max_length,
                "device": self.device.type}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "path": self.settings.path, "batch_size": self.settings.batch_size,
                "max_tokens_per_batch": self.settings.max_tokens_per_batch, "pair_cache": self.cache.key}  # fmt: skip

    def preflight(self, prompts: list[Prompts]) -> None:
        """Nothing to check before loading: the cross-encoder truncates each pair itself."""

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            CrossEncoderReranker.loads += 1
            self._model = CrossEncoder(
                self.settings.path, max_length=self.settings.max_length, device=str(self.device),
                revision=self.settings.revision,
            )  # fmt: skip
        return self._model

    def _score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        model = self._load()
        tok = model.tokenizer
        encoded = tok(
            [q for q, _ in pairs], [d for _, d in pairs], truncation=True, max_length=self.settings.max_length
        )
        lengths = [len(ids) for ids in encoded["input_ids"]]
        out = np.empty(len(pairs), dtype=np.float64)
        budget = self.settings.max_tokens_per_batch
        for batch in plan_batches(lengths, self.settings.batch_size, budget):
            check_interrupt()  # SIGTERM: stop between batches (this chunk's scores are dropped)
            chosen = [pairs[i] for i in batch]
            scores = model.predict(chosen, batch_size=len(chosen), show_progress_bar=False, convert_to_numpy=True)
            out[batch] = np.asarray(scores, dtype=np.float64).reshape(len(chosen))
        return out

    def rerank(self, data: DomainData, candidates: Candidates, prompts: Prompts) -> dict[str, dict[str, float]]:
        scores, self.last_scored = score_pairs_cached(self.cache, data, candidates, None, self._score)
        log.info("%s/%s: %d pairs scored by the cross-encoder, the rest from cache", data.dataset, data.name,
                 self.last_scored)  # fmt: skip
        return scores
