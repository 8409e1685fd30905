"""Distinct texts of a list, in order of first appearance, and where each item's text sits among them.

Dense retrieval encodes each distinct text once and shares its vector with every id that holds it, so duplicate
documents get bit-identical scores and cost nothing; this module only does the bookkeeping, on plain strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Distinct:
    """``texts`` are the distinct texts in order of first appearance; item ``i`` holds ``texts[inverse[i]]``."""

    texts: list[str]
    inverse: np.ndarray

    @classmethod
    def of(cls, items: Sequence[str]) -> Distinct:
        row_of: dict[str, int] = {}
        inverse = np.fromiter((row_of.setdefault(t, len(row_of)) for t in items), dtype=np.int64, count=len(items))
        return cls(list(row_of), inverse)

    @property
    def n_items(self) -> int:
        return int(self.inverse.size)

    @property
    def n_distinct(self) -> int:
        return len(self.texts)

    def groups(self, edges: Sequence[int]) -> list[np.ndarray]:
        """``group_by_row(self.inverse, edges)``."""
        return group_by_row(self.inverse, edges)


def group_by_row(rows: np.ndarray, edges: Sequence[int]) -> list[np.ndarray]:
    """Item positions whose row lies in ``[edges[j], edges[j + 1])``, one array per range.

    Within a range, positions are ordered by row, then by position; every item lands in exactly one range when
    the edges span all rows.
    """
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.asarray(edges, dtype=np.int64), side="left")
    return [order[bounds[j] : bounds[j + 1]] for j in range(len(edges) - 1)]
