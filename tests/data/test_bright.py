"""BRIGHT loading on the real query files of all 12 domains (../shared/data/bright), rebuilt as a local copy."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.data.bright import load_bright_domain
from rtriever_eval.settings.registry import BENCHMARKS, BRIGHT_DOMAINS, select_domains
from tests.helpers import shared_data

COUNTS = {  # from ../shared/data/README.md
    "biology": 103,
    "earth_science": 116,
    "economics": 103,
    "psychology": 101,
    "robotics": 101,
    "stackoverflow": 117,
    "sustainable_living": 108,
    "leetcode": 142,
    "pony": 112,
    "aops": 111,
    "theoremqa_questions": 194,
    "theoremqa_theorems": 76,
}


def _rows(domain: str) -> list[dict]:
    src = shared_data("bright") / "topics" / f"topics.bright-{domain.replace('_', '-')}-original.jsonl.gz"
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_trec_qrels(path: Path) -> set[tuple[str, str]]:
    pairs = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, _, did, rel = line.split()
            assert rel == "1"
            pairs.add((qid, did))
    return pairs


@pytest.fixture(scope="module")
def bright_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of the dataset repo: real examples, synthetic documents for every gold/excluded id.

    Half the domains are written as Parquet shards (the hub layout), half as JSONL, so both readers are tested.
    """
    root = tmp_path_factory.mktemp("bright")
    for i, domain in enumerate(BRIGHT_DOMAINS):
        rows = _rows(domain)
        ids: dict[str, None] = {}
        long_ids: dict[str, None] = {}
        for r in rows:
            for key in ("gold_ids", "excluded_ids"):
                ids.update({d: None for d in r[key] if d != "N/A"})
            long_ids.update({d: None for d in r["gold_ids_long"] if d != "N/A"})
        docs = [{"id": d, "content": f"synthetic text for {d}"} for d in [*ids, "distractor-1"]]
        long_docs = [{"id": d, "content": f"long synthetic text for {d}"} for d in [*long_ids, "distractor-1"]]
        for config, data in (("examples", rows), ("documents", docs), ("long_documents", long_docs)):
            folder = root / config
            folder.mkdir(exist_ok=True)
            if i % 2 == 0:
                pq.write_table(pa.Table.from_pylist(data), folder / f"{domain}-00000-of-00001.parquet")
            else:
                with (folder / f"{domain}.jsonl").open("w", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in data)
    return root


@pytest.mark.parametrize("domain", BRIGHT_DOMAINS)
def test_counts_qrels_and_exclusions_match_the_real_files(bright_copy: Path, domain: str) -> None:
    data = load_bright_domain(domain, path=str(bright_copy), hub_id=None, revision=None)
    assert len(data.queries) == COUNTS[domain]
    assert all(isinstance(q.id, str) for q in data.queries)
    # qrels are exactly the unique (id, gold_id) pairs, which is what Anserini's qrels file holds
    qrels_file = shared_data("bright") / "qrels" / f"qrels.bright-{domain.replace('_', '-')}.txt"
    ours = {(q, d) for q, docs in data.qrels.items() for d, rel in docs.items() if rel == 1}
    assert ours == _read_trec_qrels(qrels_file)
    assert "N/A" not in {d for docs in data.qrels.values() for d in docs}
    excluded = {q.id: q.excluded_ids for q in data.queries}
    assert all("N/A" not in ex for ex in excluded.values())
    has_exclusions = sum(1 for ex in excluded.values() if ex)
    if domain in ("leetcode", "aops", "theoremqa_questions"):
        assert has_exclusions > 0
    else:
        assert has_exclusions == 0


def test_leetcode_exclusions_equal_anserini_exclude_file(bright_copy: Path) -> None:
    data = load_bright_domain("leetcode", path=str(bright_copy), hub_id=None, revision=None)
    ours = {(q.id, d) for q in data.queries for d in q.excluded_ids}
    lines = (shared_data("bright") / "qrels" / "exclude.bright-leetcode.txt").read_text().split("\n")
    expected = {tuple(line.split()[:2]) for line in lines if line.strip()}
    assert ours == expected


def test_theoremqa_questions_gold_ids_are_deduplicated(bright_copy: Path) -> None:
    raw = _rows("theoremqa_questions")
    assert sum(len(r["gold_ids"]) for r in raw) == 617  # README: 617 entries, 439 unique pairs
    data = load_bright_domain("theoremqa_questions", path=str(bright_copy), hub_id=None, revision=None)
    assert sum(len(v) for v in data.qrels.values()) == 439
    dup = next(r for r in raw if len(r["gold_ids"]) != len(set(r["gold_ids"])))
    assert list(data.qrels[dup["id"]]) == list(dict.fromkeys(dup["gold_ids"]))


def test_long_mode_uses_gold_ids_long_and_drops_na(bright_copy: Path) -> None:
    raw = _rows("biology")
    data = load_bright_domain("biology", path=str(bright_copy), hub_id=None, revision=None, long_documents=True)
    for r in raw:
        gold = [g for g in dict.fromkeys(r["gold_ids_long"]) if g != "N/A"]
        if gold:
            assert list(data.qrels[r["id"]]) == gold
        else:
            assert r["id"] not in data.qrels
    assert data.extra["corpus"] == "long_documents"
    assert all(d.text.startswith("long synthetic") for d in data.documents)


def test_reasoning_field_replaces_query_text(bright_copy: Path) -> None:
    raw = {r["id"]: r for r in _rows("economics")}
    data = load_bright_domain("economics", path=str(bright_copy), hub_id=None, revision=None, query_field="reasoning")
    assert all(q.text == raw[q.id]["reasoning"] for q in data.queries)


def test_unknown_domain_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid domains: biology, earth_science"):
        select_domains(BENCHMARKS["bright"], ["biolgy"], long_documents=False, path=None, dataset="bright")


def test_missing_split_file_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "documents").mkdir()
    with pytest.raises(ConfigError, match="no file for domain 'pony'"):
        load_bright_domain("pony", path=str(tmp_path), hub_id=None, revision=None)


def _write(folder: Path, config: str, domain: str, rows: list[dict] | str) -> Path:
    (folder / config).mkdir(parents=True, exist_ok=True)
    path = folder / config / f"{domain}.jsonl"
    text = rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def _example(qid: str = "1", **kw: object) -> dict:
    row = {
        "id": qid,
        "query": "q",
        "reasoning": "r",
        "gold_ids": ["d1"],
        "gold_ids_long": ["N/A"],
        "excluded_ids": ["N/A"],
        "gold_answer": "a",
    }
    row.update(kw)
    return row


@pytest.mark.parametrize(
    ("examples", "docs", "bad_file", "line", "field"),
    [
        (
            '{"id": "1", "query": "q", "gold_ids": ["d1"]}\n{"id": "2", oops}\n',
            [{"id": "d1", "content": "x"}],
            "examples",
            2,
            None,
        ),
        (
            [_example(), {"id": "2", "gold_ids": ["d1"]}],
            [{"id": "d1", "content": "x"}],
            "examples",
            2,
            "query",
        ),
        ([_example()], [{"id": "d1", "content": "x"}, {"id": "d1", "content": "y"}], "documents", 2, "id"),
        ([_example(), _example("1")], [{"id": "d1", "content": "x"}], "examples", 2, "id"),
        ([_example(excluded_ids=["d1"])], [{"id": "d1", "content": "x"}], "examples", 1, "excluded_ids"),
        ([_example(id=1.5)], [{"id": "d1", "content": "x"}], "examples", 1, "id"),
        ([_example(gold_ids="d1")], [{"id": "d1", "content": "x"}], "examples", 1, "gold_ids"),
    ],
    ids=[
        "malformed-json",
        "missing-field",
        "duplicate-doc",
        "duplicate-query",
        "excluded-is-gold",
        "float-id",
        "gold-not-a-list",
    ],
)
def test_bad_input_names_file_line_and_field(
    tmp_path: Path, examples: list[dict] | str, docs: list[dict], bad_file: str, line: int, field: str | None
) -> None:
    _write(tmp_path, "examples", "biology", examples)
    _write(tmp_path, "documents", "biology", docs)
    with pytest.raises(InputError) as info:
        load_bright_domain("biology", path=str(tmp_path), hub_id=None, revision=None)
    err = info.value
    assert err.path is not None and err.path.endswith(f"{bad_file}/biology.jsonl")
    assert err.line == line
    assert err.field == field
    assert f"line {line}" in str(err)


def test_int_ids_become_strings(tmp_path: Path) -> None:
    _write(tmp_path, "examples", "pony", [_example(7, gold_ids=[3, "N/A", 3])])
    _write(tmp_path, "documents", "pony", [{"id": 3, "content": "x"}, {"id": 4, "content": "y"}])
    data = load_bright_domain("pony", path=str(tmp_path), hub_id=None, revision=None)
    assert data.queries[0].id == "7"
    assert data.qrels == {"7": {"3": 1}}
    assert [d.id for d in data.documents] == ["3", "4"]


@pytest.mark.network
def test_hub_loading_at_pinned_revision() -> None:
    data = load_bright_domain(
        "pony", path=None, hub_id="xlangai/BRIGHT", revision="3066d29c9651a576c8aba4832d249807b181ecae"
    )
    assert len(data.queries) == COUNTS["pony"]


def test_hub_failure_offline_says_how_to_use_a_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"dataset\.path="):
        load_bright_domain(
            "pony", path=None, hub_id="xlangai/BRIGHT", revision="3066d29c9651a576c8aba4832d249807b181ecae"
        )


def test_counts_cover_all_twelve_domains() -> None:
    assert Counter(BRIGHT_DOMAINS) == Counter(set(COUNTS))
    assert sum(COUNTS.values()) == 1384


def test_unreachable_hub_fails_within_seconds_with_a_local_copy_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline variables unset, the endpoint refuses connections: the load fails fast, pointing at dataset.path."""
    import time

    from rtriever_eval.base import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens there
    hub.hub_reachable.cache_clear()
    monkeypatch.setattr(
        hub,
        "go_offline",
        lambda: (
            monkeypatch.setenv("HF_HUB_OFFLINE", "1"),
            monkeypatch.setenv("HF_DATASETS_OFFLINE", "1"),
            _set_lib_offline(monkeypatch),
        ),
    )
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"dataset\.path="):
        load_bright_domain(
            "pony", path=None, hub_id="xlangai/BRIGHT", revision="3066d29c9651a576c8aba4832d249807b181ecae"
        )
    assert time.monotonic() - start < 15
    hub.hub_reachable.cache_clear()


def _set_lib_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
