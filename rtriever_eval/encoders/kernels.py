"""Which kernels an encoder runs on (device, attention, float32 CPU linears, unmasked causal batches, padded or packed
batches), decided from the settings, the hardware, the installed libraries and the model only, never from a
stopwatch (cpu_linear.py decides, and does, the float32 CPU linear swap).

Knows nothing of tokenisers, batching or caches. Two kernels give vectors that differ in the last bits, so the
decision is recorded in summaries and is part of the embedding cache key (see ``Kernels.key``).
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass
from typing import Any

import torch

from rtriever_eval.encoders.cpu_linear import choose_cpu_linear

logger = logging.getLogger(__name__)

PACKING_CHOICES = ("off", "auto", "on")
PADDED = "padded"


@dataclass(frozen=True)
class Kernels:
    """The kernels one encoder runs on, and why.

    Attributes:
        device: the torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        attention: the ``attn_implementation`` the model is loaded with.
        linear: ``onednn`` when float32 CPU linears go through oneDNN, else ``torch``.
        reason: the rule that picked ``linear``, in words (for the summary).
        packing: ``padded``, or ``packed:<path>`` for padding-free batches (``packed:flash_attention_2``,
            ``packed:flex_attention``, ``packed:sdpa_block_mask``, ``packed:eager_block_mask``; see packing.py).
        packing_reason: the rule that picked ``packing``, in words.
    """

    device: str
    attention: str
    linear: str
    reason: str = ""
    packing: str = PADDED
    packing_reason: str = ""

    @property
    def packed(self) -> bool:
        """Whether batches are padding-free (see packing.py)."""
        return self.packing != PADDED

    @property
    def packing_path(self) -> str:
        """The packed attention path (``flash_attention_2``, ``flex_attention``, ``sdpa_block_mask``, ...); "" when
        padded."""
        return self.packing.partition(":")[2]

    def key(self) -> dict[str, str]:
        """What of this choice can change a vector: the device type (not its index), attention, linears and, when
        packed, the packed path (padded batches add nothing, so keys made before packing existed stay valid)."""
        key = {"device": torch.device(self.device).type, "attention": self.attention, "linear": self.linear}
        if self.packed:
            key["packing"] = self.packing
        return key

    def describe(self) -> dict[str, str]:
        return {
            "device": self.device,
            "attention": self.attention,
            "linear": self.linear,
            "linear_reason": self.reason,
            "packing": self.packing,
            "packing_reason": self.packing_reason,
        }


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


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def model_class_of(config: Any, *, trust_remote_code: bool = False) -> type[Any] | None:
    """The ``transformers.AutoModel`` class a config loads as, without loading weights; None when unknown (remote
    code, or an architecture this transformers does not map)."""
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and "AutoModel" in auto_map:
        return None
    from transformers import AutoModel

    try:
        found: Any = AutoModel._model_mapping[type(config)]
    except KeyError:
        return None
    if isinstance(found, (tuple, list)):  # several classes for one config: the one its architectures name
        named = [cls for cls in found if cls.__name__ in (getattr(config, "architectures", None) or ())]
        found = (named or list(found))[0]
    return found if isinstance(found, type) else None


def _packed_inputs_unsupported(model_class: type[Any] | None) -> str:
    """Why ``model_class`` cannot take packed rows ("" when it can): its forward must take ``position_ids`` and
    build its masks with this transformers' ``masking_utils`` (which passes a ready 4-D mask or BlockMask
    through unchanged, and lets flash-attention read the texts' bounds from the position ids)."""
    if model_class is None:
        return "the model class is unknown (remote code or an architecture this transformers does not map)"
    name = model_class.__name__
    try:
        parameters = inspect.signature(model_class.forward).parameters
    except (TypeError, ValueError):
        return f"{name}.forward has no readable signature"
    if "position_ids" not in parameters or "attention_mask" not in parameters:
        return f"{name}.forward takes no position_ids/attention_mask"
    try:
        from transformers import masking_utils
    except ImportError:
        return "this transformers has no masking_utils (packed masks need transformers >= 4.53)"
    module = sys.modules.get(model_class.__module__)
    uses = [
        getattr(module, fn, None) is getattr(masking_utils, fn, False)
        for fn in ("create_causal_mask", "create_bidirectional_mask")
    ]
    if not any(uses):
        return f"{name} does not build its masks with transformers.masking_utils"
    return ""


def _flex_usable(model_class: type[Any] | None, device: torch.device) -> str:
    """Why FlexAttention document masks cannot run here ("" when they can)."""
    if not _installed("torch.nn.attention.flex_attention"):
        return f"torch {torch.__version__} has no torch.nn.attention.flex_attention"
    if not _installed("transformers.integrations.flex_attention"):
        return "this transformers has no flex_attention integration"
    if not getattr(model_class, "_supports_flex_attn", False):
        return f"{getattr(model_class, '__name__', 'the model')} does not support flex_attention in this transformers"
    if device.type != "cuda":
        # transformers compiles flex_attention; torch inductor's CPU flex kernels failed to build for varying
        # packed lengths (torch 2.13), so FlexAttention packing is a cuda path only
        return f"FlexAttention packing runs on cuda only (device is {device.type})"
    if not _installed("triton"):
        return "flex_attention on cuda needs triton"
    return ""


def choose_packing(
    requested: str,
    *,
    device: torch.device,
    attention: str,
    attention_explicit: bool,
    model_class: type[Any] | None,
) -> tuple[str, str, str]:
    """(attention, packing, reason): padded or padding-free batches, from capability alone (what is installed,
    the device type, what the model class supports), never from timing.

    Paths, best first: ``flash_attention_2`` (the resolved attention; varlen kernels read the texts' bounds from
    the position ids), ``flex_attention`` (the requested attention, or on cuda in place of an attention left
    unset: block-sparse document masks), else the portable ``<sdpa|eager>_block_mask`` (a dense 4-D
    block-diagonal mask; any device). ``off`` never packs; ``auto`` packs where a path exists; ``on`` packs or
    raises ConfigError naming ``model.packing``. An attention set explicitly (or an injected model's) is kept.
    """
    if requested not in PACKING_CHOICES:
        raise ValueError(f"packing must be one of {', '.join(PACKING_CHOICES)}, got {requested!r}")
    if requested == "off":
        return attention, PADDED, "packing=off"
    why = _packed_inputs_unsupported(model_class)
    if not why:
        if attention == "flash_attention_2":
            if device.type == "cuda" and _installed("flash_attn"):
                return attention, "packed:flash_attention_2", f"packing={requested}: flash-attention varlen"
            why = "flash_attention_2 needs flash_attn and cuda"
        elif attention == "flex_attention":
            why = _flex_usable(model_class, device)
            if not why:
                return attention, "packed:flex_attention", f"packing={requested}: FlexAttention document mask"
        elif attention in ("sdpa", "eager"):
            if not attention_explicit and device.type == "cuda" and not _flex_usable(model_class, device):
                reason = f"packing={requested}: FlexAttention document mask (attn_implementation unset, on cuda)"
                return "flex_attention", "packed:flex_attention", reason
            if attention == "sdpa" and not getattr(model_class, "_supports_sdpa", False):
                why = f"{getattr(model_class, '__name__', 'the model')} does not support sdpa"
            else:
                return attention, f"packed:{attention}_block_mask", f"packing={requested}: 4-D block-diagonal mask"
        else:
            why = f"attn_implementation={attention} has no packed path"
    if requested == "auto":
        return attention, PADDED, f"packing=auto, padded: {why}"
    from rtriever_eval.base.errors import ConfigError

    raise ConfigError(
        f"model.packing=on, but packed batches cannot run here: {why}; set model.packing=auto or off",
        field="model.packing",
    )


def choose_kernels(
    *,
    device: str | None,
    attn_implementation: str | None,
    dtype: str,
    cpu_linear: str,
    packing: str = "off",
    model_class: type[Any] | None = None,
) -> Kernels:
    """All kernel choices of one encoder (see ``resolve_device``, ``resolve_attn_implementation``,
    ``choose_cpu_linear``, ``choose_packing``; ``model_class`` is only read when packing is not ``off``)."""
    resolved = resolve_device(device)
    attention = resolve_attn_implementation(attn_implementation, resolved, dtype)
    linear, reason = choose_cpu_linear(cpu_linear, resolved, dtype)
    attention, packed, packing_reason = choose_packing(
        packing,
        device=resolved,
        attention=attention,
        attention_explicit=attn_implementation is not None,
        model_class=model_class,
    )
    return Kernels(str(resolved), attention, linear, reason, packed, packing_reason)


def kernels_of(model: Any, settings: Any, *, model_class: type[Any] | None = None) -> Kernels:
    """The kernels of an encoder: those of an injected ready model (its device, dtype, attention and class), else
    the ones ``choose_kernels`` picks from the settings (and ``model_class``, the class the model will load as)."""
    packing = getattr(settings, "packing", "off")
    if model is not None:
        param = next(model.parameters())
        return choose_kernels(
            device=str(param.device),
            attn_implementation=str(getattr(model.config, "_attn_implementation", None) or "unknown"),
            dtype=str(param.dtype).removeprefix("torch."),
            cpu_linear=settings.cpu_linear,
            packing=packing,
            model_class=type(model),
        )
    return choose_kernels(
        device=settings.device,
        attn_implementation=settings.attn_implementation,
        dtype=settings.dtype,
        cpu_linear=settings.cpu_linear,
        packing=packing,
        model_class=model_class,
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

