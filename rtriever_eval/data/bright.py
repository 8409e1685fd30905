"""BRIGHT-format domains from the Hugging Face hub (`xlangai/BRIGHT`) or a local copy of that dataset repository.

Applies BRIGHT's semantics (binary relevance from gold_ids / gold_ids_long, "N/A" dropped, de-duplicated,
excluded_ids kept per query); knows nothing about retrieval or metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.types import Document, DomainData, Query
from rtriever_eval.data.records import get_id_list, get_text, get_unique_id, iter_rows

log = logging.getLogger(__name__)

Rows = Iterable[tuple[int, dict[str, Any]]]


def find_split_file(root: Path, config: str, domain: str) -> Path:
    """The file holding `domain` of `config` in a local dataset folder (parquet shard or jsonl)."""
    folder = root / config
    candidates = [
        *sorted(folder.glob(f"{domain}-*.parquet")),
        folder / f"{domain}.parquet",
        folder / f"{domain}.jsonl",
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"no file for domain '{domain}' in {folder} (looked for {domain}-*.parquet, {domain}.parquet, {domain}.jsonl)",
        path=folder,
    )


def has_file(root: Path, config: str, domain: str, find: Callable[[Path, str, str], Path] = find_split_file) -> bool:
    """Whether ``find`` (a local copy's file finder) finds the file of ``domain`` in ``config``."""
    try:
        find(root, config, domain)
    except ConfigError:
        return False
    return True


def local_rows(root: Path, config: str, domain: str) -> tuple[Path, Rows]:
    path = find_split_file(root, config, domain)
    return path, iter_rows(path)


def hub_rows(hub_id: str, config: str, domain: str, revision: str | None) -> tuple[Path, Rows]:
    import datasets

    from rtriever_eval.base.hub import prepare_hub_access

    prepare_hub_access(f"dataset {hub_id}")
    label = Path(f"hub:{hub_id}@{revision or 'main'}/{config}/{domain}")
    try:
        ds = datasets.load_dataset(hub_id, config, split=domain, revision=revision)
    except Exception as exc:
        raise ConfigError(
            f"could not load {hub_id} config '{config}' split '{domain}' from the Hugging Face hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). Without network access, "
            f"point dataset.path= at a local copy of the dataset repository.",
            path=label,
        ) from None

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(ds, start=1):
            yield i, dict(row)

    return label, rows()


def read_documents(path: Path, rows: Rows) -> tuple[Document, ...]:
    seen: dict[str, int] = {}
    docs: list[Document] = []
    for line, row in rows:
        did = get_unique_id(row, "id", path, line, seen, "document")
        docs.append(Document(did, get_text(row, "content", path, line)))
    return tuple(docs)


def read_examples(
    path: Path, rows: Rows, *, query_field: str, gold_field: str, doc_ids: set[str] | None
) -> tuple[tuple[Query, ...], dict[str, dict[str, int]]]:
    """Queries and binary judgments; ``doc_ids`` (None: no corpus at hand) to count gold ids the corpus lacks."""
    seen: dict[str, int] = {}
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    unknown_gold = 0
    for line, row in rows:
        qid = get_unique_id(row, "id", path, line, seen, "query")
        text = get_text(row, query_field, path, line)
        gold = get_id_list(row, gold_field, path, line)
        excluded = get_id_list(row, "excluded_ids", path, line, required=False)
        clash = sorted(set(gold) & set(excluded))
        if clash:
            raise InputError(
                f"query {qid!r}: id {clash[0]!r} is both gold ({gold_field}) and excluded; a document cannot be "
                f"both relevant and removed from the ranking",
                path=path,
                line=line,
                field="excluded_ids",
            )
        unknown_gold += sum(1 for g in gold if doc_ids is not None and g not in doc_ids)
        queries.append(Query(qid, text, frozenset(excluded)))
        if gold:
            qrels[qid] = {g: 1 for g in gold}
    if unknown_gold:
        log.warning(
            "%s: %d gold ids are not in the corpus (they count as unretrievable relevant documents)",
            path,
            unknown_gold,
        )
    return tuple(queries), qrels


def load_bright_domain(
    domain: str,
    *,
    path: str | None,
    hub_id: str | None,
    revision: str | None,
    long_documents: bool = False,
    query_source: str = "examples",
    query_field: str = "query",
    dataset_name: str = "bright",
    corpus_optional: bool = False,
) -> DomainData:
    """Load one BRIGHT domain: queries (from `query_source`: examples or a *_reason config), corpus and qrels.

    Args:
        domain: hub split name, e.g. "earth_science".
        path: local copy of the dataset repository; when None the hub is used.
        hub_id, revision: hub dataset id and pinned commit.
        long_documents: use `long_documents` and `gold_ids_long` (BRIGHT's long-document mode).
        query_source: "examples" or a reasoning config such as "gpt4_reason" (its `query` replaces the text).
        query_field: field holding the query text ("query", or "reasoning" for the examples' reasoning).
        corpus_optional: a local copy without the domain's documents gives the queries and judgments alone
            (``has_corpus`` False), for what needs no corpus (an imported run).
    """
    doc_config = "long_documents" if long_documents else "documents"
    gold_field = "gold_ids_long" if long_documents else "gold_ids"
    if path is not None:
        root = Path(path)
        if not root.is_dir():
            raise ConfigError("dataset folder does not exist", path=root, field="dataset.path")
        has_docs = not corpus_optional or has_file(root, doc_config, domain)
        doc_source = local_rows(root, doc_config, domain) if has_docs else None
        ex_path, ex_rows = local_rows(root, query_source, domain)
        source = str(root)
    else:
        if not hub_id:
            raise ConfigError("neither dataset.path nor dataset.hub_id is set", field="dataset.path")
        doc_source = hub_rows(hub_id, doc_config, domain, revision)
        ex_path, ex_rows = hub_rows(hub_id, query_source, domain, revision)
        source = f"hf://{hub_id}@{revision or 'main'}"
    documents = read_documents(*doc_source) if doc_source is not None else ()
    queries, qrels = read_examples(
        ex_path,
        ex_rows,
        query_field=query_field,
        gold_field=gold_field,
        doc_ids={d.id for d in documents} if doc_source is not None else None,
    )
    log.info("%s/%s: %d queries (%d judged), %s", dataset_name, domain, len(queries), len(qrels),
             f"{len(documents)} documents" if doc_source is not None else "no corpus in the local copy")  # fmt: skip
    return DomainData(
        name=domain,
        dataset=dataset_name,
        queries=queries,
        documents=documents,
        qrels=qrels,
        revision=revision,
        source=source,
        extra={"query_source": query_source, "query_field": query_field,
               "corpus": doc_config if doc_source is not None else "absent"},
        has_corpus=doc_source is not None,
    )  # fmt: skip
