"""What the HTML report's per-query explorer shows beside ids: each query's text and gold ids, and the first
characters of its top-10 and gold documents, written beside the run file by the evaluation (snippets.json).

Knows a domain's data and a run; nothing of HTML, metrics or where the file goes (results/contract.py).
"""

from __future__ import annotations

from typing import Any

from rtriever_eval.base.types import DomainData, Run

SNIPPET_CHARS = 300
SNIPPET_DEPTH = 10


def build_snippets(
    data: DomainData, run: Run, *, depth: int = SNIPPET_DEPTH, chars: int = SNIPPET_CHARS
) -> dict[str, Any]:
    """{"queries": {qid: text}, "gold": {qid: [doc ids]}, "documents": {doc id: its first `chars` characters}}
    for every searched query, its top `depth` and its gold documents (each document once)."""
    texts = {d.id: d.text for d in data.documents}
    wanted: dict[str, None] = {}
    gold: dict[str, list[str]] = {}
    for q in data.queries:
        relevant = sorted(d for d, grade in data.qrels.get(q.id, {}).items() if grade > 0)
        gold[q.id] = relevant
        wanted.update(dict.fromkeys(relevant))
        wanted.update(dict.fromkeys(list(run.get(q.id, {}))[:depth]))
    return {
        "chars": chars,
        "depth": depth,
        "queries": {q.id: q.text for q in data.queries},
        "gold": gold,
        "documents": {d: texts[d][:chars] for d in wanted if d in texts},
    }
