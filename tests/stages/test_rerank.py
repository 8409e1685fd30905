"""Reranking a saved BM25 run of the sample data through the real config, with tiny random models built here (a
BERT cross-encoder, a Qwen3 causal LM with the real Qwen3 tokenizer) and MiniLM: alpha=0 is the first stage's
order, alpha=1 the reranker's (computed independently), the head holds exactly the first stage's top depth, the
tail keeps its order, excluded documents never come back, and a second sweep over alpha runs no model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rtriever_eval.base.trec import ranked, read_run
from rtriever_eval.data.loading import load_domain
from rtriever_eval.settings import DatasetSettings
from rtriever_eval.stages.rerankers.cross_encoder import CrossEncoderReranker
from rtriever_eval.stages.rerankers.llm import LLMReranker
from rtriever_eval.testing import minilm_path, save_tiny_cross_encoder, save_tiny_qwen3_lm
from tests.helpers import evaluate_in_process

DEPTH = 6
# The prompt as the Qwen3-Reranker model cards publish it (Qwen/Qwen3-Reranker-0.6B, -4B, -8B: "Usage",
# transformers): written out here from the card, not taken from the package, so a drift in either shows.
CARD_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
CARD_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
CARD_BODY = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rerank")
    evaluate_in_process("model=bm25", f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}",
                        "print_report=false")  # fmt: skip
    save_tiny_cross_encoder(root / "ce")
    save_tiny_qwen3_lm(root / "lm")
    return root


def _rerank(work: Path, reranker: list[str], *extra: str) -> list:  # type: ignore[type-arg]
    return evaluate_in_process(
        "model=rerank", "model.first_stage=bm25", f"model.depth={DEPTH}", *reranker,
        f"paths.results_dir={work / 'r'}", f"paths.cache_dir={work / 'c'}", "print_report=false", *extra,
    )  # fmt: skip


def _first(work: Path, domain: str) -> dict[str, dict[str, float]]:
    return read_run(work / "r" / "default" / "bm25" / "sample" / domain / "run.trec")


CE = ["reranker=cross_encoder"]


def test_alpha_zero_is_the_first_stage_and_alpha_one_the_cross_encoders_order(work: Path) -> None:
    ce = [*CE, f"reranker.path={work / 'ce'}"]
    zero = _rerank(work, ce, "model.alpha=0.0", "run_name=ce0")
    one = _rerank(work, ce, "model.alpha=1.0", "run_name=ce1", "top_k=6", "metrics=[RR,AP]")
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(work / "ce"))
    dataset = DatasetSettings("sample", "sample", path=str(Path(zero[0].summary.dataset_source)))
    for a, b in zip(zero, one, strict=True):
        first = _first(work, a.domain)
        data = load_domain(dataset, a.domain)
        queries, texts = {q.id: q for q in data.queries}, {d.id: d.text for d in data.documents}
        run_a, run_b = read_run(a.out_dir / "run.trec"), read_run(b.out_dir / "run.trec")
        # every query, each with every first-stage document (alpha=0) or exactly the top depth (top_k = depth)
        assert sorted(run_a) == sorted(queries) == sorted(run_b) and len(queries) == 8
        assert {q: len(d) for q, d in run_a.items()} == {q: len(first[q]) for q in queries}
        assert all(len(d) == min(DEPTH, len(first[q])) for q, d in run_b.items())
        for qid, scores in run_a.items():
            assert [d for d, _ in ranked(scores)] == [d for d, _ in ranked(first[qid])]  # alpha=0: same order
        for qid, scores in run_b.items():
            head = [d for d, _ in ranked(first[qid])][:DEPTH]
            assert sorted(scores) == sorted(head)  # exactly the first stage's top depth (top_k = depth)
            assert not set(scores) & queries[qid].excluded_ids
            independent = model.predict([(queries[qid].text, texts[d]) for d in head])
            pairs = sorted(zip(independent.tolist(), head, strict=True), key=lambda x: (x[0], x[1]), reverse=True)
            expected = [d for _, d in pairs]
            assert [d for d, _ in ranked(scores)] == expected


def test_the_tail_keeps_the_first_stage_order_beneath_the_head(work: Path) -> None:
    (outcome, *_) = _rerank(work, [*CE, f"reranker.path={work / 'ce'}"], "model.alpha=0.5", "run_name=ce5")
    first = _first(work, outcome.domain)
    got = read_run(outcome.out_dir / "run.trec")
    assert sorted(got) == sorted(first) and len(got) == 8  # every query (biology's 8), none lost
    assert {q: len(d) for q, d in got.items()} == {q: len(d) for q, d in first.items()}
    assert any(len(d) > DEPTH for d in got.values())  # there is a tail to keep in order
    for qid, scores in got.items():
        order = [d for d, _ in ranked(scores)]
        original = [d for d, _ in ranked(first[qid])]
        assert sorted(order[:DEPTH]) == sorted(original[:DEPTH]) and order[DEPTH:] == original[DEPTH:]


def test_a_second_sweep_over_alpha_calls_no_model(work: Path) -> None:
    ce = [*CE, f"reranker.path={work / 'ce'}"]
    _rerank(work, ce, "model.alpha=0.3", "run_name=sweep-a")
    loads = CrossEncoderReranker.loads
    outcomes = _rerank(work, ce, "model.alpha=0.7", "model.depth=4", "run_name=sweep-b")
    assert CrossEncoderReranker.loads == loads  # every pair's score came from the cache
    assert all(o.summary.counts["pairs_scored"] == 0 for o in outcomes)


def test_the_llm_reranker_scores_p_yes_of_the_qwen3_format(work: Path) -> None:
    lm = ["reranker=qwen3_reranker_0_6b", f"reranker.path={work / 'lm'}", "reranker.dtype=float32",
          "reranker.max_length=256", "model.alpha=1.0", "domains=[biology]", "top_k=6", "metrics=[RR,AP]",
          "run_name=llm"]  # fmt: skip
    before = LLMReranker.loads
    (outcome,) = _rerank(work, lm)
    assert LLMReranker.loads == before + 1
    summary = json.loads((outcome.out_dir / "summary.json").read_text())
    instruction = "Given a biology post, retrieve relevant passages that help answer the post"
    assert summary["instruction"] == instruction  # the domain's instruction, recorded
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(work / "lm"))
    model = AutoModelForCausalLM.from_pretrained(str(work / "lm"), dtype=torch.float32).eval()
    data = load_domain(DatasetSettings("sample", "sample", path=summary["config"]["dataset"]["path"]), "biology")
    texts = {d.id: d.text for d in data.documents}
    run = read_run(outcome.out_dir / "run.trec")
    assert sorted(run) == sorted(q.id for q in data.queries) and len(run) == 8
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    prefix = tok.encode(CARD_PREFIX, add_special_tokens=False)
    suffix = tok.encode(CARD_SUFFIX, add_special_tokens=False)
    for q in data.queries:  # every query, each pair scored alone as the card does it
        got = run[q.id]
        assert len(got) == DEPTH
        independent = {}
        for doc in got:
            body = CARD_BODY.format(instruction=instruction, query=q.text, doc=texts[doc])
            ids = prefix + tok.encode(body, add_special_tokens=False)[: 256 - len(prefix) - len(suffix)] + suffix
            with torch.inference_mode():
                logits = model(torch.tensor([ids])).logits[0, -1, [no, yes]]
            independent[doc] = float(torch.softmax(logits, dim=-1)[1])
        # alpha=1: the run's scores are P(yes) min-max normalised over the head (batched vs alone: P(yes) agrees
        # within 2e-7, which the normalisation scales by 1 / the head's spread)
        p = np.array([independent[d] for d in got])
        spread = p.max() - p.min()
        np.testing.assert_allclose(np.array([got[d] for d in got]), (p - p.min()) / spread, atol=2e-7 / spread)
        order, truth = [d for d, _ in ranked(got)], [d for d, _ in ranked(independent)]
        gaps = np.diff(sorted(p))
        assert order == truth or gaps.min() < 1e-6  # the same order unless two pairs tie within float noise


def test_a_dense_reranker_rescores_with_minilm_cosines(work: Path) -> None:
    (outcome,) = _rerank(
        work, ["reranker=minilm", "domains=[earth_science]", "top_k=6", "metrics=[RR,AP]", "run_name=mini"]
    )
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm_path()), device="cpu")
    data = load_domain(DatasetSettings("sample", "sample", path=outcome.summary.config["dataset"]["path"]),
                       "earth_science")  # fmt: skip
    texts = {d.id: d.text for d in data.documents}
    q = data.queries[0]
    got = read_run(outcome.out_dir / "run.trec")[q.id]
    cos = st.encode([q.text, *(texts[d] for d in got)], normalize_embeddings=True)
    independent = dict(zip(got, (cos[1:] @ cos[0]).tolist(), strict=True))
    assert [d for d, _ in ranked(got)] == [d for d, _ in ranked(independent)]
