"""The memory guard: before any weight is loaded, estimate the peak memory of the longest batch a run can plan
(weights + one layer's activations at the token budget, attention scores when the kernel materialises them) and
refuse with a message naming the settings to lower, instead of dying in the middle of a domain.

Knows a transformers config's shape fields and the device's memory; nothing of texts or caches. It never
shrinks a batch by itself: batch composition moves vectors' last bits, and a number must not depend on which
machine ran it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rtriever_eval.base.errors import ConfigError

log = logging.getLogger(__name__)

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
GIB = 1024**3
HEADROOM = 0.9
"""Share of the device's memory the estimate may use (allocator fragmentation, the CUDA context, buffers)."""


@dataclass(frozen=True)
class Estimate:
    weights: int
    activations: int
    attention: int

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.attention


def _get(config: Any, *names: str, default: int = 0) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return default


def estimate_peak(
    config: Any, *, dtype: str, rows: int, max_length: int, tokens: int, materialised_attention: bool
) -> Estimate:
    """Peak bytes of one forward over the longest batch: ``rows`` texts padded to ``max_length`` (``tokens`` =
    rows x max_length at most). Parameters are counted from the shape fields (embeddings, attention with grouped
    KV heads, a gated or plain MLP); activations as one layer's live tensors (residual stream, q/k/v, attention
    output, MLP intermediates) plus the final hidden states; attention scores as rows x heads x L^2 in fp32
    when the kernel materialises them (eager), nothing otherwise (SDPA / flash tile them)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = _get(text, "hidden_size", "d_model", "n_embd")
    layers = _get(text, "num_hidden_layers", "n_layer", "num_layers", default=1)
    heads = _get(text, "num_attention_heads", "n_head", default=1)
    kv_heads = _get(text, "num_key_value_heads", default=heads)
    head_dim = _get(text, "head_dim", default=max(hidden // max(heads, 1), 1))
    inter = _get(text, "intermediate_size", "ffn_dim", "n_inner", default=4 * hidden)
    vocab = _get(text, "vocab_size", default=0)
    gated = str(getattr(text, "hidden_act", "")).lower() in {"silu", "swiglu", "gelu_pytorch_tanh"} or hasattr(
        text, "num_key_value_heads"
    )
    attn = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    mlp = hidden * inter * (3 if gated else 2)
    params = vocab * hidden + layers * (attn + mlp + 4 * hidden)
    size = BYTES[dtype]
    per_token = hidden * 4 + (heads + 2 * kv_heads) * head_dim + inter * (3 if gated else 2)
    activations = tokens * per_token * size + tokens * hidden * 4  # + the fp32 pooled/normalised outputs
    attention = rows * heads * max_length * max_length * 4 if materialised_attention else 0
    return Estimate(params * size, activations, attention)


def device_memory(device: str) -> tuple[int, str]:
    """The memory a run on ``device`` may plan with, and where that figure comes from."""
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        return int(props.total_memory * HEADROOM), f"{HEADROOM:.0%} of {device}'s {props.total_memory / GIB:.1f} GiB"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh if ":" in line}
        available = info.get("MemAvailable", info.get("MemTotal", 0))
    except (OSError, ValueError, IndexError):
        return 0, "unknown (no /proc/meminfo)"
    return int(available * HEADROOM), f"{HEADROOM:.0%} of the {available / GIB:.1f} GiB of RAM available now"


def check_memory(
    config: Any,
    *,
    dtype: str,
    rows: int,
    max_length: int,
    tokens: int,
    materialised_attention: bool,
    device: str,
    limit_gb: float | None,
    label: str,
) -> Estimate:
    """Raise ConfigError when the longest batch's estimated peak exceeds the budget (``limit_gb``, else what
    ``device_memory`` reports); returns the estimate otherwise."""
    est = estimate_peak(
        config, dtype=dtype, rows=rows, max_length=max_length, tokens=tokens,
        materialised_attention=materialised_attention,
    )  # fmt: skip
    if limit_gb is not None:
        budget, where = int(limit_gb * GIB), f"model.memory_limit_gb={limit_gb:g}"
    else:
        budget, where = device_memory(device)
    if budget <= 0:
        return est
    log.info("%s: longest batch (%d rows x %d tokens, %s) needs about %.2f GiB of %.2f GiB (%s)", label, rows,
             max_length, dtype, est.total / GIB, budget / GIB, where)  # fmt: skip
    if est.total > budget:
        raise ConfigError(
            f"{label}: the longest batch ({rows} rows x {max_length} tokens in {dtype}) needs about "
            f"{est.total / GIB:.2f} GiB (weights {est.weights / GIB:.2f}, activations {est.activations / GIB:.2f}, "
            f"attention scores {est.attention / GIB:.2f}) but {budget / GIB:.2f} GiB is available ({where}). "
            "Nothing was encoded. Lower model.max_tokens_per_batch or model.batch_size (speed only, the vectors "
            "stay the same beyond rounding), or model.max_length (changes the numbers; for long documents "
            "model.long_documents=chunk_max keeps them whole at a shorter window), or use a smaller dtype",
            field="model.max_tokens_per_batch",
        )
    return est
