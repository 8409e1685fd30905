"""BRIGHT-Pro domains (hub `yale-nlp/Bright-Pro`, or a local copy): expanded gold sets and weighted reasoning aspects.

Turns the three configs into DomainData with binary qrels and aspect annotations; knows nothing about metrics,
retrieval or results.

What the dataset holds (facts from yale-nlp/Bright-Pro on GitHub, commit b31d5f1a: `bright_pro_data.py`,
`retrieval/run.py`, `agentic_retrieval/scripts_evaluation/judge.py`, `README.md`; from the dataset card on the hub;
and from the earlier echo0715/BRIGHT-PRO `retrieval/README.md`, which used the hub id `ya-ir/BRIGHT-PRO-WITH-ASPECT`):

- Three configs, `examples`, `documents` and `aspects`, each with one split per domain. The domains are BRIGHT's 7
  StackExchange domains (biology, earth_science, economics, psychology, robotics, stackoverflow,
  sustainable_living). On the hub each split is `<config>/<domain>.parquet`. The reference scripts' offline mirror
  uses `<root>/<config>/<domain>.json` (one JSON array per file) instead.
- `examples`: `id` (the BRIGHT query id, "0", "1", ...), `query`, `gold_ids` (the expert-expanded gold set),
  `reference_answer`. BRIGHT's `gold_ids_long` was dropped (it equalled `gold_ids`), and so was `excluded_ids`
  (always empty). Relevance is binary: every listed gold id counts 1.
- `documents`: `id`, `content`. New passages have ids like `biology-0/extraction_0.txt`; BRIGHT's passages keep
  their ids.
- `aspects`: `id` of the form `<domain>-<query id>-a<k>` (older exports: `<domain>-<query id>-aspect-<k>`),
  `content` (the aspect stated as one sentence), `weight` (importance, an integer 1-3) and `supporting_docs` (the
  gold documents that establish the aspect). The reference scripts take a document's aspect from these lists, not
  from any field of the documents table. The metric scripts assume each gold passage supports exactly one aspect.
  Totals quoted from the paper by third-party summaries, not checked here: 739 queries, 2,763 aspects, 5,272 gold
  passages, 526,319 documents.
- Revisions. A mirror of the dataset card shows the initial upload as commit `dbdc22b` (short form only). The
  reference code loads the hub without a revision. No full commit hash could be confirmed, so
  `conf/dataset/bright_pro.yaml` leaves `revision` null and the loader warns on every hub load. Set
  `dataset.revision=<commit>` for numbers you mean to compare or publish.

Choices made here:
- An aspect is assigned to its query by its `query_id` field when a row has one. Otherwise the query is read from
  the aspect id, as the reference judge script does. An aspect naming a query that the examples lack is an error.
- Supporting documents that are not among their query's gold ids are dropped, with a warning. The reference
  α-nDCG script ignores non-gold documents in the same way.
- A document that supports several aspects of one query counts for each of them, and a warning says so. The
  reference scripts keep only the aspect read last.
- `excluded_ids` is honoured when a row has it, as for BRIGHT.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.types import Aspect, AspectAnnotations, DomainData, Query
from rtriever_eval.data.bright import Rows, find_split_file, has_file, hub_rows, read_documents, read_examples
from rtriever_eval.data.records import get_id, get_id_list, get_text, iter_rows

log = logging.getLogger(__name__)

CONFIGS = ("examples", "documents", "aspects")

_ASPECT_ID = re.compile(r"(?P<stem>.+)-(?:a|aspect-)(?P<k>[0-9]+)\Z")


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (position from 1, object) of a file holding one JSON array of objects (the reference's mirror)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot open file: {exc.strerror}", path=path) from None
    except UnicodeDecodeError:
        raise InputError("file is not valid UTF-8", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=exc.lineno) from None
    if not isinstance(data, list):
        raise InputError(f"expected a JSON array of objects, got {type(data).__name__}", path=path)
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise InputError(f"array element {i}: expected a JSON object, got {type(obj).__name__}", path=path)
        yield i, obj


def find_pro_file(root: Path, config: str, domain: str) -> Path:
    """`domain` of `config` under `root`: a parquet shard or jsonl (as for BRIGHT), else `<domain>.json`."""
    try:
        return find_split_file(root, config, domain)
    except ConfigError:
        fallback = root / config / f"{domain}.json"
        if fallback.is_file():
            return fallback
        raise ConfigError(
            f"no file for domain '{domain}' in {root / config} (looked for {domain}-*.parquet, {domain}.parquet, "
            f"{domain}.jsonl, {domain}.json)",
            path=root / config,
        ) from None


def _local(root: Path, config: str, domain: str) -> tuple[Path, Rows]:
    path = find_pro_file(root, config, domain)
    return path, (_iter_json_array(path) if path.suffix == ".json" else iter_rows(path))


def _weight(row: Mapping[str, Any], path: Path, line: int) -> float:
    if "weight" not in row or row["weight"] is None:
        raise InputError("missing required field", path=path, line=line, field="weight")
    value = row["weight"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"expected a number, got {type(value).__name__}", path=path, line=line, field="weight")
    weight = float(value)
    if not math.isfinite(weight) or weight <= 0:
        raise InputError(f"weight must be a positive number, got {value!r}", path=path, line=line, field="weight")
    return weight


def _query_of(row: Mapping[str, Any], aid: str, domain: str, path: Path, line: int) -> tuple[str, str]:
    """(query id, field it came from) for an aspect row."""
    if row.get("query_id") is not None:
        return get_id(row, "query_id", path, line), "query_id"
    match = _ASPECT_ID.match(aid)
    prefix = f"{domain}-"
    if match is None or not match.group("stem").startswith(prefix) or match.group("stem") == prefix:
        raise InputError(
            f"aspect id {aid!r} does not name its query: expected '{domain}-<query id>-a<k>' (or "
            f"'{domain}-<query id>-aspect-<k>'), or a 'query_id' field",
            path=path,
            line=line,
            field="id",
        )
    return match.group("stem")[len(prefix) :], "id"


def _read_aspects(
    path: Path, rows: Rows, *, domain: str, queries: tuple[Query, ...], qrels: Mapping[str, Mapping[str, int]]
) -> AspectAnnotations:
    known = {q.id for q in queries}
    per_query: dict[str, list[Aspect]] = {q.id: [] for q in queries}
    seen: dict[str, int] = {}
    dropped = 0
    for line, row in rows:
        aid = get_id(row, "id", path, line)
        if aid in seen:
            raise InputError(
                f"duplicate aspect id {aid!r} (first seen on line {seen[aid]})", path=path, line=line, field="id"
            )
        seen[aid] = line
        qid, where = _query_of(row, aid, domain, path, line)
        if qid not in known:
            raise InputError(
                f"aspect {aid!r} belongs to query {qid!r}, which is not in the examples",
                path=path,
                line=line,
                field=where,
            )
        weight = _weight(row, path, line)
        supporting = get_id_list(row, "supporting_docs", path, line)
        gold = qrels.get(qid, {})
        kept = frozenset(d for d in supporting if d in gold)
        dropped += len(supporting) - len(kept)
        per_query[qid].append(Aspect(aid, weight, kept, get_text(row, "content", path, line, required=False)))
    if dropped:
        log.warning(
            "%s: %d supporting documents are not gold for their query and are ignored by the aspect metrics",
            path,
            dropped,
        )
    shared = sum(
        1
        for aspects in per_query.values()
        for doc in {d for a in aspects for d in a.doc_ids}
        if sum(doc in a.doc_ids for a in aspects) > 1
    )
    if shared:
        log.warning(
            "%s: %d documents support more than one aspect of the same query; each counts for all of its aspects "
            "(BRIGHT-Pro's scripts keep one aspect per document)",
            path,
            shared,
        )
    uncovered = sum(
        1 for qid, docs in qrels.items() for d in docs if not any(d in a.doc_ids for a in per_query.get(qid, []))
    )
    if uncovered:
        log.info("%s: %d gold documents support no aspect (they count for the standard metrics only)", path, uncovered)
    return {qid: tuple(aspects) for qid, aspects in per_query.items()}


def load_bright_pro_domain(
    domain: str,
    *,
    path: str | None,
    hub_id: str | None,
    revision: str | None,
    dataset_name: str = "bright_pro",
    corpus_optional: bool = False,
) -> DomainData:
    """Load one BRIGHT-Pro domain: queries, corpus, binary qrels from `gold_ids`, exclusions and aspects.

    Args:
        domain: split name, e.g. "biology".
        path: local copy (`examples/`, `documents/`, `aspects/` holding parquet, jsonl or json files); when None
            the hub is used.
        hub_id, revision: hub dataset id and commit. A hub load without a revision warns: results then depend on
            whatever the dataset's main branch holds that day.
        corpus_optional: a local copy without the domain's documents gives queries, judgments and aspects alone.
    """
    if path is not None:
        root = Path(path)
        if not root.is_dir():
            raise ConfigError("dataset folder does not exist", path=root, field="dataset.path")
        keep_docs = not corpus_optional or has_file(root, "documents", domain, find_pro_file)
        configs = [c for c in CONFIGS if c != "documents" or keep_docs]
        sources = {config: _local(root, config, domain) for config in configs}
        source = str(root)
    else:
        if not hub_id:
            raise ConfigError("neither dataset.path nor dataset.hub_id is set", field="dataset.path")
        if not revision:
            log.warning(
                "%s: no dataset.revision set, loading the hub's current main branch; pin dataset.revision=<commit> "
                "for results you mean to compare or publish",
                hub_id,
            )
        sources = {config: hub_rows(hub_id, config, domain, revision) for config in CONFIGS}
        source = f"hf://{hub_id}@{revision or 'main'}"
    has_corpus = "documents" in sources
    documents = read_documents(*sources["documents"]) if has_corpus else ()
    ex_path, ex_rows = sources["examples"]
    queries, qrels = read_examples(ex_path, ex_rows, query_field="query", gold_field="gold_ids",
                                   doc_ids={d.id for d in documents} if has_corpus else None)  # fmt: skip
    asp_path, asp_rows = sources["aspects"]
    aspects = _read_aspects(asp_path, asp_rows, domain=domain, queries=queries, qrels=qrels)
    n_aspects = sum(len(a) for a in aspects.values())
    log.info(
        "%s/%s: %d queries (%d judged), %d documents, %d aspects",
        dataset_name,
        domain,
        len(queries),
        len(qrels),
        len(documents),
        n_aspects,
    )
    return DomainData(
        name=domain,
        dataset=dataset_name,
        queries=queries,
        documents=documents,
        qrels=qrels,
        revision=revision,
        source=source,
        extra={"query_source": "examples", "query_field": "query", "corpus": "documents" if has_corpus else "absent",
               "aspects": str(n_aspects)},
        aspects=aspects,
        has_corpus=has_corpus,
    )  # fmt: skip
