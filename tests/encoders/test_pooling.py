"""Pooling functions on hand-built tensors, expected values written out (left, right, mixed, no padding)."""

from __future__ import annotations

import pytest
import torch

from rtriever_eval.encoders.pooling import (
    POOLERS,
    cls_pool,
    l2_normalize,
    last_token_pool,
    mean_pool,
)

# hidden[b, t] = [10*b + t, -(10*b + t)]: every position is recognisable in the output.
HIDDEN = torch.tensor([[[10.0 * b + t, -(10.0 * b + t)] for t in range(4)] for b in range(2)])

RIGHT = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
LEFT = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
NONE = torch.ones(2, 4, dtype=torch.long)
MIXED = torch.tensor([[0, 1, 1, 1], [1, 1, 0, 0]])  # row 0 left-padded, row 1 right-padded


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (RIGHT, [[2.0, -2.0], [11.0, -11.0]]),
        (LEFT, [[3.0, -3.0], [13.0, -13.0]]),
        (NONE, [[3.0, -3.0], [13.0, -13.0]]),
        (MIXED, [[3.0, -3.0], [11.0, -11.0]]),
    ],
    ids=["right", "left", "none", "mixed"],
)
def test_last_token_pool(mask: torch.Tensor, expected: list[list[float]]) -> None:
    assert torch.equal(last_token_pool(HIDDEN, mask), torch.tensor(expected))


def test_last_token_pool_is_not_mask_sum_minus_one_under_left_padding() -> None:
    # The classic bug (pitfall 1): mask.sum(1) - 1 points at position 2 and 1, i.e. real-but-wrong tokens.
    wrong = HIDDEN[torch.arange(2), LEFT.sum(1) - 1]
    assert not torch.equal(last_token_pool(HIDDEN, LEFT), wrong)


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (RIGHT, [[1.0, -1.0], [10.5, -10.5]]),
        (LEFT, [[2.0, -2.0], [12.5, -12.5]]),
        (NONE, [[1.5, -1.5], [11.5, -11.5]]),
        (MIXED, [[2.0, -2.0], [10.5, -10.5]]),
    ],
    ids=["right", "left", "none", "mixed"],
)
def test_mean_pool(mask: torch.Tensor, expected: list[list[float]]) -> None:
    assert torch.allclose(mean_pool(HIDDEN, mask), torch.tensor(expected))


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (RIGHT, [[0.0, 0.0], [10.0, -10.0]]),
        (LEFT, [[1.0, -1.0], [12.0, -12.0]]),
        (NONE, [[0.0, 0.0], [10.0, -10.0]]),
        (MIXED, [[1.0, -1.0], [10.0, -10.0]]),
    ],
    ids=["right", "left", "none", "mixed"],
)
def test_cls_pool_takes_first_attended_token(mask: torch.Tensor, expected: list[list[float]]) -> None:
    assert torch.equal(cls_pool(HIDDEN, mask), torch.tensor(expected))


def test_mean_pool_of_empty_row_is_zero_not_nan() -> None:
    mask = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1]])
    pooled = mean_pool(HIDDEN, mask)
    assert torch.equal(pooled[0], torch.zeros(2))


@pytest.mark.parametrize("name", sorted(POOLERS))
def test_poolers_return_float32_from_bfloat16(name: str) -> None:
    pooled = POOLERS[name](HIDDEN.to(torch.bfloat16), LEFT)
    assert pooled.dtype == torch.float32
    assert pooled.shape == (2, 2)


def test_poolers_do_not_mutate_inputs() -> None:
    hidden, mask = HIDDEN.clone(), LEFT.clone()
    for pool in POOLERS.values():
        pool(hidden, mask)
    assert torch.equal(hidden, HIDDEN)
    assert torch.equal(mask, LEFT)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="expected hidden"):
        last_token_pool(HIDDEN, torch.ones(2, 3))


def test_l2_normalize() -> None:
    out = l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float16))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
