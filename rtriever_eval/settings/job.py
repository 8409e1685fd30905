"""Typed settings of one ``rtriever-eval`` job: the dataset, the instruction set, paths, the cache, sharding, the
stage, and the job itself (``EvaluateSettings``, what the primary config composes into).

Knows no file: values come from conf/evaluate.yaml, conf/dataset/, conf/instructions/ and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from rtriever_eval.settings.values import (
    CACHE_DIR_ENV,
    CACHE_MODES,
    DEFAULT_CACHE_DIR,
    DEFAULT_SHARD_SIZE,
    STAGES,
    SUBSET_FIRST_STAGES,
    SUBSETS,
    one_of,
    positive,
)


@dataclass
class DatasetSettings:
    """Which benchmark (see settings/registry.py) and where its data is: the hub at a pinned revision, or ``path``."""

    name: str = MISSING
    benchmark: str = MISSING
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None
    long_documents: bool = False
    query_source: str = "examples"
    query_field: str = "query"
    oracle: bool = False  # a query field written with the gold documents in view (the examples' reasoning)
    qrels_split: str = "test"
    query_file: str | None = None  # JSONL of rewritten queries replacing the texts (made by `rewriter` if absent)
    aspect_metrics: list[str] | None = None  # datasets with aspect annotations (bright_pro); None: the defaults
    aspect_alpha: float = 0.5
    # A CI-sized corpus per domain (job/subset.py): ``candidates`` keeps every gold document plus the top N of the
    # harness's own BM25 run (``subset_first_stage``: bm25 or bm25_bright), N the largest that keeps the corpus
    # within ``subset_max_documents``. Scores on it are higher than on the full corpus: for regressions only.
    subset: str | None = None
    subset_max_documents: int = 10_000
    subset_first_stage: str = "bm25"

    def __post_init__(self) -> None:
        if self.subset is not None:
            one_of(self.subset, SUBSETS, "dataset.subset")
        one_of(self.subset_first_stage, SUBSET_FIRST_STAGES, "dataset.subset_first_stage")
        positive(self.subset_max_documents, "dataset.subset_max_documents")


@dataclass
class InstructionSettings:
    """An instruction set: a wording per kind of domain (the registry gives each domain its kind), what
    ``{task}`` becomes per domain (default: the raw domain key, as BRIGHT ran its paper), what ``{units}``
    becomes per track, and a ``default`` for every other domain (a BEIR folder, say)."""

    name: str = MISSING
    default: str | None = None
    wordings: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=lambda: {"short": "passages", "long": "documents"})


@dataclass
class PathsSettings:
    results_dir: str = "results"
    cache_dir: str = f"${{oc.env:{CACHE_DIR_ENV},{DEFAULT_CACHE_DIR}}}"  # resolved when the config is composed


@dataclass
class CacheSettings:
    mode: str = "readwrite"
    shard_size: int = DEFAULT_SHARD_SIZE

    def __post_init__(self) -> None:
        one_of(self.mode, CACHE_MODES, "cache.mode")
        positive(self.shard_size, "cache.shard_size")


@dataclass
class PlanSettings:
    """stage=plan: ``tokens_per_second`` the throughput to estimate device-hours with (None: what earlier encodes of
    the model on this device kind recorded in the cache folder); token counts on a seeded ``sample`` of ``seed``
    when a side has more distinct texts than that (else counted whole)."""

    tokens_per_second: float | None = None
    sample: int = 4096
    seed: int = 0

    def __post_init__(self) -> None:
        positive(self.sample, "plan.sample")


@dataclass
class ShardSettings:
    index: int = 0
    count: int = 1


@dataclass
class EvaluateSettings:
    """One `rtriever-eval` job. ``metrics`` None means the track's defaults (settings/registry.py)."""

    model: Any = MISSING
    reranker: Any = None
    rewriter: Any = None  # RewriterSettings: fills dataset.query_file (rewrite.py) when it lacks queries
    dataset: DatasetSettings = MISSING
    instructions: InstructionSettings = MISSING
    paths: PathsSettings = field(default_factory=PathsSettings)
    experiment_name: str = "default"
    run_name: str = MISSING
    domains: list[str] | None = None
    top_k: int = 1000
    metrics: list[str] | None = None
    overwrite: bool = False
    print_report: bool = True
    stage: str = "all"
    shard: ShardSettings = field(default_factory=ShardSettings)
    plan: PlanSettings = field(default_factory=PlanSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    def __post_init__(self) -> None:
        one_of(self.stage, STAGES, "stage")
        positive(self.top_k, "top_k")
