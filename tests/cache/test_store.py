"""The cache store: shard-by-shard resume, modes that must not write, workers sharing shards, sharded search."""

from __future__ import annotations

import json
import mmap
import multiprocessing
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.cache import EmbeddingCache, ShardedMatrix, compact_ranges, shard_ranges
from rtriever_eval.retrievers.search import rank_sharded, topk_from_scores
from tests.cache.fakes import DIM, KEY, TEXTS, CountingEncoder, fake_vectors, snapshot

# ------------------------------------------------------------------------------------------------ shards


def test_shard_ranges_do_not_depend_on_workers() -> None:
    assert shard_ranges(23, 8) == [(0, 8), (8, 16), (16, 23)]
    assert shard_ranges(0, 8) == [(0, 0)]
    assert compact_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"


def test_interrupted_fill_resumes_from_the_last_finished_shard(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "readwrite", shard_size=5)
    broken = CountingEncoder(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        cache.get(KEY, TEXTS, broken)
    entry = cache.lookup(KEY, len(TEXTS))
    assert entry is not None and entry.done_shards() == {0, 1} and not entry.complete
    assert entry.missing_shards() == [2, 3, 4]
    again = CountingEncoder()
    matrix, stats = cache.get(KEY, TEXTS, again)
    assert again.rows == len(TEXTS) - 10 and stats.rows_cached == 10 and stats.rows_encoded == 13
    np.testing.assert_array_equal(matrix.to_array(), fake_vectors(TEXTS))
    manifest = json.loads((tmp_path / "embeddings" / KEY.digest / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n"] == 23 and manifest["dim"] == DIM
    assert [s["rows"] for s in manifest["shards"]] == [[0, 5], [5, 10], [10, 15], [15, 20], [20, 23]]
    assert manifest["rows_encoded_total"] == 23
    # a third call reads everything memory-mapped
    third = CountingEncoder()
    matrix, stats = cache.get(KEY, TEXTS, third)
    assert third.rows == 0 and stats.hit
    assert all(isinstance(b.base, mmap.mmap) and not b.flags.owndata for b in matrix.blocks)  # views of the files


def test_off_and_read_modes_never_write(tmp_path: Path) -> None:
    off = EmbeddingCache(tmp_path / "off", "off", shard_size=5)
    enc = CountingEncoder()
    matrix, _ = off.get(KEY, TEXTS, enc)
    assert enc.rows == 23 and not (tmp_path / "off").exists()
    np.testing.assert_array_equal(matrix.to_array(), fake_vectors(TEXTS))
    # read: uses the shards that exist, encodes the rest in memory, writes nothing
    EmbeddingCache(tmp_path / "rw", "readwrite", shard_size=5).fill(KEY, TEXTS, CountingEncoder(), shards=[0, 3])
    before = snapshot(tmp_path / "rw")
    enc = CountingEncoder()
    matrix, stats = EmbeddingCache(tmp_path / "rw", "read", shard_size=5).get(KEY, TEXTS, enc)
    assert enc.rows == 23 - 10 and stats.rows_cached == 10
    np.testing.assert_array_equal(matrix.to_array(), fake_vectors(TEXTS))
    assert snapshot(tmp_path / "rw") == before
    with pytest.raises(InputError, match=r"cache\.mode=readwrite"):
        EmbeddingCache(tmp_path / "rw", "read").fill(KEY, TEXTS, enc)


def test_disjoint_workers_complete_an_entry_and_search_requires_it(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "readwrite", shard_size=4)
    with pytest.raises(InputError, match="no cache entry"):
        cache.require_complete(KEY, len(TEXTS), "sample/x documents")
    first = cache.fill(KEY, TEXTS, CountingEncoder(), shards=[j for j in range(6) if j % 2 == 0])
    assert first.shards_encoded == [0, 2, 4]
    with pytest.raises(InputError, match=r"shard\(s\) 1, 3, 5 of 6 missing"):
        cache.require_complete(KEY, len(TEXTS), "sample/x documents")
    # a later run with another shard size keeps the entry's own
    other = EmbeddingCache(tmp_path, "readwrite", shard_size=1000)
    second = other.fill(KEY, TEXTS, CountingEncoder(), shards=[1, 3, 5])
    assert second.shards_encoded == [1, 3, 5] and second.rows_encoded == 4 + 4 + 3
    cache.require_complete(KEY, len(TEXTS))
    matrix, stats = other.get(KEY, TEXTS, CountingEncoder(fail_after=0))
    assert stats.hit and matrix.block_rows() == 4


def _slow_fill(root: str, queue: Any) -> None:
    def slow(texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.15)
        return fake_vectors(texts)

    stats = EmbeddingCache(root, "readwrite", shard_size=2).fill(KEY, TEXTS, slow)
    queue.put(stats.shards_encoded)


def test_parallel_runs_share_the_shards_instead_of_encoding_them_twice(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_slow_fill, args=(str(tmp_path), queue)) for _ in range(2)]
    for w in workers:
        w.start()
    encoded = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert sorted(encoded[0] + encoded[1]) == list(range(12))  # every shard encoded exactly once
    matrix, stats = EmbeddingCache(tmp_path, "read").get(KEY, TEXTS, CountingEncoder(fail_after=0))
    assert stats.hit
    np.testing.assert_array_equal(matrix.to_array(), fake_vectors(TEXTS))


def test_sharded_matrix_products_cross_block_boundaries() -> None:
    rng = np.random.default_rng(0)
    full = rng.standard_normal((23, DIM)).astype(np.float32)
    m = ShardedMatrix([full[0:8], full[8:16], full[16:23]])
    q = rng.standard_normal((3, DIM)).astype(np.float32)
    for rows in (slice(0, 23), slice(5, 19), slice(8, 16), slice(22, 23), slice(3, 3)):
        np.testing.assert_allclose(m.dot_t(q, rows), q @ full[rows].T, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(m.to_array(), full)


def test_rank_sharded_equals_the_in_memory_ranking() -> None:
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((50, DIM)).astype(np.float32)
    docs[7] = docs[3]  # exact duplicates tie
    q = rng.standard_normal((4, DIM)).astype(np.float32)
    ids = [f"d{i}" for i in range(50)]
    excluded = [{"d3"}, set(), {"d49", "unknown"}, set()]
    expected = topk_from_scores(q @ docs.T, ids, 10, excluded)
    blocks = [docs[i : i + 8] for i in range(0, 50, 8)]
    for min_chunk in (1, 16, 10_000):
        assert rank_sharded(q, ShardedMatrix(blocks), ids, 10, excluded, min_chunk=min_chunk) == expected
