"""Dataset dispatch: load one domain of a dataset as DomainData with the reader its benchmark names, and check
that a local copy holds every selected domain's files.

Knows the readers in data/ and the dataset settings; which domains a benchmark has is the registry's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rtriever_eval.data.beir import load_beir_domain
from rtriever_eval.data.bright import find_split_file, load_bright_domain
from rtriever_eval.data.bright_pro import CONFIGS as PRO_CONFIGS
from rtriever_eval.data.bright_pro import find_pro_file, load_bright_pro_domain
from rtriever_eval.data.query_file import apply_query_file
from rtriever_eval.errors import ConfigError
from rtriever_eval.registry import benchmark
from rtriever_eval.settings import DatasetSettings
from rtriever_eval.types import DomainData


def load_domain(dataset: DatasetSettings, domain: str, *, rewritten: bool = True) -> DomainData:
    """One domain as DomainData, its query texts replaced by `dataset.query_file`'s when one is set (and
    `rewritten`: the rewriter itself reads the original queries)."""
    data = _load(dataset, domain)
    return apply_query_file(data, dataset.query_file) if dataset.query_file and rewritten else data


def _load(dataset: DatasetSettings, domain: str) -> DomainData:
    loader = benchmark(dataset.benchmark).loader
    if loader == "beir":
        if dataset.path is None:
            raise ConfigError("a BEIR dataset needs dataset.path=<folder>", field="dataset.path")
        return load_beir_domain(dataset.path, split=dataset.qrels_split, dataset_name=dataset.name)
    if loader == "bright":
        return load_bright_domain(
            domain,
            path=dataset.path,
            hub_id=dataset.hub_id,
            revision=dataset.revision,
            long_documents=dataset.long_documents,
            query_source=dataset.query_source,
            query_field=dataset.query_field,
            dataset_name=dataset.name,
        )
    return load_bright_pro_domain(
        domain, path=dataset.path, hub_id=dataset.hub_id, revision=dataset.revision, dataset_name=dataset.name
    )


def check_files(dataset: DatasetSettings, domains: Sequence[str]) -> None:
    """Raise ConfigError listing every file a local copy lacks for `domains` (nothing to check on the hub)."""
    loader = benchmark(dataset.benchmark).loader
    if dataset.path is None:
        return
    root = Path(dataset.path)
    if not root.is_dir():
        raise ConfigError("dataset folder does not exist", path=root, field="dataset.path")
    missing: list[str] = []
    if loader == "beir":
        wanted = (root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{dataset.qrels_split}.tsv")
        missing = [str(p) for p in wanted if not p.is_file()]
    else:
        if loader == "bright":
            configs = ["long_documents" if dataset.long_documents else "documents", dataset.query_source]
            find = find_split_file
        else:
            configs, find = list(PRO_CONFIGS), find_pro_file
        for domain in domains:
            for config in configs:
                try:
                    find(root, config, domain)
                except ConfigError:
                    missing.append(f"{config}/{domain}.*")
    if missing:
        raise ConfigError(
            f"the local copy lacks files of the selected domains: {', '.join(missing)}. Nothing was run; add the "
            "files, or select the domains it has with domains=[...]",
            path=root,
            field="dataset.path",
        )
