"""Structured-config schemas registered in Hydra's ConfigStore, so a typo or a wrong type fails at compose time.

Values live in the YAML files under conf/; these dataclasses only fix which keys exist and their types.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"


@dataclass
class BM25Config:
    name: str = MISSING
    kind: str = "bm25"
    flavour: str = "lucene"
    k1: float = 0.9
    b: float = 0.4
    query_chunk: int = 64


@dataclass
class DenseConfig:
    name: str = MISSING
    kind: str = "dense"
    path: str = MISSING
    revision: str | None = None
    backend: str = "hf"
    dtype: str = "bfloat16"
    max_length: int = 512
    query_max_length: int | None = None
    batch_size: int = 16
    pooling: str = "last_token"
    padding_side: str = "left"
    append_eos: bool = False
    eos_token: str | None = None
    normalize: bool = True
    query_template: str | None = "Instruct: {instruction}\nQuery:"
    document_prompt: str = ""
    device: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    max_tokens_per_batch: int | None = None
    causal_without_mask: bool = True
    cpu_linear: str = "auto"
    strip_whitespace: bool = False


@dataclass
class DatasetConfig:
    name: str = MISSING
    format: str = MISSING
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None
    long_documents: bool = False
    query_source: str = "examples"
    query_field: str = "query"
    oracle: bool = False  # a query field written with the gold documents in view (examples' reasoning)
    qrels_split: str = "test"
    domains: list[str] | None = None
    aspect_metrics: list[str] | None = None  # datasets with aspect annotations (bright_pro); None: the defaults
    aspect_alpha: float = 0.5


@dataclass
class InstructionsConfig:
    name: str = MISSING
    default: str | None = None
    templates: dict[str, str] = field(default_factory=dict)
    long_templates: dict[str, str] = field(default_factory=dict)


@dataclass
class PathsConfig:
    results_dir: str = "results"
    cache_dir: str = ".cache/rtriever"


@dataclass
class CacheConfig:
    mode: str = "readwrite"
    shard_size: int = 4096


@dataclass
class ShardConfig:
    index: int = 0
    count: int = 1


@dataclass
class EvaluateConfig:
    model: Any = MISSING
    dataset: DatasetConfig = MISSING
    instructions: InstructionsConfig = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)
    experiment_name: str = "default"
    run_name: str = MISSING
    domains: list[str] | None = None
    top_k: int = 1000
    metrics: list[str] = field(default_factory=lambda: ["nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP"])
    overwrite: bool = False
    print_report: bool = True
    stage: str = "all"
    shard: ShardConfig = field(default_factory=ShardConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)


def _pkg_path(rel: str) -> str:
    return str(PACKAGE_DIR / rel)


def _encode_subdir(stage: Any, index: Any, count: Any) -> str:
    """Hydra job folder suffix: encode workers of one sweep each get their own folder for Hydra's files."""
    return f"/_encode/shard-{index}-of-{count}" if str(stage) == "encode" else ""


def _results_path(*parts: Any) -> str:
    """Path parts joined as safe components (the first one, a base folder, kept as given): Hydra's folders and
    the pipeline's results folder are computed the same way."""
    from rtriever_eval.provenance import safe_component

    base, *rest = (str(p) for p in parts)
    return str(Path(base, *(safe_component(p) for p in rest)))


def register_configs() -> None:
    """Register the schemas and the `${pkg_path:...}` / `${encode_subdir:...}` / `${results_path:...}`
    resolvers; safe to call again."""
    if not OmegaConf.has_resolver("pkg_path"):
        OmegaConf.register_new_resolver("pkg_path", _pkg_path)
    if not OmegaConf.has_resolver("results_path"):
        OmegaConf.register_new_resolver("results_path", _results_path)
    if not OmegaConf.has_resolver("encode_subdir"):
        OmegaConf.register_new_resolver("encode_subdir", _encode_subdir)
    # conf/hydra/launcher/submitit_{local,slurm}.yaml share their names with the plugin's own schemas, which
    # Hydra 1.3 still merges under them (validating our values) with a deprecation notice: expected here.
    warnings.filterwarnings(
        "ignore",
        message=r"\s*'hydra/launcher/submitit_(local|slurm)' is validated against ConfigStore schema",
        category=UserWarning,
    )
    cs = ConfigStore.instance()
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(group="model", name="bm25_schema", node=BM25Config)
    cs.store(group="model", name="dense_schema", node=DenseConfig)
    cs.store(group="dataset", name="dataset_schema", node=DatasetConfig)
    cs.store(group="instructions", name="instructions_schema", node=InstructionsConfig)
