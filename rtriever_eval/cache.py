"""Content-addressed embedding cache: one folder per key, holding float32 .npy shards and a JSON manifest.

Knows what makes two encodings interchangeable (the key) and how shards live on disk; it never sees a model,
a tokenizer or a search: callers pass a function that turns a list of texts into rows.

Layout: ``<root>/embeddings/<key>/`` holds ``shard-00000.npy`` (rows [0, shard_size)), ``shard-00001.npy``, ...,
one ``shard-NNNNN.json`` record per finished shard (row range, sha256, who wrote it), ``manifest.json`` (the key
fields, n, dim, the shard list, a ``complete`` flag and a log of what each run encoded), and ``last_used``
(its mtime is the last time a run read the entry). Each shard is written atomically, then its record, then the
manifest (under a lock), so an interrupted encode resumes at the first missing shard, and several processes
can fill disjoint shards of one entry at once (the per-shard records, not the manifest, are the ground truth).

What is in the key (and nothing else; never the batch size, token budget or results folder): the model's
identity (for a local folder the sha256 of its content, see ``folder_fingerprint``; for a hub id the repository
and the commit its revision resolves to), the backend, dtype, pooling, padding side, ``append_eos``/``eos_token``,
``normalize``, ``strip_whitespace``, the kernels (device type, attention, CPU linears, unmasked causal batches),
the max length and the prompt of the side being encoded, and the sha256 of the (id, text) pairs in order.
An entry's rows are the distinct texts of those pairs, in order of first appearance (``dedup.Distinct``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.errors import InputError
from rtriever_eval.faults import checkpoint
from rtriever_eval.io import atomic_open, write_json_atomic

log = logging.getLogger(__name__)

FORMAT = 2
"""2: rows are the distinct texts of the keyed (id, text) pairs, in order of first appearance."""
MODES = ("off", "read", "readwrite")
DEFAULT_SHARD_SIZE = 4096
CACHE_DIR_ENV = "RTRIEVER_CACHE_DIR"
DEFAULT_CACHE_DIR = ".cache/rtriever"
MANIFEST = "manifest.json"
LAST_USED = "last_used"
FINGERPRINTS = "fingerprints.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.json$")
_ENCODE_LOG_KEEP = 50
SESSION = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""Identifies this process in the manifests' encode logs."""

# Files of a model folder that can change its vectors: weights, configs, tokenizer files, remote code.
_MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model", ".py", ".tiktoken")
# Sub-folders other runtimes use; transformers and sentence-transformers never read them.
_SKIPPED_MODEL_DIRS = {"onnx", "openvino", "coreml", "tflite"}


def default_cache_dir() -> Path:
    """``$RTRIEVER_CACHE_DIR`` or ``.cache/rtriever`` (what ``paths.cache_dir`` defaults to)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown cache mode {mode!r}; valid: {', '.join(MODES)}", field="cache.mode")
    return mode


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- model identity


class FingerprintMemo:
    """sha256 of files memoised by (real path, size, mtime_ns), so each file version is read once.

    Stored in ``<root>/fingerprints.json`` when ``writable``; a lost concurrent update only costs a re-hash.
    """

    def __init__(self, root: Path | None, *, writable: bool) -> None:
        self.path = root / FINGERPRINTS if root is not None else None
        self.writable = writable and root is not None
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text("utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError):
                log.warning("%s is unreadable; fingerprints will be recomputed", self.path)

    def sha256(self, path: Path) -> str:
        real = str(path.resolve())
        st = os.stat(real)
        hit = self._entries.get(real)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return str(hit["sha256"])
        started = time.perf_counter()
        digest = sha256_file(Path(real))
        if st.st_size > 1 << 26:
            log.info("hashed %s (%.1f GB) in %.1fs", real, st.st_size / 1e9, time.perf_counter() - started)
        self._entries[real] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self._dirty = True
        return digest

    def save(self) -> None:
        if not (self._dirty and self.writable and self.path is not None):
            return
        merged: dict[str, Any] = {}
        if self.path.is_file():
            with contextlib.suppress(OSError, ValueError):
                merged = json.loads(self.path.read_text("utf-8"))
        merged.update(self._entries)
        write_json_atomic(self.path, merged)
        self._dirty = False


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that can change its vectors, sorted by relative path.

    Weights (``.safetensors``, ``.bin``, ``.pt``), configs and tokenizer files (``.json``, ``.txt``, ``.model``,
    ``.tiktoken``) and remote code (``.py``), recursively (sentence-transformers module folders included);
    hidden entries, Markdown and the ``onnx``/``openvino`` export folders are skipped.
    """
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_MODEL_DIRS)
        out.extend(
            Path(dirpath) / name
            for name in filenames
            if not name.startswith(".") and name.endswith(_MODEL_FILE_SUFFIXES)
        )
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def folder_fingerprint(folder: Path, memo: FingerprintMemo | None = None) -> str:
    """sha256 over (relative path, sha256 of content) of every file of ``model_files(folder)``.

    Full content, not a sample: a merged LoRA can leave the first and last megabytes of every weight file
    unchanged. The folder's own path is not part of it, so a moved or copied model keeps its cache.
    """
    files = model_files(folder)
    if not files:
        raise InputError("no model files (weights, config, tokenizer) found", path=folder, field="model.path")
    memo = memo or FingerprintMemo(None, writable=False)
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.relative_to(folder).as_posix()}\0{memo.sha256(path)}\n".encode())
    return h.hexdigest()


_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a hub revision resolves to: itself when a commit hash, the hub when online, else the local cache."""
    if revision and _COMMIT_RE.match(revision):
        return revision
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    from rtriever_eval.hub import prepare_hub_access

    if prepare_hub_access(f"model {repo_id}") and not constants.HF_HUB_OFFLINE:
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(repo_id, revision=revision).sha
            if sha:
                return str(sha)
        except Exception as exc:  # network errors of every kind: fall back to the local cache
            log.debug("%s: could not resolve revision online (%s)", repo_id, exc)
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision or "main")
    except Exception:  # not a valid repository id (a mistyped local path, say)
        return None
    if isinstance(found, str):
        return Path(found).parent.name
    return None


def model_identity(path: str, revision: str | None, memo: FingerprintMemo | None = None) -> dict[str, Any]:
    """What the vectors' model *is*: a local folder's content hash, or a hub repository at a commit."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        return {"source": "folder", "content_sha256": folder_fingerprint(folder, memo)}
    commit = hub_commit(path, revision)
    if commit is None:
        log.warning(
            "%s: revision %s could not be resolved to a commit; the embedding cache is keyed by the name, "
            "so a moved branch would go unnoticed (pin model.revision to a commit to avoid this)",
            path,
            revision or "main",
        )
        return {"source": "hub", "repo": path, "revision": revision or "main"}
    return {"source": "hub", "repo": path, "commit": commit}


def texts_fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over (id, text) pairs, in order: any change to ids, texts or their order changes it."""
    h = hashlib.sha256()
    for i, text in pairs:
        h.update(i.encode("utf-8"))
        h.update(b"\x00")
        h.update(text.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """The fields that determine a set of vectors; ``digest`` names its folder."""

    fields: Mapping[str, Any]

    @property
    def digest(self) -> str:
        payload = json.dumps({"format": FORMAT, **self.fields}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def embedding_key(
    *,
    model: Mapping[str, Any],
    backend: str,
    dtype: str,
    pooling: str,
    padding_side: str,
    append_eos: bool,
    eos_token: str | None,
    normalize: bool,
    max_length: int,
    prompt: str,
    texts_sha256: str,
    kernels: Mapping[str, Any],
    strip_whitespace: bool,
) -> CacheKey:
    """The key of one side's vectors (``max_length`` and ``prompt`` of that side, documents or queries).

    ``kernels`` is what of the kernel choice can change a vector in its last bits (device type, attention,
    float32 CPU linears, unmasked causal batches): vectors made by other kernels are never mixed in.
    """
    return CacheKey(
        {
            "model": dict(model),
            "backend": backend,
            "dtype": dtype,
            "pooling": pooling,
            "padding_side": padding_side,
            "append_eos": bool(append_eos),
            "eos_token": eos_token,
            "normalize": bool(normalize),
            "max_length": int(max_length),
            "prompt": prompt,
            "texts_sha256": texts_sha256,
            "kernels": dict(kernels),
            "strip_whitespace": bool(strip_whitespace),
        }
    )


# ---------------------------------------------------------------------------------------------- sharded matrix


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


# ---------------------------------------------------------------------------------------------- entries


@dataclass
class EncodeStats:
    """What one call encoded and what it found in the cache."""

    key: str
    n: int
    rows_encoded: int = 0
    rows_cached: int = 0
    shards_encoded: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def hit(self) -> bool:
        return self.rows_encoded == 0


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
        return len(shard_ranges(self.n, self.shard_size))

    def shard_records(self) -> dict[int, dict[str, Any]]:
        """Per finished shard, its record (the ``shard-NNNNN.json`` files whose .npy also exists)."""
        records: dict[int, dict[str, Any]] = {}
        if not self.folder.is_dir():
            return records
        for path in self.folder.iterdir():
            m = _SHARD_RE.match(path.name)
            if not m:
                continue
            try:
                rec = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue  # a record being replaced or damaged: the shard counts as missing
            index = int(m.group(1))
            if (self.folder / str(rec.get("file", ""))).is_file() and index < self.n_shards:
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

    def load_shard(self, index: int) -> np.ndarray:
        """Shard ``index`` memory-mapped read-only, its shape checked against the manifest."""
        path = self.folder / f"{_shard_name(index)}.npy"
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        a, b = shard_ranges(self.n, self.shard_size)[index]
        if arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[0] != b - a or arr.shape[1] != self.dim:
            raise InputError(
                f"shard has shape {arr.shape} {arr.dtype}, expected ({b - a}, {self.dim}) float32; "
                "delete the entry (rtriever-cache prune) and encode again",
                path=path,
            )
        return arr

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
        fd = os.open(self.folder / name, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            except OSError as exc:  # a file system without locks: the per-shard records keep it correct
                if exc.errno not in (errno.ENOLCK, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
            yield
        finally:
            os.close(fd)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while a process fills shards, so that ``prune`` leaves a live entry alone."""
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
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def has_shard(self, index: int) -> bool:
        """Whether shard ``index`` is finished (its record and its .npy exist)."""
        record = self.folder / f"{_shard_name(index)}.json"
        return record.is_file() and (self.folder / f"{_shard_name(index)}.npy").is_file()

    @contextlib.contextmanager
    def claims(self) -> Iterator[tuple[Callable[[int, bool], bool], Callable[[int], None]]]:
        """``(claim, release)``: per-shard locks (byte ranges of one file) between processes filling this entry.

        ``claim(j, wait)`` returns True once this process holds shard j (always True where the file system
        has no locks); ``release(j)`` lets it go.
        """
        fd = os.open(self.folder / ".claims", os.O_CREAT | os.O_RDWR, 0o644)

        def claim(index: int, wait: bool) -> bool:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, index, os.SEEK_SET)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return False
                if exc.errno not in (errno.ENOLCK, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
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

    def write_shard(self, index: int, rows: np.ndarray, *, seconds: float) -> None:
        """Write shard ``index`` atomically, then its record, then the manifest."""
        if not self.writable:
            raise RuntimeError("this cache entry is read-only")
        a, b = shard_ranges(self.n, self.shard_size)[index]
        arr = np.ascontiguousarray(rows, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != b - a:
            raise ValueError(f"shard {index} needs {b - a} rows, got shape {arr.shape}")
        if self.dim is not None and arr.shape[1] != self.dim:
            raise ValueError(f"shard {index} has dim {arr.shape[1]}, the entry has {self.dim}")
        name = _shard_name(index)
        with atomic_open(self.folder / f"{name}.npy", "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        record = {
            "index": index,
            "rows": [a, b],
            "file": f"{name}.npy",
            "sha256": sha256_file(self.folder / f"{name}.npy"),
            "dim": int(arr.shape[1]),
            "encode_s": round(seconds, 4),
            "written_at": _now(),
            "session": SESSION,
        }
        write_json_atomic(self.folder / f"{name}.json", record)
        checkpoint("cache_shard_written")
        self.update_manifest(dim=int(arr.shape[1]), encoded={index: b - a})

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
                {k: records[j][k] for k in ("index", "rows", "file", "sha256") if k in records[j]}
                for j in sorted(records)
            ]
            current["n_shards"] = self.n_shards
            current["complete"] = len(records) == self.n_shards
            current["updated"] = _now()
            if encoded:
                runs: list[dict[str, Any]] = list(current.get("encode_log", []))
                mine = next((r for r in runs if r.get("session") == SESSION), None)
                if mine is None:
                    mine = {"session": SESSION, "started": _now(), "rows_encoded": 0, "shards": []}
                    runs.append(mine)
                mine["rows_encoded"] = int(mine["rows_encoded"]) + sum(encoded.values())
                mine["shards"] = sorted({*mine["shards"], *encoded})
                mine["updated"] = _now()
                current["encode_log"] = runs[-_ENCODE_LOG_KEEP:]
                current["rows_encoded_total"] = int(current.get("rows_encoded_total", 0)) + sum(encoded.values())
            write_json_atomic(self.folder / MANIFEST, current)


# ---------------------------------------------------------------------------------------------- the cache


Encode = Callable[[Sequence[str]], np.ndarray]
"""Rows (len(texts), dim) float32 for a list of texts."""


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
        wanted = set(range(entry.n_shards)) if shards is None else set(shards)
        with entry.writing():
            todo = [j for j in entry.missing_shards() if j in wanted]
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
            ctx = entry.writing() if self.writable else contextlib.nullcontext()
            with ctx:
                done = entry.done_shards()
                for j in sorted(done):
                    blocks[j] = entry.load_shard(j)
                stats.rows_cached = sum(ranges[j][1] - ranges[j][0] for j in done)
                todo = [j for j in range(len(ranges)) if j not in done]
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
            a, b = ranges[j]
            t0 = time.perf_counter()
            rows = np.ascontiguousarray(encode(list(texts[a:b])), dtype=np.float32)
            if rows.ndim != 2 or rows.shape[0] != b - a:
                raise ValueError(f"encoder returned shape {rows.shape} for {b - a} texts")
            seconds = time.perf_counter() - t0
            if write and entry is not None:
                entry.write_shard(j, rows, seconds=seconds)
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
            # read once it is finished, instead of being encoded twice.
            with entry.claims() as (claim, release):
                pending = list(todo)
                while pending:
                    progressed = False
                    for j in list(pending):
                        if not claim(j, False):
                            continue
                        try:
                            if entry.has_shard(j):  # finished by another process meanwhile
                                out[j] = entry.load_shard(j)
                                stats.rows_cached += ranges[j][1] - ranges[j][0]
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


def remove_entry(entry: CacheEntry) -> None:
    shutil.rmtree(entry.folder)
