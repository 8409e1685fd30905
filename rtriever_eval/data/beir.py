"""A BEIR-format folder as one domain: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Document text is `(title + " " + text).strip()`; the domain is the folder's name. Knows nothing about retrieval.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from rtriever_eval.data.records import get_id, get_text, iter_jsonl
from rtriever_eval.errors import ConfigError, InputError
from rtriever_eval.types import Document, DomainData, Query

log = logging.getLogger(__name__)


def _read_qrels_tsv(path: Path) -> list[tuple[int, str, str, int]]:
    """Rows (line, qid, docid, grade) of a BEIR qrels file with its `query-id corpus-id score` header."""
    rows: list[tuple[int, str, str, int]] = []
    try:
        fh = path.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot open qrels file: {exc.strerror}", path=path) from None
    with fh:
        try:
            lines = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
        except UnicodeDecodeError:
            raise InputError("qrels file is not valid UTF-8", path=path) from None
    for lineno, cols in enumerate(lines, start=1):
        if not cols or all(not c.strip() for c in cols):
            continue
        if lineno == 1 and cols[0].strip().lower() in {"query-id", "query_id", "qid"}:
            continue
        if len(cols) < 3:
            raise InputError(f"expected 3 tab-separated columns, got {len(cols)}", path=path, line=lineno)
        qid, did, grade_s = cols[0].strip(), cols[1].strip(), cols[2].strip()
        for name, value in (("query-id", qid), ("corpus-id", did)):
            if not value or any(c in value for c in " \x00"):
                raise InputError(
                    f"id {value!r} is empty or contains spaces or NUL", path=path, line=lineno, field=name
                )
        try:
            grade = int(grade_s)
        except ValueError:
            raise InputError(
                f"relevance grade must be an integer, got {grade_s!r}", path=path, line=lineno, field="score"
            ) from None
        rows.append((lineno, qid, did, grade))
    return rows


def load_beir_domain(folder: str | Path, *, split: str = "test", dataset_name: str = "beir") -> DomainData:
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError("BEIR folder does not exist", path=root, field="dataset.path")
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (corpus_path, queries_path, qrels_path):
        if not p.is_file():
            raise ConfigError("required BEIR file is missing", path=p)

    docs: list[Document] = []
    seen: dict[str, int] = {}
    for line, row in iter_jsonl(corpus_path):
        did = get_id(row, "_id", corpus_path, line)
        if did in seen:
            raise InputError(
                f"duplicate document id {did!r} (first seen on line {seen[did]})",
                path=corpus_path,
                line=line,
                field="_id",
            )
        seen[did] = line
        title = get_text(row, "title", corpus_path, line, required=False)
        text = get_text(row, "text", corpus_path, line)
        docs.append(Document(did, (title + " " + text).strip()))

    queries: dict[str, Query] = {}
    qlines: dict[str, int] = {}
    for line, row in iter_jsonl(queries_path):
        qid = get_id(row, "_id", queries_path, line)
        if qid in qlines:
            raise InputError(
                f"duplicate query id {qid!r} (first seen on line {qlines[qid]})",
                path=queries_path,
                line=line,
                field="_id",
            )
        qlines[qid] = line
        queries[qid] = Query(qid, get_text(row, "text", queries_path, line))

    qrels: dict[str, dict[str, int]] = {}
    unknown_docs = 0
    for line, qid, did, grade in _read_qrels_tsv(qrels_path):
        if qid not in queries:
            raise InputError(
                f"judgment names query {qid!r}, which is not in {queries_path.name}",
                path=qrels_path,
                line=line,
                field="query-id",
            )
        if did not in seen:
            unknown_docs += 1
        prev = qrels.setdefault(qid, {}).get(did)
        if prev is not None and prev != grade:
            raise InputError(
                f"conflicting grades {prev} and {grade} for ({qid}, {did})",
                path=qrels_path,
                line=line,
                field="score",
            )
        qrels[qid][did] = grade
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
        extra={"qrels_split": split},
    )
