"""CI-sized candidate subsets against the full corpus, and how far dense scores move with the CPU thread count.

Generates a BRIGHT-shaped local copy (12 domains, BRIGHT's counts x --scale) and runs all-MiniLM-L6-v2 through
the real `rtriever-eval` three times, each with its own cache: the full corpus on 2 threads, the candidate subset
(--max-docs, default 10,000 x scale, BRIGHT's 10k budget scaled alike) on 2 threads, and the full corpus on one
thread. Prints the subset sizes, the subset/full wall-time ratio, and the largest per-domain change of each
metric between 1 and 2 threads (what the gate's tolerance must absorb on CPU). Then the same thread comparison
on the shipped sample data.

    python benchmarks/subset_gate.py [--scale 0.05] [--query-scale 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtriever_eval.data.synthetic import write_bright_copy

BIN = Path(sys.executable).parent


def run(work: Path, name: str, threads: int, *overrides: str) -> tuple[float, dict[str, dict[str, float]]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}  # fmt: skip
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "rtriever-eval"), "model=minilm", f"run_name={name}", "print_report=false",
         f"paths.results_dir={work / 'results'}", f"paths.cache_dir={work / ('cache_' + name)}", *overrides],
        check=True, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    metrics = {}
    for path in sorted((work / "results" / "default" / name).glob("*/*/summary.json")):
        summary = json.loads(path.read_text())
        metrics[summary["domain"]] = summary["metrics"] | {"_docs": summary["n_docs"], "_subset": summary["subset"]}
    return elapsed, metrics


def max_deltas(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    for domain in a:
        for metric, value in a[domain].items():
            if metric.startswith("_"):
                continue
            delta = abs(value - b[domain][metric])
            if delta >= out.get(metric, (-1.0, ""))[0]:
                out[metric] = (delta, domain)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--query-scale", type=float, default=0.5)
    parser.add_argument("--max-docs", type=int, default=None)
    args = parser.parse_args()
    cap = args.max_docs or max(50, round(10_000 * args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stats = write_bright_copy(work / "bright", scale=args.scale, query_scale=args.query_scale)
        data = [f"dataset.path={work / 'bright'}", "dataset=bright"]
        print(f"BRIGHT-shaped copy: {sum(s['documents'] for s in stats.values()):,} documents, "
              f"{sum(s['queries'] for s in stats.values()):,} queries (scale {args.scale})")  # fmt: skip
        t_full, full = run(work, "full_t2", 2, *data)
        t_sub, sub = run(
            work, "subset_t2", 2, *data, "dataset.subset=candidates", f"dataset.subset_max_documents={cap}"
        )
        t_one, one = run(work, "full_t1", 1, *data)
        print(f"\nsubset (dataset.subset=candidates, at most {cap} documents per domain):")
        for domain, m in sub.items():
            info = m["_subset"]
            print(f"  {domain:22s} {info['documents']:>6,} of {info['full_documents']:>7,} documents "
                  f"(gold {info['gold_documents']}, BM25 depth {info['depth']})")  # fmt: skip
        n_sub = sum(m["_docs"] for m in sub.values())
        n_full = sum(m["_docs"] for m in full.values())
        print(f"  total {n_sub:,} of {n_full:,} documents ({n_sub / n_full:.3f})")
        print(f"\nwall time, MiniLM on CPU (2 threads): full {t_full:.1f} s, subset {t_sub:.1f} s, "
              f"ratio subset/full {t_sub / t_full:.3f}")  # fmt: skip
        mean = lambda ms, k: sum(m[k] for m in ms.values()) / len(ms)  # noqa: E731
        print(f"mean nDCG@10: full {mean(full, 'nDCG@10'):.4f}, subset {mean(sub, 'nDCG@10'):.4f} (the subset's bias)")
        print(f"\nfull corpus, 1 vs 2 threads ({t_one:.1f} s vs {t_full:.1f} s): largest per-domain change")
        for metric, (delta, domain) in max_deltas(full, one).items():
            print(f"  {metric:8s} {delta:.6f} ({domain})")
        _, s2 = run(work, "sample_t2", 2, "dataset=sample")
        _, s1 = run(work, "sample_t1", 1, "dataset=sample")
        print("\nshipped sample, 1 vs 2 threads: largest per-domain change")
        for metric, (delta, domain) in max_deltas(s2, s1).items():
            print(f"  {metric:8s} {delta:.6f} ({domain})")


if __name__ == "__main__":
    main()
