"""The pipeline's plan: a rerun reuses a domain only when its fingerprint matches, otherwise it stops before any
work, lists what differs and changes no file (run_name= writes beside, overwrite=true replaces); and everything
that can be checked before any work is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.job.plan import StaleResultsError
from rtriever_eval.settings.hydra import PACKAGE_DIR
from tests.helpers import evaluate_in_process, file_digests


def _paths(tmp: Path) -> list[str]:
    return [f"paths.results_dir={tmp / 'r'}", f"paths.cache_dir={tmp / 'c'}", "print_report=false"]


def _summaries(tmp: Path, run: str = "bm25") -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (tmp / "r" / "default" / run).rglob("summary.json")}


@pytest.fixture(scope="module")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtriever_eval.testing import save_tiny_qwen3

    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny"), eos_postprocessor=True, with_st_modules=False)


@pytest.fixture()
def bm25_done(tmp_path: Path) -> Path:
    evaluate_in_process("model=bm25", "dataset=sample", *_paths(tmp_path))
    return tmp_path


def test_same_settings_reuse_every_domain(bm25_done: Path) -> None:
    before = file_digests(bm25_done / "r")
    outcomes = evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done), "model.query_chunk=7")
    assert [o.skipped for o in outcomes] == [True, True, True]  # a BM25 batch size is no result setting
    assert file_digests(bm25_done / "r") == before


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.k1=3.0", "config.model.k1"),
        ("model.b=1.0", "config.model.b"),
        ("top_k=2000", "config.top_k"),
        ("metrics=[nDCG@10,RR]", "config.metrics"),
        ("dataset.revision=abc", "config.dataset.revision"),
    ],
)
def test_a_changed_setting_refuses_and_changes_nothing(bm25_done: Path, override: str, key: str) -> None:
    before = file_digests(bm25_done / "r")
    with pytest.raises(StaleResultsError) as info:
        evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done), override)
    message = " ".join(str(info.value).split())
    assert key in message and "→" in message
    assert "run_name=" in message and "overwrite=true" in message and "Nothing was run" in message
    assert file_digests(bm25_done / "r") == before


def test_the_message_names_old_and_new_values(bm25_done: Path) -> None:
    with pytest.raises(StaleResultsError) as info:
        evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done), "model.k1=3.0", "model.b=1.0")
    message = " ".join(str(info.value).split())
    assert "config.model.k1: 0.9 → 3.0" in message and "config.model.b: 0.4 → 1.0" in message
    assert "biology, earth_science, leetcode" in message
    assert "run_name=bm25-k1_3.0-b_1.0" in message or "run_name=bm25-b_1.0-k1_3.0" in message


def test_run_name_writes_beside_and_overwrite_replaces(bm25_done: Path) -> None:
    first = _summaries(bm25_done)
    evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done), "model.k1=3.0", "run_name=bm25-k1_3")
    beside = _summaries(bm25_done, "bm25-k1_3")
    assert set(beside) == set(first)
    assert _summaries(bm25_done) == first  # the original run is untouched
    assert beside["biology"]["fingerprint"]["digest"] != first["biology"]["fingerprint"]["digest"]
    evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done), "model.k1=3.0", "overwrite=true")
    replaced = _summaries(bm25_done)
    assert replaced["biology"]["config"]["model"]["k1"] == 3.0
    assert replaced["biology"]["fingerprint"]["digest"] == beside["biology"]["fingerprint"]["digest"]
    assert replaced["biology"]["metrics"] == beside["biology"]["metrics"]


def test_settings_that_cannot_change_a_number_reuse(bm25_done: Path) -> None:
    before = file_digests(bm25_done / "r")
    outcomes = evaluate_in_process(
        "model=bm25",
        "dataset=sample",
        *_paths(bm25_done),
        "cache.shard_size=7",
        "domains=[leetcode,biology]",
        "instructions=natural",  # BM25 takes no instruction: its prompt stays "" and its numbers the same
    )
    assert [o.skipped for o in outcomes] == [True, True]
    assert file_digests(bm25_done / "r") == before


def test_a_changed_prompt_refuses_a_dense_run(tmp_path: Path, tiny_qwen_dir: Path) -> None:
    args = [
        "model=rtriever_4b",
        f"model.path={tiny_qwen_dir}",
        "model.dtype=float32",
        "model.max_length=64",
        "domains=[biology]",
        *_paths(tmp_path),
    ]
    evaluate_in_process(*args)
    with pytest.raises(StaleResultsError) as info:
        evaluate_in_process(*args, "instructions=natural")
    message = " ".join(str(info.value).split())
    assert "prompt.query: Instruct: Given a biology post" in message and "Given a Biology post" in message
    # leetcode's prompt is the same under both instruction sets: a different set, the same result
    evaluate_in_process(*args[:-4], "domains=[leetcode]", *_paths(tmp_path))
    again = evaluate_in_process(*args[:-4], "domains=[leetcode]", *_paths(tmp_path), "instructions=natural")
    assert [o.skipped for o in again] == [True]


def test_a_changed_corpus_file_refuses(tmp_path: Path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(PACKAGE_DIR / "data" / "sample", data)
    args = ["model=bm25", "dataset=sample", f"dataset.path={data}", *_paths(tmp_path)]
    evaluate_in_process(*args)
    before = file_digests(tmp_path / "r")
    corpus = data / "documents" / "earth_science.jsonl"
    rows = corpus.read_text().splitlines()
    first = json.loads(rows[0])
    first["content"] += " One more sentence."
    corpus.write_text("\n".join([json.dumps(first), *rows[1:]]) + "\n")
    with pytest.raises(StaleResultsError) as info:
        evaluate_in_process(*args)
    message = " ".join(str(info.value).split())
    assert "results for earth_science" in message and "data:" in message
    assert file_digests(tmp_path / "r") == before
    # the same data moved elsewhere is the same data: reused
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    corpus.write_text("\n".join(rows) + "\n")
    outcomes = evaluate_in_process(*args[:2], f"dataset.path={moved}", *_paths(tmp_path), "overwrite=true")
    assert not any(o.skipped for o in outcomes)
    again = evaluate_in_process(*args[:2], f"dataset.path={moved}", *_paths(tmp_path))
    assert all(o.skipped for o in again)


def test_a_summary_without_fingerprint_counts_as_different(bm25_done: Path) -> None:
    path = next((bm25_done / "r").rglob("biology/summary.json"))
    summary = json.loads(path.read_text())
    del summary["fingerprint"]
    path.write_text(json.dumps(summary))
    with pytest.raises(StaleResultsError, match="older version"):
        evaluate_in_process("model=bm25", "dataset=sample", *_paths(bm25_done))


# ------------------------------------------------------------------------------------------- checked up front


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        (["metrics=[nDCG@1O]"], "metrics", "unknown measure 'nDCG@1O'"),
        (["top_k=100"], "metrics", "R@1000 looks 1000 deep but top_k=100"),
        (["metrics=[nDCG@10,P@5]", "top_k=3"], "metrics", "nDCG@10 looks 10 deep"),
        (["model=minilm", "model.query_template=Query:"], "model.query_template", "no '{instruction}'"),
        (["model=minilm", "model.eos_token=no_such_token"], "model.eos_token", "not in the tokenizer's vocabulary"),
        (["model=minilm", "model.query_max_length=3", "model.query_template='Q {instruction}'"], "model.query_max", ""),
        (["dataset.query_field=reasoning"], "dataset.query_field", "oracle"),
        (["dataset.query_field=reasoning", "dataset.oracle=true"], "run_name", "does not say so"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path: Path, overrides: list[str], field: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        evaluate_in_process("dataset=sample", *_paths(tmp_path), *overrides)
    assert (info.value.field or "").startswith(field) and text in str(info.value)
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("summary.json"))


def test_a_local_copy_lacking_a_domain_fails_before_the_first_domain(tmp_path: Path) -> None:
    data = tmp_path / "partial"
    shutil.copytree(PACKAGE_DIR / "data" / "sample", data)
    (data / "documents" / "leetcode.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"documents/leetcode\.\*"):
        evaluate_in_process("model=bm25", "dataset=sample", f"dataset.path={data}", *_paths(tmp_path))
    assert not (tmp_path / "r").exists()
