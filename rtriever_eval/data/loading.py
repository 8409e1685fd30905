"""Dataset dispatch: which domains a dataset config offers, and loading one of them as DomainData.

Knows the dataset formats by name (bright, beir) and nothing about models or results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rtriever_eval.aspect_metrics import aspect_settings
from rtriever_eval.data.beir import load_beir_domain
from rtriever_eval.data.bright import BRIGHT_DOMAINS, LONG_DOMAINS, find_split_file, load_bright_domain
from rtriever_eval.data.bright_pro import BRIGHT_PRO_DOMAINS, find_pro_file, load_bright_pro_domain
from rtriever_eval.data.bright_pro import CONFIGS as PRO_CONFIGS
from rtriever_eval.errors import ConfigError
from rtriever_eval.types import DomainData

FORMATS = ("bright", "bright_pro", "beir")


def available_domains(dataset: Mapping[str, Any]) -> list[str]:
    """The domains a dataset config can evaluate."""
    fmt = dataset.get("format")
    if fmt == "beir":
        return [Path(str(dataset["path"])).name]
    if fmt == "bright":
        listed = dataset.get("domains")
        if listed:
            return list(listed)
        return list(LONG_DOMAINS if dataset.get("long_documents") else BRIGHT_DOMAINS)
    if fmt == "bright_pro":
        return list(dataset.get("domains") or BRIGHT_PRO_DOMAINS)
    raise ConfigError(f"unknown dataset format {fmt!r}; valid: {', '.join(FORMATS)}", field="dataset.format")


def select_domains(dataset: Mapping[str, Any], requested: Sequence[str] | None) -> list[str]:
    """`requested` validated against the dataset's domains (all of them when None), in the order asked."""
    valid = available_domains(dataset)
    if requested is None:
        return valid
    chosen = [str(d) for d in requested]
    unknown = [d for d in chosen if d not in valid]
    if unknown:
        raise ConfigError(
            f"unknown domain(s) {', '.join(repr(u) for u in unknown)} for dataset '{dataset.get('name')}'; "
            f"valid domains: {', '.join(valid)}",
            field="domains",
        )
    if len(set(chosen)) != len(chosen):
        raise ConfigError("a domain is listed twice", field="domains")
    return chosen


def check_files(dataset: Mapping[str, Any], domains: Sequence[str]) -> None:
    """Raise ConfigError listing every file a local copy lacks for `domains` (nothing to check on the hub)."""
    fmt = dataset.get("format")
    if fmt == "beir":
        root = Path(str(dataset["path"]))
        split = str(dataset.get("qrels_split", "test"))
        if not root.is_dir():
            raise ConfigError("BEIR folder does not exist", path=root, field="dataset.path")
        missing = [
            str(p)
            for p in (root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv")
            if not p.is_file()
        ]
    elif fmt in ("bright", "bright_pro") and dataset.get("path") is not None:
        root = Path(str(dataset["path"]))
        if not root.is_dir():
            raise ConfigError("dataset folder does not exist", path=root, field="dataset.path")
        if fmt == "bright":
            configs = [
                "long_documents" if dataset.get("long_documents") else "documents",
                str(dataset.get("query_source", "examples")),
            ]
            find = find_split_file
        else:
            configs, find = list(PRO_CONFIGS), find_pro_file
        missing = []
        for domain in domains:
            for config in configs:
                try:
                    find(root, config, domain)
                except ConfigError:
                    missing.append(f"{config}/{domain}.*")
    else:
        return
    if missing:
        raise ConfigError(
            f"the local copy lacks files of the selected domains: {', '.join(missing)}. Nothing was run; add the "
            "files, or select the domains it has with domains=[...]",
            path=dataset.get("path"),
            field="dataset.path",
        )


def load_domain(dataset: Mapping[str, Any], domain: str) -> DomainData:
    fmt = dataset.get("format")
    name = str(dataset.get("name"))
    if fmt == "beir":
        return load_beir_domain(str(dataset["path"]), split=str(dataset.get("qrels_split", "test")), dataset_name=name)
    if fmt == "bright":
        return load_bright_domain(
            domain,
            path=dataset.get("path"),
            hub_id=dataset.get("hub_id"),
            revision=dataset.get("revision"),
            long_documents=bool(dataset.get("long_documents", False)),
            query_source=str(dataset.get("query_source", "examples")),
            query_field=str(dataset.get("query_field", "query")),
            dataset_name=name,
        )
    if fmt == "bright_pro":
        aspect_settings(dataset)  # a bad aspect metric name fails here, before any retrieval
        return load_bright_pro_domain(
            domain,
            path=dataset.get("path"),
            hub_id=dataset.get("hub_id"),
            revision=dataset.get("revision"),
            dataset_name=name,
        )
    raise ConfigError(f"unknown dataset format {fmt!r}; valid: {', '.join(FORMATS)}", field="dataset.format")
