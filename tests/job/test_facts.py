"""Model facts in the summaries of the real quickstart: the declared ones of each config, the run's max length,
and MiniLM's dimension as measured from the loaded model agreeing with its card's 384."""

from __future__ import annotations

import json

from tests.conftest import Quickstart


def test_quickstart_summaries_carry_model_facts(quickstart: Quickstart) -> None:
    minilm = json.loads((quickstart.results / "minilm" / "sample" / "biology" / "summary.json").read_text())
    facts = minilm["model_facts"]
    assert facts["similarity"] == "cosine" and facts["parameters"] == 22_713_216 and facts["max_tokens"] == 512
    assert facts["run_max_tokens"] == 256 and facts["embedding_dim"] == facts["embedding_dim_measured"] == 384
    assert facts["training_data_overlap"] is None
    bm25 = json.loads((quickstart.results / "bm25" / "sample" / "biology" / "summary.json").read_text())
    assert bm25["model_facts"]["similarity"] == "bm25" and bm25["model_facts"]["parameters"] == 0
    # facts never enter the fingerprint: they cannot change a number
    assert "model.facts" not in json.dumps(minilm["fingerprint"])
