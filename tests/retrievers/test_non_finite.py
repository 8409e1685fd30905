"""Non-finite vectors never enter the cache: a tiny Qwen3 whose float16 forward overflows (the real-world cause)
and a wrapped encoder that poisons one query stop the run at that shard with a message naming the domain, side,
ids and the way out; nothing of the shard is written. A NaN met at search time is the same kind of message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.cache import EmbeddingCache
from rtriever_eval.data.loading import load_domain
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.retrievers.dense import DenseRetriever
from rtriever_eval.settings import DatasetSettings, DenseSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.testing import save_tiny_qwen3
from tests.helpers import evaluate_in_process


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen3(tmp_path_factory.mktemp("ov"), eos_postprocessor=True, with_st_modules=False,
                           fp16_overflow=True)  # fmt: skip


def _eval(model: Path, tmp_path: Path, dtype: str) -> Any:
    return evaluate_in_process(
        "model=qwen3_embedding_0_6b", f"model.path={model}", f"model.dtype={dtype}", "model.max_length=128",
        "domains=[biology]", "cache.shard_size=16", f"paths.results_dir={tmp_path / 'r'}",
        f"paths.cache_dir={tmp_path / 'c'}", "print_report=false",
    )  # fmt: skip


def test_a_float16_overflow_stops_at_the_first_shard_and_writes_nothing(overflowing: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        _eval(overflowing, tmp_path, "float16")
    message = str(caught.value)
    assert "sample/biology documents" in message and "NaN or inf for 16 of the 16 documents of shard 0" in message
    assert "biology/allium_sulfur_chemistry_0.txt" in message  # the corpus's first document
    assert "model.dtype=bfloat16" in message and caught.value.field == "model.dtype"
    (entry,) = (tmp_path / "c" / "embeddings").iterdir()
    assert sorted(p.name for p in entry.iterdir() if not p.name.startswith(".")) == ["manifest.json"]
    assert json.loads((entry / "manifest.json").read_text())["shards"] == []
    assert not list((tmp_path / "r").rglob("summary.json"))
    # the way out works: the same weights in bfloat16 stay finite
    (outcome,) = _eval(overflowing, tmp_path / "bf16", "bfloat16")
    assert outcome.summary.metrics["nDCG@10"] >= 0.0


class Poisoned:
    """An encoder that returns NaN for one text (as a half-broken kernel would) and is the tiny model otherwise."""

    def __init__(self, inner: Any, text: str) -> None:
        self.inner, self.text = inner, text

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, texts: Any, prompt: str = "", *, is_query: bool, show_progress: bool = True) -> np.ndarray:
        rows = np.array(self.inner.encode(texts, prompt, is_query=is_query, show_progress=False))
        rows[[i for i, t in enumerate(texts) if t == self.text], 0] = np.nan
        return rows


def test_a_poisoned_query_names_its_id_and_leaves_the_query_entry_empty(tmp_path: Path) -> None:
    from rtriever_eval.testing import minilm_path

    settings = DenseSettings(name="minilm", path=str(minilm_path()), pooling="mean", padding_side="right",
                             query_template=None, max_length=128)  # fmt: skip
    data = load_domain(DatasetSettings("sample", "sample", path=str(PACKAGE_DIR / "data" / "sample")), "leetcode")
    victim = data.queries[3]
    plain = DenseRetriever(settings, cache_dir=tmp_path)
    retriever = DenseRetriever(settings, cache_dir=tmp_path, encoder=Poisoned(plain.encoder, victim.text))
    with pytest.raises(InputError, match=rf"sample/leetcode queries: .*1 of the 8 queries .*first ids: {victim.id}\)"):
        retriever.search(data, Prompts(None, "", ""), 10)
    entries = {json.loads((e.folder / "manifest.json").read_text())["info"]["side"]: e
               for e in EmbeddingCache(tmp_path, "read").entries()}  # fmt: skip
    assert entries["documents"].complete  # the documents were fine and are cached
    assert entries["queries"].done_shards() == set()  # the poisoned shard was never written


def test_a_nan_met_at_search_time_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """Vectors cached before this harness checked them (written here by hand, checksum and all) hold a NaN."""
    from rtriever_eval.base.checksum import digest_bytes
    from rtriever_eval.testing import minilm_path

    settings = DenseSettings(name="minilm", path=str(minilm_path()), pooling="mean", padding_side="right",
                             query_template=None, max_length=128)  # fmt: skip
    data = load_domain(DatasetSettings("sample", "sample", path=str(PACKAGE_DIR / "data" / "sample")), "leetcode")
    retriever = DenseRetriever(settings, cache_dir=tmp_path)
    retriever.search(data, Prompts(None, "", ""), 10)
    entries = EmbeddingCache(tmp_path, "readwrite").entries()
    entry = next(e for e in entries if e.manifest["info"]["side"] == "documents")
    shard = entry.folder / "shard-00000.npy"
    rows = np.load(shard)
    rows[5, :] = np.nan
    np.save(shard, rows)
    record = json.loads((entry.folder / "shard-00000.json").read_text())
    record["checksum"] = digest_bytes(shard.read_bytes())
    (entry.folder / "shard-00000.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"scores document .* as NaN: some cached vectors are not finite"):
        DenseRetriever(settings, cache_dir=tmp_path).search(data, Prompts(None, "", ""), 10)
