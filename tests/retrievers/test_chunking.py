"""Chunk-max scoring's parts against hand-computed truth: windows cut from the real MiniLM tokenizer's offsets,
document scores from chunk scores, and the exact top-k with duplicates tied and exclusions at document level."""

from __future__ import annotations

import numpy as np
import pytest

from rtriever_eval.cache import ShardedMatrix
from rtriever_eval.retrievers.chunking import aggregate, chunk_documents, rank_chunked, tokenizer_offsets, window_budget
from rtriever_eval.testing import minilm_path, synthetic_words


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path()))


def test_a_text_that_fits_is_its_own_chunk_verbatim(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = "  Tardigrades survive drying out.\n"
    chunks = chunk_documents([text], tokenizer_offsets(tokenizer), window=16, overlap=4, max_chunks=8)
    assert chunks.texts == [text] and chunks.ptr.tolist() == [0, 1] and chunks.n_split == 0


def test_windows_cover_the_text_with_the_overlap_asked(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(f"w{i}" for i in range(100))  # "w12" is two word pieces: count with the tokenizer itself
    spans = tokenizer_offsets(tokenizer)(text)
    chunks = chunk_documents([text], tokenizer_offsets(tokenizer), window=30, overlap=10, max_chunks=100)
    n = len(spans)
    expected = [(a, min(a + 30, n)) for a in range(0, n - 10, 20)]
    assert [text[(0 if a == 0 else spans[a][0]) : spans[b - 1][1]] for a, b in expected] == chunks.texts
    assert chunks.texts[-1].endswith("w99") and chunks.n_split == 1 and chunks.n_capped == 0
    for piece in chunks.texts:
        assert len(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= 30


def test_capped_documents_are_tokenised_from_a_prefix_with_the_same_windows(tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = synthetic_words(60_000, seed=3)  # about 400k characters
    seen: list[int] = []
    full = tokenizer_offsets(tokenizer)

    def counting(t: str):  # type: ignore[no-untyped-def]
        seen.append(len(t))
        return full(t)

    chunks = chunk_documents([text], counting, window=50, overlap=0, max_chunks=4)
    assert max(seen) < len(text) // 10  # a 400k-character text never tokenised whole
    spans = full(text)
    assert chunks.texts == [text[(0 if a == 0 else spans[a][0]) : spans[a + 49][1]] for a in (0, 50, 100, 150)]
    assert chunks.n_capped == 1


def test_window_budget_leaves_room_for_prompt_and_specials(tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert window_budget(tokenizer, 64, "", append_eos=False) == 62  # [CLS] ... [SEP]
    assert window_budget(tokenizer, 64, "passage: ", append_eos=True) == 64 - 2 - 1 - 2


def test_aggregate_max_and_mean_top_k_by_hand() -> None:
    scores = np.array([[0.1, 0.9, 0.4, 0.3, 0.8]], dtype=np.float32)
    rows = np.array([0, 1, 2, 3, 4, 2])  # doc 0: rows 0,1,2 ; doc 1: row 3 ; doc 2: rows 4, 2
    ptr = np.array([0, 3, 4, 6])
    assert aggregate(scores, rows, ptr, "max", 1).tolist() == [[np.float32(0.9), np.float32(0.3), np.float32(0.8)]]
    got = aggregate(scores, rows, ptr, "mean_top_k", 2)[0]
    np.testing.assert_allclose(got, [(0.9 + 0.4) / 2, 0.3, (0.8 + 0.4) / 2], rtol=1e-6)


def test_rank_chunked_ties_duplicates_and_excludes_documents() -> None:
    rng = np.random.default_rng(0)
    chunk_vecs = rng.standard_normal((6, 8)).astype(np.float32)
    queries = rng.standard_normal((2, 8)).astype(np.float32)
    # docs a and c hold the same chunks (duplicate texts); b one chunk; d two
    doc_ids = ["a", "b", "c", "d"]
    rows = np.array([0, 1, 2, 0, 1, 3, 4])
    ptr = np.array([0, 2, 3, 5, 7])
    matrix = ShardedMatrix([chunk_vecs[:3], chunk_vecs[3:]])
    ranked = rank_chunked(queries, matrix, doc_ids, rows, ptr, 4, [frozenset(), frozenset({"d"})])
    full = queries @ chunk_vecs.T
    for qi, result in enumerate(ranked):
        doc_scores = {"a": full[qi, [0, 1]].max(), "b": full[qi, 2], "c": full[qi, [0, 1]].max(),
                      "d": full[qi, [3, 4]].max()}  # fmt: skip
        if qi == 1:
            del doc_scores["d"]
        expected = sorted(doc_scores, key=lambda d: (-doc_scores[d], [-ord(ch) for ch in d]))
        assert [d for d, _ in result] == expected
        got = dict(result)
        assert got["a"] == got["c"]  # duplicates tie bit for bit, then trec_eval's order: id descending
        assert [d for d in expected if d in ("a", "c")] == ["c", "a"]
        np.testing.assert_allclose([got[d] for d in expected], [doc_scores[d] for d in expected], rtol=1e-6)
