"""Float32 linear layers through oneDNN on the CPU, scoped to a ``with`` block; never mutates a model.

torch's CPU matmul calls MKL, which takes its AVX-512 kernels only on Intel processors; oneDNN picks the widest
instructions any x86 CPU has. This module knows nothing of models, tokenisers or encoders: it decides, from a
one-off probe of correctness and speed, whether the swap pays on this machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch.overrides import TorchFunctionMode

logger = logging.getLogger(__name__)

CpuLinear = Literal["auto", "onednn", "torch"]

_MIN_SPEEDUP = 1.15
"""``auto`` uses oneDNN only when the probe finds it at least this much faster than torch's own linear."""


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDNNLinear(TorchFunctionMode):
    """Within the block, ``torch.nn.functional.linear`` on float32 CPU tensors runs on oneDNN.

    Any other call, and any call oneDNN refuses, goes to torch as usual.
    """

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear:
            x, weight = args[0], args[1] if len(args) > 1 else kwargs["weight"]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if (
                x.device.type == "cpu"
                and x.dtype == torch.float32
                and weight.dtype == torch.float32
                and weight.dim() == 2
                and x.dim() >= 2
            ):
                try:
                    return _onednn_linear(x, weight, bias)
                except RuntimeError:  # pragma: no cover - layouts oneDNN does not take
                    pass
        return func(*args, **kwargs)


def use_onednn_linear(requested: CpuLinear, in_features: int, out_features: int) -> bool:
    """Whether to run float32 CPU linears through oneDNN for layers of about this shape.

    ``torch`` never does; ``onednn`` does when oneDNN is there and agrees with torch on a probe; ``auto`` also
    times both on a (tokens, in_features) x (in_features, out_features) product and takes oneDNN only when it
    is at least 15% faster (it is on AMD processors; on Intel ones MKL's kernels are already as fast).
    """
    if requested == "torch":
        return False
    if not torch.backends.mkldnn.is_available():
        if requested == "onednn":
            logger.warning("cpu_linear=onednn requested but this torch has no oneDNN; using torch's linear")
        return False
    generator = torch.Generator().manual_seed(0)
    rows = max(64, min(2048, int(2e9 // max(1, 2 * in_features * out_features))))
    x = torch.randn(rows, in_features, generator=generator)
    weight = torch.randn(out_features, in_features, generator=generator) / in_features**0.5
    bias = torch.randn(out_features, generator=generator)
    with torch.inference_mode():
        reference = torch.nn.functional.linear(x, weight, bias)
        try:
            candidate = _onednn_linear(x, weight, bias)
        except (RuntimeError, AttributeError) as error:
            logger.info("oneDNN linear unavailable (%s); using torch's linear", error)
            return False
        gap = float((candidate - reference).norm() / reference.norm())
        if not gap < 1e-5:
            logger.warning("oneDNN linear disagrees with torch's (relative gap %.1e); using torch's linear", gap)
            return False
        if requested == "onednn":
            return True
        ours = _best_time(lambda: _onednn_linear(x, weight, bias))
        theirs = _best_time(lambda: torch.nn.functional.linear(x, weight, bias))
    speedup = theirs / ours
    logger.info(
        "oneDNN linear %.2fx torch's on (%d, %d) x (%d, %d)", speedup, rows, in_features, in_features, out_features
    )
    return speedup >= _MIN_SPEEDUP


def _best_time(fn: Callable[[], torch.Tensor], repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best
