"""What a model *is* for the embedding cache and the results fingerprint: a local folder's content hash (memoised
by path, size and mtime), or a hub repository at the commit its revision resolves to.

Knows model folders and the hub's revision lookup; nothing of vectors, shards or keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from rtriever_eval.base.checksum import sha256_file
from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_json_atomic

log = logging.getLogger(__name__)

FINGERPRINTS = "fingerprints.json"
# Files of a model folder that can change its vectors: weights, configs, tokenizer files, remote code.
_MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model", ".py", ".tiktoken")
# Sub-folders other runtimes use; transformers and sentence-transformers never read them.
_SKIPPED_MODEL_DIRS = {"onnx", "openvino", "coreml", "tflite"}


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
    from rtriever_eval.base.hub import prepare_hub_access

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
