"""HFEncoder on a tiny random Qwen3: padding sides, batching, EOS handling, truncation, dtype, description."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders import Encoder, EncoderSettings, HFEncoder
from rtriever_eval.encoders.hf import plan_batches
from rtriever_eval.testing import BIOLOGY_QUERY_PROMPT, QWEN_EOS_TOKEN_ID, synthetic_words

MakeEncoder = Callable[..., HFEncoder]


def _eos_count(ids: list[int]) -> int:
    return sum(1 for token in ids if token == QWEN_EOS_TOKEN_ID)


@pytest.mark.parametrize("kind", ["plain", "eos"])
@pytest.mark.parametrize("prompt", ["", BIOLOGY_QUERY_PROMPT], ids=["no_prompt", "prompt"])
@pytest.mark.parametrize("unmasked", [False, True], ids=["masked", "unmasked"])
def test_left_right_batch_and_single_agree(
    make_encoder: MakeEncoder, texts: list[str], kind: str, prompt: str, unmasked: bool
) -> None:
    left = make_encoder(kind, padding_side="left", causal_without_mask=unmasked).encode(
        texts, prompt, is_query=True, show_progress=False
    )
    right = make_encoder(kind, padding_side="right", causal_without_mask=unmasked).encode(
        texts, prompt, is_query=True, show_progress=False
    )
    single = make_encoder(kind, padding_side="left", batch_size=1, causal_without_mask=False)
    one_at_a_time = np.stack([single.encode([t], prompt, is_query=True, show_progress=False)[0] for t in texts])
    assert left.dtype == np.float32
    assert left.shape == (len(texts), 64)
    np.testing.assert_allclose(left, right, atol=1e-5)
    np.testing.assert_allclose(left, one_at_a_time, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(left, axis=1), 1.0, atol=1e-5)


def test_output_follows_input_order(make_encoder: MakeEncoder, texts: list[str]) -> None:
    encoder = make_encoder()
    forward = encoder.encode(texts, is_query=False, show_progress=False)
    backward = encoder.encode(texts[::-1], is_query=False, show_progress=False)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)
    assert not np.allclose(forward[0], forward[1])


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_eos_tokenizer_pools_its_own_eos(make_encoder: MakeEncoder, texts: list[str], padding_side: str) -> None:
    for append_eos in (False, True):  # the tokenizer already appends it: never a second one
        encoder = make_encoder("eos", padding_side=padding_side, append_eos=append_eos)
        ids = encoder.tokenize(texts, BIOLOGY_QUERY_PROMPT, is_query=True)
        for seq in ids:
            assert seq[-1] == QWEN_EOS_TOKEN_ID
            assert _eos_count(seq) == 1
        for batch in encoder.batches(ids):
            rows = torch.arange(batch.input_ids.shape[0])
            last = (batch.attention_mask * torch.arange(batch.input_ids.shape[1])).argmax(1)
            assert torch.all(batch.input_ids[rows, last] == QWEN_EOS_TOKEN_ID)
            if padding_side == "left":
                assert torch.all(batch.attention_mask[:, -1] == 1)
            else:
                assert torch.all(batch.attention_mask[:, 0] == 1)


def test_append_eos_adds_exactly_one_on_plain_tokenizer(make_encoder: MakeEncoder, texts: list[str]) -> None:
    with_eos = make_encoder("plain", append_eos=True).tokenize(texts, BIOLOGY_QUERY_PROMPT, is_query=True)
    without = make_encoder("plain", append_eos=False).tokenize(texts, BIOLOGY_QUERY_PROMPT, is_query=True)
    for a, b in zip(with_eos, without, strict=True):
        assert _eos_count(b) == 0
        assert a[-1] == QWEN_EOS_TOKEN_ID and _eos_count(a) == 1
        if len(b) < 512:
            assert a == [*b, QWEN_EOS_TOKEN_ID]


@pytest.mark.parametrize(("kind", "append_eos"), [("plain", True), ("eos", False), ("eos", True)])
def test_truncated_sequence_ends_with_one_eos_within_max_length(
    make_encoder: MakeEncoder, kind: str, append_eos: bool
) -> None:
    long_text = synthetic_words(500, seed=7)
    for max_length in (32, 33, 100):
        encoder = make_encoder(kind, append_eos=append_eos, max_length=max_length)
        (ids,) = encoder.tokenize([long_text], is_query=False)
        assert len(ids) == max_length
        assert ids[-1] == QWEN_EOS_TOKEN_ID and _eos_count(ids) == 1


def test_plain_without_append_eos_adds_nothing(make_encoder: MakeEncoder, tokenizers: dict[str, Any]) -> None:
    text = synthetic_words(500, seed=7)
    (ids,) = make_encoder("plain", append_eos=False, max_length=40).tokenize([text], is_query=False)
    assert len(ids) == 40 and _eos_count(ids) == 0
    assert ids == tokenizers["plain"](text, truncation=True, max_length=40)["input_ids"]


def test_truncation_keeps_prompt_and_cuts_text_tail(make_encoder: MakeEncoder, tokenizers: dict[str, Any]) -> None:
    text = synthetic_words(300, seed=11)
    encoder = make_encoder("plain", append_eos=True, max_length=512, query_max_length=48)
    (ids,) = encoder.tokenize([text], BIOLOGY_QUERY_PROMPT, is_query=True)
    assert len(ids) == 48
    decoded = tokenizers["plain"].decode(ids[:-1])
    assert decoded.startswith(BIOLOGY_QUERY_PROMPT)
    kept = decoded[len(BIOLOGY_QUERY_PROMPT) :]
    assert 0 < len(kept) < len(text)
    assert text.startswith(kept)
    # documents use max_length, not query_max_length
    (doc_ids,) = encoder.tokenize([text], is_query=False)
    assert len(doc_ids) == 512


def test_prompt_that_does_not_fit_is_an_error(make_encoder: MakeEncoder) -> None:
    encoder = make_encoder("plain", max_length=10)
    with pytest.raises(ConfigError, match="prompt does not fit"):
        encoder.tokenize(["some text"], BIOLOGY_QUERY_PROMPT, is_query=True)


@pytest.mark.parametrize("kind", ["plain", "eos"])
def test_ids_equal_plain_tokenization_of_the_concatenation(
    make_encoder: MakeEncoder, tokenizers: dict[str, Any], texts: list[str], kind: str
) -> None:
    # "Query:" + "a b" merges across the join (":a"): tokenising prompt and text apart would differ.
    cases = [*texts, "a b", "apple", " spaced", synthetic_words(900, seed=5)]
    encoder = make_encoder(kind, append_eos=False, max_length=64)
    tokenizer = tokenizers[kind]
    for prompt in ("", BIOLOGY_QUERY_PROMPT, "query: "):
        ours = encoder.tokenize(cases, prompt, is_query=True)
        reference = [tokenizer(prompt + t, truncation=True, max_length=64)["input_ids"] for t in cases]
        assert ours == reference


def test_bfloat16_returns_float32_close_to_float32(make_encoder: MakeEncoder, texts: list[str]) -> None:
    fp32 = make_encoder().encode(texts, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False)
    bf16_encoder = make_encoder(inject_model=False, dtype="bfloat16")
    bf16 = bf16_encoder.encode(texts, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False)
    assert bf16.dtype == np.float32
    assert bf16_encoder.describe()["dtype"] == "bfloat16"
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99


def test_lazy_load_and_description(tiny_qwen_plain: Any) -> None:
    encoder = HFEncoder(EncoderSettings(path=str(tiny_qwen_plain), max_length=128, device="cpu"))
    assert encoder._model is None
    assert encoder.dim == 64  # from the config, no weights
    assert encoder._model is None
    described = encoder.describe()
    for key in (
        "path",
        "revision",
        "dtype",
        "max_length",
        "query_max_length",
        "pooling",
        "padding_side",
        "append_eos",
        "device",
        "attn_implementation",
    ):
        assert key in described
    assert described["query_max_length"] == 128
    assert described["attn_implementation"] == "sdpa"
    empty = encoder.encode([], is_query=False, show_progress=False)
    assert empty.shape == (0, 64) and empty.dtype == np.float32
    assert isinstance(encoder, Encoder)


def test_flash_attention_falls_back_to_sdpa_on_cpu(tiny_qwen_plain: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.encoders.hf"):
        encoder = HFEncoder(
            EncoderSettings(path=str(tiny_qwen_plain), device="cpu", attn_implementation="flash_attention_2")
        )
    assert encoder.describe()["attn_implementation"] == "sdpa"
    assert "flash_attention_2" in caplog.text


def test_trust_remote_code_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.encoders.hf"):
        HFEncoder(EncoderSettings(path="nowhere", device="cpu", trust_remote_code=True))
    assert "trust_remote_code" in caplog.text


@pytest.mark.parametrize(
    "bad",
    [
        {"dtype": "int8"},
        {"pooling": "max"},
        {"padding_side": "middle"},
        {"max_length": 0},
        {"batch_size": -1},
        {"max_tokens_per_batch": 0},
        {"cpu_linear": "mkl"},
    ],
)
def test_settings_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        EncoderSettings(path="x", **bad)
    assert info.value.field == f"model.{next(iter(bad))}"


def test_plan_batches_sorts_longest_first_and_covers_everything() -> None:
    batches = plan_batches([3, 10, 1, 10, 7], batch_size=2)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 0], [2]]


def test_encode_rejects_a_bare_string(make_encoder: MakeEncoder) -> None:
    with pytest.raises(TypeError):
        make_encoder().encode("one text", is_query=False)


def test_empty_text_without_specials_encodes_one_token(
    make_encoder: MakeEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    encoder = make_encoder("plain", append_eos=False)
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.encoders.hf"):
        ids = encoder.tokenize(["", "text"], is_query=False)
    assert ids[0] == [QWEN_EOS_TOKEN_ID]
    assert "empty text" in caplog.text
    vectors = encoder.encode(["", "text"], is_query=False, show_progress=False)
    assert np.isfinite(vectors).all()


def test_progress_bar_path(make_encoder: MakeEncoder, texts: list[str]) -> None:
    quiet = make_encoder(batch_size=2).encode(texts, is_query=False, show_progress=False)
    shown = make_encoder(batch_size=2).encode(texts, is_query=False, show_progress=True)
    np.testing.assert_allclose(quiet, shown, atol=1e-6)


def test_strip_whitespace_strips_prompt_and_text_as_old_sentence_transformers_did(make_encoder: MakeEncoder) -> None:
    texts = ["  padded text  \n", "\tplain", "none"]
    keep = make_encoder("plain")
    strip = make_encoder("plain", strip_whitespace=True)
    assert strip.tokenize(texts, "", is_query=False) == keep.tokenize([t.strip() for t in texts], "", is_query=False)
    assert keep.tokenize(texts, "", is_query=False) != strip.tokenize(texts, "", is_query=False)
    prompt = "Query: "  # a trailing space survives: only the ends of prompt + text are stripped
    got = strip.tokenize(texts, prompt, is_query=True)
    assert got == keep.tokenize([(prompt + t).strip()[len(prompt) :] for t in texts], prompt, is_query=True)
