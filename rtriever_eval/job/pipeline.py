"""The only module that knows every other one: a job's plan (plan.py), then per domain load, prompt, search,
evaluate and write its results through the results module; stage=encode fills the cache only.

Results go to <results_dir>/<experiment>/<run>/<dataset>/<domain>/ (results/contract.py owns the layout and file names).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.faults import checkpoint
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.provenance import git_state, safe_component, versions
from rtriever_eval.base.types import DomainData
from rtriever_eval.job.cost import cost_record, model_key, record_throughput, reset_gpu_peak
from rtriever_eval.job.domains import check_evaluable, load_evaluated
from rtriever_eval.job.facts import model_facts
from rtriever_eval.job.plan import Plan, fingerprint_of, plan_run, prepare_run, with_reuse
from rtriever_eval.job.snippets import build_snippets
from rtriever_eval.job.subset import subset_info
from rtriever_eval.metrics.aspects import with_aspect_metrics
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.results.contract import Summary, run_lock, write_domain
from rtriever_eval.results.fingerprint import Fingerprint
from rtriever_eval.retrievers.base import CorpusEncoder
from rtriever_eval.retrievers.search import to_run
from rtriever_eval.settings.hydra import to_settings
from rtriever_eval.settings.job import EvaluateSettings
from rtriever_eval.settings.models import DenseSettings

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




def evaluate_domain(
    plan: Plan,
    data: DomainData,
    out_dir: Path,
    fingerprint: Fingerprint,
    counts: dict[str, Any] | None = None,
    *,
    load_s: float = 0.0,
    workers: dict[str, Any] | None = None,
) -> Summary:
    """Search, evaluate and write one domain's three result files; returns the summary written. ``counts`` are
    added to the search's own (the encoding workers' exit codes, say); ``load_s`` and what the encoding ``workers``
    did (model.devices) go into the cost record (job/cost.py)."""
    s, prompts = plan.settings, plan.prompts[data.name]
    reset_gpu_peak()
    t0 = time.perf_counter()
    outcome = plan.retriever.search(data, prompts, s.top_k)
    checkpoint("searched")
    run = to_run([q.id for q in data.queries], outcome.ranked)
    t1 = time.perf_counter()
    result = evaluate(data.qrels, run, tuple(plan.metrics))
    # unchanged unless the data has aspect annotations
    result = with_aspect_metrics(result, data, run, s.dataset.aspect_metrics, s.dataset.aspect_alpha)
    t2 = time.perf_counter()
    timings = {
        **{k: round(v, 4) for k, v in outcome.timings.items()},
        "search_total_s": round(t1 - t0, 4),
        "evaluate_s": round(t2 - t1, 4),
    }
    cost = cost_record(outcome.usage, timings, outcome.counts, load_s=load_s, evaluate_s=t2 - t1, workers=workers)
    _log_throughput(plan, outcome.usage, cost)
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
        timings=timings,
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
        cost=cost,
    )
    return write_domain(
        out_dir, run, result.per_query, summary, tag=f"rtriever-eval.{s.run_name}", snippets=build_snippets(data, run)
    )



def _log_throughput(plan: Plan, usage: dict[str, Any], cost: dict[str, Any]) -> None:
    """A dense encode's tokens and forward seconds, for later plans' device-hour estimates (job/estimate.py)."""
    model = plan.settings.model
    tokens = [side.get("encoded") for side in usage.get("tokens", {}).values()]
    if not isinstance(model, DenseSettings) or None in tokens or not sum(tokens):
        return
    key = model_key(plan.retriever.identity(""), model.dtype, model.max_length)
    record_throughput(plan.settings.paths.cache_dir if plan.settings.cache.mode == "readwrite" else None, key,
                      cost["device"]["kind"], sum(tokens), float(usage.get("forward_s", 0.0)))  # fmt: skip


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
        started = time.perf_counter()
        data = load_evaluated(s, domain)
        check_evaluable(data)
        fingerprint = fingerprint_of(plan, data)
        load_s = time.perf_counter() - started
        if s.stage == "search" and isinstance(plan.retriever, CorpusEncoder):
            plan.retriever.require_corpus_cached(data)
        counts: dict[str, Any] = {}
        workers = None
        if s.stage != "search" and getattr(s.model, "devices", None) is not None:
            from rtriever_eval.job.devices import encode_on_devices

            workers = encode_on_devices(s, domain)  # one worker per device fills the cache; the search reads it
            if workers is not None:
                counts["encode_worker_exit_codes"] = workers.codes
        cost_of_workers = workers.cost() if workers is not None else None
        summary = evaluate_domain(plan, data, out_dir, fingerprint, counts, load_s=load_s, workers=cost_of_workers)
        del data  # the next domain loads without this one's corpus still held (BRIGHT-scale dry run)
        log.info("%s / %s: %s", s.run_name, domain, ", ".join(f"{k}={v:.4f}" for k, v in summary.metrics.items()))
        outcomes.append(DomainOutcome(domain, out_dir, summary, False))
    return outcomes
