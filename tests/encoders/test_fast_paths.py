"""Speed-only paths leave the vectors alone (beyond float rounding): unmasked causal batches (and their probe),
oneDNN linears on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.encoders import EncoderSettings, HFEncoder
from rtriever_eval.testing import BIOLOGY_QUERY_PROMPT, minilm_path

MakeEncoder = Callable[..., HFEncoder]


def test_probe_finds_the_decoder_causal(make_encoder: MakeEncoder, texts: list[str]) -> None:
    encoder = make_encoder()
    encoder.encode(texts[:2], is_query=False, show_progress=False)
    assert encoder.describe()["unmasked_causal_batches"] is True
    off = make_encoder(causal_without_mask=False)
    off.encode(texts[:2], is_query=False, show_progress=False)
    assert off.describe()["unmasked_causal_batches"] is False


def test_probe_rejects_a_model_that_attends_both_ways(make_encoder: MakeEncoder, tiny_model: Any) -> None:
    """A decoder whose attention is made bidirectional (is_causal=False on every layer) must keep its masks."""
    import copy

    model = copy.deepcopy(tiny_model)
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    encoder = make_encoder()
    encoder._model = model
    assert encoder._causal_without_mask() is False
    for module in model.modules():  # no attribute to go by: the probe itself must notice
        if hasattr(module, "is_causal"):
            del module.is_causal
    sneaky = make_encoder()
    sneaky._model = _Bidirectional(model)
    assert sneaky._causal_without_mask() is False


class _Bidirectional(torch.nn.Module):
    """Runs the wrapped decoder with a full (non-causal) attention mask when none is given."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def get_input_embeddings(self) -> Any:
        return self.inner.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        batch, seq = input_ids.shape
        full = torch.zeros(batch, 1, seq, seq, dtype=torch.float32)
        if attention_mask is not None:
            full = full.masked_fill(attention_mask[:, None, None, :] == 0, torch.finfo(torch.float32).min)
        return self.inner(input_ids=input_ids, attention_mask=full)


def test_minilm_keeps_its_mask_and_onednn_matches_torch() -> None:
    texts = ["What is the capital of France?", "Paris is the capital of France. " * 30, "a", ""]
    out = {}
    for cpu_linear in ("torch", "onednn"):
        settings = EncoderSettings(
            path=str(minilm_path()),
            max_length=256,
            pooling="mean",
            padding_side="right",
            device="cpu",
            cpu_linear=cpu_linear,  # type: ignore[arg-type]
        )
        encoder = HFEncoder(settings)
        out[cpu_linear] = encoder.encode(texts, is_query=False, show_progress=False)
        described = encoder.describe()
        assert described["unmasked_causal_batches"] is False  # BERT attends both ways
        assert described["onednn_linear"] is (cpu_linear == "onednn" and torch.backends.mkldnn.is_available())
        assert described["kernels"]["linear"] == ("onednn" if described["onednn_linear"] else "torch")
    np.testing.assert_allclose(out["onednn"], out["torch"], atol=1e-6)


@pytest.mark.parametrize("cpu_linear", ["torch", "onednn"])
def test_decoder_vectors_do_not_depend_on_the_fast_paths(
    make_encoder: MakeEncoder, texts: list[str], cpu_linear: str
) -> None:
    reference = make_encoder(causal_without_mask=False, cpu_linear="torch").encode(
        texts, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False
    )
    fast = make_encoder(cpu_linear=cpu_linear, max_tokens_per_batch=256, batch_size=64).encode(
        texts, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False
    )
    np.testing.assert_allclose(fast, reference, atol=1e-5)
