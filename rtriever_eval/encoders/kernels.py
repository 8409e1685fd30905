"""Which kernels an encoder runs on (device, attention, float32 CPU linears, unmasked causal batches), decided from
the settings, the hardware and the model only, never from a stopwatch; and the oneDNN linear swap itself.

Knows nothing of tokenisers, batching or caches. Two kernels give vectors that differ in the last bits, so the
decision is recorded in summaries and is part of the embedding cache key (see ``Kernels.key``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.overrides import TorchFunctionMode

logger = logging.getLogger(__name__)

CpuLinear = Literal["auto", "onednn", "torch"]
CPU_LINEAR_CHOICES = ("auto", "onednn", "torch")


@dataclass(frozen=True)
class Kernels:
    """The kernels one encoder runs on, and why.

    Attributes:
        device: the torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        attention: the ``attn_implementation`` the model is loaded with.
        linear: ``onednn`` when float32 CPU linears go through oneDNN, else ``torch``.
        reason: the rule that picked ``linear``, in words (for the summary).
    """

    device: str
    attention: str
    linear: str
    reason: str = ""

    def key(self) -> dict[str, str]:
        """What of this choice can change a vector: the device type (not its index), attention and linears."""
        return {"device": torch.device(self.device).type, "attention": self.attention, "linear": self.linear}

    def describe(self) -> dict[str, str]:
        return {"device": self.device, "attention": self.attention, "linear": self.linear, "linear_reason": self.reason}


def resolve_device(device: str | None) -> torch.device:
    """The requested device, or the best available one: cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_attn_implementation(requested: str | None, device: torch.device, dtype: str = "float32") -> str:
    """The attention kernel to load with.

    None picks ``flash_attention_2`` when ``flash_attn`` is importable, the device is cuda and the dtype is a
    16-bit one, else ``sdpa``. An explicit ``flash_attention_2`` falls back to sdpa (with a warning) when it
    cannot run; anything else is passed through.
    """
    flash_installed = importlib.util.find_spec("flash_attn") is not None
    if requested is None:
        usable = flash_installed and device.type == "cuda" and dtype in ("bfloat16", "float16")
        return "flash_attention_2" if usable else "sdpa"
    if requested == "flash_attention_2":
        if not flash_installed:
            logger.warning(
                "attn_implementation=flash_attention_2 requested but flash_attn is not installed; using sdpa"
            )
            return "sdpa"
        if device.type != "cuda":
            logger.warning("attn_implementation=flash_attention_2 needs cuda (device is %s); using sdpa", device)
            return "sdpa"
    return requested


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


def choose_kernels(*, device: str | None, attn_implementation: str | None, dtype: str, cpu_linear: str) -> Kernels:
    """All kernel choices of one encoder (see ``resolve_device``, ``resolve_attn_implementation``,
    ``choose_cpu_linear``)."""
    resolved = resolve_device(device)
    attention = resolve_attn_implementation(attn_implementation, resolved, dtype)
    linear, reason = choose_cpu_linear(cpu_linear, resolved, dtype)
    return Kernels(str(resolved), attention, linear, reason)


def kernels_of(model: Any, settings: Any) -> Kernels:
    """The kernels of an encoder: those of an injected ready model (its device, dtype and attention), else the
    ones ``choose_kernels`` picks from the settings."""
    if model is not None:
        param = next(model.parameters())
        return choose_kernels(
            device=str(param.device),
            attn_implementation=str(getattr(model.config, "_attn_implementation", None) or "unknown"),
            dtype=str(param.dtype).removeprefix("torch."),
            cpu_linear=settings.cpu_linear,
        )
    return choose_kernels(
        device=settings.device,
        attn_implementation=settings.attn_implementation,
        dtype=settings.dtype,
        cpu_linear=settings.cpu_linear,
    )


def is_causal(model: Any, device: torch.device) -> bool:
    """Whether ``model`` attends causally, so right-padded batches can run without an attention mask: under
    causal attention no real token can see a padding token after it, and sdpa can use its fused causal kernel.

    True only when no attention module declares ``is_causal=False`` and a probe on fixed seeded data shows it:
    two rows sharing a prefix but not a suffix, run together without a mask, must give the prefix the same
    hidden states (a model that attends both ways would mix the suffixes in). The same answer on every run.
    """
    if any(getattr(module, "is_causal", None) is False for module in model.modules()):
        return False
    vocab = int(model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (2, 12), generator=generator)
    ids[1, :8] = ids[0, :8]
    try:
        with torch.inference_mode():
            output = model(input_ids=ids.to(device))
    except Exception as error:  # a model whose forward wants a mask: keep the masked path
        logger.debug("no-mask probe failed (%s); using attention masks", error)
        return False
    hidden = (output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]).to(torch.float32)
    a, b = hidden[0, :8], hidden[1, :8]
    gap = float((a - b).norm() / a.norm().clamp(min=1e-12))
    logger.debug("causal probe gap %.2e", gap)
    return gap < 1e-3


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
