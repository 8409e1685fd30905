"""Hydra glue: the settings dataclasses registered as ConfigStore schemas (a typo or a wrong type fails at compose
time), the resolvers the YAML uses, and turning a composed config into typed settings.

Values live in the YAML files under conf/; the dataclasses in settings/ (job.py, models.py, stages.py) fix which
keys exist, their types and defaults. Nothing here runs a model or reads data.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.job import DatasetSettings, EvaluateSettings, InstructionSettings
from rtriever_eval.settings.models import BM25Settings, DenseSettings, RunFileSettings
from rtriever_eval.settings.stages import (
    CrossEncoderSettings,
    FusionSettings,
    LLMRerankerSettings,
    RerankSettings,
    RewriterSettings,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONF_DIR = PACKAGE_DIR / "conf"


def _pkg_path(rel: str) -> str:
    return str(PACKAGE_DIR / rel)


def _encode_subdir(stage: Any, index: Any, count: Any) -> str:
    """Hydra job folder suffix: encode workers of one sweep each get their own folder for Hydra's files."""
    return f"/_encode/shard-{index}-of-{count}" if str(stage) == "encode" else ""


def _results_path(*parts: Any) -> str:
    """Path parts joined as safe components (the first one, a base folder, kept as given): Hydra's folders and
    the pipeline's results folder are computed the same way."""
    from rtriever_eval.base.provenance import safe_component

    base, *rest = (str(p) for p in parts)
    return str(Path(base, *(safe_component(p) for p in rest)))


def choices() -> str:
    """The option of every config group a user picks from (``model: bm25, minilm, ...``), read from the YAML files
    under conf/: what ``--help`` lists (the schemas Hydra validates against are no choice, and are not listed)."""
    lines = []
    for folder in sorted(p for p in CONF_DIR.rglob("*") if p.is_dir() and "hydra" not in p.relative_to(CONF_DIR).parts):
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            lines.append(f"{folder.relative_to(CONF_DIR).as_posix()}: {', '.join(options)}")
    return "\n".join(lines)


def register_configs() -> None:
    """Register the schemas and the `${pkg_path:...}` / `${encode_subdir:...}` / `${results_path:...}`
    resolvers; safe to call again."""
    if not OmegaConf.has_resolver("pkg_path"):
        OmegaConf.register_new_resolver("pkg_path", _pkg_path)
    if not OmegaConf.has_resolver("results_path"):
        OmegaConf.register_new_resolver("results_path", _results_path)
    if not OmegaConf.has_resolver("encode_subdir"):
        OmegaConf.register_new_resolver("encode_subdir", _encode_subdir)
    if not OmegaConf.has_resolver("rtriever_choices"):
        OmegaConf.register_new_resolver("rtriever_choices", choices)
    # conf/hydra/launcher/submitit_{local,slurm}.yaml share their names with the plugin's own schemas, which
    # Hydra 1.3 still merges under them (validating our values) with a deprecation notice: expected here.
    warnings.filterwarnings(
        "ignore",
        message=r"\s*'hydra/launcher/submitit_(local|slurm)' is validated against ConfigStore schema",
        category=UserWarning,
    )
    cs = ConfigStore.instance()
    cs.store(name="evaluate_schema", node=EvaluateSettings)
    cs.store(group="schemas/model", name="bm25", node=BM25Settings)
    cs.store(group="schemas/model", name="dense", node=DenseSettings)
    cs.store(group="schemas/model", name="fusion", node=FusionSettings)
    cs.store(group="schemas/model", name="rerank", node=RerankSettings)
    cs.store(group="schemas/model", name="run_file", node=RunFileSettings)
    cs.store(group="schemas/reranker", name="cross_encoder", node=CrossEncoderSettings)
    cs.store(group="schemas/reranker", name="llm_reranker", node=LLMRerankerSettings)
    cs.store(group="schemas/rewriter", name="rewriter", node=RewriterSettings)
    cs.store(group="schemas/dataset", name="dataset", node=DatasetSettings)
    cs.store(group="schemas/instructions", name="instructions", node=InstructionSettings)


def to_settings(cfg: DictConfig) -> EvaluateSettings:
    """The composed job config as typed settings (every default from the settings dataclasses); ConfigError on a
    bad value."""
    try:
        settings = OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # omegaconf's validation errors: name the key, drop the traceback
        raise ConfigError(" ".join(str(exc).split())) from None
    if not isinstance(settings, EvaluateSettings):
        raise ConfigError("the config is not an rtriever-eval job config (no evaluate_schema)")
    if not isinstance(settings.model, BM25Settings | DenseSettings | FusionSettings | RerankSettings | RunFileSettings):
        raise ConfigError(
            "model config lacks a schema: its defaults list must name one of /schemas/model: bm25, dense, fusion, "
            "rerank, run_file (as '- /schemas/model@_here_: dense')",
            field="model",
        )
    if settings.reranker is not None and not isinstance(
        settings.reranker, DenseSettings | CrossEncoderSettings | LLMRerankerSettings
    ):
        raise ConfigError(
            "reranker config lacks a schema (/schemas/model: dense, /schemas/reranker: cross_encoder or llm_reranker)",
            field="reranker",
        )
    if isinstance(settings.model, RerankSettings) and settings.reranker is None:
        raise ConfigError("model=rerank needs a reranker: add reranker=<name> (conf/reranker/)", field="reranker")
    if settings.rewriter is not None and not isinstance(settings.rewriter, RewriterSettings):
        raise ConfigError("rewriter config lacks its schema (/schemas/rewriter: rewriter)", field="rewriter")
    if settings.rewriter is not None and not settings.dataset.query_file:
        raise ConfigError("a rewriter writes dataset.query_file=<jsonl>: set it", field="dataset.query_file")
    return settings
