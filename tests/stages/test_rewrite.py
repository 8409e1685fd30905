"""Query rewriting as an artifact: a tiny random Qwen3 causal LM (the real Qwen3 tokenizer and chat template)
writes a query file, row by row with a manifest; a cut file resumes; other settings are refused; and a dense run
on the file encodes exactly the rewritten texts (checked in the embedding cache's key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.cache import texts_fingerprint
from rtriever_eval.testing import save_tiny_qwen3, save_tiny_qwen3_lm
from tests.helpers import evaluate_in_process


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen3_lm(tmp_path_factory.mktemp("lm") / "lm")


def _rewrite_args(lm: Path, out: Path, *extra: str) -> list[str]:
    return ["rewriter=bright_reason", f"rewriter.path={lm}", "rewriter.dtype=float32", "rewriter.max_new_tokens=8",
            f"dataset.query_file={out}", "domains=[biology,leetcode]", *extra]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rewrite_writes_resumes_and_refuses_other_settings(lm: Path, tmp_path: Path) -> None:
    from rtriever_eval.job.domains import run_rewrite
    from rtriever_eval.settings.hydra import to_settings
    from tests.helpers import compose_config

    out = tmp_path / "rewrites.jsonl"
    settings = to_settings(compose_config(*_rewrite_args(lm, out), f"paths.cache_dir={tmp_path / 'c'}"))
    assert run_rewrite(settings) == 16
    rows = _rows(out)
    assert [(r["domain"], r["query_id"]) for r in rows][:2] == [("biology", "0"), ("biology", "1")]
    assert len({(r["domain"], r["query_id"]) for r in rows}) == 16 and all(isinstance(r["text"], str) for r in rows)
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert "Identify the essential problem" in manifest["producer"]["settings"]["prompt"]
    assert manifest["producer"]["settings"]["max_new_tokens"] == 8 and manifest["producer"]["decoding"] == "greedy"
    # a killed run leaves complete rows and maybe half a line: the rerun keeps the rows, redoes the rest
    raw = out.read_text().splitlines(keepends=True)
    out.write_text("".join(raw[:5]) + raw[5][:7])
    assert run_rewrite(settings) == 11
    assert _rows(out) == rows  # greedy decoding: the same texts again
    other = to_settings(compose_config(*_rewrite_args(lm, out, "rewriter.max_new_tokens=9")))
    with pytest.raises(ConfigError, match="other rewriter settings"):
        run_rewrite(other)


def test_a_dense_run_encodes_the_rewritten_texts(lm: Path, tmp_path: Path) -> None:
    tiny = save_tiny_qwen3(tmp_path / "tiny", eos_postprocessor=True, with_st_modules=False)
    out = tmp_path / "rewrites.jsonl"
    (outcome, _) = evaluate_in_process(
        *_rewrite_args(lm, out), "model=rtriever_4b", f"model.path={tiny}", "model.dtype=float32",
        "model.max_length=64", f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}",
        "print_report=false",
    )  # fmt: skip
    rewritten = [(r["query_id"], r["text"]) for r in _rows(out) if r["domain"] == "biology"]
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "c" / "embeddings").glob("*/manifest.json")]
    keyed = {m["fields"]["texts_sha256"] for m in manifests if m["info"]["side"] == "queries"}
    assert texts_fingerprint(rewritten) in keyed  # the encoder saw exactly the file's texts
    details = outcome.summary.dataset_details
    assert details["query_file"] == str(out) and len(details["query_file_sha256"]) == 64
