"""stage=plan, before the GPU is spent: after a run killed mid-encode it lists exactly the missing domains and shards;
its token count on the sample equals what the real encode then records; on a generated BRIGHT-shaped copy the
sampled estimate is within 2% of the full count; a sweep prints every job's plan and the totals; nothing is run."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.job.estimate import estimate_tokens, run_plan
from rtriever_eval.job.plan import prepare_run
from rtriever_eval.settings.hydra import to_settings
from tests.helpers import compose_config, evaluate_in_process, run_eval_child

ARGS = ["model=minilm", "domains=[biology,earth_science,leetcode]", "cache.shard_size=8", "print_report=false"]


def _plan(root: Path, *extra: str) -> dict[str, Any]:
    cfg = compose_config(*ARGS, "stage=plan", f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}",
                         *extra)  # fmt: skip
    return run_plan(prepare_run(to_settings(cfg)), None)


def test_a_plan_after_a_partial_run_lists_what_is_missing_and_counts_what_the_run_encodes(
    tmp_path: Path, capsys: Any
) -> None:
    # biology finished (6 shards: 5 of documents, 1 of queries); earth_science killed right after its corpus' first
    # shard (the 7th written); leetcode never started
    killed = run_eval_child(*ARGS, f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}",
                            cwd=tmp_path, env={"RTRIEVER_FAULT": "cache_shard_written:7"})  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-1500:]
    import rtriever_eval.encoders.hf as hf

    loads = []
    original = hf.load_model
    hf.load_model = lambda *a, **k: loads.append(1) or original(*a, **k)  # type: ignore[assignment]
    try:
        plan = _plan(tmp_path)
    finally:
        hf.load_model = original  # type: ignore[assignment]
    assert loads == []  # no weights loaded
    assert "nothing was run" in capsys.readouterr().out
    domains = {d["domain"]: d for d in plan["domains"]}
    assert domains["biology"]["results"] == "reused"
    assert domains["earth_science"]["results"] == domains["leetcode"]["results"] == "to compute"
    missing = {(d, s["side"]): s["missing_shards"] for d, p in domains.items() for s in p["sides"]}
    assert missing == {("biology", "documents"): [], ("biology", "queries"): [],
                       ("earth_science", "documents"): [1, 2, 3, 4], ("earth_science", "queries"): [0],
                       ("leetcode", "documents"): [0, 1, 2, 3, 4], ("leetcode", "queries"): [0]}  # fmt: skip
    assert not list((tmp_path / "r").rglob("earth_science/summary.json"))  # the plan wrote no result
    outcomes = evaluate_in_process(*ARGS, f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}")
    for o in outcomes:
        planned = {s["side"]: s["tokens_to_encode"]["total"] for s in domains[o.domain]["sides"]}
        spent = {side: t["encoded"] for side, t in o.summary.cost["tokens"].items()} if not o.skipped else \
            {"documents": 0, "queries": 0}  # fmt: skip
        assert planned == spent, o.domain
    assert plan["tokens_to_encode"] == sum(
        t["encoded"] for o in outcomes if not o.skipped for t in o.summary.cost["tokens"].values()
    )


def test_the_sampled_estimate_on_a_bright_shaped_copy_is_within_2_percent(tmp_path: Path) -> None:
    from rtriever_eval.data.synthetic import write_bright_copy

    write_bright_copy(tmp_path / "bright", scale=0.01, domains=["leetcode", "stackoverflow"])
    common = ["model=minilm", "dataset=bright", f"dataset.path={tmp_path / 'bright'}",
              "domains=[leetcode,stackoverflow]", "stage=plan", f"paths.results_dir={tmp_path / 'r'}",
              f"paths.cache_dir={tmp_path / 'c'}"]  # fmt: skip
    sampled = run_plan(prepare_run(to_settings(compose_config(*common, "plan.sample=400"))), None)
    exact = run_plan(prepare_run(to_settings(compose_config(*common, "plan.sample=100000"))), None)
    for a, b in zip(sampled["domains"], exact["domains"], strict=True):
        side_a, side_b = a["sides"][0]["tokens_total"], b["sides"][0]["tokens_total"]
        assert side_a["sampled"] == 400 and side_b["sampled"] == 0 and side_b["error"] == 0
        assert abs(side_a["total"] - side_b["total"]) / side_b["total"] < 0.02, a["domain"]
        assert abs(side_a["total"] - side_b["total"]) < 2 * side_a["error"] + 1


def test_the_estimator_counts_everything_when_the_sample_covers_it() -> None:
    texts = [f"word {i} " * (i % 17 + 1) for i in range(50)]
    count = lambda batch: np.asarray([len(t.split()) for t in batch])  # noqa: E731
    every = np.ones(50, dtype=bool)
    assert estimate_tokens(texts, every, count, cap=None, sample=50, seed=0).total == sum(count(texts))
    rough = estimate_tokens(texts, every, count, cap=None, sample=20, seed=0)
    assert rough.sampled == 20 and abs(rough.total - sum(count(texts))) <= rough.error + 1e-9


def test_a_sweep_prints_every_plan_and_the_totals(tmp_path: Path) -> None:
    proc = run_eval_child("-m", "model=bm25,minilm", "stage=plan", "domains=[leetcode]",
                          f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}",
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("Plan for run") == 2 and "Sweep of 2 jobs:" in proc.stdout
    plans = [json.loads(p.read_text()) for p in (tmp_path / "r").rglob("plan.json")]
    assert len(plans) == 2 and not list((tmp_path / "r").rglob("summary.json"))
