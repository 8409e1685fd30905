"""Content-addressed embedding cache: one folder per key holding float32 .npy shards and a JSON manifest.

Modules: identity (what a model is), keys (what makes two encodings interchangeable), matrix (rows held as shards),
entry (one key's folder, its locks and claims), store (the cache and its shard-by-shard encode loop). It never
sees a model, a tokenizer or a search: callers pass a function that turns a list of texts into rows.

Layout: ``<root>/embeddings/<key>/`` holds ``shard-00000.npy`` (rows [0, shard_size)), ``shard-00001.npy``, ...,
one ``shard-NNNNN.json`` record per finished shard (row range, an xxh3-128 checksum checked on every read, who
wrote it), ``manifest.json`` (the key fields, n, dim, the shard list, a ``complete`` flag and a log of what each
run encoded), and ``last_used``.
Each shard is written atomically, then its record, then the manifest (under a lock), so an interrupted encode
resumes at the first missing shard, and several processes can fill disjoint shards of one entry at once.

What is in the key (and nothing else; never the batch size, token budget or results folder): the model's
identity, the backend, dtype, pooling, padding side, ``append_eos``/``eos_token``, ``normalize``,
``strip_whitespace``, the kernels (device type, attention, CPU linears, unmasked causal batches), the max length
and the prompt of the side being encoded, and the sha256 of the (id, text) pairs in order. An entry's rows are
the distinct texts of those pairs, in order of first appearance (``dedup.Distinct``).
"""

from rtriever_eval.cache.entry import (
    DEFAULT_SHARD_SIZE,
    MANIFEST,
    CacheEntry,
    DamagedShard,
    compact_ranges,
    remove_entry,
    shard_ranges,
)
from rtriever_eval.cache.identity import FingerprintMemo, folder_fingerprint, hub_commit, model_files, model_identity
from rtriever_eval.cache.keys import FORMAT, CacheKey, embedding_key, texts_fingerprint
from rtriever_eval.cache.matrix import ShardedMatrix
from rtriever_eval.cache.store import (
    CACHE_DIR_ENV,
    DEFAULT_CACHE_DIR,
    MODES,
    EmbeddingCache,
    Encoded,
    EncodeStats,
    NonFiniteVectors,
    check_mode,
    default_cache_dir,
)

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_SHARD_SIZE",
    "FORMAT",
    "MANIFEST",
    "MODES",
    "CacheEntry",
    "CacheKey",
    "DamagedShard",
    "EmbeddingCache",
    "EncodeStats",
    "Encoded",
    "FingerprintMemo",
    "NonFiniteVectors",
    "ShardedMatrix",
    "check_mode",
    "compact_ranges",
    "default_cache_dir",
    "embedding_key",
    "folder_fingerprint",
    "hub_commit",
    "model_files",
    "model_identity",
    "remove_entry",
    "shard_ranges",
    "texts_fingerprint",
]
