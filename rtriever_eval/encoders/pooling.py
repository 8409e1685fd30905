"""Pooling of token hidden states into one vector per sequence (last-token, mean, cls) and L2 normalisation.

Pure torch functions on (hidden, attention_mask) that work for left, right or mixed padding, and on packed rows
(hidden, each text's first flat position, its length); they know nothing of tokenizers, pad ids or models, and
never locate a token by its id (a pad id can be the real last token).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Pooler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(hidden: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if hidden.dim() != 3 or attention_mask.dim() != 2 or hidden.shape[:2] != attention_mask.shape:
        raise ValueError(
            f"expected hidden (batch, seq, dim) and attention_mask (batch, seq); got {tuple(hidden.shape)} "
            f"and {tuple(attention_mask.shape)}"
        )


def last_attended_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last attended position, whatever the padding side (0 for an all-padding row)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.to(torch.long) * positions).argmax(dim=1)


def first_attended_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the first attended position of each row (argmax returns the first maximum; 0 when none)."""
    return (attention_mask != 0).to(torch.long).argmax(dim=1)


def _gather(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, index.to(hidden.device)].to(torch.float32)


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of each row's last attended token, as float32 (batch, dim).

    Works for left padding (the last position), right padding (position ``mask.sum(1) - 1``) and any other
    layout, because it takes the largest attended position index per row instead of assuming a padding side.
    """
    _check(hidden, attention_mask)
    return _gather(hidden, last_attended_index(attention_mask))


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of each row's first attended token (the [CLS] token, also under left padding), float32."""
    _check(hidden, attention_mask)
    return _gather(hidden, first_attended_index(attention_mask))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the attended tokens' hidden states, in float32 (batch, dim); zeros for an empty row."""
    _check(hidden, attention_mask)
    mask = attention_mask.to(device=hidden.device, dtype=torch.float32).unsqueeze(-1)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def l2_normalize(vectors: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm, in float32 (a zero row stays zero)."""
    return torch.nn.functional.normalize(vectors.to(torch.float32), p=2.0, dim=-1, eps=eps)


def _check_packed(hidden: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    if hidden.dim() != 3 or starts.shape != lengths.shape or starts.dim() != 1:
        raise ValueError(
            f"expected hidden (rows, width, dim) and starts, lengths (texts,); got {tuple(hidden.shape)}, "
            f"{tuple(starts.shape)} and {tuple(lengths.shape)}"
        )
    if bool((lengths < 1).any()):
        raise ValueError("packed pooling needs at least one token per text")
    return hidden.reshape(-1, hidden.shape[-1])


def packed_last_token_pool(hidden: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Hidden state of each packed text's own last token, float32 (texts, dim); ``starts`` are flat positions in
    the (rows x width) grid."""
    flat = _check_packed(hidden, starts, lengths)
    return flat[(starts + lengths - 1).to(flat.device)].to(torch.float32)


def packed_cls_pool(hidden: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Hidden state of each packed text's own first token, float32 (texts, dim)."""
    flat = _check_packed(hidden, starts, lengths)
    return flat[starts.to(flat.device)].to(torch.float32)


def packed_mean_pool(hidden: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of each packed text's own tokens' hidden states, in float32 (texts, dim)."""
    flat = _check_packed(hidden, starts, lengths)
    starts, lengths = starts.to(flat.device), lengths.to(flat.device)
    owner = torch.repeat_interleave(torch.arange(len(lengths), device=flat.device), lengths)
    first = torch.cumsum(lengths, 0) - lengths  # each text's first index among all texts' tokens
    positions = torch.repeat_interleave(starts - first, lengths) + torch.arange(len(owner), device=flat.device)
    summed = torch.zeros(len(lengths), flat.shape[-1], dtype=torch.float32, device=flat.device)
    summed.index_add_(0, owner, flat[positions].to(torch.float32))
    return summed / lengths.to(torch.float32).unsqueeze(-1)


PackedPooler = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PACKED_POOLERS: dict[str, PackedPooler] = {
    "last_token": packed_last_token_pool,
    "mean": packed_mean_pool,
    "cls": packed_cls_pool,
}
"""The same poolings over packed rows (see packing.py), by the same names."""


POOLERS: dict[str, Pooler] = {
    "last_token": last_token_pool,
    "mean": mean_pool,
    "cls": cls_pool,
}
"""Pooling functions by the names model configs use (``model.pooling``)."""


def last_hidden(output: Any) -> torch.Tensor:
    """The last hidden states of a transformers model's output (an object or a tuple)."""
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
