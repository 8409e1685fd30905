"""Planning a job before any work: the stage and sharding checked, the domains selected, the retriever built, the
prompts resolved, the retriever's own preflight, and which domains' results on disk can be reused (or must be
refused as stale, listing the differences).

Knows settings, the registry, prompts, fingerprints and the results layout; it encodes, searches and writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.base.types import DomainData
from rtriever_eval.job.build import build_retriever
from rtriever_eval.job.checks import check_run
from rtriever_eval.job.domains import load_evaluated, run_rewrite
from rtriever_eval.prompts.resolve import Prompts, resolve_prompts
from rtriever_eval.results.contract import SUMMARY_FILE, Summary, read_summary, run_folder
from rtriever_eval.results.fingerprint import Fingerprint, config_fields, data_sha256, describe_value, differences
from rtriever_eval.retrievers.base import Retriever
from rtriever_eval.settings.hydra import to_settings
from rtriever_eval.settings.job import EvaluateSettings
from rtriever_eval.settings.registry import Benchmark, Track, benchmark, select_domains, track_of
from rtriever_eval.stages.inputs import RunContext

log = logging.getLogger(__name__)


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
    memory_refusal: str | None = None  # stage=plan: the memory guard's refusal, reported instead of raised

    @property
    def folder(self) -> Path:
        s = self.settings
        return run_folder(s.paths.results_dir, s.experiment_name, s.run_name, s.dataset.name)

    @property
    def metrics(self) -> list[str]:
        """The metrics asked for, else the track's defaults (settings/registry.py)."""
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
    memory_refusal = None
    try:
        retriever.preflight(domains, prompts)
    except ConfigError as exc:  # a plan reports the memory guard's verdict; every other check stops it as ever
        if s.stage != "plan" or exc.field != "model.max_tokens_per_batch":
            raise
        memory_refusal = exc.reason
    if s.rewriter is not None and s.stage != "plan":  # a plan runs no model: it loads the query file as it stands
        run_rewrite(s, domains)  # the rewritten-query artifact first: resumed, a no-op when complete
    return Plan(s, bench, track, retriever, domains, prompts, {}, memory_refusal)


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


