"""Cached reranker scores: one folder per reranker key (model identity and every setting that changes a score),
holding append-only TSV files of (sha256 of instruction, query and document) -> score, one file per process.

Knows pairs and floats only; nothing of models. A sweep over alpha or a smaller depth reads every score back and
runs no model; a killed run loses at most the lines it had not written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rtriever_eval.cache.entry import session
from rtriever_eval.io import write_json_atomic


def pair_hash(instruction: str | None, query: str, document: str) -> str:
    h = hashlib.sha256()
    for part in (instruction or "", query, document):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class PairScoreCache:
    """Scores under ``<root>/pairs/<key>/``; ``mode`` off, read or readwrite as for embeddings."""

    def __init__(self, root: str | Path | None, fields: Mapping[str, Any], mode: str = "readwrite") -> None:
        payload = json.dumps(dict(fields), sort_keys=True, ensure_ascii=False, default=str)
        self.key = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self.mode = mode if root is not None else "off"
        self.folder = Path(root) / "pairs" / self.key if root is not None else None
        self.fields = dict(fields)
        self._scores: dict[str, float] | None = None

    def _load(self) -> dict[str, float]:
        if self._scores is None:
            self._scores = {}
            if self.mode != "off" and self.folder is not None and self.folder.is_dir():
                for path in sorted(self.folder.glob("scores-*.tsv")):
                    for line in path.read_text("utf-8").splitlines():
                        digest, _, value = line.partition("\t")
                        if len(digest) == 64 and value:  # a line cut by a kill is skipped
                            self._scores[digest] = float(value)
        return self._scores

    def get(self, digests: Sequence[str]) -> list[float | None]:
        known = self._load()
        return [known.get(d) for d in digests]

    def put(self, digests: Sequence[str], scores: Sequence[float]) -> None:
        known = self._load()
        known.update(zip(digests, (float(s) for s in scores), strict=True))
        if self.mode != "readwrite" or self.folder is None or not digests:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / "manifest.json"
        if not manifest.exists():
            write_json_atomic(manifest, {"key": self.key, "fields": self.fields})
        lines = "".join(f"{d}\t{float(s)!r}\n" for d, s in zip(digests, scores, strict=True))
        path = self.folder / f"scores-{session().replace(':', '_')}.tsv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, lines.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
