"""What checking every cache shard before use costs, beside the search it protects, measured side by side.

Writes N synthetic unit vectors of RTriever-4B's width (default 400,000 x 2,560 float32, 4.1 GB: leetcode, BRIGHT's
largest domain, has 413,932 documents) through the embedding cache into a temporary folder (removed at the end),
then times, on the same shards: the read check every run now makes (xxh3-128 of each shard against its record, and
the shape check, shards in parallel threads), the same check with sha256 in one thread (what `rtriever-cache
verify` did before, the only check there was), and the exact top-1000 search of
BRIGHT-sized query sets (142 queries, leetcode's count) that reads those shards. Both passes read warm pages (the
shards were just written; a cold first read costs the disk's time in the check or in the search, whichever reads
first, not both: the search then finds the pages in memory).

    python benchmarks/verify_cost.py                        # 400k x 2560, 142 queries
    python benchmarks/verify_cost.py --n-docs 50000         # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rtriever_eval.base.checksum import digest_file
from rtriever_eval.cache import CacheKey, EmbeddingCache
from rtriever_eval.retrievers.search import rank_sharded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=2560)
    parser.add_argument("--queries", type=int, default=142)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--shard-size", type=int, default=4096)
    parser.add_argument("--tmp", default=None, help="folder for the shards (default: a new one under /tmp)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="verify-cost-", dir=args.tmp))
    try:
        run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)

    def encode(texts: list[str]) -> np.ndarray:
        rows = rng.standard_normal((len(texts), args.dim), dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    cache = EmbeddingCache(root, "readwrite", shard_size=args.shard_size)
    key = CacheKey({"benchmark": "verify_cost", "n": args.n_docs, "dim": args.dim})
    texts = [f"d{i}" for i in range(args.n_docs)]
    t0 = time.perf_counter()
    cache.fill(key, texts, encode)
    gb = args.n_docs * args.dim * 4 / 1e9
    print(f"wrote {args.n_docs:,} x {args.dim} float32 ({gb:.2f} GB) in {time.perf_counter() - t0:.1f}s")
    entry = cache.lookup(key, args.n_docs)
    assert entry is not None
    shards = sorted(entry.done_shards())
    paths = [entry.folder / f"shard-{j:05d}.npy" for j in shards]
    for path in paths:  # one read of every page first, so both checks and the search see the same warm cache
        digest_file(path)

    t0 = time.perf_counter()
    loaded = entry.load_shards(shards)  # what EmbeddingCache.get does before any row is used
    check_xxh3 = time.perf_counter() - t0
    blocks = [loaded[j] for j in shards]
    assert all(isinstance(b, np.ndarray) for b in blocks)
    t0 = time.perf_counter()
    for path in paths:
        digest_file(path, "sha256")
    check_sha = time.perf_counter() - t0

    from rtriever_eval.cache import ShardedMatrix

    matrix = ShardedMatrix(blocks)
    queries = encode([f"q{i}" for i in range(args.queries)])
    ids = [f"doc{i:08d}" for i in range(args.n_docs)]
    t0 = time.perf_counter()
    rank_sharded(queries, matrix, ids, args.k)
    search = time.perf_counter() - t0

    print(f"{'':34s}{'seconds':>9s}{'s per GB':>10s}{'share of search':>17s}")
    for name, seconds in (("check on read (xxh3-128, threads)", check_xxh3), ("sha256, one thread", check_sha)):
        print(f"{name:34s}{seconds:9.2f}{seconds / gb:10.3f}{seconds / search:16.1%}")
    print(f"{f'search, top-{args.k} of {args.queries} queries':34s}{search:9.2f}{search / gb:10.3f}")
    print(f"xxh3 / sha256 time: {check_xxh3 / check_sha:.3f}; at BRIGHT's 13.6 GB (1.33M x 2560) the check reads "
          f"in {check_xxh3 / gb * 13.6:.1f}s (sha256: {check_sha / gb * 13.6:.1f}s)")


if __name__ == "__main__":
    main()
