"""Wall time of the multi-stage runs per 1,000 queries, and what the reranker-score cache saves.

A generated BEIR folder (N documents, Q queries), BM25 and BRIGHT's BM25 as first stages, then in one process
and side by side: RRF of the two; reranking BM25's top DEPTH with a tiny random BERT cross-encoder (first run:
every pair scored; second run, another alpha: every pair from the cache).

    python benchmarks/stages.py                   # 3,000 documents, 1,000 queries, depth 100
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from rtriever_eval.job.pipeline import run_evaluation
from rtriever_eval.settings.hydra import CONF_DIR, register_configs
from rtriever_eval.testing import save_tiny_cross_encoder, synthetic_words


def make_beir(root: Path, n_docs: int, n_queries: int) -> Path:
    rng = random.Random(0)
    folder = root / "synthetic"
    (folder / "qrels").mkdir(parents=True)
    docs = [synthetic_words(rng.randrange(40, 200), seed=i, vocabulary=3000) for i in range(n_docs)]
    with (folder / "corpus.jsonl").open("w") as fh:
        for i, text in enumerate(docs):
            fh.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
    qrels = ["query-id\tcorpus-id\tscore"]
    with (folder / "queries.jsonl").open("w") as fh:
        for j in range(n_queries):
            gold = rng.randrange(n_docs)
            words = docs[gold].split()
            fh.write(json.dumps({"_id": f"q{j}", "text": " ".join(rng.sample(words, min(8, len(words))))}) + "\n")
            qrels.append(f"q{j}\td{gold}\t1")
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return folder


def run(*overrides: str) -> float:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=list(overrides))
    t0 = time.perf_counter()
    run_evaluation(cfg)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=3000)
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtriever-stages-"))
    try:
        beir = make_beir(work, args.n_docs, args.n_queries)
        ce = save_tiny_cross_encoder(work / "ce")
        common = ["dataset=beir", f"dataset.path={beir}", f"paths.results_dir={work / 'r'}",
                  f"paths.cache_dir={work / 'c'}", "print_report=false"]  # fmt: skip
        first = {m: run(f"model={m}", *common) for m in ("bm25", "bm25_bright")}
        fusion = run("model=fusion", "model.inputs=[bm25,bm25_bright]", *common)
        rerank = ["model=rerank", "model.first_stage=bm25", f"model.depth={args.depth}", "reranker=cross_encoder",
                  f"reranker.path={ce}", *common]  # fmt: skip
        cold = run(*rerank, "model.alpha=1.0", "run_name=rerank-a1")
        warm = run(*rerank, "model.alpha=0.5", "run_name=rerank-a05")
        per_k = 1000 / args.n_queries
        pairs = args.n_queries * args.depth
        print(f"{args.n_docs} documents, {args.n_queries} queries; first stages: bm25 {first['bm25']:.1f}s, "
              f"bm25_bright {first['bm25_bright']:.1f}s")  # fmt: skip
        print(f"  RRF of 2 runs:                     {fusion:6.2f}s  ({fusion * per_k:.2f}s per 1,000 queries)")
        print(f"  rerank top {args.depth}, all {pairs:,} pairs scored: {cold:6.2f}s  ({cold * per_k:.2f}s per 1,000)")
        print(
            f"  rerank again, other alpha (cached): {warm:6.2f}s  ({warm * per_k:.2f}s per 1,000; "
            f"{warm / cold:.1%} of the first)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
