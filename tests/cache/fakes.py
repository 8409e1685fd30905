"""Test doubles for the cache tests: deterministic fake vectors and an encoder that counts (and can fail)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtriever_eval.cache import CacheKey

DIM = 6


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
