"""Aspect-aware metrics of BRIGHT-Pro: α-nDCG@k and weighted aspect recall@k, per query and averaged over queries.

Pure functions of a run and aspect annotations; knows nothing about files, models, or how annotations were loaded.

What BRIGHT-Pro's own evaluation computes (read from yale-nlp/Bright-Pro on GitHub, commit b31d5f1a:
`retrieval/evaluation/alpha-ndcg-evaluation.py`, `retrieval/evaluation/weighted_aspect_recall.py`,
`bright_pro_data.py`, `README.md`; the earlier copies in echo0715/BRIGHT-PRO, `alpha-ndcg-evaluation.py`,
`weighted_aspect_recall.py`, `retrieval/README.md`, agree on the formulas), restated in our words:

- Weights. Every aspect carries an importance of 1, 2 or 3. Before scoring, a query's weights are divided by their
  sum over all of that query's aspects, so they add up to 1. (The older echo0715 scripts divided A-Recall by the
  weight of the aspects that have gold documents instead; both agree when every aspect has one.)
- α-nDCG@k, with α = 0.5 and k = 25 as the defaults of the script and of the paper's tables. The document at rank i
  (from 1) gains w(a) · (1 − α)^n / log2(i + 1) when it is a gold document that supports aspect a, where n counts
  the documents of aspect a ranked above it. Any other document gains nothing. The ideal DCG is built greedily: at
  each rank up to k, take a not-yet-placed gold document of the aspect with the largest w(a) · (1 − α)^n. Ranks end
  early when no gold document is left. In BRIGHT-Pro each gold document supports exactly one aspect, and then this
  greedy order is optimal: each aspect's gains fall as n grows, so greedy lists the largest gains first.
  α-nDCG@k = DCG / ideal DCG. It is Clarke et al.'s α-nDCG (SIGIR 2008) with each aspect's gain scaled by its weight.
- Weighted aspect recall@k ("A-Recall@k"): the sum of the normalised weights of the aspects supported by at least
  one of the top k documents. An aspect counts once, however many of its documents are retrieved. Range [0, 1].
- Rankings are a run's scores sorted in descending order. Queries with an empty gold list are skipped. A query
  whose ideal α-DCG is 0 (no annotated aspect) is left out of the α-nDCG mean, but its A-Recall of 0 is averaged in.

Where this module differs from those scripts, and why:
- Ties in score are broken as trec_eval breaks them (document id descending), the same order as the standard
  metrics. The scripts keep the order in which the run lists the tied documents.
- A judged query without aspects scores 0 on both metrics and counts in both means, as trec_eval counts a judged
  query with no relevant document. This keeps every per-query value finite and each summary value equal to the
  mean of its per-query column, which reports check. BRIGHT-Pro annotates aspects for every query, so real data is
  not expected to hit this case. A warning counts such queries.
- A query absent from the run scores 0, as in `evaluation.evaluate`. The scripts skip it, but the pipeline's runs
  list every query.
- Aspects are matched per query. A document may support several aspects, as in Clarke et al.'s definition; it then
  gains the sum over its aspects, and the ideal is the greedy approximation (exact in the one-aspect case). The
  scripts build a single document-to-aspect map per domain, in which the aspect read last wins.
- A document counts for an aspect when the annotations list it as supporting. The loader keeps only the
  supporting documents that are also gold, as the α-nDCG script requires.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.types import Aspect, AspectAnnotations, DomainData, Qrels, Run
from rtriever_eval.metrics.trec_measures import EvalResult, parse_unique

__all__ = [
    "ALPHA_NDCG",
    "ASPECT_RECALL",
    "DEFAULT_ALPHA",
    "DEFAULT_ASPECT_MEASURES",
    "AspectMeasure",
    "alpha_dcg",
    "alpha_ndcg",
    "aspect_recall",
    "aspect_settings",
    "evaluate_aspects",
    "ideal_alpha_dcg",
    "normalised_weights",
    "parse_aspect_measure",
    "ranked_ids",
    "with_aspect_metrics",
]

log = logging.getLogger(__name__)

ALPHA_NDCG = "alpha-nDCG"
ASPECT_RECALL = "A-Recall"
DEFAULT_ALPHA = 0.5
DEFAULT_ASPECT_MEASURES: tuple[str, ...] = ("alpha-nDCG@10", "alpha-nDCG@25", "A-Recall@10", "A-Recall@25")

_NAME = re.compile(r"(?P<family>alpha-nDCG|A-Recall)@(?P<k>[1-9][0-9]*)\Z")


@dataclass(frozen=True)
class AspectMeasure:
    """One aspect-aware measure: its name (`alpha-nDCG@25`), family (`alpha-nDCG` or `A-Recall`) and cutoff."""

    name: str
    family: str
    k: int


def parse_aspect_measure(name: str) -> AspectMeasure:
    """`alpha-nDCG@k` or `A-Recall@k` (k a positive integer) as an AspectMeasure; ValueError otherwise."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown aspect measure {name!r}; valid forms: {ALPHA_NDCG}@k, {ASPECT_RECALL}@k (k a positive integer)"
        )
    return AspectMeasure(name=name, family=match.group("family"), k=int(match.group("k")))


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    return alpha


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return k


def ranked_ids(scores: Mapping[str, float], depth: int | None = None) -> list[str]:
    """Document ids in trec_eval's order (score descending, then id descending), the first `depth` of them."""
    if any(math.isnan(float(s)) for s in scores.values()):
        raise ValueError("NaN score in the run; it cannot be ranked")
    items = [(float(s), d) for d, s in scores.items()]
    if depth is None or depth >= len(items):
        return [d for _, d in sorted(items, reverse=True)]
    return [d for _, d in heapq.nlargest(depth, items)]


def normalised_weights(aspects: Sequence[Aspect]) -> list[float]:
    """Each aspect's weight divided by the sum over the query's aspects (BRIGHT-Pro's per-query normalisation)."""
    if not aspects:
        return []
    for a in aspects:
        if not (math.isfinite(a.weight) and a.weight > 0):
            raise ValueError(f"aspect {a.id!r}: weight must be a positive finite number, got {a.weight!r}")
    total = math.fsum(a.weight for a in aspects)
    return [a.weight / total for a in aspects]


def _aspects_of(aspects: Sequence[Aspect]) -> dict[str, tuple[int, ...]]:
    """doc id -> positions (in `aspects`) of the aspects it supports."""
    out: dict[str, list[int]] = {}
    for j, a in enumerate(aspects):
        for d in a.doc_ids:
            out.setdefault(d, []).append(j)
    return {d: tuple(js) for d, js in out.items()}


def _gain(js: Iterable[int], weights: Sequence[float], seen: Sequence[int], keep: float) -> float:
    return math.fsum(weights[j] * keep ** seen[j] for j in js)


def alpha_dcg(ranking: Sequence[str], aspects: Sequence[Aspect], *, alpha: float = DEFAULT_ALPHA, k: int) -> float:
    """Weighted α-DCG@k of `ranking` (best first): Σ_i Σ_{a ∋ doc_i} w(a)·(1−α)^{n_a} / log2(i+1)."""
    keep = 1.0 - _check_alpha(alpha)
    k = _check_k(k)
    weights = normalised_weights(aspects)
    of = _aspects_of(aspects)
    seen = [0] * len(aspects)
    total = 0.0
    for i, doc in enumerate(ranking[:k], start=1):
        js = of.get(doc, ())
        if not js:
            continue
        total += _gain(js, weights, seen, keep) / math.log2(i + 1)
        for j in js:
            seen[j] += 1
    return total


def ideal_alpha_dcg(aspects: Sequence[Aspect], *, alpha: float = DEFAULT_ALPHA, k: int) -> float:
    """The greedy ideal α-DCG@k: at each rank, the supporting document with the largest marginal gain.

    Ties go to the smaller document id, so the result never depends on set order. With one aspect per document
    (BRIGHT-Pro) greedy is optimal and the tie choice cannot change the value.
    """
    keep = 1.0 - _check_alpha(alpha)
    k = _check_k(k)
    weights = normalised_weights(aspects)
    remaining = _aspects_of(aspects)
    seen = [0] * len(aspects)
    total = 0.0
    for i in range(1, k + 1):
        best: tuple[float, str] | None = None
        for doc in sorted(remaining):
            gain = _gain(remaining[doc], weights, seen, keep)
            if best is None or gain > best[0]:
                best = (gain, doc)
        if best is None or best[0] <= 0.0:
            break
        gain, doc = best
        total += gain / math.log2(i + 1)
        for j in remaining.pop(doc):
            seen[j] += 1
    return total


def alpha_ndcg(ranking: Sequence[str], aspects: Sequence[Aspect], *, alpha: float = DEFAULT_ALPHA, k: int) -> float:
    """α-DCG@k over the ideal α-DCG@k; 0 when the ideal is 0 (no aspect has a supporting document)."""
    ideal = ideal_alpha_dcg(aspects, alpha=alpha, k=k)
    if ideal <= 0.0:
        return 0.0
    return alpha_dcg(ranking, aspects, alpha=alpha, k=k) / ideal


def aspect_recall(ranking: Sequence[str], aspects: Sequence[Aspect], *, k: int) -> float:
    """Weighted aspect recall@k: the normalised weight of the aspects supported within the top k (each once)."""
    k = _check_k(k)
    weights = normalised_weights(aspects)
    of = _aspects_of(aspects)
    covered: set[int] = set()
    for doc in ranking[:k]:
        covered.update(of.get(doc, ()))
    return math.fsum(weights[j] for j in covered)


def evaluate_aspects(
    qrels: Qrels,
    aspects: Mapping[str, Sequence[Aspect]],
    run: Run,
    measures: Sequence[str] = DEFAULT_ASPECT_MEASURES,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> EvalResult:
    """Aspect-aware measures per judged query and their means, shaped like `evaluation.evaluate`'s result.

    Rows are the queries with at least one judgment in `qrels` (sorted by qid), the queries `evaluate` reports, so
    the two frames join column-wise. A query missing from the run or from `aspects` scores 0. Inputs are never
    modified. ValueError for an unknown measure, an alpha outside [0, 1], a bad weight, or no judged query.
    """
    parsed = _parse_all(measures)
    alpha = _check_alpha(alpha)
    judged = sorted(qid for qid, docs in qrels.items() if docs)
    if not judged:
        raise ValueError("qrels hold no judged query: nothing to evaluate")
    depth = max(m.k for m in parsed)
    values = np.zeros((len(judged), len(parsed)), dtype=np.float64)
    without = 0
    for row, qid in enumerate(judged):
        query_aspects = tuple(aspects.get(qid, ()))
        if not any(a.doc_ids for a in query_aspects):
            without += 1
            continue
        ranking = ranked_ids(run.get(qid) or {}, depth)
        for column, m in enumerate(parsed):
            if m.family == ALPHA_NDCG:
                values[row, column] = alpha_ndcg(ranking, query_aspects, alpha=alpha, k=m.k)
            else:
                values[row, column] = aspect_recall(ranking, query_aspects, k=m.k)
    if without:
        log.warning(
            "%d of %d judged queries have no aspect with a supporting document: they score 0 on the aspect metrics "
            "and count in the means (BRIGHT-Pro's scripts leave them out of the alpha-nDCG mean)",
            without,
            len(judged),
        )
    names = [m.name for m in parsed]
    index = pd.Index(judged, name="qid", dtype=object)
    per_query = pd.DataFrame(values, index=index, columns=pd.Index(names, dtype=object))
    summary = {name: float(values[:, column].mean()) for column, name in enumerate(names)}
    return EvalResult(per_query=per_query, summary=summary)


def aspect_settings(measures: Sequence[str] | None, alpha: float | None) -> tuple[tuple[str, ...], float]:
    """The aspect measures and α asked for (defaults when None); ConfigError when invalid."""
    names = tuple(str(m) for m in measures) if measures is not None else DEFAULT_ASPECT_MEASURES
    try:
        _parse_all(names)
    except ValueError as exc:
        raise ConfigError(str(exc), field="dataset.aspect_metrics") from None
    try:
        checked = _check_alpha(DEFAULT_ALPHA if alpha is None else float(alpha))
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), field="dataset.aspect_alpha") from None
    return names, checked


def with_aspect_metrics(
    result: EvalResult, data: DomainData, run: Run, measures: Sequence[str] | None, alpha: float | None
) -> EvalResult:
    """`result` with the aspect-aware `measures` (defaults when None) added as per-query columns and summary
    entries. Returns `result` itself when `data` has no aspect annotations.
    """
    annotations: AspectAnnotations | None = data.aspects
    if annotations is None:
        return result
    names, checked = aspect_settings(measures, alpha)
    extra = evaluate_aspects(data.qrels, annotations, run, names, alpha=checked)
    clash = sorted(set(extra.per_query.columns) & set(result.per_query.columns))
    if clash:
        raise ConfigError(f"measure {clash[0]!r} is asked for twice", field="dataset.aspect_metrics")
    if not extra.per_query.index.equals(result.per_query.index):
        raise ValueError("aspect metrics and standard metrics were computed over different queries")
    per_query = pd.concat([result.per_query, extra.per_query], axis=1)
    return EvalResult(per_query=per_query, summary={**result.summary, **extra.summary})


def _parse_all(measures: Sequence[str] | str) -> list[AspectMeasure]:
    return parse_unique(measures, parse_aspect_measure, f"{ALPHA_NDCG}@k, {ASPECT_RECALL}@k")
