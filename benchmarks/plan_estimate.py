"""How close stage=plan's sampled token estimate comes to the exact count, and how long the plan takes, on a
generated BRIGHT-shaped copy (synthetic.py: BRIGHT's 12 domains scaled, its length distributions and duplicates).

Runs the real ``rtriever-eval ... stage=plan`` path in-process twice per setting, with the RTriever-4B config on a
tiny random Qwen3 (the real Qwen3 tokenizer: the counts are real): once with ``plan.sample`` texts per side, once
counting every text (``plan.sample`` above the corpus size), and prints, per domain and in all, the estimate, its
95% error, the exact count, the relative error and both wall times side by side.

    python benchmarks/plan_estimate.py                   # scale 0.05 (66,659 documents), sample 4096
    python benchmarks/plan_estimate.py --scale 0.01 --sample 1024 --max-length 8192
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from typing import Any

from rtriever_eval.data.synthetic import write_bright_copy
from rtriever_eval.testing import save_tiny_qwen3


def _plan(root: Path, tiny: Path, args: argparse.Namespace, sample: int) -> tuple[dict[str, Any], float]:
    from hydra import compose, initialize_config_dir

    from rtriever_eval.job.estimate import run_plan
    from rtriever_eval.job.plan import prepare_run
    from rtriever_eval.settings.hydra import CONF_DIR, register_configs, to_settings

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "model=rtriever_4b", f"model.path={tiny}", "model.dtype=float32", f"model.max_length={args.max_length}",
            "dataset=bright", f"dataset.path={root / 'bright'}", "stage=plan", f"plan.sample={sample}",
            f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}",
        ])  # fmt: skip
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        report = run_plan(prepare_run(to_settings(cfg)), None)
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--sample", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stats = write_bright_copy(root / "bright", scale=args.scale, query_scale=1.0)
        tiny = save_tiny_qwen3(root / "tiny", eos_postprocessor=True, with_st_modules=False)
        sampled, t_sampled = _plan(root, tiny, args, args.sample)
        exact, t_exact = _plan(root, tiny, args, 10**9)
    n_docs = sum(s["documents"] for s in stats.values())
    print(f"BRIGHT-shaped copy, scale {args.scale}: {n_docs:,} documents; max length {args.max_length}; "
          f"sample {args.sample} distinct texts per side and domain")
    print(f"{'domain':22s}{'estimate':>14s}{'±95%':>10s}{'exact':>14s}{'error':>9s}")
    for a, b in zip(sampled["domains"], exact["domains"], strict=True):
        est = sum(s["tokens_total"]["total"] for s in a["sides"])
        err = sum(s["tokens_total"]["error"] ** 2 for s in a["sides"]) ** 0.5
        true = sum(s["tokens_total"]["total"] for s in b["sides"])
        print(f"{a['domain']:22s}{est:14,.0f}{err:10,.0f}{true:14,.0f}{(est - true) / true:9.2%}")
    est, true = sampled["tokens_to_encode"], exact["tokens_to_encode"]
    print(f"{'all':22s}{est:14,}{sampled['tokens_error_95']:10,}{true:14,}{(est - true) / true:9.2%}")
    print(f"plan wall time: sampled {t_sampled:.1f}s, every text counted {t_exact:.1f}s "
          f"(ratio {t_sampled / t_exact:.2f})")


if __name__ == "__main__":
    main()
