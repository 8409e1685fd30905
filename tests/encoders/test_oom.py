"""CUDA out-of-memory during encoding halves the batch and goes on, with identical vectors (injected OOM)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.encoders.hf import HFEncoder


class OomAbove:
    """Wraps a model: raises torch.cuda.OutOfMemoryError for batches of more than `limit` rows."""

    def __init__(self, model: Any, limit: int) -> None:
        self.model, self.limit, self.rows_seen = model, limit, []  # type: ignore[var-annotated]

    def __call__(self, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        self.rows_seen.append(int(input_ids.shape[0]))
        if input_ids.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return self.model(input_ids=input_ids, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def test_oom_halves_the_batch_and_keeps_results(
    make_encoder: Callable[..., HFEncoder], caplog: pytest.LogCaptureFixture
) -> None:
    texts = [f"text number {i} " + "word " * (3 * i) for i in range(12)]
    reference = make_encoder("plain", batch_size=12).encode(texts, "", is_query=False, show_progress=False)
    enc = make_encoder("plain", batch_size=12)
    enc.encode(texts[:1], "", is_query=False, show_progress=False)  # load and probe before wrapping
    wrapper = OomAbove(enc._model, limit=3)
    enc._model = wrapper
    with caplog.at_level(logging.WARNING):
        got = enc.encode(texts, "", is_query=False, show_progress=False)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert max(r for r in wrapper.rows_seen[1:] if r <= 3) <= 3 and 12 in wrapper.rows_seen
    assert "out of memory" in caplog.text
    assert enc._oom_splits >= 4  # later batches are split up front instead of failing again


def test_oom_on_a_single_text_is_raised(make_encoder: Callable[..., HFEncoder]) -> None:
    enc = make_encoder("plain", batch_size=4)
    enc.encode(["warm up"], "", is_query=False, show_progress=False)
    enc._model = OomAbove(enc._model, limit=0)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        enc.encode(["one text"], "", is_query=False, show_progress=False)
