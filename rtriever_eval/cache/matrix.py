"""A (n, dim) float32 matrix held as consecutive row blocks (memory-mapped cache shards or arrays), never joined.

Knows only blocks of rows and products with them; nothing of caches, keys or files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ShardedMatrix:
    """A (n, dim) float32 matrix held as consecutive row blocks (memory-mapped shards or arrays), never joined."""

    def __init__(self, blocks: Sequence[np.ndarray]) -> None:
        if not blocks:
            raise ValueError("a ShardedMatrix needs at least one block")
        dims = {b.shape[1] for b in blocks}
        if len(dims) != 1 or any(b.ndim != 2 for b in blocks):
            raise ValueError(f"blocks must be 2-d with one width, got {[b.shape for b in blocks]}")
        self.blocks = tuple(blocks)
        self.dim = int(dims.pop())
        self.starts = np.cumsum([0, *(b.shape[0] for b in blocks)]).astype(np.int64)
        self.n = int(self.starts[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.dim

    def block_rows(self) -> int:
        """Rows of the first block (the shard size; the last block may be shorter)."""
        return int(self.blocks[0].shape[0])

    def dot_t(self, q: np.ndarray, rows: slice) -> np.ndarray:
        """``q @ self[rows].T`` in float32, computed block by block; nothing larger than the result is built."""
        start, stop, step = rows.indices(self.n)
        if step != 1:
            raise ValueError("dot_t takes a contiguous row slice")
        out = np.empty((q.shape[0], max(stop - start, 0)), dtype=np.float32)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        for b in range(max(first, 0), len(self.blocks)):
            b0, b1 = int(self.starts[b]), int(self.starts[b + 1])
            if b0 >= stop:
                break
            lo, hi = max(start, b0), min(stop, b1)
            if lo < hi:
                out[:, lo - start : hi - start] = q @ np.asarray(self.blocks[b][lo - b0 : hi - b0]).T
        return out

    def to_array(self) -> np.ndarray:
        """The whole matrix in memory (for query sets, which are small)."""
        return np.ascontiguousarray(np.concatenate([np.asarray(b) for b in self.blocks]), dtype=np.float32)
