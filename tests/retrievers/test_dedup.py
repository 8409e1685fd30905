"""Distinct texts in order of first appearance, and the grouping of items by row range the dense search uses."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rtriever_eval.retrievers.dedup import Distinct, group_by_row


def test_first_appearance_order() -> None:
    d = Distinct.of(["b", "a", "b", "c", "a"])
    assert d.texts == ["b", "a", "c"] and d.inverse.tolist() == [0, 1, 0, 2, 1]
    assert (d.n_items, d.n_distinct) == (5, 3)


@given(st.lists(st.sampled_from("abcdef"), max_size=40), st.integers(1, 5))
def test_groups_cover_every_item_once_and_rebuild_the_texts(items: list[str], step: int) -> None:
    d = Distinct.of(items)
    assert [d.texts[i] for i in d.inverse] == items
    edges = [*range(0, d.n_distinct, step), d.n_distinct]
    groups = d.groups(edges)
    joined = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    assert sorted(joined.tolist()) == list(range(len(items)))
    for j, g in enumerate(groups):
        assert all(edges[j] <= d.inverse[i] < edges[j + 1] for i in g)
        keys = [(int(d.inverse[i]), int(i)) for i in g]
        assert keys == sorted(keys)  # by row, then by position
    assert group_by_row(np.array([2, 0, 1, 0]), [0, 1, 3])[0].tolist() == [1, 3]
