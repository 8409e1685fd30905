"""Cached reranker scores: one folder per reranker key (model identity and every setting that changes a score),
holding append-only TSV files of (sha256 of instruction, query and document) -> score -> a CRC-32 of the two, one
file per process.

Knows pairs and floats only; nothing of models. A sweep over alpha or a smaller depth reads every score back and
runs no model; a killed run loses at most the lines it had not written. A line still being appended by another
process (no newline yet) is not read; a damaged one (its CRC differs) is scored again in readwrite mode, and
stops a cache.mode=read run naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_json_atomic
from rtriever_eval.cache.entry import session

log = logging.getLogger(__name__)

SCORES_GLOB = "scores2-*.tsv"
"""Version 2: each line carries its CRC-32 (lines of version 1 files, without one, are not read)."""


def pair_hash(instruction: str | None, query: str, document: str) -> str:
    h = hashlib.sha256()
    for part in (instruction or "", query, document):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _line(digest: str, score: float) -> str:
    body = f"{digest}\t{float(score)!r}"
    return f"{body}\t{zlib.crc32(body.encode('utf-8')):08x}\n"


class PairScoreCache:
    """Scores under ``<root>/pairs/<key>/``; ``mode`` off, read or readwrite as for embeddings."""

    def __init__(self, root: str | Path | None, fields: Mapping[str, Any], mode: str = "readwrite") -> None:
        payload = json.dumps(dict(fields), sort_keys=True, ensure_ascii=False, default=str)
        self.key = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self.mode = mode if root is not None else "off"
        self.folder = Path(root) / "pairs" / self.key if root is not None else None
        self.fields = dict(fields)
        self.damaged = 0  # lines whose CRC did not match (scored again)
        self._scores: dict[str, float] | None = None

    def _read(self, path: Path, into: dict[str, float]) -> None:
        raw = path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]  # a last line without newline is still being written
        for number, line in enumerate(complete.split(b"\n")[:-1], start=1):
            body, _, crc = line.rpartition(b"\t")
            digest, _, value = body.partition(b"\t")
            ok = len(digest) == 64 and value and crc == f"{zlib.crc32(body):08x}".encode()
            if not ok:
                if self.mode == "read":
                    raise InputError(
                        "damaged reranker score line (its CRC-32 does not match): cache.mode=read never rewrites "
                        "the cache; run with cache.mode=readwrite to score the pair again, or delete the file",
                        path=path,
                        line=number,
                    )
                self.damaged += 1
                log.warning("%s line %d: damaged score line (CRC mismatch); that pair is scored again", path, number)
                continue
            into.setdefault(digest.decode("ascii"), float(value))  # the first valid line of a pair wins

    def _load(self) -> dict[str, float]:
        if self._scores is None:
            self._scores = {}
            if self.mode != "off" and self.folder is not None and self.folder.is_dir():
                for path in sorted(self.folder.glob(SCORES_GLOB)):
                    self._read(path, self._scores)
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
        lines = "".join(_line(d, s) for d, s in zip(digests, scores, strict=True))
        path = self.folder / f"scores2-{session().replace(':', '_')}.tsv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(lines.encode("utf-8"))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
