"""Dense retrieval end to end on a saved tiny Qwen3: prompts recorded, fp32 cosine scores, cache reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rtriever_eval.base.trec import read_run
from rtriever_eval.data.loading import load_domain
from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.dense import DenseRetriever
from rtriever_eval.settings import DatasetSettings, DenseSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.testing import save_tiny_qwen3
from tests.cache.fakes import snapshot
from tests.helpers import evaluate_in_process

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
PROMPT = "Instruct: Given a biology post, retrieve relevant passages that help answer the post\nQuery:"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny"), eos_postprocessor=True, with_st_modules=False)


def _tiny_eval(tiny_dir: Path, work: Path, cache: Path, *extra: str) -> None:
    """rtriever-eval with model=rtriever_4b on the tiny Qwen3 (fp32, max length 128), sample biology domain."""
    evaluate_in_process(
        "model=rtriever_4b",
        f"model.path={tiny_dir}",
        "model.dtype=float32",
        "model.max_length=128",
        "domains=[biology]",
        *extra,
        f"paths.results_dir={work / 'r'}",
        f"paths.cache_dir={cache}",
        "print_report=false",
    )


@pytest.fixture(scope="module")
def dense_run(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("run")
    _tiny_eval(tiny_dir, work, work / "c")
    return next((work / "r").rglob("biology/summary.json")).parent, work / "c"


def test_summary_records_prompts_and_encoder_settings(dense_run: tuple[Path, Path], tiny_dir: Path) -> None:
    folder, _ = dense_run
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["query_prompt"] == PROMPT
    assert summary["document_prompt"] == ""
    settings = summary["model_settings"]
    assert settings["dtype"] == "float32"
    assert settings["max_length"] == 128 and settings["query_max_length"] == 128
    assert settings["pooling"] == "last_token" and settings["padding_side"] == "left"
    assert settings["append_eos"] is True
    assert summary["model"] == "rtriever_4b"


def test_run_scores_are_fp32_cosines_of_independently_encoded_vectors(
    dense_run: tuple[Path, Path], tiny_dir: Path
) -> None:
    folder, _ = dense_run
    summary = json.loads((folder / "summary.json").read_text())
    data = load_domain(DatasetSettings(**summary["config"]["dataset"]), "biology")
    enc = HFEncoder(
        EncoderSettings(
            path=str(tiny_dir), dtype="float32", max_length=128, append_eos=True, padding_side="right", batch_size=1
        )
    )
    q = enc.encode([x.text for x in data.queries], PROMPT, is_query=True, show_progress=False)
    d = enc.encode([x.text for x in data.documents], "", is_query=False, show_progress=False)
    # independent cosine: normalise again in float64 from the raw vectors
    qn = q.astype(np.float64) / np.linalg.norm(q, axis=1, keepdims=True)
    dn = d.astype(np.float64) / np.linalg.norm(d, axis=1, keepdims=True)
    cos = qn @ dn.T
    run = read_run(folder / "run.trec")
    doc_pos = {x.id: i for i, x in enumerate(data.documents)}
    checked = 0
    for qi, query in enumerate(data.queries):
        ranked = run[query.id]
        assert len(ranked) == len(data.documents)
        for did, score in ranked.items():
            assert score == pytest.approx(cos[qi, doc_pos[did]], abs=2e-6)
            checked += 1
    assert checked == len(data.queries) * len(data.documents)


def test_a_second_run_with_another_instruction_reuses_the_corpus_embeddings(
    dense_run: tuple[Path, Path], tiny_dir: Path
) -> None:
    _, cache = dense_run
    before = sorted(p.parent.name for p in (cache / "embeddings").glob("*/manifest.json"))
    assert len(before) == 2  # one corpus, one query set
    work = cache.parent
    _tiny_eval(tiny_dir, work, cache, "instructions=web_search", "run_name=rt_web")
    after = sorted(p.parent.name for p in (cache / "embeddings").glob("*/manifest.json"))
    assert len(after) == 3 and set(before) <= set(after)  # only the new query set was encoded
    summary = json.loads(next((work / "r").rglob("rt_web/sample/biology/summary.json")).read_text())
    assert summary["counts"]["corpus_cache_hit"] is True
    assert summary["counts"]["documents_encoded"] == 0
    assert summary["query_prompt"] == (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
    )


def test_hub_model_without_network_fails_fast_pointing_at_model_path(tmp_path: Path) -> None:
    """A real process: the hub endpoint and offline switches are read when the libraries are imported."""
    env = {k: v for k, v in ENV.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port: the hub is unreachable
    env["HF_HOME"] = str(tmp_path / "hf")  # an empty cache
    proc = subprocess.run(
        [
            str(BIN / "rtriever-eval"),
            "model=rtriever_4b",
            "domains=[biology]",
            f"paths.results_dir={tmp_path / 'r'}",
            f"paths.cache_dir={tmp_path / 'c'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "model.path=" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr
    # one failed connection probe, then offline mode: no retries against the unreachable hub
    assert "cannot be reached" in proc.stderr + proc.stdout
    assert not list((tmp_path / "r").rglob("summary.json"))


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest single-threaded (no OpenMP spin-waits on a busy test machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_instruction_only_rerun_encodes_no_document_and_off_writes_nothing(tmp_path: Path, tiny_dir: Path) -> None:
    data = load_domain(DatasetSettings("sample", "sample", path=str(PACKAGE_DIR / "data/sample")), "biology")
    model = DenseSettings(
        name="tiny", path=str(tiny_dir), max_length=128, batch_size=8, padding_side="left", append_eos=True
    )
    cache_dir = tmp_path / "c"
    first = DenseRetriever(model, cache_dir=cache_dir, shard_size=16)
    o1 = first.search(data, Prompts(None, "A: ", ""), 10)
    distinct = len({d.text for d in data.documents})
    assert o1.counts["documents"] == data.n_docs and o1.counts["distinct_documents"] == distinct < data.n_docs
    assert o1.counts["documents_encoded"] == distinct and o1.counts["queries_encoded"] == len(data.queries)
    second = DenseRetriever(model, cache_dir=cache_dir, shard_size=16, encoder=first.encoder)
    o2 = second.search(data, Prompts(None, "B: ", ""), 10)
    assert o2.counts["documents_encoded"] == 0 and o2.counts["corpus_cache_hit"] is True
    assert o2.counts["queries_encoded"] == len(data.queries)
    before = snapshot(cache_dir)
    read = DenseRetriever(model, cache_dir=cache_dir, cache_mode="read", encoder=first.encoder)
    o3 = read.search(data, Prompts(None, "A: ", ""), 10)
    assert o3.counts["documents_encoded"] == 0 and o3.counts["queries_encoded"] == 0 and o3.ranked == o1.ranked
    o4 = read.search(data, Prompts(None, "C: ", ""), 10)  # a miss in read mode: encoded, not written
    assert o4.counts["queries_encoded"] == len(data.queries) and snapshot(cache_dir) == before
    off = DenseRetriever(model, cache_dir=tmp_path / "off", cache_mode="off", shard_size=16, encoder=first.encoder)
    o5 = off.search(data, Prompts(None, "A: ", ""), 10)
    assert o5.counts["documents_encoded"] == distinct and not (tmp_path / "off").exists()
    assert o5.ranked == o1.ranked  # the cache mode never changes a vector
