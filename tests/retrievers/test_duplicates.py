"""Duplicate documents tie exactly: every retriever gives a text and its copies bit-identical scores, so the
copies are ordered by trec_eval's rule (doc id descending), never by rounding noise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rtriever_eval.base.types import Document, DomainData
from rtriever_eval.data.loading import load_domain
from rtriever_eval.job.build import build_retriever
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.settings import BM25Settings, CacheSettings, DatasetSettings, DenseSettings, ModelSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.testing import minilm_path

SAMPLE = DatasetSettings("sample", "sample", path=str(PACKAGE_DIR / "data" / "sample"))


@pytest.fixture(scope="module")
def with_copies() -> tuple[DomainData, dict[str, str]]:
    """Biology plus a copy of every document under a new id, the copies in reverse order (so that each copy
    lands in another encoder batch than its original), and one document copied three times."""
    data = load_domain(SAMPLE, "biology")
    docs = list(data.documents)
    copies = [Document(f"copy-{i:03d}", d.text) for i, d in enumerate(reversed(docs))]
    triples = [Document(f"zz-{k}", docs[5].text) for k in range(3)]
    original_of = {c.id: d.id for c, d in zip(copies, reversed(docs), strict=True)}
    original_of.update({t.id: docs[5].id for t in triples})
    return dataclasses.replace(data, documents=tuple([*docs, *copies, *triples])), original_of


MODELS: dict[str, ModelSettings] = {
    "bm25": BM25Settings(name="bm25", flavour="lucene"),
    "bm25_bright": BM25Settings(name="bm25_bright", flavour="bright"),
    "minilm": DenseSettings(
        name="minilm",
        path=str(minilm_path()),
        max_length=256,
        batch_size=16,
        max_tokens_per_batch=1024,
        pooling="mean",
        padding_side="right",
        query_template=None,
        device="cpu",
    ),
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_copies_score_exactly_like_their_original(
    with_copies: tuple[DomainData, dict[str, str]], model: str, tmp_path: Path
) -> None:
    data, original_of = with_copies
    retriever = build_retriever(MODELS[model], cache_dir=str(tmp_path), cache=CacheSettings(mode="off"))
    outcome = retriever.search(data, Prompts(None, "", ""), len(data.documents))
    pairs = 0
    for ranked in outcome.ranked:
        scores = dict(ranked)
        position = {d: i for i, (d, _) in enumerate(ranked)}
        for copy, original in original_of.items():
            if copy in scores and original in scores:
                assert scores[copy] == scores[original], (copy, original)
                # equal scores: the larger id first (every "copy-"/"zz-" id sorts above "biology/..." ones)
                assert position[copy] < position[original]
                pairs += 1
    assert pairs >= len(original_of) * len(outcome.ranked) // 2
    if model == "minilm":
        assert outcome.counts["distinct_documents"] == len({d.text for d in data.documents})
        assert outcome.counts["documents"] == len(data.documents)
