"""A query file replaces a domain's query texts: every query exactly once, rows of other domains skipped, and
a missing row, an unknown query or a repeated one is an InputError naming the file and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.data.loading import load_domain
from rtriever_eval.settings import DatasetSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR

SAMPLE = DatasetSettings("sample", "sample", path=str(PACKAGE_DIR / "data" / "sample"))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_texts_are_replaced_and_the_sha256_recorded(tmp_path: Path) -> None:
    original = load_domain(SAMPLE, "biology")
    rows = [{"query_id": q.id, "domain": "biology", "text": f"rewritten {q.id}"} for q in original.queries]
    rows.append({"query_id": "0", "domain": "leetcode", "text": "another domain's row: skipped"})
    path = _write(tmp_path / "q.jsonl", rows)
    data = load_domain(DatasetSettings("sample", "sample", path=SAMPLE.path, query_file=str(path)), "biology")
    assert [q.text for q in data.queries] == [f"rewritten {q.id}" for q in original.queries]
    assert [q.excluded_ids for q in data.queries] == [q.excluded_ids for q in original.queries]
    assert data.extra["query_file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.qrels == original.qrels


@pytest.mark.parametrize(
    ("edit", "message", "line"),
    [
        (lambda rows: rows[1:], "no row for 1 of the 8 queries", None),
        (lambda rows: [*rows, {"query_id": "nope", "domain": "biology", "text": "x"}], "does not have", 9),
        (lambda rows: [*rows, rows[0]], "appears twice", 9),
        (lambda rows: [*rows[:-1], {"query_id": rows[-1]["query_id"], "domain": "biology"}], None, 8),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, edit, message: str | None, line: int | None) -> None:  # type: ignore[no-untyped-def]
    original = load_domain(SAMPLE, "biology")
    rows = [{"query_id": q.id, "domain": "biology", "text": "t"} for q in original.queries]
    path = _write(tmp_path / "q.jsonl", edit(rows))
    with pytest.raises(InputError) as info:
        load_domain(DatasetSettings("sample", "sample", path=SAMPLE.path, query_file=str(path)), "biology")
    assert info.value.path == str(path) and info.value.line == line
    if message:
        assert message in str(info.value)
