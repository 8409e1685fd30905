"""A domain as a job evaluates it: loaded (with or without a corpus, as the model needs), its queries rewritten by
a query file, its corpus cut to a candidate subset; the check that it can give a number; and the rewritten-query
artifact written before a job that asks for it.

Knows the data loaders, subsets and the rewriter; nothing of retrieval or results.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.types import DomainData
from rtriever_eval.data.loading import load_domain
from rtriever_eval.job.checks import needs_documents
from rtriever_eval.job.subset import apply_subset
from rtriever_eval.settings.job import EvaluateSettings
from rtriever_eval.settings.registry import benchmark, select_domains

log = logging.getLogger(__name__)


def load_evaluated(s: EvaluateSettings, domain: str) -> DomainData:
    """The domain as evaluated: loaded, queries rewritten when a query file is set, the corpus cut to its
    candidate subset when dataset.subset is set (built from the original queries, cached). A run that needs no
    documents (an imported run) takes a local copy without them."""
    data = load_domain(s.dataset, domain, corpus_optional=not needs_documents(s.model))
    if s.dataset.subset is None:
        return data
    pool = load_domain(s.dataset, domain, rewritten=False) if s.dataset.query_file else data
    return apply_subset(data, pool, s.dataset, s.paths.cache_dir if s.cache.mode != "off" else None,
                        writable=s.cache.mode == "readwrite")  # fmt: skip


def check_evaluable(data: DomainData) -> None:
    """An empty corpus or a domain without judged queries cannot give a number: refuse it clearly (a corpus that
    is absent, for a run that needs none, is not empty: its size is unknown)."""
    if data.has_corpus and not data.documents:
        raise InputError(f"domain '{data.name}' has an empty corpus: nothing to retrieve", path=data.source)
    if not data.qrels:
        raise InputError(f"domain '{data.name}' has no judged queries: nothing to evaluate", path=data.source)



def run_rewrite(s: EvaluateSettings, domains: list[str] | None = None) -> int:
    """Fill dataset.query_file with the rewriter's rewrites of the selected domains' original queries (those
    already in the file are kept); returns how many were generated."""
    from rtriever_eval.stages.rewrite import Rewriter, rewrite_queries

    if s.rewriter is None or not s.dataset.query_file:
        raise ConfigError("rewriting needs rewriter=<name> and dataset.query_file=<jsonl>", field="rewriter")
    if domains is None:
        bench = benchmark(s.dataset.benchmark)
        domains = select_domains(bench, s.domains, long_documents=s.dataset.long_documents, path=s.dataset.path,
                                 dataset=s.dataset.name)  # fmt: skip
    queries = {d: load_domain(s.dataset, d, rewritten=False).queries for d in domains}
    return rewrite_queries(Rewriter(s.rewriter, cache_dir=s.paths.cache_dir), queries, Path(s.dataset.query_file))


