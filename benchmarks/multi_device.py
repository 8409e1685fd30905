"""Encoding on several devices (model.devices): one worker per device against one worker, side by side in one run.

Generates a BEIR folder of synthetic documents and runs the real pipeline with all-MiniLM-L6-v2: once with
`model.devices=[cpu]`-equivalent one worker (model.devices unset, torch on --threads threads), then with
`model.devices=[cpu,cpu,...]` (--workers processes, each on threads/workers threads), each with a fresh cache.
Prints both encode wall times, the speed-up and its ratio to the worker count, and checks that the run files
are identical. On a GPU node pass --devices 0,1,2,3 to compare one GPU with all of them.

    python benchmarks/multi_device.py [--n-docs 6000] [--workers 2] [--threads 2] [--devices cpu,cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_reuse import make_beir

from rtriever_eval.settings.hydra import CONF_DIR, register_configs


def run(beir: Path, work: Path, name: str, *extra: str) -> tuple[float, bytes]:
    from hydra import compose, initialize_config_dir

    from rtriever_eval.job.pipeline import run_evaluation

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "model=minilm", "dataset=beir", f"dataset.path={beir}", "print_report=false", "cache.shard_size=512",
            "run_name=same", f"paths.results_dir={work / name}", f"paths.cache_dir={work / (name + '_cache')}",
            *extra])  # fmt: skip
    started = time.perf_counter()
    run_evaluation(cfg)
    elapsed = time.perf_counter() - started
    return elapsed, next((work / name).rglob("run.trec")).read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the one-worker run")
    parser.add_argument("--devices", default=None, help="comma-separated devices (default: cpu x --workers)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    devices = args.devices.split(",") if args.devices else ["cpu"] * args.workers
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        beir = make_beir(work, args.n_docs, 20)
        one_device = f"cuda:{devices[0]}" if devices[0].isdigit() else devices[0]
        if one_device == "cpu":
            torch.set_num_threads(max(1, args.threads // len(devices)))  # one worker = one device's share
        t1, run1 = run(beir, work, "one", f"model.device={one_device}")
        tn, runn = run(beir, work, "many", f"model.devices=[{','.join(devices)}]")
    speedup = t1 / tn
    print(f"{args.n_docs:,} documents, MiniLM: one worker ({one_device}, {torch.get_num_threads()} threads) "
          f"{t1:.1f} s; {len(devices)} workers ({', '.join(devices)}) {tn:.1f} s")  # fmt: skip
    print(f"speed-up {speedup:.2f}x = {speedup / len(devices):.2f} x N (goal: >= 0.9 x N; two CPU workers >= 1.7x)")
    print(f"run.trec identical: {run1 == runn}")


if __name__ == "__main__":
    main()
