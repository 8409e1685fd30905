"""One cache entry's folder: its manifest, its shards and their records, the locks and per-shard claims by which
several processes fill disjoint shards at once, the atomic writes that make an interrupted encode resumable, and
the checksum every shard is read against before its rows are used.

Knows the on-disk layout of an entry; nothing of models, keys' meaning or encoding.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.base.checksum import HashingWriter, map_checked
from rtriever_eval.base.errors import InputError
from rtriever_eval.base.faults import checkpoint
from rtriever_eval.base.interrupt import waiting
from rtriever_eval.base.io import NO_LOCKS, atomic_open, warn_no_locks, write_json_atomic
from rtriever_eval.settings.job import DEFAULT_SHARD_SIZE

MANIFEST = "manifest.json"
LAST_USED = "last_used"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.json$")
_ENCODE_LOG_KEEP = 50
_SESSION: tuple[int, str] | None = None


def session() -> str:
    """This process in the manifests' encode logs (host, pid, a random tag); made anew in a forked child, so two
    processes forked from one parent never share an entry of the log."""
    global _SESSION
    if _SESSION is None or _SESSION[0] != os.getpid():
        _SESSION = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    return _SESSION[1]


class DamagedShard(InputError):
    """A finished shard whose bytes, shape or record do not match what was written: never used as it is."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    """Row ranges of the shards of n rows: fixed by shard_size alone (never by how many workers fill them)."""
    if shard_size < 1:
        raise ValueError("shard_size must be positive")
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)] or [(0, 0)]


def compact_ranges(indices: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    parts: list[str] = []
    items = sorted(indices)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        parts.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ", ".join(parts)


class CacheEntry:
    """One key's folder: which shards are done, reading them memory-mapped, writing missing ones."""

    def __init__(self, folder: Path, *, writable: bool, manifest: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.writable = writable
        self.manifest = manifest if manifest is not None else self._read_manifest()

    # -- reading

    def _read_manifest(self) -> dict[str, Any]:
        path = self.folder / MANIFEST
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable cache manifest ({exc})", path=path) from None
        if not isinstance(data, dict):
            raise InputError("cache manifest is not a JSON object", path=path)
        return data

    @property
    def key(self) -> str:
        return self.folder.name

    @property
    def n(self) -> int:
        return int(self.manifest.get("n", 0))

    @property
    def shard_size(self) -> int:
        return int(self.manifest.get("shard_size", DEFAULT_SHARD_SIZE))

    @property
    def dim(self) -> int | None:
        dim = self.manifest.get("dim")
        return int(dim) if dim is not None else None

    @property
    def n_shards(self) -> int:
        """len(shard_ranges(n, shard_size)), without building the list (it is asked once per shard record)."""
        return max(1, -(-self.n // self.shard_size))

    def shard_records(self) -> dict[int, dict[str, Any]]:
        """Per finished shard, its record (the ``shard-NNNNN.json`` files whose .npy also exists)."""
        records: dict[int, dict[str, Any]] = {}
        if not self.folder.is_dir():
            return records
        n_shards = self.n_shards
        for path in self.folder.iterdir():
            m = _SHARD_RE.match(path.name)
            if not m:
                continue
            index = int(m.group(1))
            rec = self.record(index)  # None for one being replaced or damaged: the shard counts as missing
            if rec is not None and (self.folder / str(rec.get("file", ""))).is_file() and index < n_shards:
                records[index] = rec
        return records

    def done_shards(self) -> set[int]:
        return set(self.shard_records())

    def missing_shards(self) -> list[int]:
        done = self.done_shards()
        return [j for j in range(self.n_shards) if j not in done]

    @property
    def complete(self) -> bool:
        return bool(self.manifest) and not self.missing_shards()

    def record(self, index: int) -> dict[str, Any] | None:
        """Shard ``index``'s record, None when it has none (not finished, or the record is unreadable)."""
        try:
            rec = json.loads((self.folder / f"{_shard_name(index)}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) else None

    def load_shard(self, index: int, record: Mapping[str, Any] | None = None) -> np.ndarray:
        """Shard ``index`` memory-mapped read-only, after its bytes were checked against the checksum its record
        holds and its shape against the record and the manifest; DamagedShard otherwise.

        Everything needed (rows, dimension, dtype) comes from the finished shard and its record, so a process
        that waited for another's shard never depends on its own, older copy of the manifest.
        """
        path = self.folder / f"{_shard_name(index)}.npy"
        rec = record if record is not None else self.record(index)
        if rec is None:
            raise DamagedShard("shard has no readable record", path=path)
        expected = str(rec.get("checksum") or (f"sha256:{rec['sha256']}" if rec.get("sha256") else ""))
        try:  # one open: the bytes checked are the bytes mapped, even if another process replaces the file
            arr, ok = map_checked(path, expected)
        except (OSError, ValueError) as exc:
            raise DamagedShard(f"shard is not a readable .npy file ({exc})", path=path) from None
        if not ok:
            raise DamagedShard(
                f"shard content does not match the checksum its record holds ({expected.partition(':')[0] or 'none'})",
                path=path,
            )
        a, b = index * self.shard_size, min((index + 1) * self.shard_size, self.n)
        dim = rec.get("dim")
        manifest_dim = self.manifest.get("dim")
        if (
            arr.dtype != np.float32
            or arr.ndim != 2
            or arr.shape[0] != b - a
            or list(rec.get("rows", [])) != [a, b]
            or arr.shape[1] != dim
            or (manifest_dim is not None and manifest_dim != dim)
        ):
            raise DamagedShard(
                f"shard has shape {arr.shape} {arr.dtype} (record: rows {rec.get('rows')}, dim {dim}), expected "
                f"({b - a}, {manifest_dim if manifest_dim is not None else dim}) float32 for rows [{a}, {b})",
                path=path,
            )
        return arr

    def load_shards(self, indices: Sequence[int]) -> dict[int, np.ndarray | DamagedShard]:
        """``load_shard`` of each index, checked in parallel threads (the digest releases the GIL, so the check
        of a large entry runs at the speed of all cores, as the search that follows does); a damaged shard's
        value is its DamagedShard."""

        def one(index: int) -> np.ndarray | DamagedShard:
            try:
                return self.load_shard(index)
            except DamagedShard as exc:
                return exc

        if len(indices) < 2:
            return {j: one(j) for j in indices}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(indices), os.cpu_count() or 1, 16)) as pool:
            return dict(zip(indices, pool.map(one, indices), strict=True))

    def try_load(self, index: int) -> np.ndarray | None:
        """Shard ``index`` (checked) when it is finished, None when it is not; DamagedShard when it is damaged."""
        rec = self.record(index)
        if rec is None or not (self.folder / f"{_shard_name(index)}.npy").is_file():
            return None
        return self.load_shard(index, rec)

    def forget_shard(self, index: int) -> None:
        """Remove shard ``index``'s record (the shard counts as missing and is encoded again)."""
        (self.folder / f"{_shard_name(index)}.json").unlink(missing_ok=True)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file()) if self.folder.is_dir() else 0

    def last_used(self) -> float:
        for name in (LAST_USED, MANIFEST):
            with contextlib.suppress(FileNotFoundError):
                return (self.folder / name).stat().st_mtime
        return self.folder.stat().st_mtime

    # -- writing

    @contextlib.contextmanager
    def _lock(self, name: str = ".lock", shared: bool = False) -> Iterator[None]:
        try:
            fd = os.open(self.folder / name, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError:  # a read-only cache (cache.mode=read on a read-only mount): nothing to hold, nothing to write
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            except OSError as exc:  # a file system without locks: the per-shard records keep it correct
                if exc.errno not in NO_LOCKS:
                    raise
                warn_no_locks(self.folder)
            yield
        finally:
            os.close(fd)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while a process reads or fills shards, so that ``prune`` leaves a live entry alone."""
        return self._lock(".active", shared=True)

    def is_active(self) -> bool:
        """Whether some process is filling this entry now."""
        path = self.folder / ".active"
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except OSError:  # held (BlockingIOError), or no telling: count it as live, never remove it
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Try to hold ``.active`` exclusively (no process reading or filling the entry); yields whether it does.
        ``prune`` removes an entry only while holding it, so no run meets a folder that vanishes under it."""
        fd = os.open(self.folder / ".active", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except OSError:
                held = False
            yield held
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def claims(self) -> Iterator[tuple[Callable[[int, bool], bool], Callable[[int], None]]]:
        """``(claim, release)``: per-shard locks (byte ranges of one file) between processes filling this entry.

        ``claim(j, wait)`` returns True once this process holds shard j (always True where the file system
        has no locks); ``release(j)`` lets it go.
        """
        fd = os.open(self.folder / ".claims", os.O_CREAT | os.O_RDWR, 0o644)

        def claim(index: int, wait: bool) -> bool:
            try:
                with waiting() if wait else contextlib.nullcontext():
                    fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, index, os.SEEK_SET)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return False
                if exc.errno not in NO_LOCKS:
                    raise
                warn_no_locks(self.folder)
            return True

        def release(index: int) -> None:
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, index, os.SEEK_SET)

        try:
            yield claim, release
        finally:
            os.close(fd)

    def touch(self) -> None:
        if self.writable:
            (self.folder / LAST_USED).touch()

    def write_shard(self, index: int, rows: np.ndarray, *, seconds: float, tokens: int | None = None) -> int:
        """Write shard ``index`` atomically, then its record (with the model input ``tokens`` the rows took, when
        known), then the manifest; returns the bytes of the shard file."""
        if not self.writable:
            raise RuntimeError("this cache entry is read-only")
        a, b = index * self.shard_size, min((index + 1) * self.shard_size, self.n)
        arr = np.ascontiguousarray(rows, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != b - a:
            raise ValueError(f"shard {index} needs {b - a} rows, got shape {arr.shape}")
        if self.dim is not None and arr.shape[1] != self.dim:
            raise ValueError(f"shard {index} has dim {arr.shape[1]}, the entry has {self.dim}")
        if not np.isfinite(arr).all():
            raise ValueError(f"shard {index} holds non-finite values: never written")
        name = _shard_name(index)
        with atomic_open(self.folder / f"{name}.npy", "wb") as fh:
            writer = HashingWriter(fh)
            np.save(writer, arr, allow_pickle=False)
        record = {
            "index": index,
            "rows": [a, b],
            "file": f"{name}.npy",
            "checksum": writer.digest,  # of the bytes meant to be written, checked on every read
            "dim": int(arr.shape[1]),
            "encode_s": round(seconds, 4),
            "tokens": tokens,
            "written_at": _now(),
            "session": session(),
        }
        write_json_atomic(self.folder / f"{name}.json", record)
        checkpoint("cache_shard_written")
        self.update_manifest(dim=int(arr.shape[1]), encoded={index: b - a})
        return (self.folder / f"{name}.npy").stat().st_size

    def update_manifest(self, *, dim: int | None = None, encoded: Mapping[int, int] | None = None) -> None:
        """Re-read the manifest and the shard records under the lock, merge, write atomically."""
        with self._lock():
            current = self._read_manifest() or self.manifest
            if dim is not None:
                if current.get("dim") not in (None, dim):
                    raise ValueError(f"{self.folder}: dim {dim} differs from the manifest's {current['dim']}")
                current["dim"] = dim
            self.manifest = current
            records = self.shard_records()
            current["shards"] = [
                {k: records[j][k] for k in ("index", "rows", "file", "checksum", "sha256") if k in records[j]}
                for j in sorted(records)
            ]
            current["n_shards"] = self.n_shards
            current["complete"] = len(records) == self.n_shards
            current["updated"] = _now()
            if encoded:
                runs: list[dict[str, Any]] = list(current.get("encode_log", []))
                mine = next((r for r in runs if r.get("session") == session()), None)
                if mine is None:
                    mine = {"session": session(), "started": _now(), "rows_encoded": 0, "shards": []}
                    runs.append(mine)
                mine["rows_encoded"] = int(mine["rows_encoded"]) + sum(encoded.values())
                mine["shards"] = sorted({*mine["shards"], *encoded})
                mine["updated"] = _now()
                current["encode_log"] = runs[-_ENCODE_LOG_KEEP:]
                current["rows_encoded_total"] = int(current.get("rows_encoded_total", 0)) + sum(encoded.values())
            write_json_atomic(self.folder / MANIFEST, current)


def remove_entry(entry: CacheEntry) -> bool:
    """Remove the entry's folder unless a process is reading or filling it (then False): under its exclusive lock
    the folder is renamed away first, so a run starting now finds no entry rather than a half-removed one."""
    with entry.exclusive() as held:
        if not held:
            return False
        trash = entry.folder.with_name(f".removed-{entry.folder.name}-{uuid.uuid4().hex[:8]}")
        entry.folder.rename(trash)
    shutil.rmtree(trash)
    return True
