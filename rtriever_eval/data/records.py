"""Reading row files (JSONL, Parquet) into plain dicts, with errors that name the file, row and field.

Knows nothing about BRIGHT or BEIR semantics: only how to get rows out of files and check field types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import InputError


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; bad JSON or a non-object raises InputError."""
    try:
        fh = path.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot open file: {exc.strerror}", path=path) from None
    with fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"file is not valid UTF-8 (byte {exc.start} of line {lineno + 1})",
                    path=path,
                    line=lineno + 1,
                ) from None
            if not line:
                break
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno) from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
            yield lineno, obj


def iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row number, row dict) of a Parquet file, rows numbered from 1."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"cannot read Parquet file: {exc}", path=path) from None
    yield from enumerate(table.to_pylist(), start=1)


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".parquet":
        return iter_parquet(path)
    return iter_jsonl(path)


def get_id(row: Mapping[str, Any], key: str, path: Path, line: int) -> str:
    """A required id field as a string; ints are accepted (some datasets store int64 ids)."""
    if key not in row:
        raise InputError(
            f"missing required field (row has: {', '.join(sorted(row)) or 'nothing'})",
            path=path,
            line=line,
            field=key,
        )
    value = row[key]
    if isinstance(value, bool) or value is None:
        raise InputError(f"id must be a string, got {value!r}", path=path, line=line, field=key)
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"id must be a string, got {value!r}", path=path, line=line, field=key)
        value = str(int(value))
    if not isinstance(value, str):
        raise InputError(f"id must be a string, got {type(value).__name__}", path=path, line=line, field=key)
    if value == "" or value != value.strip() or any(c in value for c in "\t\n\r\x00 "):
        raise InputError(
            f"id {value!r} is empty or contains whitespace or NUL, which TREC files cannot hold",
            path=path,
            line=line,
            field=key,
        )
    return value


def get_unique_id(row: Mapping[str, Any], key: str, path: Path, line: int, seen: dict[str, int], what: str) -> str:
    """`get_id`, refusing an id already in `seen` (id -> first line), which it then records."""
    value = get_id(row, key, path, line)
    if value in seen:
        raise InputError(
            f"duplicate {what} id {value!r} (first seen on line {seen[value]})", path=path, line=line, field=key
        )
    seen[value] = line
    return value


def get_text(row: Mapping[str, Any], key: str, path: Path, line: int, *, required: bool = True) -> str:
    if key not in row or row[key] is None:
        if required:
            raise InputError(
                f"missing required field (row has: {', '.join(sorted(row)) or 'nothing'})",
                path=path,
                line=line,
                field=key,
            )
        return ""
    value = row[key]
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=key)
    return value.replace("\x00", "")


def get_id_list(row: Mapping[str, Any], key: str, path: Path, line: int, *, required: bool = True) -> list[str]:
    """A list of ids (strings or ints); the literal "N/A" entries are dropped, duplicates removed, order kept."""
    if key not in row or row[key] is None:
        if required:
            raise InputError("missing required field", path=path, line=line, field=key)
        return []
    value = row[key]
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise InputError(f"expected a list of ids, got {type(value).__name__}", path=path, line=line, field=key)
    out: dict[str, None] = {}
    for item in value:
        if item == "N/A":
            continue
        sid = get_id({key: item}, key, path, line)
        out[sid] = None
    return list(out)
