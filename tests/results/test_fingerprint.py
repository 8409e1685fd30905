"""The fingerprint: what it keeps and leaves out of the config, how two fingerprints differ, its JSON round trip."""

from __future__ import annotations

import dataclasses

from rtriever_eval.base.types import Document, DomainData, Query
from rtriever_eval.results.fingerprint import NON_RESULT_KEYS, Fingerprint, config_fields, data_sha256, differences
from rtriever_eval.settings.hydra import to_settings
from tests.helpers import compose_config


def _fields(*overrides: str) -> dict:
    return config_fields(dataclasses.asdict(to_settings(compose_config(*overrides))))


def test_the_fingerprint_leaves_out_what_cannot_change_a_number() -> None:
    fields = _fields("model=minilm", "paths.results_dir=/x", "model.batch_size=3", "cache.mode=read")
    assert not any(key.split(".")[0] in {"paths", "cache", "shard", "stage", "overwrite"} for key in fields)
    for key in (
        "model.batch_size",
        "model.max_tokens_per_batch",
        "model.device",
        "model.path",
        "dataset.path",
        "instructions",
    ):
        assert key in NON_RESULT_KEYS and key not in fields
    for key in ("model.dtype", "model.max_length", "model.pooling", "top_k", "metrics", "dataset.revision"):
        assert key in fields
    other = _fields("model=minilm", "paths.results_dir=/y", "model.batch_size=9")
    assert other == fields
    a = Fingerprint(fields, "d" * 64, {"weights": {"content_sha256": "1"}})
    b = Fingerprint({**fields, "model.dtype": "bfloat16"}, "d" * 64, {"weights": {"content_sha256": "2"}})
    assert differences(a, a) == []
    assert {k for k, _, _ in differences(a, b)} == {"config.model.dtype", "model.weights.content_sha256"}
    assert Fingerprint.from_json(a.to_json()) == a


def test_the_data_hash_sees_every_id_text_exclusion_and_judgment() -> None:
    base = DomainData(
        "d", "x", (Query("q", "text", frozenset({"e"})),), (Document("a", "A"), Document("b", "B")), {"q": {"a": 1}}
    )
    variants = [
        dataclasses.replace(base, queries=(Query("q", "text!", frozenset({"e"})),)),
        dataclasses.replace(base, queries=(Query("q", "text", frozenset()),)),
        dataclasses.replace(base, documents=(Document("a", "A"), Document("b", "B2"))),
        dataclasses.replace(base, documents=(Document("a", "A"), Document("c", "B"))),
        dataclasses.replace(base, qrels={"q": {"a": 2}}),
        dataclasses.replace(base, qrels={"q": {"b": 1}}),
    ]
    digests = {data_sha256(v) for v in variants}
    assert len(digests) == len(variants) and data_sha256(base) not in digests
    assert data_sha256(dataclasses.replace(base, name="other", source="/elsewhere")) == data_sha256(base)
