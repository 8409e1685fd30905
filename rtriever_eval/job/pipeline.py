"""The only module that knows every other one: plan a run (checks, reuse), then per domain load, prompt, search,
evaluate and write its results through the results module.

Results go to <results_dir>/<experiment>/<run>/<dataset>/<domain>/ (results.py owns the layout and file names).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.faults import checkpoint
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.provenance import git_state, safe_component, versions
from rtriever_eval.base.types import DomainData
from rtriever_eval.data.loading import load_domain
from rtriever_eval.job.checks import check_run, needs_documents
from rtriever_eval.job.facts import model_facts
from rtriever_eval.job.fingerprint import Fingerprint, config_fields, data_sha256, describe_value, differences
from rtriever_eval.job.results import SUMMARY_FILE, Summary, read_summary, run_folder, run_lock, write_domain
from rtriever_eval.job.snippets import build_snippets
from rtriever_eval.job.subset import apply_subset, subset_info
from rtriever_eval.metrics.aspects import with_aspect_metrics
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.prompts.resolve import Prompts, resolve_prompts
from rtriever_eval.retrievers.base import CorpusEncoder, Retriever, build_retriever
from rtriever_eval.retrievers.search import to_run
from rtriever_eval.settings import EvaluateSettings
from rtriever_eval.settings.hydra import to_settings
from rtriever_eval.settings.registry import Benchmark, Track, benchmark, select_domains, track_of
from rtriever_eval.stages.inputs import RunContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainOutcome:
    domain: str
    out_dir: Path
    summary: Summary
    skipped: bool


@dataclass(frozen=True)
class EncodeOutcome:
    domain: str
    rows_encoded: int
    rows_cached: int
    shards_encoded: tuple[int, ...]
    skipped: bool


class StaleResultsError(ConfigError):
    """Results on disk were computed under other settings (or data, or model) than this run's."""


@dataclass(frozen=True)
class Plan:
    """What a run will do: its settings, the retriever, the prompts per domain, and which domains are reused."""

    settings: EvaluateSettings
    bench: Benchmark
    track: Track
    retriever: Retriever
    domains: list[str]
    prompts: dict[str, Prompts]
    reuse: dict[str, Summary]  # domain -> the summary on disk whose fingerprint matches this run's

    @property
    def folder(self) -> Path:
        s = self.settings
        return run_folder(s.paths.results_dir, s.experiment_name, s.run_name, s.dataset.name)

    @property
    def metrics(self) -> list[str]:
        """The metrics asked for, else the track's defaults (registry.py)."""
        return list(self.settings.metrics) if self.settings.metrics else list(self.track.metrics)


def check_stage(s: EvaluateSettings) -> str:
    """The stage; ConfigError when stage, shard and cache settings do not fit together."""
    index, count = s.shard.index, s.shard.count
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"shard.index={index} shard.count={count}: need shard.count >= 1 and 0 <= shard.index < shard.count",
            field="shard",
        )
    if count != 1 and s.stage != "encode":
        raise ConfigError(
            f"shard.count={count} splits the corpus encoding between workers: use it with stage=encode, "
            "then run stage=search once",
            field="shard.count",
        )
    if s.stage == "encode" and s.cache.mode != "readwrite":
        raise ConfigError(
            f"stage=encode writes the embedding cache: it needs cache.mode=readwrite, not {s.cache.mode}",
            field="cache.mode",
        )
    if s.stage == "search" and s.cache.mode == "off":
        raise ConfigError(
            "stage=search reads the corpus embeddings from the cache, which cache.mode=off turns off",
            field="cache.mode",
        )
    return s.stage


def fingerprint_of(plan: Plan, data: DomainData) -> Fingerprint:
    """What determines this domain's numbers: the settings less NON_RESULT_KEYS (metrics as resolved), the exact
    prompts, the data and the model identity."""
    settings = dataclasses.replace(plan.settings, metrics=plan.metrics)
    fields = config_fields(dataclasses.asdict(settings))
    prompts = plan.prompts[data.name]
    texts = {"query": prompts.query, "document": prompts.document}
    identity = plan.retriever.identity(data.name)
    evaluation = data_sha256(data, query_texts=False)
    return Fingerprint(fields, data_sha256(data), identity, texts, evaluation=evaluation)


def evaluate_domain(
    plan: Plan, data: DomainData, out_dir: Path, fingerprint: Fingerprint, counts: dict[str, Any] | None = None
) -> Summary:
    """Search, evaluate and write one domain's three result files; returns the summary written. ``counts`` are
    added to the search's own (the encoding workers' exit codes, say)."""
    s, prompts = plan.settings, plan.prompts[data.name]
    t0 = time.perf_counter()
    outcome = plan.retriever.search(data, prompts, s.top_k)
    checkpoint("searched")
    run = to_run([q.id for q in data.queries], outcome.ranked)
    t1 = time.perf_counter()
    result = evaluate(data.qrels, run, tuple(plan.metrics))
    # unchanged unless the data has aspect annotations
    result = with_aspect_metrics(result, data, run, s.dataset.aspect_metrics, s.dataset.aspect_alpha)
    t2 = time.perf_counter()
    summary = Summary(
        domain=data.name,
        model=s.model.name,
        dataset=data.dataset,
        metrics={m: float(v) for m, v in result.summary.items()},
        n_queries=len(result.per_query),
        n_docs=data.n_docs if data.has_corpus else None,
        query_prompt=prompts.query,
        document_prompt=prompts.document,
        config=dataclasses.asdict(s),
        versions=versions(),
        timings={
            **{k: round(v, 4) for k, v in outcome.timings.items()},
            "search_total_s": round(t1 - t0, 4),
            "evaluate_s": round(t2 - t1, 4),
        },
        experiment=s.experiment_name,
        run=s.run_name,
        n_queries_searched=len(data.queries),
        top_k=s.top_k,
        instruction_set=s.instructions.name,
        instruction=prompts.instruction,
        oracle=s.dataset.oracle,
        counts={**outcome.counts, **(counts or {})},
        model_settings=plan.retriever.describe(),
        dataset_source=data.source,
        dataset_revision=data.revision,
        dataset_details=dict(data.extra),
        fingerprint=fingerprint.to_json(),
        git=git_state(),
        track=plan.track.name,
        subset=subset_info(data),
        model_facts=model_facts(s.model, plan.retriever),
    )
    return write_domain(
        out_dir, run, result.per_query, summary, tag=f"rtriever-eval.{s.run_name}", snippets=build_snippets(data, run)
    )


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


def _suggested_run_name(run_name: str, diffs: list[tuple[str, Any, Any]]) -> str:
    parts = [
        f"{key.rsplit('.', 1)[-1]}_{describe_value(new, 16)}"
        for key, _, new in diffs
        if key.startswith("config.") and not isinstance(new, dict | list)
    ][:3]
    return safe_component(f"{run_name}-{'-'.join(parts) or 'new'}")


def plan_run(cfg: DictConfig | EvaluateSettings) -> Plan:
    """Check everything that can be checked before any work, and decide which domains to reuse."""
    return with_reuse(prepare_run(cfg))


def prepare_run(cfg: DictConfig | EvaluateSettings) -> Plan:
    """Check everything that can be checked before any work (settings, files, prompts, the retriever's own
    preflight), and write the rewritten-query artifact when a rewriter is set; reuse is not decided yet."""
    s = cfg if isinstance(cfg, EvaluateSettings) else to_settings(cfg)
    check_stage(s)
    bench = benchmark(s.dataset.benchmark)
    track = track_of(s.dataset.long_documents)
    domains = select_domains(
        bench, s.domains, long_documents=s.dataset.long_documents, path=s.dataset.path, dataset=s.dataset.name
    )
    check_run(s, domains, track)
    context = RunContext(s.paths.results_dir, s.experiment_name, s.dataset.name)
    retriever = build_retriever(s.model, cache_dir=s.paths.cache_dir, cache=s.cache, context=context,
                                reranker=s.reranker, benchmark=bench.name, track=track.name)  # fmt: skip
    prompts = {d: resolve_prompts(s.instructions, s.model, bench, d, track, s.reranker) for d in domains}
    retriever.preflight(domains, prompts)
    if s.rewriter is not None:
        run_rewrite(s, domains)  # the rewritten-query artifact first: resumed, a no-op when complete
    return Plan(s, bench, track, retriever, domains, prompts, {})


def with_reuse(plan: Plan) -> Plan:
    """``plan`` with the domains whose results on disk it can reuse.

    A domain whose summary exists is reused when its fingerprint equals this run's; otherwise (other
    settings, data or model, or a summary without fingerprint) the run stops here with StaleResultsError,
    listing the differing keys, before anything is computed or written. overwrite=true recomputes everything.
    """
    s, domains = plan.settings, plan.domains
    plan = dataclasses.replace(plan, reuse={})
    stale: dict[str, list[tuple[str, Any, Any]]] = {}
    for domain in [] if s.overwrite else domains:
        path = plan.folder / safe_component(domain) / SUMMARY_FILE
        if not path.exists():
            continue
        summary = read_summary(path)
        current = fingerprint_of(plan, load_evaluated(s, domain))
        diffs = differences(Fingerprint.from_json(summary.fingerprint), current)
        if diffs:
            stale[domain] = diffs
        else:
            plan.reuse[domain] = summary
    if stale:
        first = next(iter(stale.values()))
        shown = "; ".join(f"{k}: {describe_value(a)} → {describe_value(b)}" for k, a, b in first[:8])
        more = f" (and {len(first) - 8} more)" if len(first) > 8 else ""
        raise StaleResultsError(
            f"results for {', '.join(stale)} in {plan.folder} were computed under other settings than this run's: "
            f"{shown}{more}. Nothing was run and no file was changed. To keep both, give this run its own name "
            f"(run_name={_suggested_run_name(s.run_name, first)} writes beside them); to replace them, add "
            "overwrite=true",
            path=plan.folder,
        )
    return plan


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


def run_encoding(cfg: DictConfig | EvaluateSettings) -> list[EncodeOutcome]:
    """stage=encode: cache this worker's corpus shards (j % shard.count == shard.index) of every selected domain.

    Writes no results; domains whose results are reused are skipped, and stale results refuse as in a search.
    """
    plan = plan_run(cfg)
    s = plan.settings
    if s.stage != "encode":
        raise ConfigError("run_encoding runs stage=encode only", field="stage")
    outcomes: list[EncodeOutcome] = []
    for domain in plan.domains:
        if domain in plan.reuse:
            log.info("%s: results exist, nothing to encode (overwrite=true recomputes)", domain)
            outcomes.append(EncodeOutcome(domain, 0, 0, (), True))
            continue
        if not isinstance(plan.retriever, CorpusEncoder):
            log.info("stage=encode: model %s caches no corpus embeddings; nothing to do", s.model.name)
            return outcomes
        data = load_evaluated(s, domain)
        stats = plan.retriever.encode_corpus(data, shard_index=s.shard.index, shard_count=s.shard.count)
        outcomes.append(
            EncodeOutcome(domain, stats.rows_encoded, stats.rows_cached, tuple(stats.shards_encoded), False)
        )
    return outcomes


def run_evaluation(cfg: DictConfig | EvaluateSettings) -> list[DomainOutcome]:
    """Evaluate every selected domain; domains with current results are reused.

    stage=all encodes whatever the embedding cache lacks; stage=search first checks that the corpus is cached.
    The run's folder is locked for the whole run: a second process given the same run name and results folder
    waits, then reuses what the first wrote (or refuses it as stale), so their files never interleave.
    """
    s = cfg if isinstance(cfg, EvaluateSettings) else to_settings(cfg)
    if s.stage == "encode":
        raise ConfigError("stage=encode writes no results: use run_encoding", field="stage")
    plan = prepare_run(s)
    with run_lock(s.paths.results_dir, s.experiment_name, s.run_name, s.dataset.name):
        return _evaluate_domains(with_reuse(plan))


def _evaluate_domains(plan: Plan) -> list[DomainOutcome]:
    s = plan.settings
    outcomes: list[DomainOutcome] = []
    for domain in plan.domains:
        check_interrupt()  # a safe point between domains
        out_dir = plan.folder / safe_component(domain)
        if domain in plan.reuse:
            log.info("%s: %s holds this run's results (same fingerprint), reusing them", domain, out_dir)
            outcomes.append(DomainOutcome(domain, out_dir, plan.reuse[domain], True))
            continue
        data = load_evaluated(s, domain)
        check_evaluable(data)
        fingerprint = fingerprint_of(plan, data)
        if s.stage == "search" and isinstance(plan.retriever, CorpusEncoder):
            plan.retriever.require_corpus_cached(data)
        counts: dict[str, Any] = {}
        if s.stage != "search" and getattr(s.model, "devices", None) is not None:
            from rtriever_eval.job.devices import encode_on_devices

            codes = encode_on_devices(s, domain)  # one worker per device fills the cache; the search reads it
            if codes:
                counts["encode_worker_exit_codes"] = codes
        summary = evaluate_domain(plan, data, out_dir, fingerprint, counts)
        del data  # the next domain loads without this one's corpus still held (BRIGHT-scale dry run)
        log.info("%s / %s: %s", s.run_name, domain, ", ".join(f"{k}={v:.4f}" for k, v in summary.metrics.items()))
        outcomes.append(DomainOutcome(domain, out_dir, summary, False))
    return outcomes
