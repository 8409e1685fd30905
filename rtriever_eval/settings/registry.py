"""The benchmark registry: per benchmark, its domains in display order, its long-document domains, the kind of
each domain (which instruction wording it takes), its loader, and each track's headline and default metrics.

The one place that lists domains; it knows no file and reads no data (the loaders in data/ do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rtriever_eval.base.errors import ConfigError


@dataclass(frozen=True)
class Track:
    """Short documents or long ones: the metric tables lead with, and the metrics a run reports by default."""

    name: str
    headline: str
    metrics: tuple[str, ...]


SHORT = Track("short", "nDCG@10", ("nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP", "Judged@10"))
# BRIGHT's leaderboard and MTEB report Recall@1 on the long track (236 long queries have several gold documents,
# so R@1 is not a hit rate there); tables, plots and the gate lead with it.
LONG = Track("long", "R@1", ("R@1", "nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP", "Judged@10"))
JUDGED = "Judged@10"
"""Beside every headline: how much of the top 10 the judgments speak for (metrics/judged.py)."""
TRACKS = {t.name: t for t in (SHORT, LONG)}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's table. ``loader`` names the reader in data/ (``bright``, ``bright_pro``, ``beir``);
    ``domains`` empty means one domain per folder, named after it (BEIR)."""

    name: str
    loader: str
    domains: tuple[str, ...] = ()
    long_domains: tuple[str, ...] = ()
    kinds: Mapping[str, str] = field(default_factory=dict)
    query_sources: tuple[str, ...] = ("examples",)

    def available(self, *, long_documents: bool, path: str | None = None) -> list[str]:
        """The domains a dataset of this benchmark offers (on the long track, those with long documents)."""
        if not self.domains:
            if path is None:
                raise ConfigError(f"a {self.name} dataset needs dataset.path=<folder>", field="dataset.path")
            return [Path(path).name]
        if long_documents:
            if not self.long_domains:
                raise ConfigError(f"{self.name} has no long-document track", field="dataset.long_documents")
            return list(self.long_domains)
        return list(self.domains)


STACKEXCHANGE = ("biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
                 "sustainable_living")  # fmt: skip
BRIGHT_DOMAINS = (*STACKEXCHANGE, "leetcode", "pony", "aops", "theoremqa_questions", "theoremqa_theorems")
BRIGHT_KINDS: Mapping[str, str] = {
    **{d: "post" for d in STACKEXCHANGE},
    "pony": "question",
    "leetcode": "coding",
    "aops": "math_examples",
    "theoremqa_questions": "math_examples",
    "theoremqa_theorems": "math_theorems",
}


@dataclass(frozen=True)
class DomainShape:
    """A BRIGHT domain's size: documents in its short corpus, queries, and mean characters per document."""

    documents: int
    queries: int
    mean_chars: int


BRIGHT_SHAPE: Mapping[str, DomainShape] = {
    d: DomainShape(*shape)
    for d, shape in {
        "biology": (57_359, 103, 520), "earth_science": (121_249, 116, 620), "economics": (50_220, 103, 730),
        "psychology": (52_835, 101, 650), "robotics": (61_961, 101, 1_010), "stackoverflow": (107_081, 117, 1_300),
        "sustainable_living": (60_792, 108, 690), "leetcode": (413_932, 142, 1_100), "pony": (7_894, 112, 490),
        "aops": (188_002, 111, 450), "theoremqa_questions": (188_002, 194, 450),
        "theoremqa_theorems": (23_839, 76, 710),
    }.items()
}  # fmt: skip
"""1,333,166 documents and 1,384 queries in all; the mean lengths are this project's estimates, chosen so the
corpus holds about 1.07 billion characters as BRIGHT does (used to shape generated copies, never to evaluate)."""
REASONING_SOURCES = ("gpt4_reason", "claude-3-opus_reason", "llama3-70b_reason", "Gemini-1.0_reason", "grit_reason")
"""BRIGHT's hub configs whose `query` is an LLM's reasoning about the original query."""

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("bright", "bright", BRIGHT_DOMAINS, (*STACKEXCHANGE, "pony"), BRIGHT_KINDS,
                  ("examples", *REASONING_SOURCES)),
        Benchmark("bright_pro", "bright_pro", STACKEXCHANGE, (), BRIGHT_KINDS),
        # the project's own sample data, in BRIGHT's schema (conf/dataset/sample.yaml)
        Benchmark("sample", "bright", ("biology", "earth_science", "leetcode"), ("biology", "earth_science"),
                  BRIGHT_KINDS),
        # a BEIR folder is one domain named after it; one named like a BRIGHT domain takes that domain's wording
        Benchmark("beir", "beir", kinds=BRIGHT_KINDS),
    )
}  # fmt: skip


@dataclass(frozen=True)
class MtebTask:
    """Where a domain's result goes on the MTEB leaderboard: the task's name, its hf_subset and split."""

    name: str
    subset: str
    split: str


_CAMEL = {
    "biology": "Biology", "earth_science": "EarthScience", "economics": "Economics", "psychology": "Psychology",
    "robotics": "Robotics", "stackoverflow": "Stackoverflow", "sustainable_living": "SustainableLiving",
    "leetcode": "Leetcode", "pony": "Pony", "aops": "Aops", "theoremqa_questions": "TheoremQAQuestions",
    "theoremqa_theorems": "TheoremQATheorems",
}  # fmt: skip
MTEB_TASKS: Mapping[tuple[str, str], Mapping[str, MtebTask]] = {
    ("bright", "short"): {d: MtebTask(f"Bright{_CAMEL[d]}Retrieval", "default", "standard") for d in BRIGHT_DOMAINS},
    ("bright", "long"): {d: MtebTask(f"Bright{_CAMEL[d]}LongRetrieval", "default", "long")
                         for d in (*STACKEXCHANGE, "pony")},
    ("bright_pro", "short"): {d: MtebTask(f"BrightPro{_CAMEL[d]}Retrieval", "default", "standard")
                              for d in STACKEXCHANGE},
}  # fmt: skip
"""MTEB's tasks for BRIGHT (v1.1 task family, with excluded ids), BRIGHT's long track and BRIGHT-Pro, as the
installed ``mteb`` package names them (tests hold every entry against its task metadata). Other datasets (BEIR
folders, the sample) are no MTEB task."""


def mteb_task(bench: str, track: str, domain: str) -> MtebTask | None:
    """The MTEB task of ``domain`` of benchmark ``bench`` on ``track``; None when MTEB has none."""
    return MTEB_TASKS.get((bench, track), {}).get(domain)


def from_mteb_task(name: str) -> tuple[str, str, str] | None:
    """(benchmark, track, domain) of an MTEB task name; None when it is none of ours."""
    for (bench, track), tasks in MTEB_TASKS.items():
        for domain, task in tasks.items():
            if task.name == name:
                return bench, track, domain
    return None


def benchmark(name: str) -> Benchmark:
    """The registry entry `name`; ConfigError listing the known ones otherwise."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", field="dataset.benchmark")
    return BENCHMARKS[name]


def track_of(long_documents: bool) -> Track:
    return LONG if long_documents else SHORT


def headline_of(track_names: Sequence[str]) -> str:
    """The metric a table of runs on these tracks leads with: the track's headline when they share one track,
    else the short track's (nDCG@10). Unknown names count as short (summaries older than tracks)."""
    names = {TRACKS[t].name if t in TRACKS else SHORT.name for t in track_names}
    return TRACKS[names.pop()].headline if len(names) == 1 else SHORT.headline


def select_domains(
    bench: Benchmark, requested: Sequence[str] | None, *, long_documents: bool, path: str | None, dataset: str
) -> list[str]:
    """`requested` validated against the benchmark's domains (all of them when None), in the order asked."""
    valid = bench.available(long_documents=long_documents, path=path)
    if requested is None:
        return valid
    chosen = [str(d) for d in requested]
    unknown = [d for d in chosen if d not in valid]
    if unknown:
        raise ConfigError(
            f"unknown domain(s) {', '.join(repr(u) for u in unknown)} for dataset '{dataset}'; "
            f"valid domains: {', '.join(valid)}",
            field="domains",
        )
    if len(set(chosen)) != len(chosen):
        raise ConfigError("a domain is listed twice", field="domains")
    return chosen


def display_order(domains: Sequence[str]) -> list[str]:
    """Distinct domains in the registry's order (BRIGHT's first), then any others alphabetically."""
    known: dict[str, int] = {}
    for bench in BENCHMARKS.values():
        for d in bench.domains:
            known.setdefault(d, len(known))
    return sorted(set(domains), key=lambda d: (known.get(d, len(known)), d))
