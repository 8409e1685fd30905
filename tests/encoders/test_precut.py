"""The character pre-cut of over-long texts: ids always equal full tokenisation + truncation, and the cut is used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtriever_eval.encoders.tokenization as tokenization
from rtriever_eval.encoders import EncoderSettings, HFEncoder
from rtriever_eval.testing import BIOLOGY_QUERY_PROMPT, minilm_path, synthetic_words

MakeEncoder = Callable[..., HFEncoder]

_PIECES = [
    *"abcdefgh  \n\t.,;:'\"-_=+()[]{}0123456789",
    "é",
    "e\u0301",  # a combining accent: NFC joins it with the letter before
    "\u0301",
    "中文",
    "😀",
    "ß",
    "ﬁ",
    "\n\n",
    "   ",
    "'s",
    "'ll",
    "<|endoftext|>",
    "[SEP]",
    "word",
]


class _SpyBackend:
    """Delegates to a tokenizers backend, recording the longest input each ``encode_batch`` call saw."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.longest: list[int] = []

    def encode_batch(self, inputs: list[str], **kwargs: Any) -> Any:
        self.longest.append(max(map(len, inputs)))
        return self._backend.encode_batch(inputs, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _reference(tokenizer: Any, texts: list[str], prompt: str, max_length: int, append_eos: bool) -> list[list[int]]:
    """Full tokenisation and truncation by the tokenizer itself, plus the module's EOS rule."""
    out = []
    eos = tokenizer.backend_tokenizer.token_to_id("<|endoftext|>")
    for text in texts:
        ids = tokenizer(prompt + text, truncation=True, max_length=max_length)["input_ids"]
        if append_eos and (not ids or ids[-1] != eos):
            if len(ids) >= max_length:
                ids = tokenizer(prompt + text, truncation=True, max_length=max_length - 1)["input_ids"]
            ids = [*ids, eos]
        out.append(ids)
    return out


@pytest.fixture(scope="module")
def minilm_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path()))


_ENCODERS: dict[tuple[str, int], HFEncoder] = {}


def _encoder(kind: str, make_encoder: MakeEncoder, minilm_tokenizer: Any, max_length: int) -> HFEncoder:
    """One encoder per (tokenizer kind, max length); ``plain`` appends the EOS the ``eos`` tokenizer adds itself."""
    key = (kind, max_length)
    if key not in _ENCODERS:
        if kind == "minilm":
            path = str(minilm_path())
            settings = EncoderSettings(path=path, max_length=max_length, padding_side="right", device="cpu")
            _ENCODERS[key] = HFEncoder(settings, tokenizer=minilm_tokenizer)
        else:
            _ENCODERS[key] = make_encoder(kind, max_length=max_length, append_eos=kind == "plain")
    return _ENCODERS[key]


CASES = [
    synthetic_words(3000, seed=1),  # ordinary words: the cut is used
    "x" * 5000,  # one huge word: the cut could change it, so the full text is tokenised
    "ab " * 2000,
    " " * 3000 + synthetic_words(200, seed=2),  # a whitespace run longer than the cut
    ("e\u0301" * 7 + " ") * 400,  # combining marks everywhere
    "\n".join(synthetic_words(9, seed=k) for k in range(400)),
    "中文字符" * 1200,
    ("word" * 30 + " ") * 60,  # words over WordPiece's 100-character limit become [UNK]
    synthetic_words(40, seed=3),  # short: never cut
]


@pytest.mark.parametrize("kind", ["plain", "eos", "minilm"])
@pytest.mark.parametrize("prompt", ["", BIOLOGY_QUERY_PROMPT], ids=["no_prompt", "prompt"])
def test_precut_ids_equal_full_tokenisation(
    make_encoder: MakeEncoder,
    tokenizers: dict[str, Any],
    minilm_tokenizer: Any,
    kind: str,
    prompt: str,
) -> None:
    tokenizer = minilm_tokenizer if kind == "minilm" else tokenizers[kind]
    for max_length in (40, 64, 200):
        encoder = _encoder(kind, make_encoder, minilm_tokenizer, max_length)
        ours = encoder.tokenize(CASES, prompt, is_query=False)
        expected = _reference(tokenizer, CASES, prompt, max_length, encoder.settings.append_eos)
        assert ours == expected


def test_precut_is_used_for_ordinary_long_texts(make_encoder: MakeEncoder) -> None:
    encoder = make_encoder("plain", max_length=64)
    encoder.tokenize(["warm"], is_query=False)
    spy = _SpyBackend(encoder.tokenization.backend)
    encoder.tokenization.backend = spy
    long_text = synthetic_words(20_000, seed=4)
    encoder.tokenize([long_text], is_query=False)
    assert spy.longest == [64 * tokenization.PRECUT_CHARS_PER_TOKEN]  # one call, on the cut text only

    spy.longest.clear()
    encoder.tokenize(["y" * 20_000], is_query=False)  # unsafe cut: a second call on the full text
    assert spy.longest == [64 * tokenization.PRECUT_CHARS_PER_TOKEN, 20_000]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), min_size=0, max_size=400),
    max_length=st.sampled_from([3, 5, 8, 17]),
    kind=st.sampled_from(["plain", "eos", "minilm"]),
)
def test_precut_fuzz(
    make_encoder: MakeEncoder,
    tokenizers: dict[str, Any],
    minilm_tokenizer: Any,
    pieces: list[str],
    max_length: int,
    kind: str,
) -> None:
    text = "".join(pieces)
    tokenizer = minilm_tokenizer if kind == "minilm" else tokenizers[kind]
    encoder = _encoder(kind, make_encoder, minilm_tokenizer, max_length)
    assert encoder.tokenize([text], is_query=False) == _reference(
        tokenizer, [text], "", max_length, encoder.settings.append_eos
    )
