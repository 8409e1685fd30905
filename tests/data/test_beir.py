"""BEIR folders: title+text joining, header handling, judged-only queries, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.data.beir import load_beir_domain


def _make(root: Path, corpus: list[dict], queries: list[dict], qrels: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return root


def test_beir_folder(tmp_path: Path) -> None:
    root = _make(
        tmp_path / "mini-set",
        [
            {"_id": "d1", "title": "Title", "text": "body"},
            {"_id": 2, "title": "", "text": " only text "},
            {"_id": "d3", "text": "no title key"},
        ],
        [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "unjudged"}],
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t2\t0\n",
    )
    data = load_beir_domain(root)
    assert data.name == "mini-set"
    assert [d.text for d in data.documents] == ["Title body", "only text", "no title key"]
    assert [q.id for q in data.queries] == ["q1"]  # queries without judgments are not evaluated
    assert data.qrels == {"q1": {"d1": 2, "2": 0}}


@pytest.mark.parametrize(
    ("qrels", "line", "field", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq9\td1\t1\n", 2, "query-id", "not in queries.jsonl"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1.5\n", 2, "score", "integer"),
        ("query-id\tcorpus-id\tscore\nq1\td1\n", 2, "score", "3 tab-separated"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n", 3, "corpus-id", "duplicate"),
    ],
)
def test_bad_qrels(tmp_path: Path, qrels: str, line: int, field: str | None, message: str) -> None:
    root = _make(tmp_path / "s", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "y"}], qrels)
    with pytest.raises(InputError, match=message) as info:
        load_beir_domain(root)
    assert (info.value.line, info.value.field) == (line, field)
    assert info.value.path is not None and info.value.path.endswith("test.tsv")


def test_duplicate_corpus_id(tmp_path: Path) -> None:
    root = _make(
        tmp_path / "s",
        [{"_id": "d1", "text": "x"}, {"_id": "d1", "text": "y"}],
        [{"_id": "q1", "text": "y"}],
        "q1\td1\t1\n",
    )
    with pytest.raises(InputError, match="duplicate document id") as info:
        load_beir_domain(root)
    assert (info.value.line, info.value.field) == (2, "_id")
