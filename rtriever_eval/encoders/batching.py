"""Batches for the encoder: texts sorted by token count and cut by a row cap and a token budget (the one place
that decides batch composition), padded on the chosen side.

Knows token ids and lengths only: nothing of tokenisers' rules, models or devices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rtriever_eval.encoders.tokenization import TokenIds


def plan_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Index batches over texts sorted longest first (stable): at most ``batch_size`` rows and, when
    ``max_tokens`` is given, at most ``max_tokens`` padded tokens (rows x the batch's longest row) each.

    A text longer than ``max_tokens`` goes alone. This is the single place that decides batch composition;
    tokenisation, forward and reordering do not depend on it.
    """
    sorted_lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sorted_lengths, kind="stable")
    sorted_lengths = sorted_lengths[order]
    batches: list[np.ndarray] = []
    start, n = 0, len(order)
    while start < n:
        rows = batch_size
        if max_tokens is not None:
            rows = min(rows, max(1, max_tokens // max(1, int(sorted_lengths[start]))))
        batches.append(order[start : start + rows])
        start += rows
    return batches


@dataclass(frozen=True)
class TokenizedBatch:
    """One padded batch: ids and mask (batch, seq) on the CPU, its texts' positions, its real token count."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    indices: np.ndarray
    n_tokens: int


def iter_batches(
    tokens: TokenIds, *, batch_size: int, max_tokens: int | None, left: bool, pad_id: int
) -> Iterator[TokenizedBatch]:
    """Padded CPU batches in the planned order (longest texts first, see :func:`plan_batches`).

    ``max_tokens`` None means ``batch_size`` x the longest text (never binding: fixed-size batches).
    """
    lengths = tokens.lengths
    if not len(lengths):
        return
    budget = max_tokens if max_tokens is not None else batch_size * int(lengths.max())
    for indices in plan_batches(lengths, batch_size, budget):
        yield pad(tokens, indices, left=left, pad_id=pad_id)


def pad(tokens: TokenIds, indices: np.ndarray, *, left: bool, pad_id: int) -> TokenizedBatch:
    """Texts ``indices`` of ``tokens`` as one (rows, longest) batch padded on the left or right, with its mask."""
    lengths = tokens.lengths[indices]
    width = int(lengths.max())
    columns = np.arange(width, dtype=np.int64)[None, :]
    shift = (width - lengths)[:, None] if left else np.zeros((len(indices), 1), dtype=np.int64)
    valid = (columns >= shift) & (columns < shift + lengths[:, None])
    source = np.where(valid, tokens.offsets[indices][:, None] + columns - shift, 0)
    input_ids = np.where(valid, tokens.flat[source], pad_id).astype(np.int64)
    return TokenizedBatch(
        torch.from_numpy(input_ids), torch.from_numpy(valid.astype(np.int64)), indices, int(lengths.sum())
    )
