"""Checks of a run's settings and inputs made before any work: metric names and cutoffs against top_k, the query
template, the oracle label, the local copy's files for every selected domain.

Each failure is a ConfigError naming the setting, so a typo costs seconds, not a searched domain; it knows
nothing of how the work is done once the checks pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.data.loading import check_files
from rtriever_eval.metrics.aspects import aspect_settings, parse_aspect_measure
from rtriever_eval.metrics.trec_measures import parse_measure
from rtriever_eval.settings.job import DatasetSettings, EvaluateSettings
from rtriever_eval.settings.models import DenseSettings, RunFileSettings
from rtriever_eval.settings.registry import Track, benchmark
from rtriever_eval.settings.stages import FusionSettings, ModelSettings

ORACLE_FIELDS = ("reasoning",)
"""Query fields written by BRIGHT's annotators after they saw the gold documents: queries from them are oracles."""


def check_metrics(metrics: Sequence[str], top_k: int) -> None:
    """Every metric parses, and none has a cutoff deeper than the run (R@1000 with top_k=100 is not R@1000)."""
    if top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k}", field="top_k")
    if not metrics:
        raise ConfigError("no metric asked for", field="metrics")
    for name in metrics:
        try:
            measure = parse_measure(str(name))
        except ValueError as exc:
            raise ConfigError(str(exc), field="metrics") from None
        depth = measure.truncate_at or measure.cutoff
        if depth is not None and depth > top_k:
            raise ConfigError(
                f"metric {name} looks {depth} deep but top_k={top_k} keeps only {top_k} documents per query: "
                f"raise top_k to {depth} or drop the metric",
                field="metrics",
            )


def check_aspect_metrics(dataset: DatasetSettings, top_k: int) -> None:
    if benchmark(dataset.benchmark).loader != "bright_pro":
        return
    measures, _ = aspect_settings(dataset.aspect_metrics, dataset.aspect_alpha)
    for name in measures:
        k = parse_aspect_measure(name).k
        if k > top_k:
            raise ConfigError(
                f"aspect metric {name} looks {k} deep but top_k={top_k}: raise top_k or drop the metric",
                field="dataset.aspect_metrics",
            )


def check_query_template(model: ModelSettings) -> None:
    template = model.query_template if isinstance(model, DenseSettings) else None
    if template and "{instruction}" not in template:
        raise ConfigError(
            f"query template {template!r} has no '{{instruction}}' placeholder (set model.query_template=null "
            "for a model that takes no instruction)",
            field="model.query_template",
        )


def check_oracle(dataset: DatasetSettings, run_name: str) -> None:
    """A query field written with the gold documents in view runs only as an explicitly labelled oracle."""
    if dataset.query_field in ORACLE_FIELDS and not dataset.oracle:
        raise ConfigError(
            f"dataset.query_field={dataset.query_field}: BRIGHT's annotators wrote that field after seeing "
            "the gold documents, so using it as the query is an oracle, not a baseline. Run it as a labelled "
            "oracle with dataset.oracle=true (experiment/query_variant=examples_reasoning does)",
            field="dataset.query_field",
        )
    if dataset.oracle and "oracle" not in run_name.lower():
        raise ConfigError(
            f"dataset.oracle=true but the run name {run_name!r} does not say so: name it, e.g. "
            f"run_name={run_name}-ORACLE",
            field="run_name",
        )


def needs_documents(model: ModelSettings) -> bool:
    """Whether a run of ``model`` needs the corpus: an imported run and a fusion of runs read rankings only
    (they use the documents when they are at hand, to count ids the corpus lacks, and for snippets)."""
    return not isinstance(model, RunFileSettings | FusionSettings)


def check_run(settings: EvaluateSettings, domains: Sequence[str], track: Track) -> None:
    """All the checks that need no model and no data beyond file names."""
    check_metrics(list(settings.metrics or track.metrics), settings.top_k)
    check_aspect_metrics(settings.dataset, settings.top_k)
    check_query_template(settings.model)
    check_oracle(settings.dataset, settings.run_name)
    check_files(settings.dataset, domains, corpus=needs_documents(settings.model))
