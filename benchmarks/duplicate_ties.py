"""Do duplicate documents tie? Encode a corpus with copies both ways and count score pairs that differ.

A corpus of N generated documents plus C copies of some of them under new ids (the copies in reverse order, so
each lands in another batch than its original), all-MiniLM-L6-v2 in fp32 on the CPU:
  - per position: every document encoded where it stands (what the harness did before distinct texts), the
    scores q . d computed with one matrix product;
  - harness: DenseRetriever (each distinct text encoded once, each (query, text) score computed once).
Prints, for both, how many (query, original, copy) pairs get different scores, side by side in one run.

    python benchmarks/duplicate_ties.py                 # 1,500 documents + 400 copies, 50 queries
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from rtriever_eval.base.types import Document, DomainData, Query
from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.retrievers.dense import DenseRetriever
from rtriever_eval.testing import minilm_path, synthetic_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=1500)
    parser.add_argument("--n-copies", type=int, default=400)
    parser.add_argument("--n-queries", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(0)
    docs = [Document(f"d{i:05d}", synthetic_words(rng.randrange(20, 220), seed=i)) for i in range(args.n_docs)]
    sources = rng.sample(range(args.n_docs), args.n_copies)
    copies = [Document(f"c{k:05d}", docs[i].text) for k, i in enumerate(reversed(sources))]
    original = {c.id: docs[i].id for c, i in zip(copies, reversed(sources), strict=True)}
    corpus = [*docs, *copies]
    queries = [Query(f"q{j}", synthetic_words(12, seed=10_000 + j)) for j in range(args.n_queries)]
    settings = EncoderSettings(
        path=str(minilm_path()),
        max_length=256,
        batch_size=64,
        max_tokens_per_batch=4096,
        pooling="mean",
        padding_side="right",
        device="cpu",
    )
    encoder = HFEncoder(settings)

    t0 = time.perf_counter()
    d = encoder.encode([x.text for x in corpus], is_query=False, show_progress=False)
    q = encoder.encode([x.text for x in queries], is_query=True, show_progress=False)
    scores = q @ d.T
    per_position_s = time.perf_counter() - t0
    pos = {x.id: i for i, x in enumerate(corpus)}
    pairs = len(queries) * len(original)
    unequal_before = sum(
        int(scores[j, pos[c]] != scores[j, pos[o]]) for j in range(len(queries)) for c, o in original.items()
    )

    data = DomainData("dups", "synthetic", tuple(queries), tuple(corpus), {x.id: {"d00000": 1} for x in queries})
    model = {
        "name": "minilm",
        "kind": "dense",
        "path": str(minilm_path()),
        "dtype": "float32",
        "max_length": 256,
        "batch_size": 64,
        "max_tokens_per_batch": 4096,
        "pooling": "mean",
        "padding_side": "right",
        "query_template": None,
        "device": "cpu",
    }
    t0 = time.perf_counter()
    outcome = DenseRetriever(model, cache_dir=None, cache_mode="off", encoder=encoder).search(data, "", len(corpus))
    harness_s = time.perf_counter() - t0
    unequal_after = 0
    for ranked in outcome.ranked:
        got = dict(ranked)
        unequal_after += sum(int(got[c] != got[o]) for c, o in original.items())
    print(f"corpus {len(docs)} documents + {len(copies)} copies, {len(queries)} queries, MiniLM fp32 on CPU")
    print(
        f"  per position : {unequal_before:5d} of {pairs} (query, original, copy) pairs differ  ({per_position_s:.1f}s)"
    )
    print(
        f"  harness      : {unequal_after:5d} of {pairs} pairs differ; {outcome.counts['distinct_documents']} "
        f"distinct texts encoded for {outcome.counts['documents']} documents  ({harness_s:.1f}s)"
    )
    gaps = np.abs(scores[:, [pos[c] for c in original]] - scores[:, [pos[o] for o in original.values()]])
    print(f"  largest |score gap| per position: {float(gaps.max()):.2e}")


if __name__ == "__main__":
    main()
