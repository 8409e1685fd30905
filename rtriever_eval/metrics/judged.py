"""Judged@k: the share of a query's top k that has a judgment (any grade, 0 included), as ir_measures defines it,
with the top k taken in trec_eval's order (score descending, then doc id descending) like every other measure here.

Knows runs and qrels only. On BRIGHT, whose judgments list only the gold documents, Judged@10 is the share of the
top 10 that is gold: a low value says how much of a ranking the judgments cannot speak for, not that it is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

from rtriever_eval.base.trec import top


def judged_at(scores: Mapping[str, float], judged: Mapping[str, int], k: int) -> float:
    """Judged@k of one query: judged documents among its top k, over k (over the run's length when it holds fewer
    than k, as ir_measures does); 0.0 for an empty ranking."""
    first = top(scores, k)
    return sum(1 for doc in first if doc in judged) / len(first) if first else 0.0
