"""The only module that knows every other one: load a domain, format queries, search, evaluate, write results.

Results go to <results_dir>/<experiment>/<run>/<dataset>/<domain>/ as run.trec, per_query.tsv and summary.json;
summary.json is written last, so its presence means the domain is complete.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rtriever_eval.aspect_metrics import with_aspect_metrics
from rtriever_eval.data.loading import load_domain, select_domains
from rtriever_eval.data.trec import write_run
from rtriever_eval.errors import ConfigError, InputError
from rtriever_eval.evaluation import evaluate
from rtriever_eval.faults import checkpoint
from rtriever_eval.fingerprint import Fingerprint, config_fields, data_sha256, describe_value, differences
from rtriever_eval.instructions import resolve_instruction
from rtriever_eval.io import atomic_open, write_json_atomic
from rtriever_eval.preflight import check_run
from rtriever_eval.provenance import git_state, safe_component, versions
from rtriever_eval.retrievers.base import CorpusEncoder, Retriever, build_retriever
from rtriever_eval.search import to_run
from rtriever_eval.types import DomainData

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
RUN = "run.trec"
PER_QUERY = "per_query.tsv"
STAGES = ("all", "encode", "search")


@dataclass(frozen=True)
class DomainOutcome:
    domain: str
    out_dir: Path
    summary: dict[str, Any]
    skipped: bool


@dataclass(frozen=True)
class EncodeOutcome:
    domain: str
    rows_encoded: int
    rows_cached: int
    shards_encoded: tuple[int, ...]
    skipped: bool


def check_stage(cfg: DictConfig) -> str:
    """The validated `stage`; raises ConfigError when stage, shard and cache settings do not fit together."""
    stage = str(cfg.get("stage", "all"))
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}", field="stage")
    shard = cfg.get("shard") or {}
    index, count = int(shard.get("index", 0)), int(shard.get("count", 1))
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"shard.index={index} shard.count={count}: need shard.count >= 1 and 0 <= shard.index < shard.count",
            field="shard",
        )
    if count != 1 and stage != "encode":
        raise ConfigError(
            f"shard.count={count} splits the corpus encoding between workers: use it with stage=encode, "
            "then run stage=search once",
            field="shard.count",
        )
    mode = str((cfg.get("cache") or {}).get("mode", "readwrite"))
    if stage == "encode" and mode != "readwrite":
        raise ConfigError(
            f"stage=encode writes the embedding cache: it needs cache.mode=readwrite, not {mode}", field="cache.mode"
        )
    if stage == "search" and mode == "off":
        raise ConfigError(
            "stage=search reads the corpus embeddings from the cache, which cache.mode=off turns off",
            field="cache.mode",
        )
    return stage


def _build_retriever(cfg: DictConfig) -> Retriever:
    cache = cfg.get("cache") or {}
    return build_retriever(
        cfg.model,
        cache_dir=str(cfg.paths.cache_dir),
        cache_mode=str(cache.get("mode", "readwrite")),
        shard_size=int(cache.get("shard_size", 4096)),
    )


def run_dir(cfg: DictConfig) -> Path:
    """<results_dir>/<experiment>/<run>/<dataset>: the folder holding one folder per domain."""
    return (
        Path(cfg.paths.results_dir)
        / safe_component(str(cfg.experiment_name))
        / safe_component(str(cfg.run_name))
        / safe_component(str(cfg.dataset.name))
    )


def write_per_query(path: Path, per_query: Any) -> None:
    """Per-query metric values as TSV: `qid` then one column per measure, values at full float precision."""
    with atomic_open(path) as fh:
        fh.write("\t".join(["qid", *map(str, per_query.columns)]) + "\n")
        for qid, row in per_query.iterrows():
            fh.write("\t".join([str(qid), *(repr(float(v)) for v in row.tolist())]) + "\n")


def domain_prompt(cfg: DictConfig, retriever: Retriever, domain: str) -> tuple[str | None, str]:
    """(instruction, exact query prompt) of `domain` for this model."""
    long_documents = bool(cfg.dataset.get("long_documents", False))
    instruction = resolve_instruction(cfg.instructions, domain, long_documents)
    return instruction, retriever.query_prompt(instruction)


def fingerprint_of(cfg: DictConfig, retriever: Retriever, data: DomainData) -> Fingerprint:
    """What determines this domain's numbers: the config less NON_RESULT_KEYS, the exact prompts, the data and
    the model identity."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    fields = config_fields({str(k): v for k, v in container.items()})
    prompts = {"query": domain_prompt(cfg, retriever, data.name)[1], "document": retriever.document_prompt}
    return Fingerprint(fields, data_sha256(data), retriever.identity(), prompts)


def evaluate_domain(
    cfg: DictConfig, retriever: Retriever, data: DomainData, out_dir: Path, fingerprint: Fingerprint
) -> dict[str, Any]:
    """Search, evaluate and write one domain's three result files; returns the summary written."""
    instruction, prompt = domain_prompt(cfg, retriever, data.name)
    t0 = time.perf_counter()
    outcome = retriever.search(data, prompt, int(cfg.top_k))
    checkpoint("searched")
    run = to_run([q.id for q in data.queries], outcome.ranked)
    t1 = time.perf_counter()
    result = evaluate(data.qrels, run, tuple(cfg.metrics))
    result = with_aspect_metrics(result, data, run, cfg.dataset)  # unchanged unless the data has aspects
    t2 = time.perf_counter()
    write_run(out_dir / RUN, run, tag=f"rtriever-eval.{cfg.run_name}")
    checkpoint("run_written")
    write_per_query(out_dir / PER_QUERY, result.per_query)
    checkpoint("per_query_written")
    summary: dict[str, Any] = {
        "domain": data.name,
        "model": str(cfg.model.name),
        "dataset": data.dataset,
        "experiment": str(cfg.experiment_name),
        "run": str(cfg.run_name),
        "metrics": {m: float(v) for m, v in result.summary.items()},
        "n_queries": len(result.per_query),
        "n_queries_searched": len(data.queries),
        "n_docs": data.n_docs,
        "top_k": int(cfg.top_k),
        "query_prompt": prompt,
        "document_prompt": retriever.document_prompt,
        "instruction_set": str(cfg.instructions.name),
        "instruction": instruction,
        "oracle": bool(cfg.dataset.get("oracle", False)),
        "counts": dict(outcome.counts),
        "model_settings": retriever.describe(),
        "dataset_source": data.source,
        "dataset_revision": data.revision,
        "dataset_details": dict(data.extra),
        "fingerprint": fingerprint.to_json(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": versions(),
        "git": git_state(),
        "timings": {
            **{k: round(v, 4) for k, v in outcome.timings.items()},
            "search_total_s": round(t1 - t0, 4),
            "evaluate_s": round(t2 - t1, 4),
        },
    }
    write_json_atomic(out_dir / SUMMARY, summary)
    return summary


def check_evaluable(data: DomainData) -> None:
    """An empty corpus or a domain without judged queries cannot give a number: refuse it clearly."""
    if not data.documents:
        raise InputError(f"domain '{data.name}' has an empty corpus: nothing to retrieve", path=data.source)
    if not data.qrels:
        raise InputError(f"domain '{data.name}' has no judged queries: nothing to evaluate", path=data.source)


class StaleResultsError(ConfigError):
    """Results on disk were computed under other settings (or data, or model) than this run's."""


@dataclass(frozen=True)
class Plan:
    """What a run will do: the retriever, and per selected domain whether its results are reused."""

    retriever: Retriever
    domains: list[str]
    reuse: dict[str, dict[str, Any]]  # domain -> the summary on disk whose fingerprint matches this run's


def _suggested_run_name(cfg: DictConfig, diffs: list[tuple[str, Any, Any]]) -> str:
    parts = [
        f"{key.rsplit('.', 1)[-1]}_{describe_value(new, 16)}"
        for key, _, new in diffs
        if key.startswith("config.") and not isinstance(new, dict | list)
    ][:3]
    suffix = "-".join(parts) or "new"
    return safe_component(f"{cfg.run_name}-{suffix}")


def plan_run(cfg: DictConfig) -> Plan:
    """Check everything that can be checked before any work, and decide which domains to reuse.

    A domain whose summary.json exists is reused when its fingerprint equals this run's; otherwise (other
    settings, data or model, or a summary without fingerprint) the run stops here with StaleResultsError,
    listing the differing keys, before anything is computed or written. overwrite=true recomputes everything.
    """
    domains = select_domains(cfg.dataset, cfg.domains)
    check_run(cfg, domains)
    retriever = _build_retriever(cfg)
    prompts = [domain_prompt(cfg, retriever, d)[1] for d in domains]
    retriever.preflight(prompts)
    base = run_dir(cfg)
    reuse: dict[str, dict[str, Any]] = {}
    stale: dict[str, list[tuple[str, Any, Any]]] = {}
    if not cfg.overwrite:
        for domain in domains:
            summary_path = base / safe_component(domain) / SUMMARY
            if not summary_path.exists():
                continue
            try:
                summary = json.loads(summary_path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(
                    f"unreadable summary ({exc}); overwrite=true recomputes it", path=summary_path
                ) from None
            data = load_domain(cfg.dataset, domain)
            current = fingerprint_of(cfg, retriever, data)
            diffs = differences(Fingerprint.from_json(summary.get("fingerprint")), current)
            if diffs:
                stale[domain] = diffs
            else:
                reuse[domain] = summary
    if stale:
        first = next(iter(stale.values()))
        shown = "; ".join(f"{k}: {describe_value(a)} → {describe_value(b)}" for k, a, b in first[:8])
        more = f" (and {len(first) - 8} more)" if len(first) > 8 else ""
        raise StaleResultsError(
            f"results for {', '.join(stale)} in {base} were computed under other settings than this run's: "
            f"{shown}{more}. Nothing was run and no file was changed. To keep both, give this run its own name "
            f"(run_name={_suggested_run_name(cfg, first)} writes beside them); to replace them, add overwrite=true",
            path=base,
        )
    return Plan(retriever, domains, reuse)


def run_encoding(cfg: DictConfig) -> list[EncodeOutcome]:
    """stage=encode: cache this worker's corpus shards (j % shard.count == shard.index) of every selected domain.

    Writes no results; domains whose results are reused are skipped, and stale results refuse as in a search.
    """
    if check_stage(cfg) != "encode":
        raise ConfigError("run_encoding runs stage=encode only", field="stage")
    index, count = int(cfg.shard.index), int(cfg.shard.count)
    plan = plan_run(cfg)
    outcomes: list[EncodeOutcome] = []
    for domain in plan.domains:
        if domain in plan.reuse:
            log.info("%s: results exist, nothing to encode (overwrite=true recomputes)", domain)
            outcomes.append(EncodeOutcome(domain, 0, 0, (), True))
            continue
        if not isinstance(plan.retriever, CorpusEncoder):
            log.info("stage=encode: model %s caches no corpus embeddings; nothing to do", cfg.model.name)
            return outcomes
        stats = plan.retriever.encode_corpus(load_domain(cfg.dataset, domain), shard_index=index, shard_count=count)
        outcomes.append(
            EncodeOutcome(domain, stats.rows_encoded, stats.rows_cached, tuple(stats.shards_encoded), False)
        )
    return outcomes


def run_evaluation(cfg: DictConfig) -> list[DomainOutcome]:
    """Evaluate every selected domain of cfg.dataset with cfg.model; domains with current results are reused.

    stage=all encodes whatever the embedding cache lacks; stage=search first checks that the corpus is cached.
    """
    stage = check_stage(cfg)
    if stage == "encode":
        raise ConfigError("stage=encode writes no results: use run_encoding", field="stage")
    plan = plan_run(cfg)
    retriever = plan.retriever
    base = run_dir(cfg)
    outcomes: list[DomainOutcome] = []
    for domain in plan.domains:
        out_dir = base / safe_component(domain)
        summary_path = out_dir / SUMMARY
        if domain in plan.reuse:
            log.info("%s: %s holds this run's results (same fingerprint), reusing them", domain, summary_path)
            outcomes.append(DomainOutcome(domain, out_dir, plan.reuse[domain], True))
            continue
        data = load_domain(cfg.dataset, domain)
        check_evaluable(data)
        fingerprint = fingerprint_of(cfg, retriever, data)
        if stage == "search" and isinstance(retriever, CorpusEncoder):
            retriever.require_corpus_cached(data)
        if summary_path.exists():
            summary_path.unlink()  # overwrite: never leave an old summary beside new files
        summary = evaluate_domain(cfg, retriever, data, out_dir, fingerprint)
        metrics: Mapping[str, float] = summary["metrics"]
        log.info("%s / %s: %s", cfg.run_name, domain, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        outcomes.append(DomainOutcome(domain, out_dir, summary, False))
    return outcomes
