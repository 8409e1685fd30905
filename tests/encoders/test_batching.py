"""Token-budget batching: plan_batches' invariants, padded batches within the budget, vectors and order unchanged."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rtriever_eval.encoders.hf import HFEncoder, TokenIds, plan_batches
from rtriever_eval.testing import BIOLOGY_QUERY_PROMPT, synthetic_words

MakeEncoder = Callable[..., HFEncoder]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=600), max_size=80),
    batch_size=st.integers(min_value=1, max_value=40),
    max_tokens=st.one_of(st.none(), st.integers(min_value=1, max_value=3000)),
)
def test_plan_batches_invariants(lengths: list[int], batch_size: int, max_tokens: int | None) -> None:
    batches = plan_batches(lengths, batch_size, max_tokens)
    flat = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))  # every text exactly once
    ordered = [lengths[i] for i in flat]
    assert ordered == sorted(lengths, reverse=True)  # longest first
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        padded = len(batch) * max(lengths[i] for i in batch)
        if max_tokens is not None and len(batch) > 1:
            assert padded <= max_tokens  # only a lone over-long text may exceed the budget
    if max_tokens is None:
        assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)


def test_plan_batches_budget_example() -> None:
    batches = plan_batches([100, 10, 10, 300, 10, 10, 10], batch_size=4, max_tokens=40)
    assert [b.tolist() for b in batches] == [[3], [0], [1, 2, 4, 5], [6]]


def test_batches_respect_budget_and_rows(make_encoder: MakeEncoder) -> None:
    texts = [synthetic_words(n, seed=n) for n in (1, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 2, 4, 6)]
    encoder = make_encoder(batch_size=5, max_tokens_per_batch=120)
    tokens = encoder.token_ids(texts, is_query=False)
    seen: list[int] = []
    for batch in encoder.batches(tokens):
        rows, width = batch.input_ids.shape
        assert rows <= 5
        assert rows * width <= 120 or rows == 1
        assert batch.n_tokens == int(batch.attention_mask.sum())
        assert width == int(tokens.lengths[batch.indices].max())
        seen.extend(batch.indices.tolist())
    assert sorted(seen) == list(range(len(texts)))


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_padded_rows_hold_each_texts_ids(make_encoder: MakeEncoder, texts: list[str], padding_side: str) -> None:
    encoder = make_encoder(padding_side=padding_side, max_tokens_per_batch=300)
    ids = encoder.tokenize(texts, BIOLOGY_QUERY_PROMPT, is_query=True)
    for batch in encoder.batches(ids):
        for row, index in enumerate(batch.indices):
            mask = batch.attention_mask[row].bool()
            assert batch.input_ids[row][mask].tolist() == ids[index]
            real = torch.nonzero(mask).flatten()
            assert real.tolist() == list(range(int(real[0]), int(real[-1]) + 1))  # contiguous
            if padding_side == "left":
                assert bool(mask[-1])
            else:
                assert bool(mask[0])
            assert torch.all(batch.input_ids[row][~mask] == encoder.tokenization.pad_id)


def test_token_ids_round_trip() -> None:
    ids = [[5, 6, 7], [1], [], [9, 9]]
    packed = TokenIds.from_lists(ids)
    assert packed.to_lists() == ids
    assert packed.lengths.tolist() == [3, 1, 0, 2]
    assert len(packed) == 4
    joined = TokenIds.concat([packed, TokenIds.from_lists([[3, 4]])])
    assert joined.to_lists() == [*ids, [3, 4]]
    assert TokenIds.concat([]).to_lists() == []


@pytest.mark.parametrize("unmasked", [False, True], ids=["masked", "unmasked"])
def test_token_budget_gives_the_fixed_batch_vectors_in_input_order(
    make_encoder: MakeEncoder, texts: list[str], unmasked: bool
) -> None:
    many = [*texts, *(synthetic_words(n, seed=100 + n) for n in (2, 9, 40, 150, 700, 3, 1200))]
    fixed = make_encoder(batch_size=4, causal_without_mask=unmasked).encode(
        many, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False
    )
    for budget in (1, 64, 700, 5000):
        budgeted = make_encoder(batch_size=64, max_tokens_per_batch=budget, causal_without_mask=unmasked).encode(
            many, BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False
        )
        np.testing.assert_allclose(budgeted, fixed, atol=1e-6)
    single = make_encoder(batch_size=1, causal_without_mask=False)
    alone = np.stack([single.encode([t], BIOLOGY_QUERY_PROMPT, is_query=True, show_progress=False)[0] for t in many])
    np.testing.assert_allclose(fixed, alone, atol=1e-5)  # order restored: row i is text i
