"""An imported run behind the Retriever protocol: a ranking made elsewhere (a published run, another toolkit's
output) read from its file and put through BRIGHT's semantics as any run is: exclusions dropped before the top_k
cut, trec_eval's tie order, a judged query the file lacks scoring 0.

Knows the run-file readers and the domain's ids; it scores nothing itself. Its identity is the file's content hash
and the format it was read as, so a changed file makes results stale like a changed setting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rtriever_eval.base.checksum import sha256_file
from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.trec import ranked
from rtriever_eval.base.types import DomainData
from rtriever_eval.data.run_files import ImportedRun, line_of, read_run_file
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.search import SearchOutcome
from rtriever_eval.settings.models import RunFileSettings
from rtriever_eval.settings.registry import mteb_task

log = logging.getLogger(__name__)
TEMPLATE = "{domain}"


def _check_documents(imported: ImportedRun, data: DomainData, corpus: set[str] | None) -> None:
    """Refuse a file none of whose ranked ids is a document of this domain (its corpus; without one, its judged
    and excluded documents): BRIGHT numbers its queries 0, 1, ... in every domain, so only the documents tell a
    run for another domain apart. A real run of the domain ranks some of them; a wrong file ranks none."""
    ranked_ids = {d for docs in imported.run.values() for d in docs}
    known = corpus if corpus is not None else {d for judged in data.qrels.values() for d in judged} | {
        d for q in data.queries for d in q.excluded_ids}  # fmt: skip
    if ranked_ids and known and not ranked_ids & known:
        first = next(iter(imported.run))
        where = "its corpus" if corpus is not None else "its judged or excluded documents"
        raise InputError(
            f"none of the file's {len(ranked_ids)} ranked ids is among {where} ({data.dataset}/{data.name}): a run "
            "for another domain or dataset?",
            path=imported.path,
            line=line_of(imported.path, first, imported.format),
            field="docid",
        )


class RunFileRetriever:
    """``settings.path`` (with ``{domain}`` filled) read per domain; ``benchmark`` and ``track`` pick the MTEB
    subset and split of a predictions file holding several."""

    def __init__(self, settings: RunFileSettings, *, benchmark: str = "", track: str = "short") -> None:
        self.settings = settings
        self.name = settings.name
        self.benchmark, self.track = benchmark, track
        self._identity: dict[str, dict[str, Any]] = {}

    def path(self, domain: str) -> Path:
        return Path(self.settings.path.replace(TEMPLATE, domain)).expanduser()

    def describe(self) -> dict[str, Any]:
        return {"kind": "run_file", "imported": True, "path": self.settings.path, "format": self.settings.format}

    def identity(self, domain: str) -> dict[str, Any]:
        """The file's sha256 and the format asked for (computed once per domain, as planned). ``auto`` is enough:
        the format detected is a function of the bytes the sha256 fixes."""
        if domain not in self._identity:
            self._identity[domain] = {"kind": "run_file", "format": self.settings.format,
                                      "sha256": sha256_file(self.path(domain))}  # fmt: skip
        return self._identity[domain]

    def preflight(self, domains: list[str], prompts: Mapping[str, Prompts]) -> None:
        if TEMPLATE not in self.settings.path and len(domains) > 1:
            raise ConfigError(
                f"model.path={self.settings.path} names one file for {len(domains)} domains: put {TEMPLATE} in the "
                f"path (runs/{TEMPLATE}.trec) or select one domain with domains=[...]",
                field="model.path",
            )
        missing = [str(self.path(d)) for d in domains if not self.path(d).is_file()]
        if missing:
            raise ConfigError(f"run file(s) missing: {', '.join(missing)}", path=missing[0], field="model.path")

    def read(self, domain: str) -> ImportedRun:
        task = mteb_task(self.benchmark, self.track, domain)
        subset, split = (task.subset, task.split) if task is not None else (None, None)
        return read_run_file(self.path(domain), self.settings.format, subset=subset, split=split)

    def search(self, data: DomainData, prompts: Prompts, k: int) -> SearchOutcome:
        t0 = time.perf_counter()
        planned = self.identity(data.name)["sha256"]
        imported = self.read(data.name)
        if imported.sha256 != planned:
            raise InputError("the run file changed while this run was using it: run again", path=imported.path,
                             field="model.path")  # fmt: skip
        known = {q.id for q in data.queries}
        unknown = [qid for qid in imported.run if qid not in known]
        if unknown:
            raise InputError(
                f"query {unknown[0]!r} is not a query of {data.dataset}/{data.name} ({len(unknown)} of the file's "
                f"{len(imported.run)} queries are not; a run for another domain or dataset?)",
                path=imported.path,
                line=line_of(imported.path, unknown[0], imported.format),
                field="qid",
            )
        corpus = {d.id for d in data.documents} if data.has_corpus else None
        _check_documents(imported, data, corpus)
        absent_docs = excluded_dropped = 0
        out = []
        for q in data.queries:
            scores = imported.run.get(q.id, {})
            if corpus is not None:
                absent_docs += sum(1 for d in scores if d not in corpus)
            kept = {d: s for d, s in scores.items() if d not in q.excluded_ids}
            excluded_dropped += len(scores) - len(kept)
            out.append(ranked(kept)[:k])
        judged_absent = sum(1 for qid in data.qrels if qid not in imported.run)
        counts: dict[str, int | bool] = {
            "queries": len(data.queries),
            "queries_in_file": len(imported.run),
            "judged_queries_absent_from_file": judged_absent,
            "excluded_ids_dropped": excluded_dropped,
        }
        if corpus is not None:
            counts["ranked_ids_absent_from_corpus"] = absent_docs
        if absent_docs:
            log.warning("%s/%s: %d ranked ids of %s are not in the corpus (counted in the summary)", data.dataset,
                        data.name, absent_docs, imported.path)  # fmt: skip
        if judged_absent:
            log.warning("%s/%s: %d judged queries are absent from %s and score 0 (trec_eval -c)", data.dataset,
                        data.name, judged_absent, imported.path)  # fmt: skip
        log.info("%s/%s: %s read as %s (%d queries)", data.dataset, data.name, imported.path, imported.format,
                 len(imported.run))  # fmt: skip
        if excluded_dropped:
            log.info("%s/%s: %d excluded ids dropped from the imported ranking before the cut", data.dataset,
                     data.name, excluded_dropped)  # fmt: skip
        return SearchOutcome(out, {"read_s": time.perf_counter() - t0}, counts)
