"""An instruction ablation's second run, timed against its first: the corpus embeddings come from the cache.

Generates a BEIR folder (default 3,000 synthetic documents of 20-60 words, 50 queries) and runs the real
pipeline twice in this process with all-MiniLM-L6-v2 given a Qwen-style query template: once with
`instructions=web_search`, then with `instructions=none`. Only the query prompt differs, so the second run must
encode no document. Prints both wall times and their ratio (goal: the second run costs at most 5% of the
first). `--cli` also times the same pair as `rtriever-eval` subprocesses (each paying interpreter and import
start-up, a fixed few seconds).

    python benchmarks/ablation_reuse.py [--n-docs 3000] [--cli]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rtriever_eval.job.pipeline import run_evaluation
from rtriever_eval.settings.hydra import CONF_DIR, register_configs
from rtriever_eval.testing import synthetic_words

TEMPLATE = "Instruct: {instruction}\nQuery:"


def make_beir(folder: Path, n_docs: int, n_queries: int, seed: int = 0) -> Path:
    root = folder / "synthetic"
    (root / "qrels").mkdir(parents=True)
    rng = random.Random(seed)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n_docs):
            row = {"_id": f"d{i}", "title": "", "text": synthetic_words(rng.randint(20, 60), seed=seed + i)}
            fh.write(json.dumps(row) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in range(n_queries):
            fh.write(json.dumps({"_id": f"q{q}", "text": synthetic_words(20, seed=10**6 + q)}) + "\n")
    with open(root / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in range(n_queries):
            for d in rng.sample(range(n_docs), 3):
                fh.write(f"q{q}\td{d}\t1\n")
    return root


def overrides(beir: Path, work: Path, instructions: str, run_name: str) -> list[str]:
    return [
        "model=minilm",
        "dataset=beir",
        f"dataset.path={beir}",
        f"instructions={instructions}",
        f"run_name={run_name}",
        f"paths.results_dir={work / 'results'}",
        f"paths.cache_dir={work / 'cache'}",
        "print_report=false",
    ]


def config(args: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=args)
    cfg.model.query_template = TEMPLATE  # minilm takes no instruction by default: give it one to ablate
    return cfg


def timed_pipeline(args: list[str]) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    (outcome,) = run_evaluation(config(args))
    return time.perf_counter() - t0, outcome.summary


def timed_cli(args: list[str], cwd: Path) -> float:
    quoted = "model.query_template='Instruct: {instruction}\\nQuery:'"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "rtriever-eval"), *args, quoted],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=3000)
    parser.add_argument("--n-queries", type=int, default=50)
    parser.add_argument("--cli", action="store_true", help="also time the two runs as rtriever-eval subprocesses")
    args = parser.parse_args()
    register_configs()
    work = Path(tempfile.mkdtemp(prefix="rtriever-ablation-"))
    try:
        beir = make_beir(work, args.n_docs, args.n_queries)
        first_s, first = timed_pipeline(overrides(beir, work / "a", "web_search", "first"))
        second_s, second = timed_pipeline(overrides(beir, work / "a", "none", "second"))
        assert first["query_prompt"] != second["query_prompt"], "the two runs must differ in the query prompt"
        t1, t2 = first["timings"], second["timings"]
        c1, c2 = first["counts"], second["counts"]
        print(f"corpus {args.n_docs} documents, {args.n_queries} queries, all-MiniLM-L6-v2, in-process pipeline")
        print(
            f"  first run  (instructions=web_search): {first_s:7.2f}s  "
            f"documents encoded {int(c1['documents_encoded'])}, corpus encode {t1['encode_corpus_s']:.2f}s"
        )
        print(
            f"  second run (instructions=none):       {second_s:7.2f}s  "
            f"documents encoded {int(c2['documents_encoded'])}, corpus from cache {t2['encode_corpus_s']:.2f}s, "
            f"queries {t2['encode_queries_s']:.2f}s"
        )
        print(f"  second / first = {second_s / first_s:.3f} ({100 * second_s / first_s:.1f}%; goal <= 5%)")
        if args.cli:
            w1 = timed_cli(overrides(beir, work / "b", "web_search", "first"), work)
            w2 = timed_cli(overrides(beir, work / "b", "none", "second"), work)
            print(f"  as rtriever-eval subprocesses: first {w1:.2f}s, second {w2:.2f}s, ratio {w2 / w1:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
