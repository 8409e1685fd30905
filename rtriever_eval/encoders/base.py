"""The Encoder protocol: what a dense retriever needs from any text-embedding backend.

It fixes the call shape only (texts + exact prompt in, float32 rows out, a description for caches and
summaries); it knows nothing of how a backend tokenises, batches or pools, nor which prompt a dataset needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rtriever_eval.encoders.kernels import Kernels


@dataclass
class EncoderUsage:
    """What an encoder has spent since it was built: model input tokens (prompts and special tokens included, after
    truncation; None where the backend does not count them), seconds tokenising, seconds in the forward passes (to
    the last result back on the host, so GPU time is not under-counted)."""

    tokens: int | None = 0
    tokenise_s: float = 0.0
    forward_s: float = 0.0
    load_s: float = 0.0  # loading the weights


@runtime_checkable
class Encoder(Protocol):
    """A text encoder: ``encode`` returns one float32 row per text, in input order; ``kernels`` says which
    kernels it runs on, decided before any weight is loaded (part of the cache key)."""

    kernels: Kernels
    usage: EncoderUsage

    def encode(
        self,
        texts: Sequence[str],
        prompt: str = "",
        *,
        is_query: bool,
        show_progress: bool = True,
    ) -> np.ndarray:
        """Embed ``prompt + text`` for each text (no separator); float32 array of shape (len(texts), dim).

        Args:
            texts: the raw texts.
            prompt: the exact string put before each text (``""`` for none).
            is_query: queries use the query max length, documents the document max length.
            show_progress: show a progress bar for long encodes.
        """
        ...

    def check_prompt(self, prompt: str, *, is_query: bool) -> None:
        """Raise ConfigError, before any weight is loaded, when ``prompt`` leaves no room for text."""
        ...

    def describe(self) -> dict[str, Any]:
        """What changes the vectors (path, revision, dtype, lengths, pooling, ...), JSON-serialisable."""
        ...

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        ...
