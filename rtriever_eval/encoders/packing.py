"""Padding-free ("packed") batches: texts laid end to end in rows, per-text positions, no attention across texts.
Knows token ids, lengths and what each packed attention path takes; not tokenisers, settings, caches or which path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rtriever_eval.encoders.tokenization import TokenIds

PATHS = ("flash_attention_2", "flex_attention", "sdpa_block_mask", "eager_block_mask")
"""The packed attention paths (``Kernels.packing_path``)."""

SINGLE_ROW_PATHS = ("flash_attention_2", "flex_attention")
"""Paths whose batch is one row of up to the token budget (flash-attention's varlen kernels read the texts' bounds
from the position ids of a single row; a block-sparse document mask costs nothing for the cross-text blocks).
The dense block-mask paths use rows as wide as the batch's longest text instead, so that a mask and its
attention cost what the padded batch's would."""


@dataclass(frozen=True)
class PackedBatch:
    """Texts packed in (rows, width) CPU tensors; texts in ``indices`` order, row by row.

    Attributes:
        input_ids: token ids, ``pad_id`` in the tail of a row.
        position_ids: 0, 1, ... restarting at each text (and at each row's tail).
        segments: which text each position belongs to (0.. texts-1); a row's tail is a segment of its own, so
            that every position attends to something and nothing real attends to it.
        starts: each text's first position in the flattened (rows x width) grid.
        lengths: each text's token count.
        indices: the texts' positions in the encoder's input.
        rows: the text indices of each row (for splitting a batch again).
        n_tokens: real tokens in the batch.
        plain: every row holds one text and no tail, so no text can see another without any mask (the model's
            own causal or full attention, with its fused kernels, is the packed attention).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: torch.Tensor
    starts: torch.Tensor
    lengths: torch.Tensor
    indices: np.ndarray
    rows: tuple[np.ndarray, ...]
    n_tokens: int
    plain: bool = False


def plan_packed(lengths: np.ndarray, *, budget: int, max_rows: int, single_row: bool) -> list[tuple[np.ndarray, ...]]:
    """Batches of rows of text indices: texts longest first (stable), each row filled with the longest texts
    left that fit, then the shortest; at most ``budget`` tokens per batch (a longer text goes alone).

    ``single_row``: one row of up to ``budget`` tokens per batch. Otherwise rows as wide as the batch's longest
    text, at most ``max_rows`` of them and rows x width <= ``budget``.
    """
    sorted_lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sorted_lengths, kind="stable")
    sizes = sorted_lengths[order].tolist()
    lo, hi = 0, len(sizes)  # texts not yet placed: order[lo:hi], longest first
    batches: list[tuple[np.ndarray, ...]] = []
    while lo < hi:
        width = max(budget, sizes[lo]) if single_row else sizes[lo]
        n_rows = 1 if single_row else max(1, min(max_rows, budget // max(1, width)))
        rows: list[np.ndarray] = []
        while lo < hi and len(rows) < n_rows:
            members, used = [lo], sizes[lo]
            lo += 1
            while lo < hi and used + sizes[lo] <= width:
                members.append(lo)
                used += sizes[lo]
                lo += 1
            while lo < hi and used + sizes[hi - 1] <= width:
                hi -= 1
                members.append(hi)
                used += sizes[hi]
            rows.append(order[members])
        batches.append(tuple(rows))
    return batches


def pack(tokens: TokenIds, rows: tuple[np.ndarray, ...], *, pad_id: int) -> PackedBatch:
    """The texts of ``rows`` laid end to end, one row each, as wide as the fullest row."""
    indices = np.concatenate(rows)
    lengths = tokens.lengths[indices].astype(np.int64)
    if len(lengths) and int(lengths.min()) < 1:
        raise ValueError("packing needs at least one token per text")
    n_rows, n_texts = len(rows), len(indices)
    row_of = np.repeat(np.arange(n_rows), [len(row) for row in rows])
    row_used = np.bincount(row_of, weights=lengths, minlength=n_rows).astype(np.int64)
    width = int(row_used.max())
    first = np.cumsum(lengths) - lengths  # each text's first index among the batch's tokens
    row_first = first[np.searchsorted(row_of, np.arange(n_rows))]  # the first token of each row, likewise
    starts = row_of * width + first - row_first[row_of]
    total = int(lengths.sum())
    within = np.arange(total) - np.repeat(first, lengths)
    target = np.repeat(starts, lengths) + within
    source = np.repeat(tokens.offsets[indices], lengths) + within

    input_ids = np.full(n_rows * width, pad_id, dtype=np.int64)
    input_ids[target] = tokens.flat[source]
    columns = np.broadcast_to(np.arange(width, dtype=np.int64), (n_rows, width))
    tail = columns >= row_used[:, None]
    position_ids = np.where(tail, columns - row_used[:, None], 0).reshape(-1)
    position_ids[target] = within
    segments = np.where(tail, n_texts + np.arange(n_rows)[:, None], -1).reshape(-1)
    segments[target] = np.repeat(np.arange(n_texts), lengths)
    return PackedBatch(
        torch.from_numpy(input_ids.reshape(n_rows, width)),
        torch.from_numpy(position_ids.reshape(n_rows, width)),
        torch.from_numpy(segments.reshape(n_rows, width)),
        torch.from_numpy(starts.astype(np.int64)),
        torch.from_numpy(lengths),
        indices,
        rows,
        total,
        n_rows == n_texts and bool((row_used == width).all()),
    )


def iter_packed(
    tokens: TokenIds, *, path: str, batch_size: int, max_tokens: int | None, pad_id: int
) -> Iterator[PackedBatch]:
    """Packed CPU batches for ``path`` (see :func:`plan_packed`); ``max_tokens`` None: ``batch_size`` x the
    longest text, as for padded batches."""
    lengths = tokens.lengths
    if not len(lengths):
        return
    budget = max_tokens if max_tokens is not None else batch_size * int(lengths.max())
    for rows in plan_packed(lengths, budget=budget, max_rows=batch_size, single_row=path in SINGLE_ROW_PATHS):
        yield pack(tokens, rows, pad_id=pad_id)


def split(tokens: TokenIds, batch: PackedBatch, parts: int, *, pad_id: int) -> list[PackedBatch]:
    """``batch`` as up to ``parts`` smaller batches of the same layout (after an out-of-memory error): its rows
    shared out, or a single row's texts cut into rows of their own."""
    pieces = [p for p in np.array_split(np.arange(len(batch.rows)), parts) if len(p)]
    if len(pieces) > 1:
        return [pack(tokens, tuple(batch.rows[i] for i in piece), pad_id=pad_id) for piece in pieces]
    texts = [t for t in np.array_split(np.concatenate(batch.rows), parts) if len(t)]
    return [pack(tokens, (t,), pad_id=pad_id) for t in texts]


# ---------------------------------------------------------------------------------------------- attention


def block_mask_4d(segments: torch.Tensor, *, causal: bool, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(rows, 1, width, width) mask letting each position see its own segment only (and, if ``causal``, only
    positions at or before it): boolean (True: attend) for sdpa, or additive in ``dtype`` for eager attention."""
    same = segments[:, None, :, None] == segments[:, None, None, :]
    if causal:
        width = segments.shape[1]
        same &= torch.ones(width, width, dtype=torch.bool, device=segments.device).tril()
    if dtype is None:
        return same
    additive = torch.zeros(same.shape, dtype=dtype, device=segments.device)
    return additive.masked_fill_(~same, torch.finfo(dtype).min)


def document_block_mask(segments: torch.Tensor, *, causal: bool) -> Any:
    """A FlexAttention ``BlockMask`` letting each position see its own segment only (causally if ``causal``)."""
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        same = segments[b, q] == segments[b, kv]
        return same & (kv <= q) if causal else same

    rows, width = segments.shape
    return create_block_mask(
        mask_mod,
        B=rows,
        H=None,
        Q_LEN=width,
        KV_LEN=width,
        device=segments.device,
        _compile=segments.device.type == "cuda",  # transformers compiles it too: no dense (width x width) mask
    )


def forward_packed(
    model: Any,
    input_ids: torch.Tensor,
    position_ids: torch.Tensor,
    segments: torch.Tensor,
    *,
    path: str,
    causal: bool,
    plain: bool = False,
) -> torch.Tensor:
    """Last hidden states (rows, width, dim) of packed rows (on the model's device) under ``path``; ``plain``
    (see :class:`PackedBatch`) runs the block-mask paths without a mask."""
    if path not in PATHS:
        raise ValueError(f"unknown packed path {path!r}; one of {', '.join(PATHS)}")
    if plain and path.endswith("_block_mask"):
        mask: Any = None
    elif path == "flash_attention_2":
        if input_ids.shape[0] != 1:
            raise ValueError("flash-attention packing takes one row")
        mask = None  # the varlen kernels read each text's bounds from the restarting position ids
    elif path == "flex_attention":
        mask = document_block_mask(segments, causal=causal)
    elif path == "sdpa_block_mask":
        mask = block_mask_4d(segments, causal=causal)
    else:
        mask = block_mask_4d(segments, causal=causal, dtype=next(model.parameters()).dtype)
    output = model(input_ids=input_ids, position_ids=position_ids, attention_mask=mask)
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]


def attends_causally(model: Any, device: torch.device) -> bool:
    """Whether ``model``'s attention is causal, so its packed mask must be too: from what its attention modules
    declare (``is_causal``) and its config, else from the seeded probe of ``kernels.is_causal``."""
    if getattr(model.config, "is_causal", True) is False:
        return False
    flags = {m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)}
    if flags in ({True}, {False}):
        return flags == {True}
    from rtriever_eval.encoders.kernels import is_causal

    return is_causal(model, device)


def probe_gap(model: Any, device: torch.device, *, path: str, causal: bool) -> float:
    """Largest relative gap between texts' hidden states packed and run alone, on fixed seeded ids (a correctness
    check: the same answer on every run). Near 0 when packing is exact for this model, ~1 when texts leak."""
    vocab = int(model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(0)
    texts = [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in (9, 5, 3)]
    tokens = TokenIds.from_lists(texts)
    rows = (np.arange(3),) if path in SINGLE_ROW_PATHS else (np.array([0]), np.array([1, 2]))
    batch = pack(tokens, rows, pad_id=0)
    with torch.inference_mode():
        hidden = forward_packed(
            model,
            batch.input_ids.to(device),
            batch.position_ids.to(device),
            batch.segments.to(device),
            path=path,
            causal=causal,
        )
        flat = hidden.reshape(-1, hidden.shape[-1]).to(torch.float32)
        gap = 0.0
        for text, start in zip(texts, batch.starts.tolist(), strict=True):
            alone = model(input_ids=torch.tensor([text], device=device))
            alone = (alone.last_hidden_state if hasattr(alone, "last_hidden_state") else alone[0])[0].float()
            packed = flat[start : start + len(text)]
            gap = max(gap, float((packed - alone).norm() / alone.norm().clamp(min=1e-12)))
    return gap
