"""GPU check: a random Qwen3 at RTriever-4B's shape in bf16 pools the same vectors under either padding, with
or without attention masks (causal fast path) and token-budget batches.

Marked ``gpu`` (excluded by default; run with ``-m gpu``), skipped without CUDA. Needs ~10 GB of GPU memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.encoders import EncoderSettings, HFEncoder
from rtriever_eval.testing import (
    BIOLOGY_QUERY_PROMPT,
    build_random_qwen3,
    qwen3_tokenizer_dir,
    rtriever_4b_config,
)
from rtriever_eval.testing import synthetic_words as words

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(qwen3_tokenizer_dir()))


@pytest.fixture(scope="module")
def model_4b(tokenizer: Any) -> Any:
    config = rtriever_4b_config(len(tokenizer))
    model = build_random_qwen3(config, device="cuda", dtype=torch.bfloat16, seed=0)
    yield model
    del model
    torch.cuda.empty_cache()


def _encoder(model: Any, tokenizer: Any, padding_side: str, batch_size: int = 4, **overrides: Any) -> HFEncoder:
    settings = EncoderSettings(
        path="random-rtriever-4b-shape",
        dtype="bfloat16",
        max_length=2048,
        batch_size=batch_size,
        pooling="last_token",
        padding_side=padding_side,  # type: ignore[arg-type]
        append_eos=True,
        device="cuda",
        **overrides,
    )
    return HFEncoder(settings, model=model, tokenizer=tokenizer)


def test_left_and_right_padding_agree_in_bf16(model_4b: Any, tokenizer: Any) -> None:
    texts = [
        "a",
        "Why do cells divide?",
        words(40, seed=1),
        words(300, seed=2),
        words(900, seed=3),
        "Photosynthèse – 光合作用 ✓",
        words(120, seed=4),
        words(2000, seed=5),
    ]
    for prompt in ("", BIOLOGY_QUERY_PROMPT):

        def run(encoder: HFEncoder, batch: list[str], prompt: str = prompt) -> np.ndarray:
            return encoder.encode(batch, prompt, is_query=True, show_progress=False)

        left = run(_encoder(model_4b, tokenizer, "left", causal_without_mask=False), texts)
        right = run(_encoder(model_4b, tokenizer, "right", causal_without_mask=False), texts)
        fast_encoder = _encoder(model_4b, tokenizer, "left", batch_size=64, max_tokens_per_batch=4096)
        fast = run(fast_encoder, texts)
        assert fast_encoder.describe()["unmasked_causal_batches"] is True
        single = _encoder(model_4b, tokenizer, "left", batch_size=1, causal_without_mask=False)
        alone = np.stack([run(single, [t])[0] for t in texts])
        assert left.dtype == np.float32 and np.isfinite(left).all() and np.isfinite(fast).all()
        lr = (left * right).sum(1)
        la = (left * alone).sum(1)
        lf = (left * fast).sum(1)
        print(
            f"prompt={bool(prompt)}: min cosine left/right {lr.min():.5f}, batch/single {la.min():.5f}, "
            f"masked/unmasked+budget {lf.min():.5f}"
        )
        assert lr.min() > 0.999
        assert la.min() > 0.999
        assert lf.min() > 0.999
