"""Load test: 12 domains x 3 models on generated BRIGHT-format data through the full pipeline, in one process.

Prints wall time per model and the resident memory after every domain, so a leak across domains shows as growth
(RSS after domain 12 should be close to RSS after domain 2). Usage:
    python benchmarks/load_pipeline.py [--total-docs 200000] [--queries 50] [--models bm25,bm25_bright,tiny_qwen3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from rtriever_eval.settings.registry import BRIGHT_DOMAINS

DOMAINS = list(BRIGHT_DOMAINS)


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_dataset(root: Path, total_docs: int, n_queries: int, seed: int = 0) -> None:
    """BRIGHT-layout JSONL: documents of 20-300 random words, queries with 1-3 gold documents each."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(30_000)]
    per = total_docs // len(DOMAINS)
    for config in ("examples", "documents"):
        (root / config).mkdir(parents=True, exist_ok=True)
    for domain in DOMAINS:
        with (root / "documents" / f"{domain}.jsonl").open("w") as fh:
            for i in range(per):
                words = " ".join(rng.choices(vocab, k=rng.randint(20, 300)))
                fh.write(json.dumps({"id": f"{domain}/doc_{i}.txt", "content": words}) + "\n")
        with (root / "examples" / f"{domain}.jsonl").open("w") as fh:
            for q in range(n_queries):
                gold = [f"{domain}/doc_{rng.randrange(per)}.txt" for _ in range(rng.randint(1, 3))]
                fh.write(
                    json.dumps(
                        {
                            "id": str(q),
                            "query": " ".join(rng.choices(vocab, k=rng.randint(10, 80))),
                            "gold_ids": gold,
                            "excluded_ids": ["N/A"],
                            "gold_ids_long": ["N/A"],
                        }
                    )
                    + "\n"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total-docs", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--models", default="bm25,bm25_bright,tiny_qwen3")
    args = ap.parse_args()

    from hydra import compose, initialize_config_dir

    from rtriever_eval.job.pipeline import run_evaluation
    from rtriever_eval.settings.hydra import CONF_DIR, register_configs
    from rtriever_eval.testing import save_tiny_qwen3

    register_configs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_dataset(root / "data", args.total_docs, args.queries)
        print(f"generated {args.total_docs:,} docs in 12 domains in {time.perf_counter() - t0:.1f}s", flush=True)
        tiny = save_tiny_qwen3(root / "tiny", eos_postprocessor=True, with_st_modules=False)
        print(f"{'model':<12} {'domain':<20} {'seconds':>8} {'RSS MiB':>9} {'RssAnon MiB':>12}")
        for model in args.models.split(","):
            overrides = [
                f"dataset.path={root / 'data'}",
                "dataset=bright",
                f"paths.results_dir={root / 'r'}",
                f"paths.cache_dir={root / 'c'}",
                "print_report=false",
            ]
            if model == "tiny_qwen3":
                overrides += [
                    "model=rtriever_4b",
                    f"model.path={tiny}",
                    "model.dtype=float32",
                    "model.max_length=128",
                    "model.batch_size=64",
                    "run_name=tiny_qwen3",
                ]
            else:
                overrides.append(f"model={model}")
            rss_after: list[float] = []
            start = time.perf_counter()
            for domain in DOMAINS:
                t = time.perf_counter()
                with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                    cfg = compose("evaluate", overrides=[*overrides, f"domains=[{domain}]"])
                run_evaluation(cfg)
                rss_after.append(rss_mib())
                print(
                    f"{model:<12} {domain:<20} {time.perf_counter() - t:8.1f} {rss_after[-1]:9.0f} "
                    f"{rss_mib('RssAnon'):12.0f}",
                    flush=True,
                )
            growth = rss_after[-1] - rss_after[1]
            print(
                f"{model}: {time.perf_counter() - start:.1f}s for 12 domains; RSS after domain 2 "
                f"{rss_after[1]:.0f} MiB, after domain 12 {rss_after[-1]:.0f} MiB (growth {growth:+.0f} MiB)",
                flush=True,
            )
        print(f"peak RSS (VmHWM) {rss_mib('VmHWM'):.0f} MiB")
    sys.exit(0)


if __name__ == "__main__":
    main()
