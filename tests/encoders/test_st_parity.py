"""HFEncoder against SentenceTransformer.encode on the same folders (tiny Qwen3 last-token; all-MiniLM mean).

The max absolute differences are printed (run with ``-s``) and recorded as test properties.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders import EncoderSettings, HFEncoder
from rtriever_eval.testing import BIOLOGY_QUERY_PROMPT, minilm_path, synthetic_words

st = pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def st_tiny_qwen(tiny_qwen_eos: Path) -> Any:
    model = st.SentenceTransformer(str(tiny_qwen_eos), device="cpu")
    model.tokenizer.padding_side = "left"
    return model


@pytest.mark.parametrize("prompt", [BIOLOGY_QUERY_PROMPT, ""], ids=["query_prompt", "no_prompt"])
def test_tiny_qwen_matches_sentence_transformers(
    tiny_qwen_eos: Path,
    st_tiny_qwen: Any,
    texts: list[str],
    prompt: str,
    record_property: Callable[[str, object], None],
) -> None:
    settings = EncoderSettings(
        path=str(tiny_qwen_eos),
        max_length=st_tiny_qwen.max_seq_length,
        batch_size=4,
        pooling="last_token",
        padding_side="left",
        append_eos=True,
        device="cpu",
    )
    ours = HFEncoder(settings).encode(texts, prompt, is_query=True, show_progress=False)
    reference = st_tiny_qwen.encode(texts, prompt=prompt, normalize_embeddings=True, batch_size=4)
    diff = float(np.abs(ours - reference).max())
    record_property("max_abs_diff", diff)
    print(f"tiny Qwen3 vs sentence-transformers ({'prompt' if prompt else 'no prompt'}): max |diff| = {diff:.3g}")
    assert diff < 1e-5


def _minilm_texts() -> list[str]:
    base = [
        "What is the capital of France?",
        "Paris is the capital and most populous city of France.",
        "Mitochondria generate most of the chemical energy needed to power the cell.",
        "How do I reverse a linked list in place?",
        "Use three pointers: previous, current and next.",
        "Photosynthesis converts light energy into chemical energy.",
        "Éléphant, café, naïve: accents survive lower-casing?",
        "The quick brown fox jumps over the lazy dog.",
        "",
        "a",
        "Gradient descent minimises a loss by stepping against its gradient.",
        "Integrals measure accumulated change.",
        "Robots use PID controllers to track a set point.",
        "Sustainable farming keeps soil healthy for future harvests.",
        "Stack Overflow answers often include code snippets.",
        "Economics studies how scarce resources are allocated.",
        "Earthquakes release energy stored in the crust.",
        "Psychology examines behaviour and mental processes.",
        "Pony is an actor-model programming language.",
    ]
    return [*base, synthetic_words(400, seed=3)]  # well over 256 word pieces: truncated


def test_minilm_matches_sentence_transformers(record_property: Callable[[str, object], None]) -> None:
    path = str(minilm_path())
    texts = _minilm_texts()
    settings = EncoderSettings(
        path=path,
        max_length=256,
        batch_size=8,
        pooling="mean",
        padding_side="right",
        append_eos=False,
        device="cpu",
    )
    encoder = HFEncoder(settings)
    ids = encoder.tokenize(texts, is_query=False)
    assert max(len(seq) for seq in ids) == 256
    ours = encoder.encode(texts, is_query=False, show_progress=False)
    model = st.SentenceTransformer(path, device="cpu")
    assert model.max_seq_length == 256
    reference = model.encode(texts, normalize_embeddings=True, batch_size=8)
    diff = float(np.abs(ours - reference).max())
    record_property("max_abs_diff", diff)
    print(f"all-MiniLM-L6-v2 vs sentence-transformers: max |diff| = {diff:.3g}")
    assert ours.shape == (len(texts), 384)
    assert diff < 1e-5


def test_sentence_transformer_encoder_matches_hf_encoder(tiny_qwen_eos: Path, texts: list[str]) -> None:
    from rtriever_eval.encoders.st_backend import SentenceTransformerEncoder

    settings = EncoderSettings(
        path=str(tiny_qwen_eos),
        max_length=512,
        query_max_length=64,
        batch_size=4,
        padding_side="left",
        append_eos=True,
        device="cpu",
    )
    wrapped = SentenceTransformerEncoder(settings)
    ours = HFEncoder(settings)
    for is_query in (True, False):
        a = wrapped.encode(texts, BIOLOGY_QUERY_PROMPT, is_query=is_query, show_progress=False)
        b = ours.encode(texts, BIOLOGY_QUERY_PROMPT, is_query=is_query, show_progress=False)
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert wrapped.dim == 64
    assert wrapped.describe()["backend"] == "sentence-transformers"


def test_sentence_transformer_encoder_refuses_append_eos_it_cannot_apply(tiny_qwen_plain: Path) -> None:
    from rtriever_eval.encoders.st_backend import SentenceTransformerEncoder

    settings = EncoderSettings(path=str(tiny_qwen_plain), append_eos=True, device="cpu")
    with pytest.raises(ConfigError, match="append_eos"):
        SentenceTransformerEncoder(settings).encode(["text"], is_query=False)
