"""Speed-only paths leave the vectors alone: unmasked causal batches (and their probe), oneDNN linears on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from rtriever_eval.encoders import EncoderSettings, HFEncoder, kernels
from rtriever_eval.encoders.kernels import OneDNNLinear, choose_cpu_linear
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


def test_onednn_mode_only_touches_float32_cpu_linears() -> None:
    x = torch.randn(3, 5, 8)
    weight, bias = torch.randn(4, 8), torch.randn(4)
    expected = torch.nn.functional.linear(x, weight, bias)
    with OneDNNLinear():
        got = torch.nn.functional.linear(x, weight, bias)
        half = torch.nn.functional.linear(x.bfloat16(), weight.bfloat16(), None)  # passed through to torch
        other = torch.relu(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(other, torch.relu(x))


CPU = torch.device("cpu")


def test_cpu_linear_is_decided_by_setting_and_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    onednn = torch.backends.mkldnn.is_available()
    assert choose_cpu_linear("torch", CPU, "float32")[0] == "torch"
    assert choose_cpu_linear("onednn", CPU, "float32")[0] == ("onednn" if onednn else "torch")
    assert choose_cpu_linear("onednn", CPU, "bfloat16")[0] == "torch"  # float32 linears only
    assert choose_cpu_linear("onednn", torch.device("cuda"), "float32")[0] == "torch"
    monkeypatch.setattr(kernels, "cpu_info", lambda: ("AuthenticAMD", frozenset({"avx2", "avx512f"})))
    assert choose_cpu_linear("auto", CPU, "float32")[0] == ("onednn" if onednn else "torch")
    for vendor, flags in (("AuthenticAMD", {"avx2"}), ("GenuineIntel", {"avx2", "avx512f"})):
        monkeypatch.setattr(kernels, "cpu_info", lambda v=vendor, f=flags: (v, frozenset(f)))
        assert choose_cpu_linear("auto", CPU, "float32")[0] == "torch"
    with pytest.raises(ValueError, match="cpu_linear"):
        choose_cpu_linear("mkl", CPU, "float32")


def test_cpu_linear_never_looks_at_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The choice is a pure function of setting and hardware: a stopwatch that lies changes nothing."""
    import time

    expected = {mode: choose_cpu_linear(mode, CPU, "float32") for mode in ("auto", "onednn", "torch")}
    ticks = iter(range(10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)) ** 3)
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)) ** 3)
    assert {mode: choose_cpu_linear(mode, CPU, "float32") for mode in expected} == expected


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
