"""Rewritten queries as an artifact: a JSONL file of rows {query_id, text, optional domain} that replaces a
domain's query texts, every query covered exactly once, the file's sha256 recorded.

Knows the file format and a domain's queries; nothing of how the rewrites were produced (rewrite.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rtriever_eval.base.checksum import sha256_file
from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import file_lock
from rtriever_eval.base.types import DomainData
from rtriever_eval.data.records import get_id, get_text, iter_jsonl

ID_FIELDS = ("query_id", "id")
TEXT_FIELDS = ("text", "query")


def read_rewrites(path: str | Path, domain: str) -> dict[str, tuple[str, int]]:
    """query id -> (text, line) of the rows for `domain` (rows with another domain are skipped; rows without one
    apply to every domain). A query id twice, or a row without id or text, is an InputError."""
    target = Path(path)
    if not target.is_file():
        raise InputError("query file does not exist", path=target, field="dataset.query_file")
    out: dict[str, tuple[str, int]] = {}
    # shared with other readers, never beside a process still writing rewrites into it (rewrite.py)
    with file_lock(target.with_name(target.name + ".lock"), shared=True, what="rewrites are being written"):
        rows = list(iter_jsonl(target))
    for line, row in rows:
        if row.get("domain") not in (None, domain):
            continue
        id_key = next((k for k in ID_FIELDS if k in row), ID_FIELDS[0])
        text_key = next((k for k in TEXT_FIELDS if k in row), TEXT_FIELDS[0])
        qid = get_id(row, id_key, target, line)
        if qid in out:
            raise InputError(f"query {qid!r} of domain {domain!r} appears twice (first on line {out[qid][1]})",
                             path=target, line=line, field=id_key)  # fmt: skip
        out[qid] = (get_text(row, text_key, target, line), line)
    return out


def apply_query_file(data: DomainData, path: str | Path) -> DomainData:
    """`data` with every query's text replaced by its row's; a query without a row, or a row naming a query
    the domain does not have, is an InputError naming the file (and line)."""
    rows = read_rewrites(path, data.name)
    known = {q.id for q in data.queries}
    unknown = [(qid, line) for qid, (_, line) in rows.items() if qid not in known]
    if unknown:
        qid, line = unknown[0]
        raise InputError(f"row for query {qid!r}, which domain {data.name!r} does not have ({len(unknown)} such)",
                         path=path, line=line, field="query_id")  # fmt: skip
    missing = [q.id for q in data.queries if q.id not in rows]
    if missing:
        raise InputError(
            f"no row for {len(missing)} of the {len(data.queries)} queries of domain {data.name!r} "
            f"(first: {', '.join(missing[:5])})",
            path=path,
            field="query_id",
        )
    queries = tuple(dataclasses.replace(q, text=rows[q.id][0]) for q in data.queries)
    extra = {**data.extra, "query_file": str(path), "query_file_sha256": sha256_file(Path(path))}
    return dataclasses.replace(data, queries=queries, extra=extra)
