"""Kernel choice from settings and hardware, never a clock: device, attention, float32 CPU linears (oneDNN or
torch); the oneDNN swap touches float32 CPU linears only."""

from __future__ import annotations

import pytest
import torch

from rtriever_eval.encoders import cpu_linear
from rtriever_eval.encoders.cpu_linear import OneDNNLinear, choose_cpu_linear
from rtriever_eval.encoders.kernels import Kernels, choose_kernels


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
    monkeypatch.setattr(cpu_linear, "cpu_info", lambda: ("AuthenticAMD", frozenset({"avx2", "avx512f"})))
    assert choose_cpu_linear("auto", CPU, "float32")[0] == ("onednn" if onednn else "torch")
    for vendor, flags in (("AuthenticAMD", {"avx2"}), ("GenuineIntel", {"avx2", "avx512f"})):
        monkeypatch.setattr(cpu_linear, "cpu_info", lambda v=vendor, f=flags: (v, frozenset(f)))
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


def test_the_key_holds_the_device_type_not_its_index() -> None:
    a, b = Kernels("cuda:0", "sdpa", "torch"), Kernels("cuda:1", "sdpa", "torch")
    assert a.key() == b.key() == {"device": "cuda", "attention": "sdpa", "linear": "torch"}
    cpu = choose_kernels(device="cpu", attn_implementation=None, dtype="float32", cpu_linear="torch")
    assert cpu.key() == {"device": "cpu", "attention": "sdpa", "linear": "torch"} and cpu.reason
