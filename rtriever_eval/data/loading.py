"""Dataset dispatch: load one domain of a dataset as DomainData with the reader its benchmark names, and check
that a local copy holds every selected domain's files.

Knows the readers in data/ and the dataset settings; which domains a benchmark has is the registry's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.types import DomainData
from rtriever_eval.data.beir import load_beir_domain
from rtriever_eval.data.bright import find_split_file, load_bright_domain
from rtriever_eval.data.bright_pro import CONFIGS as PRO_CONFIGS
from rtriever_eval.data.bright_pro import find_pro_file, load_bright_pro_domain
from rtriever_eval.data.query_file import apply_query_file
from rtriever_eval.settings.job import DatasetSettings
from rtriever_eval.settings.registry import benchmark


def load_domain(
    dataset: DatasetSettings, domain: str, *, rewritten: bool = True, corpus_optional: bool = False
) -> DomainData:
    """One domain as DomainData, its query texts replaced by `dataset.query_file`'s when one is set (and
    `rewritten`: the rewriter itself reads the original queries). With `corpus_optional`, a local copy without
    the domain's documents gives its queries and judgments alone (``has_corpus`` False)."""
    data = _load(dataset, domain, corpus_optional)
    return apply_query_file(data, dataset.query_file) if dataset.query_file and rewritten else data


def _load(dataset: DatasetSettings, domain: str, corpus_optional: bool) -> DomainData:
    loader = benchmark(dataset.benchmark).loader
    if loader == "beir":
        if dataset.path is None:
            raise ConfigError("a BEIR dataset needs dataset.path=<folder>", field="dataset.path")
        return load_beir_domain(dataset.path, split=dataset.qrels_split, dataset_name=dataset.name,
                                corpus_optional=corpus_optional)  # fmt: skip
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
            corpus_optional=corpus_optional,
        )
    return load_bright_pro_domain(domain, path=dataset.path, hub_id=dataset.hub_id, revision=dataset.revision,
                                  dataset_name=dataset.name, corpus_optional=corpus_optional)  # fmt: skip


def check_files(dataset: DatasetSettings, domains: Sequence[str], *, corpus: bool = True) -> None:
    """Raise ConfigError listing every file a local copy lacks for `domains` (nothing to check on the hub);
    without `corpus` (a run that needs no documents) the documents may be absent."""
    loader = benchmark(dataset.benchmark).loader
    if dataset.path is None:
        return
    root = Path(dataset.path)
    if not root.is_dir():
        raise ConfigError("dataset folder does not exist", path=root, field="dataset.path")
    missing: list[str] = []
    if loader == "beir":
        wanted = (root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{dataset.qrels_split}.tsv")
        missing = [str(p) for p in wanted[0 if corpus else 1 :] if not p.is_file()]
    else:
        if loader == "bright":
            configs = ["long_documents" if dataset.long_documents else "documents", dataset.query_source]
            find = find_split_file
        else:
            configs, find = list(PRO_CONFIGS), find_pro_file
        if not corpus:
            configs = [c for c in configs if c not in ("documents", "long_documents")]
        for domain in domains:
            for config in configs:
                try:
                    find(root, config, domain)
                except ConfigError:
                    missing.append(f"{config}/{domain}.*")
    if missing:
        documents_only = all(m.split("/")[0] in ("documents", "long_documents") or m.endswith("corpus.jsonl")
                             for m in missing)  # fmt: skip
        hint = (" This model needs the documents; only model=run_file (and fusion of runs made without them) "
                "evaluates with judgments alone.") if documents_only else ""  # fmt: skip
        raise ConfigError(
            f"the local copy lacks files of the selected domains: {', '.join(missing)}.{hint} Nothing was run; add "
            "the files, or select the domains it has with domains=[...]",
            path=root,
            field="dataset.path",
        )
