"""Loaders and writers for datasets, runs and relevance judgments.

Each module reads one format into the plain types of rtriever_eval.base.types; none of them scores or searches. Readers
of results (reports, exports, bundles) reach the data through ``evaluated_data`` alone, never a loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtriever_eval.base.types import DomainData


def evaluated_data(dataset_config: Mapping[str, Any], domain: str) -> DomainData:
    """The queries, judgments and exclusions a result was evaluated on, read again with the dataset settings its
    summary recorded (``summary.config["dataset"]``); the corpus too when the copy holds it. Loaders are imported
    here, on first use only."""
    from rtriever_eval.data.loading import load_domain
    from rtriever_eval.settings.job import DatasetSettings

    return load_domain(DatasetSettings(**dict(dataset_config)), domain, corpus_optional=True)
