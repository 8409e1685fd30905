"""Dense retrieval behind the Retriever protocol: encode corpus (cached) and queries, score in fp32, rank exactly.

Knows how to turn a model config into an encoder and where embeddings are cached; not how encoders pool.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.encoders.base import Encoder
from rtriever_eval.errors import ConfigError
from rtriever_eval.instructions import query_prompt as wrap_instruction
from rtriever_eval.io import atomic_open, write_json_atomic
from rtriever_eval.search import Ranked, exact_topk
from rtriever_eval.types import DomainData

log = logging.getLogger(__name__)

BACKENDS = ("hf", "sentence_transformers")


def resolve_model_path(path: str) -> str:
    """`minilm` and other wheel-shipped models are named `pkg:<module>`; everything else is a hub id or folder."""
    if path.startswith("pkg:"):
        import importlib

        module = importlib.import_module(path.removeprefix("pkg:"))
        return str(module.get_model_path())
    return path


def encoder_settings(model: Mapping[str, Any]) -> Any:
    from rtriever_eval.encoders.hf import EncoderSettings

    try:
        return EncoderSettings(
            path=resolve_model_path(str(model["path"])),
            revision=model.get("revision"),
            dtype=str(model.get("dtype", "float32")),  # type: ignore[arg-type]
            max_length=int(model.get("max_length", 512)),
            query_max_length=model.get("query_max_length"),
            batch_size=int(model.get("batch_size", 16)),
            pooling=str(model.get("pooling", "last_token")),  # type: ignore[arg-type]
            padding_side=str(model.get("padding_side", "left")),  # type: ignore[arg-type]
            append_eos=bool(model.get("append_eos", False)),
            eos_token=model.get("eos_token"),
            normalize=bool(model.get("normalize", True)),
            device=model.get("device"),
            attn_implementation=model.get("attn_implementation"),
            trust_remote_code=bool(model.get("trust_remote_code", False)),
        )
    except ValueError as exc:
        raise ConfigError(str(exc), field="model") from None


def texts_fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """sha256 over (id, text) pairs, in order: any change to ids, texts or their order changes it."""
    h = hashlib.sha256()
    for i, text in pairs:
        h.update(i.encode("utf-8"))
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()


class DenseRetriever:
    """Bi-encoder retrieval: cosine (dot product of L2-normalised fp32 vectors), exact top-k."""

    def __init__(
        self, model: Mapping[str, Any], *, cache_dir: str | None = None, encoder: Encoder | None = None
    ) -> None:
        backend = str(model.get("backend", "hf"))
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}", field="model.backend")
        self.name = str(model["name"])
        self.backend = backend
        self.settings = encoder_settings(model)
        self.document_prompt = str(model.get("document_prompt") or "")
        self.query_template = model.get("query_template")
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._encoder = encoder

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            if self.backend == "hf":
                from rtriever_eval.encoders.hf import HFEncoder

                self._encoder = HFEncoder(self.settings)
            else:
                from rtriever_eval.encoders.st_backend import SentenceTransformerEncoder

                self._encoder = SentenceTransformerEncoder(self.settings)
        return self._encoder

    def query_prompt(self, instruction: str | None) -> str:
        return wrap_instruction(self.query_template, instruction)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": "dense",
            "backend": self.backend,
            "scoring": "cosine (fp32 dot product)",
        }
        info.update(self.encoder.describe())
        info["document_prompt"] = self.document_prompt
        info["query_template"] = self.query_template
        return info

    def _cache_key(self, side: str, prompt: str, pairs: Sequence[tuple[str, str]]) -> str:
        """Everything that can change these vectors, and nothing that cannot (never the batch size)."""
        st = self.settings
        max_length = st.max_length if side == "documents" else st.effective_query_max_length
        key = {
            "side": side,
            "backend": self.backend,
            "path": st.path,
            "revision": st.revision,
            "dtype": st.dtype,
            "max_length": max_length,
            "pooling": st.pooling,
            "padding_side": st.padding_side,
            "append_eos": st.append_eos,
            "eos_token": st.eos_token,
            "normalize": st.normalize,
            "prompt": prompt,
            "texts": texts_fingerprint(pairs),
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]

    def embed(self, side: str, prompt: str, pairs: Sequence[tuple[str, str]], label: str) -> tuple[np.ndarray, bool]:
        """Embeddings (n, dim) float32 of `pairs` (id, text), read from the cache when present; (array, hit)."""
        texts = [t for _, t in pairs]
        is_query = side == "queries"
        if self.cache_dir is None:
            return self.encoder.encode(texts, prompt, is_query=is_query), False
        key = self._cache_key(side, prompt, pairs)
        folder = self.cache_dir / "embeddings"
        npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
        if npy.exists() and meta.exists():
            arr = np.load(npy, mmap_mode="r", allow_pickle=False)
            if arr.shape[0] == len(texts):
                log.info("%s: %d %s embeddings from cache %s", label, arr.shape[0], side, npy)
                return arr, True
        emb = np.ascontiguousarray(self.encoder.encode(texts, prompt, is_query=is_query), dtype=np.float32)
        with atomic_open(npy, "wb") as fh:
            np.save(fh, emb, allow_pickle=False)
        write_json_atomic(
            meta,
            {
                "label": label,
                "side": side,
                "n": len(texts),
                "dim": int(emb.shape[1]),
                "model": self.name,
                "prompt": prompt,
                "ids": [i for i, _ in pairs],
                "settings": self.encoder.describe(),
            },
        )
        return emb, False

    def search(self, data: DomainData, query_prompt: str, k: int) -> tuple[list[Ranked], dict[str, float]]:
        t0 = time.perf_counter()
        label = f"{data.dataset}/{data.name}"
        docs, hit = self.embed("documents", self.document_prompt, [(d.id, d.text) for d in data.documents], label)
        t1 = time.perf_counter()
        queries, _ = self.embed("queries", query_prompt, [(q.id, q.text) for q in data.queries], label)
        t2 = time.perf_counter()
        q32 = np.asarray(queries, dtype=np.float32)

        def block(qs: slice, ds: slice) -> np.ndarray:
            return q32[qs] @ np.asarray(docs[ds], dtype=np.float32).T

        ranked = exact_topk(
            block,
            len(data.queries),
            [d.id for d in data.documents],
            k,
            [q.excluded_ids for q in data.queries],
        )
        t3 = time.perf_counter()
        return ranked, {
            "encode_corpus_s": t1 - t0,
            "corpus_cache_hit": float(hit),
            "encode_queries_s": t2 - t1,
            "rank_s": t3 - t2,
        }
