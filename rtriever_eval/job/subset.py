"""CI-sized candidate subsets of a domain's corpus: every gold document plus the top N of the harness's own BM25
run, N the largest depth that keeps the corpus within a budget; deterministic, cached by content.

Knows the BM25 retriever and the cache folder; nothing of dense models, metrics or result files. A subset
run's scores are higher than the full corpus's (the hard negatives BM25 misses are gone): fit for catching
regressions, never for a paper's table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from rtriever_eval.base.checksum import digest_bytes
from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_json_atomic
from rtriever_eval.base.types import DomainData
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.results.fingerprint import data_sha256
from rtriever_eval.settings.job import DatasetSettings
from rtriever_eval.settings.models import BM25Settings

log = logging.getLogger(__name__)

SUBSET_VERSION = 3
"""Raised whenever the construction or the file changes (3: a checksum), so that cached subsets are rebuilt."""

FIRST_STAGES = {
    "bm25": BM25Settings(name="bm25", flavour="lucene"),
    "bm25_bright": BM25Settings(name="bm25_bright", flavour="bright"),
}


def subset_info(data: DomainData) -> dict[str, Any] | None:
    """What a summary records about the subset the domain was evaluated on (None: the full corpus)."""
    return dict(data.subset) if data.subset else None


def _depth(rankings: list[list[str]], gold: set[str], limit: int) -> tuple[int, set[str]]:
    """The largest N whose pool (gold + every query's top N) holds at most ``limit`` documents, and that pool."""

    def pool(n: int) -> set[str]:
        out = set(gold)
        for ranked in rankings:
            out.update(ranked[:n])
        return out

    lo, hi = 0, max((len(r) for r in rankings), default=0)
    while lo < hi:  # the pool grows with N: binary search for the last N that fits
        mid = (lo + hi + 1) // 2
        if len(pool(mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo, pool(lo)


def candidate_ids(pool_data: DomainData, dataset: DatasetSettings) -> tuple[list[str], dict[str, Any]]:
    """The subset's document ids (corpus order) and its description, computed from ``pool_data`` (the domain
    with its original queries)."""
    stage = FIRST_STAGES[dataset.subset_first_stage]
    limit = dataset.subset_max_documents
    gold = {d for judged in pool_data.qrels.values() for d, grade in judged.items() if grade > 0}
    started = time.perf_counter()
    from rtriever_eval.retrievers.bm25 import BM25Retriever

    outcome = BM25Retriever(stage).search(pool_data, Prompts(None, "", ""), min(limit, max(pool_data.n_docs, 1)))
    rankings = [[doc for doc, _ in ranked] for ranked in outcome.ranked]
    depth, pool = _depth(rankings, gold, limit)
    if len(gold) > limit:
        log.warning("%s: %d gold documents exceed subset_max_documents=%d; the subset holds the gold only",
                    pool_data.name, len(gold), limit)  # fmt: skip
    ids = [d.id for d in pool_data.documents if d.id in pool]
    log.info("%s: candidate pool built in %.1fs (BM25 depth %d)", pool_data.name, time.perf_counter() - started, depth)
    info = {
        "kind": "candidates",
        "first_stage": stage.name,
        "first_stage_settings": f"flavour {stage.flavour}, k1={stage.k1}, b={stage.b}, the original queries",
        "depth": depth,
        "documents": len(ids),
        "full_documents": pool_data.n_docs,
        "gold_documents": len(gold),
        "max_documents": limit,
        "ids_sha256": hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest(),
        "note": "gold + first-stage top-N: scores are higher than on the full corpus; for regressions, not papers",
    }
    return ids, info


def _cache_path(cache_dir: str | Path, pool_data: DomainData, dataset: DatasetSettings) -> Path:
    stage = FIRST_STAGES[dataset.subset_first_stage]
    key = json.dumps(
        {
            "version": SUBSET_VERSION,
            "data": data_sha256(pool_data),
            "kind": dataset.subset,
            "max_documents": dataset.subset_max_documents,
            "first_stage": dataclasses.asdict(stage),
        },
        sort_keys=True,
    )
    return Path(cache_dir) / "subsets" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _payload_digest(ids: list[str], info: dict[str, Any]) -> str:
    return digest_bytes(json.dumps({"ids": ids, "info": info}, sort_keys=True).encode("utf-8"))


def _read_cached(path: Path) -> tuple[list[str], dict[str, Any]] | None:
    """The cached subset when its bytes check out; None (logged) when it is unreadable or damaged."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        ids, info = list(cached["ids"]), dict(cached["info"])
        ok = cached.get("checksum") == _payload_digest(ids, info)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable cached subset (%s); building it again", path, exc)
        return None
    if not ok:
        log.warning("%s: cached subset does not match its checksum (damaged); building it again", path)
        return None
    return ids, info


def apply_subset(
    data: DomainData,
    pool_data: DomainData,
    dataset: DatasetSettings,
    cache_dir: str | Path | None,
    *,
    writable: bool = True,
) -> DomainData:
    """``data`` with its corpus cut to the candidate subset built from ``pool_data`` (cached under
    ``cache_dir``/subsets/, keyed by the full domain's content and the subset settings, checksummed: a damaged
    file is rebuilt, never used; written only when ``writable``)."""
    if dataset.subset is None:
        return data
    path = _cache_path(cache_dir, pool_data, dataset) if cache_dir else None
    found = _read_cached(path) if path is not None and path.is_file() else None
    if found is not None:
        ids, info = found
    else:
        ids, info = candidate_ids(pool_data, dataset)
        if path is not None and writable:  # two processes building it at once write the same bytes, atomically
            write_json_atomic(path, {"ids": ids, "info": info, "checksum": _payload_digest(ids, info)})
    keep = set(ids)
    known = {d.id for d in data.documents}
    if not keep <= known:
        raise InputError(f"cached subset names {len(keep - known)} documents the corpus lacks; delete it to rebuild",
                         path=path)  # fmt: skip
    documents = tuple(d for d in data.documents if d.id in keep)
    log.info("%s/%s: candidate subset of %d of %d documents (gold + %s top %d)", data.dataset, data.name,
             len(documents), data.n_docs, dataset.subset_first_stage, info["depth"])  # fmt: skip
    return dataclasses.replace(data, documents=documents, subset=info)
