"""stage=plan: what a job would do and spend, before any weight is loaded or anything is run. Per domain: whether
its results are reused, which cache shards are complete or missing, how many distinct texts and model input tokens
are still to encode (counted with the model's tokenizer, on a seeded sample with its 95% error when a side is
large), the memory guard's verdict, and device-hours from a given or recorded throughput.

Knows the plan, the dense retriever's cache keys and tokenizer, and the throughput log; it encodes, searches and
writes nothing but the plan itself (printed, and as plan.json in the job's Hydra folder for a sweep's totals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.base.io import write_json_atomic
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.cache.entry import compact_ranges, shard_ranges
from rtriever_eval.job.cost import device_kind, model_key, recorded_throughput
from rtriever_eval.job.domains import load_evaluated
from rtriever_eval.job.plan import Plan, fingerprint_of
from rtriever_eval.results.contract import SUMMARY_FILE, read_summary
from rtriever_eval.results.fingerprint import Fingerprint, differences
from rtriever_eval.retrievers.dedup import Distinct

PLAN_FILE = "plan.json"


@dataclass
class TokenEstimate:
    """Tokens of a set of texts: ``total`` (exact when ``sampled`` is 0), ± ``error`` at 95%."""

    total: float
    error: float
    sampled: int


def estimate_tokens(texts: Sequence[str], wanted: np.ndarray, count: Callable[[list[str]], np.ndarray], *,
                    cap: int | None, sample: int, seed: int) -> TokenEstimate:  # fmt: skip
    """Tokens of ``texts[i]`` for the ``wanted`` ones (a boolean mask): every one counted when they number at most
    ``sample``; else a difference estimator on a seeded sample: each text predicted from its length in characters
    (tokens per character fitted on the sample, capped at ``cap``), plus the sample's mean residual, with the
    residuals' standard error (finite-population corrected) as the error."""
    chosen = np.flatnonzero(wanted).tolist()
    if len(chosen) <= sample:
        return TokenEstimate(float(count([texts[i] for i in chosen]).sum()) if chosen else 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(chosen, size=sample, replace=False).tolist())
    measured = count([texts[i] for i in picked]).astype(np.float64)
    chars = np.fromiter((len(texts[i]) for i in chosen), dtype=np.float64, count=len(chosen))
    sample_chars = np.fromiter((len(texts[i]) for i in picked), dtype=np.float64, count=len(picked))
    free = measured < cap if cap is not None else np.ones_like(measured, dtype=bool)
    slope, intercept = np.polyfit(sample_chars[free], measured[free], 1) if free.sum() > 2 else (0.0, measured.mean())

    def predict(c: np.ndarray) -> np.ndarray:
        p = intercept + slope * c
        return np.minimum(p, cap) if cap is not None else p

    residual = measured - predict(sample_chars)
    n, size = sample, len(chosen)
    total = float(predict(chars).sum() + size * residual.mean())
    error = 1.96 * size * float(residual.std(ddof=1)) / math.sqrt(n) * math.sqrt(1 - n / size)
    return TokenEstimate(total, error, n)


@dataclass
class SidePlan:
    side: str
    texts: int  # distinct texts (chunks under chunk_max)
    shards: int
    missing_shards: list[int]
    texts_to_encode: int
    tokens_to_encode: TokenEstimate
    tokens_total: TokenEstimate


@dataclass
class DomainPlan:
    domain: str
    results: str  # "reused", "to compute", or "stale: <first differences>"
    sides: list[SidePlan] = field(default_factory=list)
    note: str = ""

    @property
    def tokens_to_encode(self) -> float:
        return sum(s.tokens_to_encode.total for s in self.sides)


def _results_state(plan: Plan, domain: str, data: Any) -> str:
    path = plan.folder / safe_component(domain) / SUMMARY_FILE
    if plan.settings.overwrite or not path.is_file():
        return "to compute"
    diffs = differences(Fingerprint.from_json(read_summary(path).fingerprint), fingerprint_of(plan, data))
    if not diffs:
        return "reused"
    return "stale, would be refused: " + "; ".join(f"{k}" for k, _, _ in diffs[:3])


def _side(plan: Plan, side: str, prompt: str, pairs: list[tuple[str, str]], reused: bool) -> SidePlan:
    retriever: Any = plan.retriever
    s = plan.settings
    distinct = Distinct.of([t for _, t in pairs])
    size = retriever.cache.shard_size
    entry = retriever.cache.lookup(retriever.cache_key(side, prompt, pairs), distinct.n_distinct)
    if entry is not None:
        size = entry.shard_size
    ranges = shard_ranges(distinct.n_distinct, size)
    missing = [] if reused else (entry.missing_shards() if entry is not None else list(range(len(ranges))))
    wanted = np.zeros(distinct.n_distinct, dtype=bool)
    for j in missing:
        wanted[ranges[j][0] : ranges[j][1]] = True
    is_query = side == "queries"
    tokenization = retriever.encoder.tokenization

    def count(batch: list[str]) -> np.ndarray:
        return np.asarray(tokenization.token_ids(batch, prompt, is_query=is_query).lengths)

    cap = s.model.effective_query_max_length if is_query else s.model.max_length
    sample, seed = s.plan.sample, s.plan.seed
    if distinct.n_distinct <= sample:  # small: count every text once, both figures exact
        lengths = count(distinct.texts) if distinct.texts else np.zeros(0)
        todo = TokenEstimate(float(lengths[wanted].sum()), 0.0, 0)
        total = TokenEstimate(float(lengths.sum()), 0.0, 0)
    else:
        every = np.ones(distinct.n_distinct, dtype=bool)
        todo = estimate_tokens(distinct.texts, wanted, count, cap=cap, sample=sample, seed=seed)
        total = estimate_tokens(distinct.texts, every, count, cap=cap, sample=sample, seed=seed)
    return SidePlan(side, distinct.n_distinct, len(ranges), missing, int(wanted.sum()), todo, total)


def plan_domain(plan: Plan, domain: str) -> DomainPlan:
    """What the job would do for ``domain``; nothing is encoded, searched or written."""
    data = load_evaluated(plan.settings, domain)
    out = DomainPlan(domain, _results_state(plan, domain, data))
    retriever: Any = plan.retriever
    if not hasattr(retriever, "cache_key"):
        out.note = f"{plan.settings.model.kind}: nothing to encode (scores computed in the run itself)"
        return out
    prompts = plan.prompts[domain]
    reused = out.results == "reused"
    out.sides.append(_side(plan, "documents", prompts.document, retriever._corpus_pairs(data), reused))
    out.sides.append(_side(plan, "queries", prompts.query, [(q.id, q.text) for q in data.queries], reused))
    return out


def run_plan(plan: Plan, out_dir: Path | None) -> dict[str, Any]:
    """Every domain's plan, the memory verdict, the throughput and device-hours; printed and written as JSON."""
    s = plan.settings
    domains = [plan_domain(plan, d) for d in plan.domains]
    retriever: Any = plan.retriever
    throughput, source = s.plan.tokens_per_second, "plan.tokens_per_second"
    kind, memory = "", "no model weights to hold"
    if hasattr(retriever, "cache_key"):
        kind = device_kind(retriever.encoder.kernels.device)
        memory = f"refused: {plan.memory_refusal}" if plan.memory_refusal else "fits (the memory guard passed)"
        if throughput is None:
            key = model_key(retriever.identity(""), s.model.dtype, s.model.max_length)
            found = recorded_throughput(s.paths.cache_dir, key, kind)
            if found is not None:
                throughput, source = found[0], f"recorded by {found[1]} earlier encode(s) on {kind}"
    tokens = sum(d.tokens_to_encode for d in domains)
    error = math.sqrt(sum(side.tokens_to_encode.error**2 for d in domains for side in d.sides))
    hours = tokens / throughput / 3600 if throughput else None
    report = {
        "run": s.run_name, "model": s.model.name, "dataset": s.dataset.name, "device_kind": kind,
        "memory": memory, "tokens_to_encode": round(tokens), "tokens_error_95": round(error),
        "tokens_per_second": throughput, "throughput_source": source if throughput else "none recorded or given",
        "device_hours": hours, "domains": [_as_json(d) for d in domains],
    }  # fmt: skip
    print(render(report))
    if out_dir is not None:
        write_json_atomic(out_dir / PLAN_FILE, report)
    return report


def _as_json(d: DomainPlan) -> dict[str, Any]:
    return {"domain": d.domain, "results": d.results, "note": d.note,
            "sides": [{**asdict(side), "tokens_to_encode": asdict(side.tokens_to_encode),
                       "tokens_total": asdict(side.tokens_total)} for side in d.sides]}  # fmt: skip


def _tok(e: dict[str, Any]) -> str:
    text = f"{e['total']:,.0f}"
    return text + (f" ±{e['error']:,.0f} (sample {e['sampled']:,})" if e["sampled"] else "")


def render(report: dict[str, Any]) -> str:
    """The plan as a person reads it: one line per domain and side, then the totals."""
    lines = [f"Plan for run {report['run']} ({report['model']} on {report['dataset']}); nothing was run."]
    for d in report["domains"]:
        lines.append(f"  {d['domain']}: results {d['results']}" + (f"; {d['note']}" if d["note"] else ""))
        for side in d["sides"]:
            missing = side["missing_shards"]
            shards = ("complete" if not missing else f"{len(missing)} of {side['shards']} shards missing "
                      f"({compact_ranges(missing)})")  # fmt: skip
            lines.append(f"    {side['side']}: {side['texts']:,} distinct texts, cache {shards}; to encode "
                         f"{side['texts_to_encode']:,} texts, {_tok(side['tokens_to_encode'])} tokens (all: "
                         f"{_tok(side['tokens_total'])})")  # fmt: skip
    hours = report["device_hours"]
    lines.append(f"  memory: {report['memory']}")
    lines.append(f"  total to encode: {report['tokens_to_encode']:,} tokens ±{report['tokens_error_95']:,}; "
                 + (f"{hours:.3f} device-hours at {report['tokens_per_second']:,.0f} tokens/s "
                    f"({report['throughput_source']})" if hours is not None else
                    "device-hours unknown: give plan.tokens_per_second= or run once on this device kind"))  # fmt: skip
    return "\n".join(lines)


def sweep_totals(plans: list[dict[str, Any]]) -> str:
    """One line summing a sweep's plans (each job's plan.json)."""
    tokens = sum(p["tokens_to_encode"] for p in plans)
    known = [p["device_hours"] for p in plans if p["device_hours"] is not None]
    partial = "" if len(known) == len(plans) else f" for the {len(known)} of {len(plans)} jobs with a throughput"
    hours = f"{sum(known):.3f} device-hours{partial}"
    return f"Sweep of {len(plans)} jobs: {tokens:,} tokens to encode, {hours}"


def read_plans(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob(PLAN_FILE))]
