"""The model facts a summary records and reports show (similarity, parameters, max tokens, embedding dimension,
training-data overlap with the benchmark): the model config's declared facts, completed from the run.

Knows settings and what a retriever describes; the facts never enter a fingerprint or change a number.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rtriever_eval.settings.models import BM25Settings, DenseSettings


def model_facts(settings: Any, retriever: Any) -> dict[str, Any]:
    """The declared facts of ``settings`` (None where unknown), with the run's own max length and, for a dense
    model whose weights were loaded, the embedding dimension measured from the model."""
    declared = getattr(settings, "facts", None)
    facts: dict[str, Any] = (
        dataclasses.asdict(declared) if dataclasses.is_dataclass(declared) and not isinstance(declared, type) else {}
    )
    if isinstance(settings, DenseSettings):
        facts["similarity"] = facts.get("similarity") or ("cosine" if settings.normalize else "dot")
        facts["run_max_tokens"] = settings.max_length
        dim = getattr(retriever, "loaded_dim", None)
        if dim is not None:
            facts["embedding_dim_measured"] = dim
    elif isinstance(settings, BM25Settings):
        facts["similarity"] = facts.get("similarity") or "bm25"
    elif getattr(settings, "kind", None) == "run_file":
        facts["similarity"] = facts.get("similarity") or "imported run"
        facts["imported"] = True
    else:  # a stage (fusion, rerank): its inputs' facts are in their own summaries
        facts["similarity"] = getattr(settings, "kind", None)
    return facts
