"""The embedding cache's key: the fields that make two encodings interchangeable, hashed to name an entry.

Knows which fields exist and how they are hashed; nothing of models, files or encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FORMAT = 2
"""2: rows are the distinct texts of the keyed (id, text) pairs, in order of first appearance."""


def texts_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over (id, text) pairs, in order: any change to ids, texts or their order changes it."""
    h = hashlib.sha256()
    for i, text in pairs:
        h.update(i.encode("utf-8"))
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """The fields that determine a set of vectors; ``digest`` names its folder."""

    fields: Mapping[str, Any]

    @property
    def digest(self) -> str:
        payload = json.dumps({"format": FORMAT, **self.fields}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def embedding_key(
    *,
    model: Mapping[str, Any],
    backend: str,
    dtype: str,
    pooling: str,
    padding_side: str,
    append_eos: bool,
    eos_token: str | None,
    normalize: bool,
    max_length: int,
    prompt: str,
    texts_sha256: str,
    kernels: Mapping[str, Any],
    strip_whitespace: bool,
) -> CacheKey:
    """The key of one side's vectors (``max_length`` and ``prompt`` of that side, documents or queries).

    ``kernels`` is what of the kernel choice can change a vector in its last bits (device type, attention,
    float32 CPU linears, unmasked causal batches): vectors made by other kernels are never mixed in.
    """
    return CacheKey(
        {
            "model": dict(model),
            "backend": backend,
            "dtype": dtype,
            "pooling": pooling,
            "padding_side": padding_side,
            "append_eos": bool(append_eos),
            "eos_token": eos_token,
            "normalize": bool(normalize),
            "max_length": int(max_length),
            "prompt": prompt,
            "texts_sha256": texts_sha256,
            "kernels": dict(kernels),
            "strip_whitespace": bool(strip_whitespace),
        }
    )
