"""A BEIR-format folder as one domain: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Document text is `(title + " " + text).strip()`; the domain is the folder's name. Knows nothing about retrieval.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.trec import read_qrels_tsv
from rtriever_eval.base.types import Document, DomainData, Query
from rtriever_eval.data.records import get_text, get_unique_id, iter_jsonl

log = logging.getLogger(__name__)


def _first_line_naming(path: Path, qid: str) -> int | None:
    """1-based line of the first judgment for `qid` (for error messages only)."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.split("\t", 1)[0].strip() == qid:
                return lineno
    return None


def load_beir_domain(
    folder: str | Path, *, split: str = "test", dataset_name: str = "beir", corpus_optional: bool = False
) -> DomainData:
    """The folder as one domain (named after it); ``corpus_optional``: without corpus.jsonl, queries and judgments
    alone (``has_corpus`` False), for what needs no corpus (an imported run)."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError("BEIR folder does not exist", path=root, field="dataset.path")
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    has_corpus = corpus_path.is_file() or not corpus_optional
    for p in (corpus_path, queries_path, qrels_path) if has_corpus else (queries_path, qrels_path):
        if not p.is_file():
            raise ConfigError("required BEIR file is missing", path=p)

    docs: list[Document] = []
    seen: dict[str, int] = {}
    for line, row in iter_jsonl(corpus_path) if has_corpus else ():
        did = get_unique_id(row, "_id", corpus_path, line, seen, "document")
        title = get_text(row, "title", corpus_path, line, required=False)
        text = get_text(row, "text", corpus_path, line)
        docs.append(Document(did, (title + " " + text).strip()))

    queries: dict[str, Query] = {}
    qlines: dict[str, int] = {}
    for line, row in iter_jsonl(queries_path):
        qid = get_unique_id(row, "_id", queries_path, line, qlines, "query")
        queries[qid] = Query(qid, get_text(row, "text", queries_path, line))

    qrels = read_qrels_tsv(qrels_path)
    for qid in qrels:
        if qid not in queries:
            raise InputError(
                f"judgment names query {qid!r}, which is not in {queries_path.name}",
                path=qrels_path,
                line=_first_line_naming(qrels_path, qid),
                field="query-id",
            )
    unknown_docs = sum(1 for docs in qrels.values() for d in docs if d not in seen) if has_corpus else 0
    if unknown_docs:
        log.warning("%s: %d judgments name documents absent from the corpus", qrels_path, unknown_docs)
    judged = [queries[q] for q in queries if q in qrels]
    log.info(
        "beir/%s: %d queries with judgments (of %d), %d documents",
        root.name,
        len(judged),
        len(queries),
        len(docs),
    )
    return DomainData(
        name=root.name,
        dataset=dataset_name,
        queries=tuple(judged),
        documents=tuple(docs),
        qrels=qrels,
        revision=None,
        source=str(root),
        extra={"qrels_split": split, **({} if has_corpus else {"corpus": "absent"})},
        has_corpus=has_corpus,
    )
