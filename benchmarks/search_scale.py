"""Exact top-1000 over memory-mapped embedding shards: search time and peak memory at two corpus sizes.

Writes N synthetic unit vectors (default 1M x 1024 float32, ~4 GB) with the embedding cache module into a
temporary folder under /tmp (removed at the end), then searches 100 queries with the same code the dense
retriever uses (rank_sharded over the cache's ShardedMatrix). Each phase runs in its own process, so the peak
RSS numbers (VmHWM, and a sampled peak of RssAnon = memory that is not file-backed) belong to the search
alone. Mapped shard pages show up in RssFile (page cache, reclaimable), not in RssAnon.

    python benchmarks/search_scale.py                       # 250k and 1M documents
    python benchmarks/search_scale.py --n-docs 20000 50000  # a quick look
    python benchmarks/search_scale.py --threads 1           # steadier timings on a shared machine
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtriever_eval.cache import CacheKey, EmbeddingCache
from rtriever_eval.retrievers.search import rank_sharded


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class AnonPeak:
    """Samples RssAnon every 50 ms in a thread; ``peak`` in kB (faster sampling slows BLAS on 2 cores)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = status_kb("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kb("RssAnon"))
            time.sleep(interval)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_kb("RssAnon"))


def ids(n: int) -> list[str]:
    return [f"doc{i:08d}" for i in range(n)]


def key(n: int, dim: int) -> CacheKey:
    return CacheKey({"benchmark": "search_scale", "n": n, "dim": dim})


def random_rows(texts: Sequence[str], dim: int) -> np.ndarray:
    """Unit vectors seeded by the shard's first id: the same shard always gets the same rows."""
    rng = np.random.default_rng(int(texts[0][3:]))
    rows = rng.standard_normal((len(texts), dim), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def phase_write(folder: Path, n: int, dim: int, shard_size: int) -> dict[str, float]:
    cache = EmbeddingCache(folder, "readwrite", shard_size)
    t0 = time.perf_counter()
    stats = cache.fill(key(n, dim), ids(n), lambda texts: random_rows(texts, dim), info={"side": "documents"})
    seconds = time.perf_counter() - t0
    entry = cache.lookup(key(n, dim), n)
    assert entry is not None and entry.complete
    return {"write_s": seconds, "rows": stats.rows_encoded, "disk_gb": entry.size_bytes() / 1e9}


def phase_search(folder: Path, n: int, dim: int, n_queries: int, k: int, min_chunk: int) -> dict[str, float]:
    doc_ids = ids(n)
    rng = np.random.default_rng(12345)
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    cache = EmbeddingCache(folder, "read")

    def refuse(texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("the benchmark corpus is not complete")

    base_anon = status_kb("RssAnon")
    with AnonPeak() as peak:
        t0 = time.perf_counter()
        matrix, stats = cache.get(key(n, dim), doc_ids, refuse)
        ranked = rank_sharded(queries, matrix, doc_ids, k, min_chunk=min_chunk)
        seconds = time.perf_counter() - t0
    assert stats.hit and len(ranked) == n_queries and all(len(r) == k for r in ranked)
    return {
        "search_s": seconds,
        "vmhwm_mb": status_kb("VmHWM") / 1024,
        "peak_anon_mb": peak.peak / 1024,
        "base_anon_mb": base_anon / 1024,
        "rss_file_mb": status_kb("RssFile") / 1024,
        "shards": len(matrix.blocks),
    }


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    if args.phase == "write":
        out = phase_write(folder, args.child_n, args.dim, args.shard_size)
    else:
        out = phase_search(folder, args.child_n, args.dim, args.queries, args.k, args.min_chunk)
    print(json.dumps(out))


def run_child(phase: str, folder: Path, n: int, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--folder",
        str(folder),
        "--child-n",
        str(n),
        "--dim",
        str(args.dim),
        "--queries",
        str(args.queries),
        "--k",
        str(args.k),
        "--shard-size",
        str(args.shard_size),
        "--min-chunk",
        str(args.min_chunk),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} with {n} documents failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, nargs="+", default=[250_000, 1_000_000], help="corpus sizes")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--shard-size", type=int, default=4096)
    parser.add_argument("--min-chunk", type=int, default=16384, help="documents scored per block (whole shards)")
    parser.add_argument("--tmp", default="/tmp", help="where the temporary shard folder goes")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the phases (BLAS spin-waits on a busy box)"
    )
    parser.add_argument("--phase", choices=["write", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    rows = []
    for n in args.n_docs:
        folder = Path(tempfile.mkdtemp(prefix="rtriever-search-scale-", dir=args.tmp))
        try:
            written = run_child("write", folder, n, args)
            searched = run_child("search", folder, n, args)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append({"n_docs": n, **written, **searched})
        scores_mb = n * args.queries * 4 / 2**20
        print(
            f"n_docs={n:>9,}  shards={int(searched['shards']):>4}  disk={written['disk_gb']:.2f} GB  "
            f"write={written['write_s']:.1f}s  search={searched['search_s']:.2f}s "
            f"({args.queries / searched['search_s']:.1f} q/s, top-{args.k})  VmHWM={searched['vmhwm_mb']:.0f} MB  "
            f"peak RssAnon={searched['peak_anon_mb']:.0f} MB (before search {searched['base_anon_mb']:.0f} MB)  "
            f"RssFile after={searched['rss_file_mb']:.0f} MB  [a dense score matrix alone: {scores_mb:.0f} MB]",
            flush=True,
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = (b["peak_anon_mb"] - b["base_anon_mb"]) / max(a["peak_anon_mb"] - a["base_anon_mb"], 1e-9)
        print(
            f"corpus x{b['n_docs'] / a['n_docs']:.1f}: search time x{b['search_s'] / a['search_s']:.2f}, "
            f"peak RssAnon x{b['peak_anon_mb'] / a['peak_anon_mb']:.2f} "
            f"(search's own anonymous memory x{growth:.2f}; ids and their tie-break order are O(n_docs)), "
            f"VmHWM x{b['vmhwm_mb'] / a['vmhwm_mb']:.2f} (includes mapped shard pages)"
        )


if __name__ == "__main__":
    main()
