"""BRIGHT-scale dry run on the CPU: a generated copy shaped like BRIGHT (12 domains, its document and query counts
x --scale, about 1.07 billion characters at full scale) through the whole dense path with a tiny random-weight
Qwen3 (the real Qwen3 tokenizer), in one process, with wall time, memory and disk per stage.

Stages: generate (synthetic.write_bright_copy), plan (config, tokenizer, model identity), load (the JSONL read
into DomainData), fingerprint (the results' data hash), dedup (distinct-text hashing, dedup.Distinct), cache key
(sha256 over every (id, text)), tokenize, forward (model batches incl. padding and pooling), shard writes (the
cache's .npy, checksum and manifest), the rest of the corpus encode, queries, rank, evaluate, write (run.trec,
per_query.tsv, summary.json), report (reporting.tables.build_reports). The summaries' `timings` and `counts`
give encode, rank and evaluate; the finer stages come from timers wrapped around the package's own functions
(nothing of the package is changed, the run takes its normal code path). Printed: wall time per stage (total and
per domain), the memory the loaded documents hold and each domain's peak RSS, the process's peak RSS, cache size
on disk, distinct texts vs documents, tokens encoded, seconds per 100k documents per stage, each stage's share of
the time, and a linear full-scale estimate (model, tokenizer, rest of the harness).

    python benchmarks/bright_scale.py --scale 0.01 --threads 1    # 13k documents, about 2 minutes on 2 cores
    python benchmarks/bright_scale.py --scale 0.05 --threads 1 --profile /tmp/bright.prof
    nice -n 19 python benchmarks/bright_scale.py --threads 1      # the full 1,333,166 documents (over an hour)
    python benchmarks/bright_scale.py --scale 0.05 --domains leetcode --shard-size 64 --max-length 32
                                                                  # the cache's per-shard bookkeeping

On a shared CPU, --threads 1 runs the tiny model about twice as fast as two OpenMP threads that get descheduled.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import json
import os
import pstats
import resource
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rtriever_eval.settings.registry import BRIGHT_DOMAINS, BRIGHT_SHAPE

FULL_DOCS = sum(s.documents for s in BRIGHT_SHAPE.values())
FULL_QUERIES = sum(s.queries for s in BRIGHT_SHAPE.values())

CORPUS_STAGES = ("load", "fingerprint", "dedup", "cache_key", "tokenize", "forward", "shard_write", "encode_other")
"""Stages whose work grows with the corpus (extrapolated by documents)."""
QUERY_STAGES = ("queries",)
"""Grows with the queries only."""
RANK_STAGES = ("rank",)
"""Grows with documents x queries."""
FIXED_STAGES = ("evaluate", "write", "other")
"""Per query (top-k lists) or per domain: does not grow with the corpus."""
DOMAIN_STAGES = (*CORPUS_STAGES, *QUERY_STAGES, *RANK_STAGES, *FIXED_STAGES)


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssSampler:
    """Samples VmRSS every ``interval`` seconds in a thread; ``peak()`` since the last ``reset()``, in MiB."""

    def __init__(self, interval: float = 0.1) -> None:
        self._peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_mib())
            time.sleep(interval)

    def reset(self) -> float:
        self._peak = now = rss_mib()
        return now

    def peak(self) -> float:
        self._peak = max(self._peak, rss_mib())
        return self._peak

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Probe:
    """Seconds and counts per (domain, stage), from timers wrapped around the package's functions; a stage timed
    while the queries are embedded is recorded as ``q:<stage>``."""

    def __init__(self) -> None:
        self.domain = "(plan)"
        self.side = ""
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._active: set[str] = set()
        self._undo: list[Callable[[], None]] = []

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Adds the block's wall time to ``stage`` of the current domain (re-entrant calls count once)."""
        if self.side == "queries":
            stage = f"q:{stage}"
        if stage in self._active:
            yield
            return
        self._active.add(stage)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[self.domain][stage] += time.perf_counter() - t0
            self._active.discard(stage)

    def wrap(self, owner: Any, name: str, stage: str, after: Callable[..., None] | None = None) -> None:
        """Replace ``owner.name`` by a timed version (``after(result, *args, **kwargs)`` records counts)."""
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        func = original.__func__ if isinstance(original, classmethod) else original

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timed(stage):
                result = func(*args, **kwargs)
            if after is not None:
                after(result, *args, **kwargs)
            return result

        self.replace(owner, name, classmethod(timed) if isinstance(original, classmethod) else timed)

    def replace(self, owner: Any, name: str, value: Any) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


class DomainWatch:
    """Per domain: its wall time (load start to results written), RSS before it, its sampled peak, and whether
    the previous domain's data was still alive while this one loaded."""

    def __init__(self, probe: Probe, sampler: RssSampler) -> None:
        self.probe = probe
        self.sampler = sampler
        self.started: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.rss_before: dict[str, float] = {}
        self.held: dict[str, int] = {}
        self.rss_peak: dict[str, float] = {}
        self.prev_alive: dict[str, bool] = {}
        self.chars: dict[str, int] = {}
        self._last: Any = None

    def install(self) -> None:
        import rtriever_eval.job.pipeline as pipeline

        load_evaluated, evaluate_domain = pipeline.load_evaluated, pipeline.evaluate_domain

        def watched_load(s: Any, domain: str) -> Any:
            self.probe.domain = domain
            self.prev_alive[domain] = self._last is not None and self._last() is not None
            self.started[domain] = time.perf_counter()
            self.rss_before[domain] = self.sampler.reset()
            with self.probe.timed("load"):
                data = load_evaluated(s, domain)
            t_own = time.perf_counter()
            self.chars[domain] = sum(len(d.text) for d in data.documents)
            self.held[domain] = corpus_bytes(data)
            self.started[domain] += time.perf_counter() - t_own  # not the pipeline's time
            self._last = weakref.ref(data)
            return data

        def watched_evaluate(plan: Any, data: Any, out_dir: Path, fingerprint: Any, *rest: Any) -> Any:
            summary = evaluate_domain(plan, data, out_dir, fingerprint, *rest)
            self.wall[data.name] = time.perf_counter() - self.started[data.name]
            self.rss_peak[data.name] = self.sampler.peak()
            return summary

        self.probe.replace(pipeline, "load_evaluated", watched_load)
        self.probe.replace(pipeline, "evaluate_domain", watched_evaluate)


def instrument(probe: Probe, max_length: int) -> None:
    """Timers around the functions the dense path calls per domain (patched where the caller looks them up)."""
    import rtriever_eval.job.pipeline as pipeline
    import rtriever_eval.job.plan as plan
    import rtriever_eval.retrievers.dense as dense
    from rtriever_eval.cache.entry import CacheEntry
    from rtriever_eval.encoders.hf import HFEncoder
    from rtriever_eval.encoders.tokenization import Tokenization
    from rtriever_eval.retrievers.dedup import Distinct

    embeddings = dense.DenseRetriever.embeddings

    def sided(self: Any, side: str, *args: Any, **kwargs: Any) -> Any:
        probe.side = side
        try:
            return embeddings(self, side, *args, **kwargs)
        finally:
            probe.side = ""

    def count_tokens(result: Any, _self: Any, texts: Any, prompt: str = "", *, is_query: bool) -> None:
        side = "query" if is_query else "doc"
        c = probe.counts[probe.domain]
        c[f"{side}_texts"] += len(result)
        c[f"{side}_tokens"] += int(result.offsets[-1])
        if not is_query:
            c["docs_at_max_length"] += int((result.lengths >= max_length).sum())

    probe.replace(dense.DenseRetriever, "embeddings", sided)
    probe.wrap(plan, "data_sha256", "fingerprint")
    probe.wrap(dense, "texts_fingerprint", "cache_key")
    probe.wrap(Distinct, "of", "dedup")
    probe.wrap(Tokenization, "token_ids", "tokenize", count_tokens)
    probe.wrap(HFEncoder, "_load_model", "model_load")
    probe.wrap(HFEncoder, "encode", "encode_call")
    probe.wrap(CacheEntry, "write_shard", "shard_write")
    probe.wrap(pipeline, "write_domain", "write")


def overrides(root: Path, tiny: Path, args: argparse.Namespace) -> list[str]:
    out = [
        "model=rtriever_4b",
        f"model.path={tiny}",
        "model.dtype=float32",
        f"model.max_length={args.max_length}",
        "dataset=bright",
        f"dataset.path={root / 'bright'}",
        f"paths.cache_dir={root / 'cache'}",
        f"paths.results_dir={root / 'results'}",
        "print_report=false",
        "run_name=tiny_qwen3",
    ]
    if args.batch_size is not None:
        out.append(f"model.batch_size={args.batch_size}")
    if args.max_tokens_per_batch is not None:
        out.append(f"model.max_tokens_per_batch={args.max_tokens_per_batch}")
    if args.shard_size is not None:
        out.append(f"cache.shard_size={args.shard_size}")
    return out


def corpus_bytes(data: Any) -> int:
    """Bytes the loaded documents hold as Python objects: the tuple, each Document (and its __dict__ unless it has
    slots), its id and its text."""
    size = sys.getsizeof
    held = size(data.documents)
    for d in data.documents:
        held += size(d) + size(d.id) + size(d.text) + (size(d.__dict__) if hasattr(d, "__dict__") else 0)
    return held


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def domain_rows(probe: Probe, summaries: dict[str, dict[str, Any]], watch: DomainWatch) -> dict[str, dict[str, float]]:
    """Per domain, seconds per stage (DOMAIN_STAGES plus model_load), summing to the domain's wall time."""
    rows: dict[str, dict[str, float]] = {}
    for domain, summary in summaries.items():
        t, sec = summary["timings"], probe.seconds[domain]
        row = {k: sec[k] for k in ("load", "fingerprint", "dedup", "cache_key", "tokenize", "shard_write", "write")}
        row["model_load"] = sec["model_load"]
        row["forward"] = sec["encode_call"] - sec["tokenize"] - sec["model_load"]
        inside = ("dedup", "cache_key", "tokenize", "forward", "shard_write", "model_load")
        # encode_corpus_s: the documents' dedup, cache key, encoder calls and shard writes, and the cache's
        # bookkeeping (manifest, shard records, memory-mapping), which is what is left
        row["encode_other"] = max(0.0, t["encode_corpus_s"] - sum(row[k] for k in inside))
        row["queries"] = t["encode_queries_s"]
        row["rank"] = t["rank_s"]
        row["evaluate"] = t["evaluate_s"]
        row["wall"] = watch.wall[domain]
        known = row["load"] + row["fingerprint"] + t["search_total_s"] + row["evaluate"] + row["write"]
        row["other"] = max(0.0, row["wall"] - known)  # to_run, the summary (git state, versions), the log line
        rows[domain] = row
    return rows


def fmt_s(x: float) -> str:
    return f"{x:8.2f}" if x < 1000 else f"{x:8.0f}"


def print_domains(
    rows: dict[str, dict[str, float]], summaries: dict[str, dict[str, Any]], watch: DomainWatch, tokens: dict[str, int]
) -> None:
    heads = (
        "load",
        "fprint",
        "dedup",
        "key",
        "tokenize",
        "forward",
        "shards",
        "enc.oth",
        "queries",
        "rank",
        "eval",
        "write",
        "other",
        "wall",
    )
    print(
        "\nseconds per stage and domain (wall: load start to results written; the first domain's includes the "
        f"model load, {sum(r['model_load'] for r in rows.values()):.1f}s)"
    )
    print(
        f"{'domain':<19} {'docs':>9} {'distinct':>9} {'Mchars':>7} {'Mtok':>6} "
        + "".join(f"{h:>9}" for h in heads)
        + f" {'heldMiB':>8} {'RSS+peak':>8}"
    )
    for domain, row in rows.items():
        counts = summaries[domain]["counts"]
        print(
            f"{domain:<19} {counts['documents']:>9,} {counts['distinct_documents']:>9,} "
            f"{watch.chars[domain] / 1e6:>7.1f} {tokens[domain] / 1e6:>6.2f} "
            + "".join(fmt_s(row[k]) for k in (*DOMAIN_STAGES, "wall"))
            + f" {watch.held[domain] / 2**20:>8.0f}"
            f" {watch.rss_peak[domain] - watch.rss_before[domain]:>8.0f}"
        )
    total = {k: sum(r[k] for r in rows.values()) for k in (*DOMAIN_STAGES, "wall")}
    docs = sum(s["counts"]["documents"] for s in summaries.values())
    distinct = sum(s["counts"]["distinct_documents"] for s in summaries.values())
    print(
        f"{'total':<19} {docs:>9,} {distinct:>9,} {sum(watch.chars.values()) / 1e6:>7.1f} "
        f"{sum(tokens.values()) / 1e6:>6.2f} " + "".join(fmt_s(total[k]) for k in (*DOMAIN_STAGES, "wall"))
    )
    print(
        "fprint: data_sha256 (the results fingerprint); dedup: Distinct.of; key: texts_fingerprint (the cache "
        "key);\nshards: CacheEntry.write_shard; enc.oth: the rest of encode_corpus_s; heldMiB: the loaded documents' "
        "Python\nobjects (sys.getsizeof); RSS+peak: the domain's sampled peak RSS over the RSS before it"
    )
    alive = [d for d, a in watch.prev_alive.items() if a]
    if alive:
        print(f"the previous domain's DomainData was still referenced while loading: {', '.join(alive)}")


def print_stages(stage_s: dict[str, float], n_docs: int, n_queries: int) -> None:
    """Each stage's seconds, share, seconds per 100k documents, and its full-scale estimate."""
    grand = sum(stage_s.values())
    docs, queries = FULL_DOCS / n_docs, FULL_QUERIES / n_queries
    kind = {"model_load": "model", "forward": "model", "queries": "model", "tokenize": "tokenize"}
    estimate = {"model": 0.0, "tokenize": 0.0, "harness": 0.0}
    print(f"\n{'stage':<13} {'seconds':>9} {'share':>6} {'s/100k docs':>11} {'full est. s':>11}  grows with")
    for stage, sec in stage_s.items():
        if stage in CORPUS_STAGES or stage == "generate":
            full, how = sec * docs, "documents"
        elif stage in QUERY_STAGES:
            full, how = sec * queries, "queries"
        elif stage in RANK_STAGES:
            full, how = sec * docs * queries, "documents x queries"
        else:
            full, how = sec, "nothing (per query or per domain)"
        estimate[kind.get(stage, "harness")] += full
        print(f"{stage:<13} {sec:9.2f} {sec / grand:6.1%} {sec / n_docs * 1e5:11.2f} {full:11.0f}  {how}")
    total = sum(estimate.values())
    print(f"{'total':<13} {grand:9.2f} {1:6.1%} {grand / n_docs * 1e5:11.2f} {total:11.0f}")
    print(
        f"full scale ({FULL_DOCS:,} documents, {FULL_QUERIES:,} queries), linear extrapolation: {total / 60:.1f} min"
        f" = model {estimate['model'] / 60:.1f} min (forward, queries, model load) + tokenize "
        f"{estimate['tokenize'] / 60:.1f} min + the rest of the harness {estimate['harness'] / 60:.1f} min"
    )


def run(args: argparse.Namespace, root: Path) -> None:
    from rtriever_eval.data.synthetic import write_bright_copy

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    domains = [d for d in BRIGHT_DOMAINS if not args.domains or d in args.domains.split(",")]
    print(
        f"workdir {root}  scale {args.scale}  query scale {args.query_scale}  max_length {args.max_length}  "
        f"torch threads {_torch_threads()}  cpus {os.cpu_count()}",
        flush=True,
    )

    t0 = time.perf_counter()
    stats = write_bright_copy(root / "bright", scale=args.scale, query_scale=args.query_scale, domains=domains)
    gen_s = time.perf_counter() - t0
    n_docs = sum(s["documents"] for s in stats.values())
    n_distinct = sum(s["distinct"] for s in stats.values())
    n_queries = sum(s["queries"] for s in stats.values())
    copy_bytes = folder_bytes(root / "bright")
    print(
        f"generate: {n_docs:,} documents ({n_distinct:,} distinct texts), {n_queries:,} queries, "
        f"{copy_bytes / 2**20:,.0f} MiB of JSONL in {gen_s:.1f}s ({gen_s / n_docs * 1e5:.1f}s per 100k "
        f"documents); peak RSS {peak_rss_mib():,.0f} MiB",
        flush=True,
    )

    from rtriever_eval.testing import save_tiny_qwen3

    tiny = save_tiny_qwen3(root / "tiny_qwen3", eos_postprocessor=True, with_st_modules=False)

    from rtriever_eval.job.pipeline import run_evaluation
    from tests.helpers import compose_config

    probe = Probe()
    with RssSampler() as sampler:
        watch = DomainWatch(probe, sampler)
        watch.install()
        instrument(probe, args.max_length)
        cfg = compose_config(*overrides(root, tiny, args), f"domains=[{','.join(domains)}]")
        profiler = cProfile.Profile() if args.profile else None
        rss_start = rss_mib()
        t_run = time.perf_counter()
        try:
            if profiler is not None:
                profiler.enable()
            outcomes = run_evaluation(cfg)
            if profiler is not None:
                profiler.disable()
        finally:
            probe.restore()
        run_s = time.perf_counter() - t_run
        rss_after_run = rss_mib()

        from rtriever_eval.reporting.tables import build_reports

        t_rep = time.perf_counter()
        _, report_files = build_reports(root / "results")
        report_s = time.perf_counter() - t_rep

    summaries = {o.domain: json.loads((o.out_dir / "summary.json").read_text()) for o in outcomes}
    rows = domain_rows(probe, summaries, watch)
    plan_s = run_s - sum(watch.wall.values())
    cache_bytes = folder_bytes(root / "cache" / "embeddings")
    results_bytes = folder_bytes(root / "results")

    tokens = {d: int(probe.counts[d]["doc_tokens"]) for d in rows}
    cut = sum(int(probe.counts[d]["docs_at_max_length"]) for d in rows)
    print_domains(rows, summaries, watch, tokens)
    stage_s: dict[str, float] = {"generate": gen_s, "plan": plan_s}
    stage_s["model_load"] = sum(r["model_load"] for r in rows.values())
    stage_s.update({k: sum(r[k] for r in rows.values()) for k in DOMAIN_STAGES})
    stage_s["report"] = report_s
    print_stages(stage_s, n_docs, n_queries)

    n_tokens, chars = sum(tokens.values()), sum(watch.chars.values())
    per_doc = ", ".join(f"{k} {stage_s[k] / n_docs * 1e6:.1f}" for k in CORPUS_STAGES)
    print(
        f"\ntokens encoded (documents): {n_tokens:,} ({n_tokens / n_docs:.0f} per document; {cut:,} documents "
        f"cut at {args.max_length}); tokenize {n_tokens / max(stage_s['tokenize'], 1e-9):,.0f} tok/s, forward "
        f"{n_tokens / max(stage_s['forward'], 1e-9):,.0f} tok/s"
    )
    print(f"microseconds per document: {per_doc}")
    print(
        f"distinct texts vs documents: {n_distinct:,} of {n_docs:,} ({n_distinct / n_docs:.1%}); corpus "
        f"{chars / 1e6:,.1f} M characters ({chars / n_docs:.0f} per document), {copy_bytes / 2**20:,.0f} MiB JSONL"
    )
    print(
        f"peak RSS {peak_rss_mib():,.0f} MiB (getrusage); RSS {rss_start:,.0f} MiB before run_evaluation, "
        f"{rss_after_run:,.0f} MiB after it"
    )
    print(
        f"cache on disk {cache_bytes / 2**20:,.1f} MiB ({cache_bytes / max(n_distinct, 1):.0f} B per distinct "
        f"text); results {results_bytes / 2**20:,.1f} MiB; {len(report_files)} report files"
    )
    print(f"wall: generate {gen_s:.1f}s, run_evaluation {run_s:.1f}s (plan {plan_s:.1f}s), report {report_s:.2f}s")

    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"\ncProfile of run_evaluation written to {args.profile}; top 30 by own time:")
        pstats.Stats(args.profile, stream=sys.stdout).sort_stats("tottime").print_stats(30)


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of BRIGHT's documents per domain")
    parser.add_argument("--query-scale", type=float, default=1.0, help="share of BRIGHT's queries per domain")
    parser.add_argument("--workdir", default=None, help="where the copy, cache and results go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="leave the workdir's files in place")
    parser.add_argument("--max-length", type=int, default=512, help="model.max_length for the documents")
    parser.add_argument("--batch-size", type=int, default=None, help="model.batch_size (default: the config's)")
    parser.add_argument(
        "--max-tokens-per-batch", type=int, default=None, help="model.max_tokens_per_batch (default: the config's)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is steadier and faster on a busy shared box)"
    )
    parser.add_argument(
        "--shard-size", type=int, default=None, help="cache.shard_size (default 4096; small sizes show shard costs)"
    )
    parser.add_argument("--domains", default=None, help="comma-separated subset of the 12 domains")
    parser.add_argument("--profile", default=None, help="cProfile run_evaluation into this file, print the top")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers
    own = args.workdir is None
    root = Path(tempfile.mkdtemp(prefix="rtriever-bright-scale-")) if own else Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    try:
        run(args, root)
    finally:
        if not args.keep:
            if own:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for sub in ("bright", "tiny_qwen3", "cache", "results"):
                    shutil.rmtree(root / sub, ignore_errors=True)


if __name__ == "__main__":
    main()
