"""TREC run and qrels files (and BEIR's qrels TSV): read them into Run/Qrels, write runs in trec_eval's order.

Knows the formats and trec_eval's ranking rule (score descending, then docid descending); knows no measures.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import atomic_open
from rtriever_eval.base.types import Qrels, Run

__all__ = [
    "format_scores",
    "ranked",
    "read_qrels",
    "read_qrels_tsv",
    "read_run",
    "write_run",
]

logger = logging.getLogger(__name__)

RUN_FIELDS = ("qid", "Q0", "docid", "rank", "score", "tag")
QRELS_FIELDS = ("qid", "iter", "docid", "rel")
TSV_FIELDS = ("query-id", "corpus-id", "score")

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_WHITESPACE = re.compile(r"\s")
_BOM = b"\xef\xbb\xbf"


def ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Return `(docid, score)` pairs in trec_eval's order: score descending, then docid descending.

    trec_eval (and pytrec_eval, which runs its code) ignores any rank column and sorts this way; docids
    compare as strings (code point order, which is the byte order `strcmp` sees on UTF-8). A NaN score has
    no place in that order and raises ValueError.
    """
    items = list(scores.items())
    if any(math.isnan(score) for _, score in items):
        raise ValueError("a NaN score cannot be ranked")
    items.sort(key=lambda item: (item[1], item[0]), reverse=True)
    return items


def top(scores: Mapping[str, float], depth: int) -> dict[str, float]:
    """The ``depth`` first documents of ``scores`` in trec_eval's order (``ranked``'s), without sorting them all."""
    if len(scores) <= depth:
        return dict(scores)
    return dict(heapq.nlargest(depth, scores.items(), key=lambda item: (item[1], item[0])))


def format_scores(scores: list[float]) -> list[str]:
    """Format one query's scores so that reading them back keeps every value's rank exactly.

    When every score is a float32 value (dense retrievers score in fp32), each is written with the shortest
    digits that round-trip float32 (`np.float32(float(text)) == score`); distinct float32 values stay
    distinct and ordered. Otherwise every score of the query is written with `repr`, exact for float64.
    """
    values = np.asarray(scores, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        single = values.astype(np.float32)
    if np.array_equal(single.astype(np.float64), values):
        return [str(value) for value in single]
    return [repr(float(value)) for value in values]


def write_run(path: str | Path, run: Run, tag: str) -> None:
    """Write `run` atomically as TREC lines `qid Q0 docid rank score tag`.

    Queries in sorted order; each query's documents in `ranked` order with ranks 1..n, so that the rank
    column agrees with what trec_eval computes. Queries with no documents write no line. Ids or a tag that
    hold whitespace (or are empty) cannot be represented and raise InputError, as does a NaN score.
    """
    _check_token(tag, path, "tag")
    blocks: list[str] = []
    for qid in sorted(run):
        _check_token(qid, path, "qid")
        docs = run[qid]
        for docid, score in docs.items():
            _check_token(docid, path, "docid")
            if math.isnan(score):
                raise InputError(f"query {qid!r}, document {docid!r}: NaN score", path=path, field="score")
        order = ranked(docs)
        texts = format_scores([score for _, score in order])
        blocks.extend(
            f"{qid} Q0 {docid} {rank} {text} {tag}\n"
            for rank, ((docid, _), text) in enumerate(zip(order, texts, strict=True), start=1)
        )
    with atomic_open(path, "w") as fh:
        fh.write("".join(blocks))
    logger.debug("wrote %d lines for %d queries to %s", len(blocks), len(run), path)


def read_run(path: str | Path, data: bytes | None = None) -> Run:
    """Read a TREC run `qid Q0 docid rank score tag` into qid -> docid -> score.

    Parses as trec_eval does: fields split on ASCII whitespace, fields after the sixth ignored, blank lines
    and lines starting with `#` skipped, the Q0, rank and tag columns ignored (trec_eval ranks by score).
    Stricter than trec_eval's `atof`: a score that is not a number, or is NaN, raises InputError; so do fewer
    than six fields and a (qid, docid) pair seen twice (trec_eval refuses that run too). ``data``, when given,
    is the file's bytes already read (parsed instead of reading ``path`` again; ``path`` names it in errors).
    """
    fast = _read_run_fast(path, data)
    if fast is not None:
        return fast
    run: Run = {}
    for lineno, fields in _content_lines(path, data):
        if len(fields) < len(RUN_FIELDS):
            missing = RUN_FIELDS[len(fields)]
            raise InputError(
                f"expected at least {len(RUN_FIELDS)} whitespace-separated fields "
                f"({' '.join(RUN_FIELDS)}), found {len(fields)}",
                path=path,
                line=lineno,
                field=missing,
            )
        qid = _decode(fields[0], path, lineno, "qid")
        docid = _decode(fields[2], path, lineno, "docid")
        score = _parse_score(fields[4], path, lineno)
        docs = run.setdefault(qid, {})
        if docid in docs:
            first = _first_occurrence(path, qid, docid, before=lineno)
            raise InputError(
                f"document {docid!r} appears twice for query {qid!r} (first on line {first}); "
                "trec_eval refuses such a run",
                path=path,
                line=lineno,
                field="docid",
            )
        docs[docid] = score
    logger.debug("read %d queries, %d lines from %s", len(run), sum(map(len, run.values())), path)
    return run


def _read_run_fast(path: str | Path, data: bytes | None = None) -> Run | None:
    """`read_run` for the common case, a well-formed ASCII file (what this harness writes), in one tight loop;
    None at the first thing that is not plain (non-ASCII, a short line, a bad score, a repeated pair), for the
    careful reader to report with its file, line and field."""
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
    if data.startswith(_BOM) or not data.isascii():
        return None
    run: Run = {}
    for line in data.decode("ascii").split("\n"):
        fields = line.split()  # on ASCII text, str.split sees exactly C's isspace characters
        if not fields or fields[0][0] == "#":
            continue
        if len(fields) < len(RUN_FIELDS) or "_" in fields[4]:
            return None
        try:
            score = float(fields[4])
        except ValueError:
            return None
        docs = run.get(fields[0])
        if docs is None:
            docs = run[fields[0]] = {}
        if score != score or fields[2] in docs:  # NaN, or a pair seen twice
            return None
        docs[fields[2]] = score
    return run


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels `qid iter docid rel` into qid -> docid -> grade.

    Exactly four fields per line, as trec_eval demands; blank lines and lines starting with `#` skipped.
    Grades must be integers and are kept as written, negative ones included (trec_eval counts a grade
    below the relevance level as not relevant). A (qid, docid) pair judged twice raises InputError:
    trec_eval stops with "duplicate docs" on such a query rather than picking one of the grades.
    """
    qrels: Qrels = {}
    for lineno, fields in _content_lines(path):
        if len(fields) != len(QRELS_FIELDS):
            field = QRELS_FIELDS[len(fields)] if len(fields) < len(QRELS_FIELDS) else "rel"
            raise InputError(
                f"expected exactly {len(QRELS_FIELDS)} whitespace-separated fields "
                f"({' '.join(QRELS_FIELDS)}), found {len(fields)}",
                path=path,
                line=lineno,
                field=field,
            )
        qid = _decode(fields[0], path, lineno, "qid")
        docid = _decode(fields[2], path, lineno, "docid")
        grade = _parse_grade(_decode(fields[3], path, lineno, "rel"), path, lineno, "rel")
        _add_judgment(qrels, qid, docid, grade, path, lineno, "docid")
    logger.debug("read judgments for %d queries from %s", len(qrels), path)
    return qrels


def read_qrels_tsv(path: str | Path) -> Qrels:
    """Read BEIR qrels, `query-id<TAB>corpus-id<TAB>score` after one header line, into qid -> docid -> grade.

    Columns are split on tabs only (ids may hold spaces here, though such ids cannot go into a TREC run);
    surrounding whitespace is stripped. Same rules as `read_qrels` for grades and duplicate pairs.
    """
    qrels: Qrels = {}
    header_seen = False
    for lineno, raw in _raw_lines(path):
        line = _decode(raw, path, lineno, None)
        if not line.strip():
            continue
        columns = [column.strip() for column in line.split("\t")]
        if not header_seen:
            header_seen = True
            if len(columns) != len(TSV_FIELDS) or _INTEGER.match(columns[2]):
                raise InputError(
                    "expected the header line 'query-id<TAB>corpus-id<TAB>score'",
                    path=path,
                    line=lineno,
                    field="header",
                )
            continue
        if len(columns) != len(TSV_FIELDS):
            field = TSV_FIELDS[len(columns)] if len(columns) < len(TSV_FIELDS) else "score"
            raise InputError(
                f"expected exactly {len(TSV_FIELDS)} tab-separated columns "
                f"({', '.join(TSV_FIELDS)}), found {len(columns)}",
                path=path,
                line=lineno,
                field=field,
            )
        qid, docid, grade_text = columns
        for value, name in ((qid, "query-id"), (docid, "corpus-id")):
            if not value:
                raise InputError("empty id", path=path, line=lineno, field=name)
        grade = _parse_grade(grade_text, path, lineno, "score")
        _add_judgment(qrels, qid, docid, grade, path, lineno, "corpus-id")
    if not header_seen:
        logger.warning("qrels file %s is empty", path)
    logger.debug("read judgments for %d queries from %s", len(qrels), path)
    return qrels


# -- helpers ---------------------------------------------------------------------------------------------


def _raw_lines(path: str | Path, data: bytes | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, raw bytes) for each newline-separated line of the file (or of ``data``)."""
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror or exc}", path=path) from exc
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    for index, raw in enumerate(data.split(b"\n")):
        yield index + 1, raw


def _content_lines(path: str | Path, data: bytes | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (line number, fields) for each line that is neither blank nor a `#` comment.

    Fields are split on ASCII whitespace, exactly the characters C's `isspace` sees, so an id holding a
    non-ASCII space stays one field, as it does for trec_eval.
    """
    for lineno, raw in _raw_lines(path, data):
        fields = raw.split()
        if not fields or fields[0].startswith(b"#"):
            continue
        yield lineno, fields


def _decode(raw: bytes, path: str | Path, lineno: int, field: str | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 ({exc.reason})", path=path, line=lineno, field=field) from exc


def _parse_score(raw: bytes, path: str | Path, lineno: int) -> float:
    text = _decode(raw, path, lineno, "score")
    try:
        if "_" in text:
            raise ValueError(text)
        score = float(text)
    except ValueError:
        raise InputError(f"score {text!r} is not a number", path=path, line=lineno, field="score") from None
    if math.isnan(score):
        raise InputError("score is NaN, which cannot be ranked", path=path, line=lineno, field="score")
    return score


def _parse_grade(text: str, path: str | Path, lineno: int, field: str) -> int:
    if not _INTEGER.match(text):
        raise InputError(f"relevance grade {text!r} is not an integer", path=path, line=lineno, field=field)
    return int(text)


def _add_judgment(qrels: Qrels, qid: str, docid: str, grade: int, path: str | Path, lineno: int, field: str) -> None:
    docs = qrels.setdefault(qid, {})
    if docid in docs:
        raise InputError(
            f"document {docid!r} is judged twice for query {qid!r}; trec_eval stops with "
            "'duplicate docs' on such a query, so keep one judgment per pair",
            path=path,
            line=lineno,
            field=field,
        )
    docs[docid] = grade


def _first_occurrence(path: str | Path, qid: str, docid: str, *, before: int) -> int | None:
    """Find the first line holding (qid, docid); only called to word an error, so rereading is fine."""
    target = (qid.encode("utf-8"), docid.encode("utf-8"))
    for lineno, fields in _content_lines(path):
        if lineno >= before:
            break
        if (fields[0], fields[2]) == target:
            return lineno
    return None


def _check_token(value: str, path: str | Path, field: str) -> None:
    """An id or tag must be one non-empty field that any whitespace splitter reads back unchanged.

    Any Unicode whitespace is refused (Python's `str.split` would cut there even where trec_eval does not),
    and so is a qid starting with `#`, which would turn its line into a comment.
    """
    if not isinstance(value, str):
        raise InputError(f"{field} {value!r} is not a string (ids are strings)", path=path, field=field)
    if not value or _WHITESPACE.search(value):
        raise InputError(
            f"{field} {value!r} is empty or holds whitespace, which a TREC run cannot represent",
            path=path,
            field=field,
        )
    if field == "qid" and value.startswith("#"):
        raise InputError(f"qid {value!r} starts with '#', which would make its lines comments", path=path, field=field)
