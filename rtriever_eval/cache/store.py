"""The embedding cache: entries under ``<root>/embeddings/<key>/`` read memory-mapped, missing shards encoded one
encoder call each (shared between processes filling the same entry), in modes off, read and readwrite.

Knows entries and keys; it never sees a model, a tokenizer or a search: callers pass a function that turns a
list of texts into rows.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.io import write_json_atomic
from rtriever_eval.cache.entry import (
    DEFAULT_SHARD_SIZE,
    MANIFEST,
    CacheEntry,
    DamagedShard,
    _now,
    compact_ranges,
    shard_ranges,
)
from rtriever_eval.cache.identity import FingerprintMemo
from rtriever_eval.cache.keys import FORMAT, CacheKey
from rtriever_eval.cache.matrix import ShardedMatrix
from rtriever_eval.settings.job import CACHE_DIR_ENV, CACHE_MODES, DEFAULT_CACHE_DIR

log = logging.getLogger(__name__)

MODES = CACHE_MODES


def default_cache_dir() -> Path:
    """``$RTRIEVER_CACHE_DIR`` or ``.cache/rtriever`` (what ``paths.cache_dir`` defaults to)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown cache mode {mode!r}; valid: {', '.join(MODES)}", field="cache.mode")
    return mode


@dataclass
class EncodeStats:
    """What one call encoded and what it found in the cache."""

    key: str
    n: int
    rows_encoded: int = 0
    rows_cached: int = 0
    shards_encoded: list[int] = field(default_factory=list)
    shards_repaired: list[int] = field(default_factory=list)  # found damaged on read, encoded again
    seconds: float = 0.0
    tokens_encoded: int | None = 0  # model input tokens of the rows encoded here (None: the encoder counts none)
    tokens_cached: int | None = 0  # of the rows found cached, as their shard records hold them (None: unrecorded)
    bytes_written: int = 0  # shard files written by this call

    @property
    def hit(self) -> bool:
        return self.rows_encoded == 0


@dataclass(frozen=True)
class Encoded:
    """What an encode call may return besides bare rows: the rows and the model input tokens they took."""

    rows: np.ndarray
    tokens: int | None


Encode = Callable[[Sequence[str]], "np.ndarray | Encoded"]
"""Rows (len(texts), dim) float32 for a list of texts (or ``Encoded``: rows and the tokens they took)."""


def _add(total: int | None, part: int | None) -> int | None:
    return None if total is None or part is None else total + part


class NonFiniteVectors(ValueError):
    """The encoder returned NaN or inf for some rows of a shard; nothing of that shard was written."""

    def __init__(self, label: str, shard: int, rows: np.ndarray, n: int) -> None:
        self.label, self.shard, self.rows, self.n = label, shard, rows, n
        super().__init__(f"{label}: non-finite vectors for {rows.size} of {n} rows of shard {shard}")


def _repair_advice(entry: CacheEntry, exc: DamagedShard) -> InputError:
    return InputError(
        f"{exc.reason}. cache.mode=read never rewrites the cache: run `rtriever-cache verify --repair "
        f"--cache-dir {entry.folder.parent.parent} {entry.key[:12]}` (it forgets the damaged shards), then run again "
        "with cache.mode=readwrite to encode them anew",
        path=exc.path,
    )


class EmbeddingCache:
    """Embeddings under ``<root>/embeddings/<key>/``; ``mode`` is ``off``, ``read`` (never writes) or ``readwrite``.

    Every encode goes shard by shard (``shard_size`` rows per encoder call) in every mode, so the vectors do
    not depend on whether, or how, they were cached.
    """

    def __init__(self, root: str | Path | None, mode: str = "readwrite", shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.mode = check_mode(mode) if root is not None else "off"
        if shard_size < 1:
            raise InputError(f"shard_size must be a positive integer, got {shard_size}", field="cache.shard_size")
        self.root = Path(root) if root is not None else None
        self.shard_size = int(shard_size)

    @property
    def readable(self) -> bool:
        return self.mode in ("read", "readwrite")

    @property
    def writable(self) -> bool:
        return self.mode == "readwrite"

    @property
    def embeddings_dir(self) -> Path:
        if self.root is None:
            raise RuntimeError("this cache has no folder")
        return self.root / "embeddings"

    def fingerprint_memo(self) -> FingerprintMemo:
        return FingerprintMemo(self.root if self.readable else None, writable=self.writable)

    def entries(self) -> list[CacheEntry]:
        """Every entry folder with a manifest, sorted by key."""
        if self.root is None or not self.embeddings_dir.is_dir():
            return []
        out = []
        for folder in sorted(self.embeddings_dir.iterdir()):
            if folder.is_dir() and (folder / MANIFEST).is_file():
                out.append(CacheEntry(folder, writable=self.writable))
        return out

    def lookup(self, key: CacheKey, n: int) -> CacheEntry | None:
        """The existing entry for ``key`` (never creates one); None when absent or the mode is off."""
        if not self.readable:
            return None
        folder = self.embeddings_dir / key.digest
        existing = CacheEntry(folder, writable=self.writable)
        if not existing.manifest:
            return None
        if existing.n != n:
            raise InputError(f"cache entry holds {existing.n} rows, expected {n}", path=folder / MANIFEST)
        if existing.shard_size != self.shard_size:
            log.debug("%s: keeps its shard size %d (asked %d)", folder, existing.shard_size, self.shard_size)
        return existing

    def lookup_digest(self, digest: str) -> CacheEntry | None:
        """The existing entry named ``digest`` (as listed by ``rtriever-cache list``), or None."""
        if not self.readable:
            return None
        entry = CacheEntry(self.embeddings_dir / digest, writable=self.writable)
        return entry if entry.manifest else None

    def missing(self, key: CacheKey, n: int) -> tuple[list[int], int]:
        """(missing shard numbers, number of shards) of ``key``'s entry; all of them when there is none."""
        entry = self.lookup(key, n)
        if entry is None:
            total = len(shard_ranges(n, self.shard_size))
            return list(range(total)), total
        return entry.missing_shards(), entry.n_shards

    def entry(self, key: CacheKey, n: int, info: Mapping[str, Any] | None = None) -> CacheEntry | None:
        """The entry for ``key``, created (manifest written) in readwrite mode; None when absent or mode is off.

        An existing entry keeps the shard size it was created with.
        """
        existing = self.lookup(key, n)
        if existing is not None or not self.writable:
            return existing
        folder = self.embeddings_dir / key.digest
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT,
            "key": key.digest,
            "fields": dict(key.fields),
            "info": dict(info or {}),
            "n": n,
            "dim": None,
            "dtype": "float32",
            "shard_size": self.shard_size,
            "n_shards": len(shard_ranges(n, self.shard_size)),
            "shards": [],
            "complete": False,
            "created": _now(),
        }
        entry = CacheEntry(folder, writable=True, manifest=manifest)
        with entry._lock():
            if not (folder / MANIFEST).exists():  # another process may have created it meanwhile
                write_json_atomic(folder / MANIFEST, manifest)
        return CacheEntry(folder, writable=True)

    def fill(
        self,
        key: CacheKey,
        texts: Sequence[str],
        encode: Encode,
        *,
        info: Mapping[str, Any] | None = None,
        shards: Iterable[int] | None = None,
        label: str = "",
    ) -> EncodeStats:
        """Encode and write the missing shards among ``shards`` (default all); readwrite mode only."""
        if not self.writable:
            raise InputError(f"writing embeddings needs cache.mode=readwrite (it is {self.mode})", field="cache.mode")
        entry = self.entry(key, len(texts), info)
        assert entry is not None
        stats = EncodeStats(key=key.digest, n=len(texts))
        order = list(range(entry.n_shards)) if shards is None else list(dict.fromkeys(shards))
        wanted = set(order)
        with entry.writing():
            missing = set(entry.missing_shards())
            todo = [j for j in order if j in missing]  # in the order asked (workers start at their own share)
            ranges = shard_ranges(entry.n, entry.shard_size)
            stats.rows_cached = sum(b - a for j, (a, b) in enumerate(ranges) if j in wanted and j not in todo)
            self._encode_shards(entry, texts, encode, todo, stats, label, write=True)
        entry.touch()
        return stats

    def get(
        self,
        key: CacheKey,
        texts: Sequence[str],
        encode: Encode,
        *,
        info: Mapping[str, Any] | None = None,
        label: str = "",
        require_complete: bool = False,
    ) -> tuple[ShardedMatrix, EncodeStats]:
        """All rows: cached shards memory-mapped, missing ones encoded (and written in readwrite mode).

        Raises:
            InputError: with ``require_complete`` when shards are missing (listing them).
        """
        n = len(texts)
        if require_complete:
            self.require_complete(key, n, label)
        entry = self.entry(key, n, info)
        size = entry.shard_size if entry is not None else self.shard_size
        ranges = shard_ranges(n, size)
        stats = EncodeStats(key=key.digest, n=n)
        blocks: dict[int, np.ndarray] = {}
        if entry is not None:
            with entry.writing():
                done = entry.done_shards()
                damaged: set[int] = set()
                for j, loaded in sorted(entry.load_shards(sorted(done)).items()):  # checksums checked first
                    if not isinstance(loaded, DamagedShard):
                        blocks[j] = loaded
                        continue
                    if not self.writable:
                        raise _repair_advice(entry, loaded) from None
                    log.warning("%s: %s; encoding that shard again", label or "embeddings", loaded)
                    damaged.add(j)
                stats.rows_cached = sum(ranges[j][1] - ranges[j][0] for j in done - damaged)
                for j in done - damaged:
                    stats.tokens_cached = _add(stats.tokens_cached, (entry.record(j) or {}).get("tokens"))
                todo = [j for j in range(len(ranges)) if j not in blocks]
                blocks.update(self._encode_shards(entry, texts, encode, todo, stats, label, write=self.writable))
            entry.touch()
        else:
            blocks.update(self._encode_shards(None, texts, encode, list(range(len(ranges))), stats, label, write=False))
        return ShardedMatrix([blocks[j] for j in range(len(ranges))]), stats

    def require_complete(self, key: CacheKey, n: int, label: str = "") -> None:
        """Raise InputError, listing the missing shards, unless ``key``'s entry holds all ``n`` rows."""
        missing, total = self.missing(key, n)
        if not missing:
            return
        entry = self.lookup(key, n)
        size = entry.shard_size if entry is not None else self.shard_size
        where = self.embeddings_dir / key.digest if self.root is not None else None
        state = "no cache entry" if entry is None else f"shard(s) {compact_ranges(missing)} of {total} missing"
        raise InputError(
            f"{label or 'these'} embeddings are not complete in the cache ({state}; shard_size {size}, "
            f"cache.mode={self.mode}). Encode them first with stage=encode (shard.index/shard.count covering "
            f"every shard) or stage=all, using the same model settings and paths.cache_dir",
            path=where,
            field="stage",
        )

    def _encode_shards(
        self,
        entry: CacheEntry | None,
        texts: Sequence[str],
        encode: Encode,
        todo: Sequence[int],
        stats: EncodeStats,
        label: str,
        *,
        write: bool,
    ) -> dict[int, np.ndarray]:
        size = entry.shard_size if entry is not None else self.shard_size
        ranges = shard_ranges(len(texts), size)
        out: dict[int, np.ndarray] = {}
        total = sum(ranges[j][1] - ranges[j][0] for j in todo)
        started = time.perf_counter()

        def encode_one(j: int) -> None:
            check_interrupt()  # a safe point: every finished shard is on disk
            a, b = ranges[j]
            t0 = time.perf_counter()
            result = encode(list(texts[a:b]))
            tokens = result.tokens if isinstance(result, Encoded) else None
            rows = np.ascontiguousarray(result.rows if isinstance(result, Encoded) else result, dtype=np.float32)
            if rows.ndim != 2 or rows.shape[0] != b - a:
                raise ValueError(f"encoder returned shape {rows.shape} for {b - a} texts")
            bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
            if bad.size:  # never cached, never scored: the caller names the texts and the way out
                raise NonFiniteVectors(label or "embeddings", j, bad + a, n=b - a)
            seconds = time.perf_counter() - t0
            stats.tokens_encoded = _add(stats.tokens_encoded, tokens)
            if write and entry is not None:
                stats.bytes_written += entry.write_shard(j, rows, seconds=seconds, tokens=tokens)
                out[j] = entry.load_shard(j)
            else:
                out[j] = rows
            stats.rows_encoded += b - a
            stats.shards_encoded.append(j)
            if len(todo) > 1:
                log.info(
                    "%s: shard %d encoded in %.1fs%s (%d/%d rows this run)",
                    label or "embeddings",
                    j,
                    seconds,
                    ", written" if write else "",
                    stats.rows_encoded,
                    total,
                )

        if not (write and entry is not None):
            for j in todo:
                encode_one(j)
        else:
            # Parallel runs over one entry share the work: a shard another process is encoding is skipped and
            # read once it is finished (its checksum checked), instead of being encoded twice. A shard whose
            # process died is free again (claims die with their process) and is taken over here.
            with entry.claims() as (claim, release):
                pending = list(todo)
                while pending:
                    progressed = False
                    for j in list(pending):
                        if not claim(j, False):
                            continue
                        try:
                            try:
                                found = entry.try_load(j)  # finished by another process meanwhile?
                            except DamagedShard as exc:
                                log.warning("%s: %s; encoding that shard again", label or "embeddings", exc)
                                entry.forget_shard(j)
                                stats.shards_repaired.append(j)
                                found = None
                            if found is not None:
                                out[j] = found
                                stats.rows_cached += ranges[j][1] - ranges[j][0]
                                stats.tokens_cached = _add(stats.tokens_cached, (entry.record(j) or {}).get("tokens"))
                            else:
                                encode_one(j)
                        finally:
                            release(j)
                        pending.remove(j)
                        progressed = True
                    if pending and not progressed:
                        log.info("%s: waiting for shard %d, which another process is encoding", label, pending[0])
                        claim(pending[0], True)
                        release(pending[0])
        stats.seconds += time.perf_counter() - started
        return out
