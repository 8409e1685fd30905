"""Float32 linear layers on the CPU through oneDNN: whether this machine takes them (decided from the setting and
the hardware, never from a stopwatch), and the swap itself, a torch function mode.

Knows CPUs and torch's linear; nothing of models, batches or caches.
"""

from __future__ import annotations

import functools
import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch.overrides import TorchFunctionMode

logger = logging.getLogger(__name__)

CpuLinear = Literal["auto", "onednn", "torch"]
CPU_LINEAR_CHOICES = ("auto", "onednn", "torch")


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(vendor string such as ``AuthenticAMD`` or ``GenuineIntel``, instruction-set flags) of this CPU; empty when
    unknown (not Linux)."""
    vendor, flags = "", frozenset[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text("utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "vendor_id" and not vendor:
                vendor = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = frozenset(value.split())
            if vendor and flags:
                break
    except OSError:
        pass
    return vendor or platform.processor() or "", flags


def choose_cpu_linear(requested: str, device: torch.device, dtype: str) -> tuple[str, str]:
    """(``onednn`` or ``torch``, the reason) for float32 linear layers, from the setting and the hardware alone.

    ``torch`` never swaps. ``onednn`` swaps wherever oneDNN exists and agrees with torch on a fixed probe.
    ``auto`` swaps on AMD processors with AVX-512 only: torch's CPU matmul calls MKL, which takes its AVX-512
    kernels on Intel processors alone, while oneDNN uses them on any x86 CPU (1.2x and more on such an AMD EPYC;
    on an AVX2-only EPYC oneDNN measured 0.8-1.0x torch, and on Intel the two are equal). The choice depends on
    the machine, never on how busy it is.
    """
    if requested not in CPU_LINEAR_CHOICES:
        raise ValueError(f"cpu_linear must be one of {', '.join(CPU_LINEAR_CHOICES)}, got {requested!r}")
    if device.type != "cpu" or dtype != "float32":
        return "torch", "not a float32 CPU encode"
    if requested == "torch":
        return "torch", "cpu_linear=torch"
    vendor, flags = cpu_info()
    if requested == "auto" and not (vendor == "AuthenticAMD" and "avx512f" in flags):
        return "torch", f"cpu_linear=auto on a {vendor or 'unknown'} CPU without the AMD + AVX-512 pairing"
    if not torch.backends.mkldnn.is_available():
        return "torch", f"cpu_linear={requested}, but this torch has no oneDNN"
    if not _onednn_agrees():
        return "torch", f"cpu_linear={requested}, but oneDNN disagrees with torch on the probe"
    reason = "cpu_linear=onednn" if requested == "onednn" else "cpu_linear=auto on an AMD CPU with AVX-512"
    return "onednn", reason


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@functools.cache
def _onednn_agrees() -> bool:
    """Whether oneDNN's linear equals torch's within 1e-5 on a fixed random problem (a correctness check on
    seeded data: the same answer on every run of one machine)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 96, generator=generator)
    weight = torch.randn(160, 96, generator=generator) / 96**0.5
    bias = torch.randn(160, generator=generator)
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
    return True


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
