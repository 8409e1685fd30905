"""Plain data types shared by every module: queries, documents, a domain's data, runs and qrels.

Deliberately knows nothing about files, models or metrics; all ids are strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Run = dict[str, dict[str, float]]
"""qid -> docid -> score."""

Qrels = dict[str, dict[str, int]]
"""qid -> docid -> relevance grade."""


@dataclass(frozen=True, slots=True)
class Query:
    """One query: its id, its text, and the documents that must never be ranked for it."""

    id: str
    text: str
    excluded_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus document; `text` is what the retriever sees (BEIR: title and text joined)."""

    id: str
    text: str


@dataclass(frozen=True)
class Aspect:
    """One reasoning aspect of a query (BRIGHT-Pro): its annotated weight and the documents that support it.

    `weight` is the raw annotation (BRIGHT-Pro: an importance score of 1-3); metrics normalise the weights over
    the query's aspects, so only their ratios matter.
    """

    id: str
    weight: float
    doc_ids: frozenset[str]
    text: str = ""


AspectAnnotations = dict[str, tuple[Aspect, ...]]
"""qid -> the query's aspects, in annotation order (a query may have none)."""


@dataclass(frozen=True)
class DomainData:
    """Everything needed to evaluate one domain: queries, corpus and judgments.

    `qrels` holds only the queries that have judgments; queries absent from it are searched but not evaluated.
    """

    name: str
    dataset: str
    queries: tuple[Query, ...]
    documents: tuple[Document, ...]
    qrels: Qrels
    revision: str | None = None
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    aspects: AspectAnnotations | None = None
    """Aspect annotations (BRIGHT-Pro); None for datasets without them, which then get no aspect-aware metrics."""
    subset: dict[str, Any] | None = None
    """How the corpus was cut to a candidate subset (job/subset.py), None for the full corpus."""
    has_corpus: bool = True
    """False when the local copy holds no documents for the domain (an imported run is evaluated without them):
    ``documents`` is then empty and the corpus size unknown, not zero."""

    @property
    def n_docs(self) -> int:
        return len(self.documents)
