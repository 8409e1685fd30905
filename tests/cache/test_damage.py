"""No damaged byte is ever used: one byte changed in a corpus shard, a query shard, a reranker score file, a cached
subset or a saved run gives the clean run's results (the damage found, logged, counted and encoded again), or, where
the cache may not be rewritten (cache.mode=read), stops naming the file; never exit 0 with other numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.testing import save_tiny_cross_encoder
from tests.helpers import evaluate_in_process, run_eval_child

ARGS = ["model=minilm", "domains=[biology,earth_science]", "cache.shard_size=16", "print_report=false"]


def _eval(root: Path, cache: Path, *extra: str) -> Any:
    return evaluate_in_process(*ARGS, f"paths.results_dir={root}", f"paths.cache_dir={cache}", *extra)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    _eval(root / "r", root / "c")
    return root


def _runs(results: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(results.rglob("run.trec"))}


def _entry(cache: Path, side: str, label: str) -> Path:
    for manifest in (cache / "embeddings").glob("*/manifest.json"):
        info = json.loads(manifest.read_text())["info"]
        if info["side"] == side and info["label"] == label:
            return manifest.parent
    raise AssertionError(f"no {side} entry for {label}")


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40  # the last float's sign/exponent byte: a large change of one value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("side", ["documents", "queries"])
def test_a_damaged_shard_is_encoded_again_and_the_run_equals_the_clean_one(clean: Path, tmp_path: Path,
                                                                           side: str) -> None:  # fmt: skip
    cache = tmp_path / "c"
    shutil.copytree(clean / "c", cache)
    shard = _entry(cache, side, "sample/earth_science") / "shard-00000.npy"
    _flip_last_byte(shard)
    outcomes = _eval(tmp_path / "r", cache)
    assert _runs(tmp_path / "r") == _runs(clean / "r")  # byte for byte
    counts = {o.domain: o.summary.counts for o in outcomes}
    assert counts["earth_science"]["cache_shards_repaired"] == 1 and "cache_shards_repaired" not in counts["biology"]
    encoded = "documents_encoded" if side == "documents" else "queries_encoded"
    assert counts["earth_science"][encoded] == (16 if side == "documents" else 8)  # that shard only
    # read mode never rewrites the cache: it stops, naming the shard and the way out
    _flip_last_byte(shard)
    with pytest.raises(InputError) as caught:
        _eval(tmp_path / "r2", cache, "cache.mode=read")
    assert caught.value.path == str(shard) and "rtriever-cache verify --repair" in str(caught.value)
    assert not list((tmp_path / "r2").rglob("earth_science/summary.json"))


def test_the_console_exits_2_naming_a_damaged_shard_in_read_mode(clean: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    shutil.copytree(clean / "c", cache)
    shard = _entry(cache, "documents", "sample/biology") / "shard-00001.npy"
    _flip_last_byte(shard)
    proc = run_eval_child(*ARGS, "cache.mode=read", f"paths.results_dir={tmp_path / 'r'}",
                          f"paths.cache_dir={cache}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    text = " ".join(proc.stderr.split())
    assert "shard-00001.npy" in text and "does not match the checksum" in text and "verify --repair" in text
    assert "Traceback" not in proc.stderr and not list((tmp_path / "r").rglob("run.trec"))


@pytest.fixture(scope="module")
def reranked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rerank")
    evaluate_in_process("model=bm25", "domains=[biology]", f"paths.results_dir={root / 'r'}", "print_report=false")
    save_tiny_cross_encoder(root / "ce")
    _rerank(root, root / "c", "clean")
    return root


def _rerank(root: Path, cache: Path, run: str, *extra: str) -> Any:
    return evaluate_in_process(
        "model=rerank", "model.first_stage=bm25", "model.depth=5", "reranker=cross_encoder",
        f"reranker.path={root / 'ce'}", "domains=[biology]", f"run_name={run}", f"paths.results_dir={root / 'r'}",
        f"paths.cache_dir={cache}", "print_report=false", *extra,
    )  # fmt: skip


def test_a_damaged_reranker_score_line_is_scored_again(reranked: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    shutil.copytree(reranked / "c", cache)
    (scores,) = (cache / "pairs").glob("*/scores2-*.tsv")
    lines = scores.read_text().splitlines(keepends=True)
    digest, value, crc = lines[7].rstrip("\n").split("\t")
    lines[7] = f"{digest}\t{value[:-1]}{'7' if value[-1] != '7' else '3'}\t{crc}\n"  # one digit of one score
    scores.write_text("".join(lines))
    (outcome,) = _rerank(reranked, cache, "again")
    clean = reranked / "r" / "default" / "clean" / "sample" / "biology" / "run.trec"
    assert (outcome.out_dir / "run.trec").read_text().replace(".again", ".clean") == clean.read_text()
    assert outcome.summary.counts["pair_scores_repaired"] == 1 and outcome.summary.counts["pairs_scored"] == 1
    with pytest.raises(InputError) as caught:  # read mode: stop, naming the file and line
        scores.write_text("".join(lines))
        _rerank(reranked, cache, "read", "cache.mode=read")
    assert caught.value.path == str(scores) and caught.value.line == 8


def test_a_damaged_cached_subset_is_rebuilt(tmp_path: Path) -> None:
    args = ["model=bm25", "domains=[leetcode]", "dataset.subset=candidates", "dataset.subset_max_documents=20",
            "print_report=false", f"paths.cache_dir={tmp_path / 'c'}"]  # fmt: skip
    (first,) = evaluate_in_process(*args, f"paths.results_dir={tmp_path / 'r1'}")
    (cached,) = (tmp_path / "c" / "subsets").glob("*.json")
    original = cached.read_text()
    payload = json.loads(original)
    payload["ids"][0] = payload["ids"][1]  # a changed id: valid JSON, wrong content
    cached.write_text(json.dumps(payload))
    (second,) = evaluate_in_process(*args, f"paths.results_dir={tmp_path / 'r2'}")
    assert (second.out_dir / "run.trec").read_bytes() == (first.out_dir / "run.trec").read_bytes()
    assert second.summary.subset == first.summary.subset
    assert json.loads(cached.read_text()) == json.loads(original)  # rebuilt and written again, as it was


def test_a_saved_run_changed_after_it_was_written_is_refused_as_an_input(tmp_path: Path) -> None:
    for model in ("bm25", "bm25_bright"):
        evaluate_in_process(f"model={model}", "domains=[leetcode]", f"paths.results_dir={tmp_path}",
                            "print_report=false")  # fmt: skip
    run = tmp_path / "default" / "bm25" / "sample" / "leetcode" / "run.trec"
    run.write_text(run.read_text().replace(" 1 ", " 1  ", 1))
    with pytest.raises(InputError, match=r"does not match the sha256 its summary\.json recorded"):
        evaluate_in_process("model=fusion", "model.inputs=[bm25,bm25_bright]", "domains=[leetcode]",
                            f"paths.results_dir={tmp_path}", "print_report=false")  # fmt: skip
