"""The fingerprint of one domain's result: the settings, data and model that determine its numbers, hashed, and
the keys by which two fingerprints differ (for the message that refuses to reuse a stale result).

Knows which settings cannot change a number (where files go, logging, batch sizes, device, cache mode, sharding);
it hashes what it is given and knows nothing of how results are computed, stored or compared with a baseline.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rtriever_eval.base.types import DomainData

FINGERPRINT_VERSION = 1
NUMERICS = 1
"""Raised whenever a change of the harness itself moves the numbers of an unchanged config (a tokenizer fix,
say), so that results computed before it are not reused as if they were current."""

NON_RESULT_KEYS: tuple[str, ...] = (
    "paths",
    "hydra",
    "overwrite",
    "print_report",
    "stage",
    "shard",
    "plan",
    "cache",
    "experiment_name",
    "run_name",
    "domains",
    "instructions",
    "model.query_template",
    "model.document_prompt",
    "dataset.path",
    "dataset.domains",
    "dataset.query_file",
    "rewriter",
    "model.path",
    "model.format",
    "model.batch_size",
    "model.max_tokens_per_batch",
    "model.query_chunk",
    "model.device",
    "model.devices",
    "model.memory_limit_gb",
    "model.facts",
    "reranker.facts",
)
"""Config keys (and everything below them) left out of the fingerprint: where inputs and outputs live (the data
and model are fingerprinted by content instead), which domains a run selects, logging and report switches,
batch sizes and token budgets, the device, the cache's mode and shard size, the encode stage's sharding, and the
rewritten-query file and its rewriter (the texts they give are in the data hash).
None of them changes a number beyond float rounding; the kernels they lead to are recorded in the summary.
The instruction set and the prompt templates are left out too: the exact prompts they produce for the domain
are fingerprinted instead, so a retriever that takes no instruction (BM25) is not refused over one, and two
instruction sets that give a domain the same prompt give it the same result."""


def _excluded(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in NON_RESULT_KEYS)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (``model.k1``); lists and scalars are leaves."""
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(node, key=str):
            out.update(flatten(node[key], f"{prefix}.{key}" if prefix else str(key)))
        return out if out or not prefix else {prefix: {}}
    return {prefix: node}


def config_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config as dotted keys, less ``NON_RESULT_KEYS``."""
    return {k: v for k, v in flatten(config).items() if not _excluded(k)}


def data_sha256(data: DomainData, *, query_texts: bool = True) -> str:
    """sha256 over what a domain evaluates: query ids, texts and exclusions, document ids and texts, judgments
    and (BRIGHT-Pro) aspects. Any change to them, or to their order, changes it. Without `query_texts`: the
    evaluation a later stage may fuse across (the same corpus, queries and judgments, however the queries were
    worded, e.g. rewritten)."""
    h = hashlib.sha256()

    def put(*parts: str) -> None:
        for part in parts:
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")

    put("queries", str(len(data.queries)))
    for q in data.queries:
        put(q.id, q.text if query_texts else "", *sorted(q.excluded_ids))
    put("documents", str(len(data.documents)) if data.has_corpus else "absent")
    for d in data.documents:
        put(d.id, d.text)
    put("qrels", str(len(data.qrels)))
    for qid in sorted(data.qrels):
        put(qid, *(f"{doc}={grade}" for doc, grade in sorted(data.qrels[qid].items())))
    if data.aspects is not None:
        put("aspects", str(len(data.aspects)))
        for qid in sorted(data.aspects):
            for a in data.aspects[qid]:
                put(qid, a.id, repr(float(a.weight)), *sorted(a.doc_ids))
    return h.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What determined one domain's numbers: config (dotted keys), exact prompts, data hash, model identity."""

    config: dict[str, Any]
    data: str
    model: dict[str, Any]
    prompts: dict[str, str] = field(default_factory=dict)
    numerics: int = NUMERICS
    evaluation: str = ""  # data_sha256(..., query_texts=False): what later stages check their inputs against

    def fields(self) -> dict[str, Any]:
        """Every compared value under one flat, named key (``config.model.k1``, ``data``, ``model.commit``)."""
        out: dict[str, Any] = {"numerics": self.numerics, "data": self.data}
        out.update({f"prompt.{k}": v for k, v in self.prompts.items()})
        out.update({f"config.{k}": v for k, v in self.config.items()})
        out.update({f"model.{k}": v for k, v in flatten(self.model).items()})
        return out

    @property
    def digest(self) -> str:
        payload = json.dumps(self.fields(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FINGERPRINT_VERSION,
            "digest": self.digest,
            "numerics": self.numerics,
            "data_sha256": self.data,
            "evaluation_sha256": self.evaluation,
            "prompts": self.prompts,
            "model": self.model,
            "config": self.config,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Fingerprint | None:
        """The fingerprint a summary holds, or None when it holds none (an older version) or a malformed one."""
        if not isinstance(obj, Mapping) or obj.get("version") != FINGERPRINT_VERSION:
            return None
        config, model, data = obj.get("config"), obj.get("model"), obj.get("data_sha256")
        prompts = obj.get("prompts", {})
        if not isinstance(config, Mapping) or not isinstance(model, Mapping) or not isinstance(data, str):
            return None
        if not isinstance(prompts, Mapping):
            return None
        texts = {str(k): str(v) for k, v in prompts.items()}
        numerics, evaluation = int(obj.get("numerics", 0)), str(obj.get("evaluation_sha256", ""))
        return cls(dict(config), data, dict(model), texts, numerics, evaluation)


def differences(old: Fingerprint | None, new: Fingerprint) -> list[tuple[str, Any, Any]]:
    """(key, old value, new value) for every key whose value differs; a missing key reads as ``<absent>``.

    With no old fingerprint (a summary written by an older version) the one difference is ``fingerprint``.
    """
    if old is None:
        return [("fingerprint", "<none: written by an older version>", new.digest[:12])]
    a, b = old.fields(), new.fields()
    missing = "<absent>"
    return [
        (k, a.get(k, missing), b.get(k, missing)) for k in sorted({*a, *b}) if a.get(k, missing) != b.get(k, missing)
    ]


def describe_value(value: Any, limit: int = 60) -> str:
    """A short printable form of a config value for messages."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.lru_cache(maxsize=1)
def _load_evaluated(dataset_json: str, domain: str) -> tuple[DomainData, str, str | None]:
    from rtriever_eval.data import evaluated_data

    data = evaluated_data(json.loads(dataset_json), domain)
    bare = dataclasses.replace(data, documents=(), has_corpus=False) if data.has_corpus else None
    return data, data_sha256(data, query_texts=False), data_sha256(bare, query_texts=False) if bare else None


def evaluated_data_checked(summary: Any, where: Any) -> DomainData:
    """The queries, judgments and exclusions ``summary``'s result was evaluated on, read again with its recorded
    dataset settings and checked against its fingerprint's evaluation hash (a result made without the corpus
    matches the copy's data without its documents); InputError naming ``where`` when the copy at hand differs.
    The last domain read is kept, so readers that go through results sorted by domain load each once."""
    from rtriever_eval.base.errors import InputError

    dataset = json.dumps(summary.config["dataset"], sort_keys=True, default=str)
    data, full, bare = _load_evaluated(dataset, summary.domain)
    recorded = (summary.fingerprint or {}).get("evaluation_sha256")
    if recorded != full and not (recorded == bare and summary.n_docs is None):
        raise InputError(f"the dataset at {summary.dataset_source} is not what this result was evaluated on (its "
                         "fingerprint's evaluation hash differs): use the data it was run on", path=where)  # fmt: skip
    return data
