"""Score a run against qrels with pytrec_eval: ir_measures names in, a per-query frame and means out.

Knows trec_eval's measures and `-c` averaging; knows nothing about files, models, datasets or reports.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
import pytrec_eval

from rtriever_eval.base.trec import top
from rtriever_eval.base.types import Qrels, Run
from rtriever_eval.metrics.judged import judged_at


class _Named(Protocol):
    @property
    def name(self) -> str: ...


M = TypeVar("M", bound=_Named)

__all__ = [
    "DEFAULT_MEASURES",
    "VALID_FORMS",
    "EvalResult",
    "Measure",
    "evaluate",
    "parse_measure",
    "to_pytrec_names",
]

logger = logging.getLogger(__name__)

DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP")

# ir_measures family -> (trec_eval measure, cutoff allowed, cutoff required)
_FAMILIES: dict[str, tuple[str, bool, bool]] = {
    "nDCG": ("ndcg", True, False),
    "AP": ("map", True, False),
    "RR": ("recip_rank", True, False),
    "R": ("recall", True, True),
    "P": ("P", True, True),
    "Success": ("success", True, True),
    "Rprec": ("Rprec", False, False),
    "Judged": ("judged", True, True),  # not trec_eval's: computed in judged.py
}
_CUT_MEASURES = {"ndcg": "ndcg_cut", "map": "map_cut"}

VALID_FORMS: tuple[str, ...] = (
    "nDCG",
    "nDCG@k",
    "AP",
    "AP@k",
    "RR",
    "RR@k",
    "R@k",
    "P@k",
    "Success@k",
    "Rprec",
    "Judged@k",
)

_NAME = re.compile(r"(?P<family>[A-Za-z]+)(?:@(?P<cutoff>[0-9]+))?\Z")


@dataclass(frozen=True)
class Measure:
    """One measure: its ir_measures name and how pytrec_eval computes it.

    `trec_measure` is the trec_eval measure (`ndcg_cut`), `cutoff` its parameter (or None) and `key` what
    trec_eval prints for it (`ndcg_cut_10`). `truncate_at` is set for RR@k only: pytrec_eval has no cut-off
    reciprocal rank, so `recip_rank` is computed on the run cut to its top k in trec_eval's order.
    """

    name: str
    trec_measure: str
    cutoff: int | None
    key: str
    truncate_at: int | None = None


@dataclass(frozen=True)
class EvalResult:
    """Per-query values (index `qid`, one column per measure, rows sorted by qid) and their means."""

    per_query: pd.DataFrame
    summary: dict[str, float]


def parse_measure(name: str) -> Measure:
    """Turn an ir_measures name (`nDCG@10`, `R@100`, `RR`, `AP` ...) into a Measure; ValueError if unknown."""
    match = _NAME.match(name) if isinstance(name, str) else None
    family = match.group("family") if match else None
    if match is None or family not in _FAMILIES:
        raise ValueError(f"unknown measure {name!r}; valid forms: {', '.join(VALID_FORMS)} (k a positive integer)")
    trec_measure, cutoff_allowed, cutoff_required = _FAMILIES[family]
    cutoff_text = match.group("cutoff")
    if cutoff_text is None:
        if cutoff_required:
            raise ValueError(
                f"measure {name!r} needs a cutoff, as in {family}@10; valid forms: {', '.join(VALID_FORMS)}"
            )
        return Measure(name=name, trec_measure=trec_measure, cutoff=None, key=trec_measure)
    if not cutoff_allowed:
        raise ValueError(f"measure {name!r} takes no cutoff; valid forms: {', '.join(VALID_FORMS)}")
    cutoff = int(cutoff_text)
    if cutoff < 1 or cutoff_text != str(cutoff):
        raise ValueError(
            f"measure {name!r}: the cutoff must be a positive integer without leading zeros; "
            f"valid forms: {', '.join(VALID_FORMS)}"
        )
    if family == "RR":
        return Measure(name=name, trec_measure="recip_rank", cutoff=None, key="recip_rank", truncate_at=cutoff)
    trec_measure = _CUT_MEASURES.get(trec_measure, trec_measure)
    return Measure(name=name, trec_measure=trec_measure, cutoff=cutoff, key=f"{trec_measure}_{cutoff}")


def to_pytrec_names(measures: Iterable[str]) -> dict[str, str]:
    """Map each ir_measures name to the name trec_eval prints for it (`nDCG@10` -> `ndcg_cut_10`).

    `RR@k` maps to `recip_rank`, which it equals on the run cut to its top k.
    """
    return {measure.name: measure.key for measure in map(parse_measure, measures)}


def evaluate(
    qrels: Qrels,
    run: Run,
    measures: Sequence[str] = DEFAULT_MEASURES,
    relevance_level: int = 1,
) -> EvalResult:
    """Evaluate `run` against `qrels` with trec_eval's measures and `trec_eval -c` averaging.

    Every query with at least one judgment in `qrels` gets a row; one that the run lacks, or for which it
    retrieved nothing, scores 0 on every measure. Queries of the run without judgments are ignored. A
    grade >= `relevance_level` is relevant (nDCG gains are the grades themselves, as in trec_eval).

    A query whose judgments are all below `relevance_level` is kept and scores 0 everywhere, as trec_eval
    counts it; a warning names how many there are (BRIGHT's binary gold sets never produce one).

    Inputs are never modified. Raises ValueError for an unknown measure, a NaN score, or qrels without any
    judged query (a mean over nothing is not a number to report).
    """
    parsed = _parse_all(measures)
    judged = sorted(qid for qid, docs in qrels.items() if docs)
    if not judged:
        raise ValueError("qrels hold no judged query: nothing to evaluate")

    pytrec_qrels = {qid: {docid: int(grade) for docid, grade in qrels[qid].items()} for qid in judged}
    pytrec_run = _pytrec_run(run, judged)
    _log_coverage(qrels, run, judged, pytrec_qrels, pytrec_run, relevance_level)

    values = np.zeros((len(judged), len(parsed)), dtype=np.float64)
    row_of = {qid: row for row, qid in enumerate(judged)}
    own = [(column, measure) for column, measure in enumerate(parsed) if measure.trec_measure == "judged"]
    for column, measure in own:  # Judged@k: every judged query, 0.0 when the run lacks it
        k = int(measure.cutoff or 0)
        values[:, column] = [judged_at(pytrec_run.get(qid, {}), pytrec_qrels[qid], k) for qid in judged]
    plain = [(c, m) for c, m in enumerate(parsed) if m.truncate_at is None and m.trec_measure != "judged"]
    if plain and pytrec_run:
        _fill(values, row_of, plain, pytrec_qrels, pytrec_run, relevance_level)
    for depth in sorted({m.truncate_at for m in parsed if m.truncate_at is not None}):
        columns = [(column, m) for column, m in enumerate(parsed) if m.truncate_at == depth]
        cut_run = {qid: top(docs, depth) for qid, docs in pytrec_run.items()}
        if cut_run:
            _fill(values, row_of, columns, pytrec_qrels, cut_run, relevance_level)

    names = [measure.name for measure in parsed]
    index = pd.Index(judged, name="qid", dtype=object)
    per_query = pd.DataFrame(values, index=index, columns=pd.Index(names, dtype=object))
    summary = {name: float(values[:, column].mean()) for column, name in enumerate(names)}
    return EvalResult(per_query=per_query, summary=summary)


# -- helpers ---------------------------------------------------------------------------------------------


def parse_unique(measures: Sequence[str] | str, parse: Callable[[str], M], valid: str) -> list[M]:
    """Parse measure names with `parse`, dropping repeats (by parsed name) and keeping the order asked."""
    if isinstance(measures, str):
        measures = (measures,)
    parsed: dict[str, M] = {}
    for name in measures:
        measure = parse(name)
        parsed.setdefault(measure.name, measure)
    if not parsed:
        raise ValueError(f"no measure given; valid forms: {valid}")
    return list(parsed.values())


def _parse_all(measures: Sequence[str] | str) -> list[Measure]:
    return parse_unique(measures, parse_measure, ", ".join(VALID_FORMS))


def _pytrec_run(run: Run, judged: Sequence[str]) -> dict[str, dict[str, float]]:
    """Copy the judged queries' non-empty rankings with plain floats (pytrec_eval refuses numpy scalars)."""
    copy: dict[str, dict[str, float]] = {}
    for qid in judged:
        docs = run.get(qid)
        if not docs:
            continue
        scores = {docid: float(score) for docid, score in docs.items()}
        if any(math.isnan(score) for score in scores.values()):
            raise ValueError(f"query {qid!r}: NaN score in the run; it cannot be ranked")
        copy[qid] = scores
    return copy


def _request(measures: Iterable[Measure]) -> set[str]:
    """pytrec_eval measure strings, cutoffs of one measure grouped (`recall.10,100,1000`)."""
    cutoffs: dict[str, set[int]] = {}
    for measure in measures:
        group = cutoffs.setdefault(measure.trec_measure, set())
        if measure.cutoff is not None:
            group.add(measure.cutoff)
    return {f"{name}.{','.join(str(cut) for cut in sorted(cuts))}" if cuts else name for name, cuts in cutoffs.items()}


def _fill(
    values: np.ndarray,
    row_of: Mapping[str, int],
    columns: Sequence[tuple[int, Measure]],
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    relevance_level: int,
) -> None:
    evaluator = pytrec_eval.RelevanceEvaluator(
        qrels, _request(measure for _, measure in columns), relevance_level=relevance_level
    )
    results = evaluator.evaluate(run)
    for qid, scores in results.items():
        row = row_of[qid]
        for column, measure in columns:
            values[row, column] = scores[measure.key]


def _log_coverage(
    qrels: Qrels,
    run: Run,
    judged: Sequence[str],
    pytrec_qrels: Mapping[str, Mapping[str, int]],
    pytrec_run: Mapping[str, Mapping[str, float]],
    relevance_level: int,
) -> None:
    empty = len(qrels) - len(judged)
    if empty:
        logger.info("%d queries have an empty judgment list and are not evaluated", empty)
    missing = len(judged) - len(pytrec_run)
    if missing:
        logger.warning("%d of %d judged queries retrieved nothing and score 0", missing, len(judged))
    unjudged = sum(1 for qid in run if qid not in pytrec_qrels)
    if unjudged:
        logger.info("%d run queries have no judgments and are ignored", unjudged)
    no_relevant = sum(1 for docs in pytrec_qrels.values() if all(grade < relevance_level for grade in docs.values()))
    if no_relevant:
        logger.warning(
            "%d judged queries have no document at relevance level >= %d; they score 0 and count in the mean",
            no_relevant,
            relevance_level,
        )
