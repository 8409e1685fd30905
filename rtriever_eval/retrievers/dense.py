"""Dense retrieval behind the Retriever protocol: encode corpus (cached) and queries, score in fp32, rank exactly.

Knows how to turn dense settings into an encoder and a cache key; not how encoders pool nor how shards are stored.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.faults import checkpoint
from rtriever_eval.base.types import DomainData
from rtriever_eval.cache import (
    DEFAULT_SHARD_SIZE,
    CacheKey,
    EmbeddingCache,
    Encoded,
    EncodeStats,
    NonFiniteVectors,
    ShardedMatrix,
    embedding_key,
    model_identity,
    texts_fingerprint,
)
from rtriever_eval.encoders.base import Encoder
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.chunking import Chunks
from rtriever_eval.retrievers.dedup import Distinct
from rtriever_eval.retrievers.search import NonFiniteScores, Ranked, SearchOutcome, rank_sharded
from rtriever_eval.settings.models import DenseSettings

log = logging.getLogger(__name__)


def resolve_model_path(path: str) -> str:
    """`minilm` and other wheel-shipped models are named `pkg:<module>`; everything else is a hub id or folder."""
    if path.startswith("pkg:"):
        import importlib

        module = importlib.import_module(path.removeprefix("pkg:"))
        return str(module.get_model_path())
    return path


def non_finite_error(exc: NonFiniteVectors, side: str, pairs: Sequence[tuple[str, str]], distinct: Distinct,
                     dtype: str) -> InputError:  # fmt: skip
    """The message for texts whose vectors came out NaN or inf: which domain, side and ids, and the way out."""
    holders = np.flatnonzero(np.isin(distinct.inverse, exc.rows))
    ids = [pairs[int(i)][0] for i in holders[:5]]
    advice = (
        "set model.dtype=bfloat16 (same range as float32) or float32"
        if dtype == "float16"
        else "check the model's weights (a model saved in float16 and loaded as it is overflows the same way)"
    )
    return InputError(
        f"{exc.label}: the encoder returned NaN or inf for {exc.rows.size} of the {exc.n} {side} of shard "
        f"{exc.shard} (first ids: {', '.join(ids)}); nothing of that shard was written and nothing was scored. "
        f"In float16 a decoder's activations overflow (dtype here: {dtype}): {advice}",
        field="model.dtype",
    )


class DenseRetriever:
    """Bi-encoder retrieval: cosine (dot product of L2-normalised fp32 vectors), exact top-k."""

    def __init__(
        self,
        settings: DenseSettings,
        *,
        cache_dir: str | Path | None = None,
        encoder: Encoder | None = None,
        cache_mode: str = "readwrite",
        shard_size: int = DEFAULT_SHARD_SIZE,
    ) -> None:
        self.name = settings.name
        self.backend = settings.backend
        self.settings = dataclasses.replace(settings, path=resolve_model_path(settings.path))
        self.document_prompt = settings.document_prompt
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache = EmbeddingCache(self.cache_dir, cache_mode, shard_size)
        self._encoder = encoder
        self._model_identity: dict[str, Any] | None = None
        self._last_keys: dict[str, str] = {}
        self._chunks: tuple[tuple[Any, ...], Chunks] | None = None  # (the documents chunked, their chunks)

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

    @property
    def loaded_dim(self) -> int | None:
        """The embedding dimension of the loaded model (None when no weights were loaded by this run)."""
        if self._encoder is None or getattr(self._encoder, "_model", None) is None:
            return None
        return int(self._encoder.dim)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": "dense",
            "backend": self.backend,
            "scoring": "cosine (fp32 dot product)",
        }
        info.update(self.encoder.describe())
        info["document_prompt"] = self.document_prompt
        info["query_template"] = self.settings.query_template
        info["cache"] = {"mode": self.cache.mode, **self._last_keys}
        return info

    def identity(self, domain: str) -> dict[str, Any]:
        return {"kind": "dense", "weights": self.model_identity}

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts] | list[Prompts]) -> None:
        """Load the tokenizer (not the weights) and check the EOS token and that every prompt leaves room."""
        values = list(prompts.values()) if isinstance(prompts, Mapping) else list(prompts)
        for query in dict.fromkeys(p.query for p in values):
            self.encoder.check_prompt(query, is_query=True)
        for document in dict.fromkeys(p.document for p in values):
            self.encoder.check_prompt(document, is_query=False)
        guard = getattr(self.encoder, "check_memory", None)
        if guard is not None:  # the memory guard, before any weight is loaded
            guard(is_query=False)

    @property
    def model_identity(self) -> dict[str, Any]:
        """The model's content hash (local folder) or repository and commit (hub); computed once."""
        if self._model_identity is None:
            memo = self.cache.fingerprint_memo()
            self._model_identity = model_identity(self.settings.path, self.settings.revision, memo)
            memo.save()
        return self._model_identity

    def cache_key(self, side: str, prompt: str, pairs: Sequence[tuple[str, str]]) -> CacheKey:
        """Everything that can change these vectors, and nothing that cannot (never the batch size)."""
        st = self.settings
        return embedding_key(
            model=self.model_identity,
            backend=self.backend,
            dtype=st.dtype,
            pooling=st.pooling,
            padding_side=st.padding_side,
            append_eos=st.append_eos,
            eos_token=st.eos_token,
            normalize=st.normalize,
            max_length=st.max_length if side == "documents" else st.effective_query_max_length,
            prompt=prompt,
            texts_sha256=texts_fingerprint(pairs),
            kernels={**self.encoder.kernels.key(), "causal_without_mask": st.causal_without_mask},
            strip_whitespace=st.strip_whitespace,
        )

    def _info(self, side: str, label: str, distinct: Distinct) -> dict[str, Any]:
        return {
            "model": self.name,
            "path": self.settings.path,
            "side": side,
            "label": label,
            "n_items": distinct.n_items,
            "n_distinct": distinct.n_distinct,
        }

    def _encode_fn(self, prompt: str, *, is_query: bool) -> Any:
        def encode(texts: Sequence[str]) -> Encoded:
            before = self.encoder.usage.tokens
            rows = self.encoder.encode(texts, prompt, is_query=is_query, show_progress=True)
            after = self.encoder.usage.tokens
            return Encoded(rows, None if before is None or after is None else after - before)

        return encode

    def embeddings(
        self, side: str, prompt: str, pairs: Sequence[tuple[str, str]], label: str
    ) -> tuple[ShardedMatrix, Distinct, EncodeStats]:
        """Vectors of the distinct texts of ``pairs`` (id, text), and which distinct text each pair holds.

        Each distinct text is encoded once (so duplicates share one vector); cached shards are memory-mapped
        and the missing ones encoded shard by shard. The cache entry is keyed by the (id, text) pairs.
        """
        distinct = Distinct.of([t for _, t in pairs])
        key = self.cache_key(side, prompt, pairs) if self.cache.readable else CacheKey({})
        try:
            matrix, stats = self.cache.get(
                key,
                distinct.texts,
                self._encode_fn(prompt, is_query=side == "queries"),
                info=self._info(side, label, distinct),
                label=f"{label} {side}",
            )
        except NonFiniteVectors as exc:
            raise non_finite_error(exc, side, pairs, distinct, self.settings.dtype) from None
        if self.cache.readable:
            self._last_keys[f"{side}_key"] = key.digest
            log.info(
                "%s: %d %s (%d distinct texts), %d from cache %s, %d encoded",
                label,
                distinct.n_items,
                side,
                distinct.n_distinct,
                stats.rows_cached,
                self.cache.embeddings_dir / key.digest,
                stats.rows_encoded,
            )
        return matrix, distinct, stats

    @property
    def chunked(self) -> bool:
        return self.settings.long_documents == "chunk_max"

    def chunks(self, data: DomainData) -> Chunks:
        """The corpus cut into token windows (model.long_documents=chunk_max); computed once per domain."""
        if self._chunks is not None and self._chunks[0] is data.documents:
            return self._chunks[1]
        from rtriever_eval.retrievers.chunking import chunk_documents, tokenizer_offsets, window_budget

        st = self.settings
        tokenizer = self.encoder.tokenizer  # type: ignore[attr-defined]
        fits = window_budget(tokenizer, st.max_length, self.document_prompt, append_eos=st.append_eos)
        window = min(st.chunk_tokens or fits, fits)
        if window <= st.chunk_overlap:
            raise ConfigError(
                f"chunks of {window} tokens (what fits in max_length={st.max_length} beside the document prompt) "
                f"cannot overlap by model.chunk_overlap={st.chunk_overlap}",
                field="model.chunk_overlap",
            )
        started = time.perf_counter()
        chunks = chunk_documents(
            [d.text for d in data.documents],
            tokenizer_offsets(tokenizer),
            window=window,
            overlap=st.chunk_overlap,
            max_chunks=st.max_chunks,
        )
        log.info(
            "%s/%s: %d documents -> %d chunks of <= %d tokens (overlap %d; %d documents split, %d capped at %d "
            "chunks) in %.1fs",
            data.dataset,
            data.name,
            data.n_docs,
            len(chunks.texts),
            window,
            st.chunk_overlap,
            chunks.n_split,
            chunks.n_capped,
            st.max_chunks,
            time.perf_counter() - started,
        )
        self._chunks = (data.documents, chunks)
        return chunks

    def _corpus_pairs(self, data: DomainData) -> list[tuple[str, str]]:
        """What is encoded for the corpus: (id, text) per document, or per chunk under chunk_max."""
        if self.chunked:
            return self.chunks(data).pairs([d.id for d in data.documents])
        return [(d.id, d.text) for d in data.documents]

    def _corpus(self, data: DomainData) -> tuple[CacheKey, Distinct, str]:
        pairs = self._corpus_pairs(data)
        key = self.cache_key("documents", self.document_prompt, pairs)
        return key, Distinct.of([t for _, t in pairs]), f"{data.dataset}/{data.name}"

    def encode_corpus(
        self, data: DomainData, *, shard_index: int = 0, shard_count: int = 1, share: bool = False
    ) -> EncodeStats:
        """Encode and cache the corpus shards numbered ``j`` with ``j % shard_count == shard_index``; with ``share``
        every missing shard, starting at this worker's share of them (workers on one entry claim shards, so each is
        encoded once, and the shards of a worker that dies are taken by the others)."""
        key, distinct, label = self._corpus(data)
        entry = self.cache.entry(key, distinct.n_distinct, self._info("documents", label, distinct))
        n_shards = entry.n_shards if entry is not None else 0
        if share:
            start = shard_index * n_shards // max(shard_count, 1)
            mine = [(start + j) % n_shards for j in range(n_shards)]
        else:
            mine = [j for j in range(n_shards) if j % shard_count == shard_index]
        try:
            stats = self.cache.fill(
                key,
                distinct.texts,
                self._encode_fn(self.document_prompt, is_query=False),
                info=self._info("documents", label, distinct),
                shards=mine,
                label=f"{label} documents",
            )
        except NonFiniteVectors as exc:
            raise non_finite_error(exc, "documents", self._corpus_pairs(data), distinct, self.settings.dtype) from None
        log.info(
            "%s: shards %d of %d are this worker's (shard.index=%d, shard.count=%d): %d rows encoded, %d cached",
            label,
            len(mine),
            n_shards,
            shard_index,
            shard_count,
            stats.rows_encoded,
            stats.rows_cached,
        )
        return stats

    def require_corpus_cached(self, data: DomainData) -> None:
        """Raise InputError listing the missing shards unless the corpus embeddings are all cached."""
        key, distinct, label = self._corpus(data)
        self.cache.require_complete(key, distinct.n_distinct, f"{label} documents")

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        spent = dataclasses.replace(self.encoder.usage)
        label = f"{data.dataset}/{data.name}"
        docs, doc_rows, dstats = self.embeddings("documents", prompts.document, self._corpus_pairs(data), label)
        t1 = time.perf_counter()
        queries, query_rows, qstats = self.embeddings(
            "queries", prompts.query, [(q.id, q.text) for q in data.queries], label
        )
        checkpoint("queries_encoded")
        t2 = time.perf_counter()
        doc_ids = [d.id for d in data.documents]
        excluded = [q.excluded_ids for q in data.queries]
        try:
            ranked = self._rank(data, docs, doc_rows, queries, query_rows, doc_ids, excluded, k)
        except NonFiniteScores as exc:
            raise InputError(
                f"{label}: query {data.queries[exc.query].id!r} scores document {doc_ids[exc.document]!r} as "
                "NaN: some cached vectors are not finite (written before this harness checked them). Run "
                "`rtriever-cache verify --repair` on paths.cache_dir, or cache.mode=off; in float16 set "
                "model.dtype=bfloat16 or float32",
                field="model.dtype",
            ) from None
        t3 = time.perf_counter()
        counts = {
            **(self.chunks(data).counts() if self.chunked else {}),
            "documents": data.n_docs,
            # under chunk_max the encoded rows are distinct chunk texts
            "distinct_documents": len({d.text for d in data.documents}) if self.chunked else doc_rows.n_distinct,
            **({"distinct_chunks": doc_rows.n_distinct} if self.chunked else {}),
            "documents_encoded": dstats.rows_encoded,
            "queries": query_rows.n_items,
            "distinct_queries": query_rows.n_distinct,
            "queries_encoded": qstats.rows_encoded,
            "corpus_cache_hit": bool(self.cache.readable and dstats.hit),
        }
        repaired = len(dstats.shards_repaired) + len(qstats.shards_repaired)
        if repaired:
            counts["cache_shards_repaired"] = repaired
        now = self.encoder.usage
        usage = {
            "tokens": {side: {"encoded": st.tokens_encoded, "cached": st.tokens_cached}
                       for side, st in (("documents", dstats), ("queries", qstats))},
            "encoded_unit": "chunks" if self.chunked else "documents",
            "tokenise_s": now.tokenise_s - spent.tokenise_s,
            "forward_s": now.forward_s - spent.forward_s,
            "model_load_s": now.load_s - spent.load_s,
            "cache_bytes_written": dstats.bytes_written + qstats.bytes_written,
            "device": self.encoder.kernels.device,
        }  # fmt: skip
        return SearchOutcome(
            ranked,
            timings={"encode_corpus_s": t1 - t0, "encode_queries_s": t2 - t1, "rank_s": t3 - t2},
            counts=counts,
            usage=usage,
        )

    def _rank(self, data: DomainData, docs: ShardedMatrix, doc_rows: Distinct, queries: ShardedMatrix,
              query_rows: Distinct, doc_ids: list[str], excluded: list[frozenset[str]],
              k: int) -> list[Ranked]:  # fmt: skip
        if self.chunked:
            from rtriever_eval.retrievers.chunking import rank_chunked

            return rank_chunked(
                queries.to_array(),
                docs,
                doc_ids,
                doc_rows.inverse,
                self.chunks(data).ptr,
                k,
                excluded,
                query_rows=query_rows.inverse,
                how=self.settings.chunk_aggregation,
                top_k=self.settings.chunk_top_k,
            )
        return rank_sharded(
            queries.to_array(), docs, doc_ids, k, excluded, doc_rows=doc_rows.inverse, query_rows=query_rows.inverse
        )
