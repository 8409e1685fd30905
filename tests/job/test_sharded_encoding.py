"""Through the real CLI: kill an encode and resume it, and encode in 2 submitit processes then search.

Every run uses all-MiniLM-L6-v2 on the sample biology domain (41 documents, 40 distinct texts) with 7-row shards
(6 shards of distinct texts), and compares with one uninterrupted, unsharded run. The kill lands at a named
point (rtriever_eval.base.faults) in a real child process; the submitit workers run single-threaded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.trec import read_run
from rtriever_eval.cache import EmbeddingCache, compact_ranges
from rtriever_eval.job.pipeline import run_evaluation
from rtriever_eval.results.contract import SUMMARY_FILE
from rtriever_eval.settings.hydra import CONF_DIR, register_configs
from tests.helpers import run_eval_child

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
ARGS = ["model=minilm", "model.device=cpu", "domains=[biology]", "cache.shard_size=7", "print_report=false"]
N_DISTINCT, N_SHARDS, SHARD = 40, 6, 7


def _eval(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "rtriever-eval"), *args], cwd=work, env=ENV, capture_output=True, text=True, timeout=600
    )


def _compose(*overrides: str) -> DictConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def _paths(work: Path, name: str) -> list[str]:
    return [f"paths.results_dir={work / name / 'r'}", f"paths.cache_dir={work / name / 'c'}"]


def _run_file(work: Path, name: str) -> Path:
    return work / name / "r" / "default" / "minilm" / "sample" / "biology" / "run.trec"


def _corpus_manifest(cache_dir: Path) -> dict | None:
    for path in (cache_dir / "embeddings").glob("*/manifest.json"):
        manifest = json.loads(path.read_text())
        if manifest["info"]["side"] == "documents":
            return manifest
    return None


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sharded")


@pytest.fixture(scope="module")
def reference(work: Path) -> Path:
    """The uninterrupted, unsharded run's run.trec."""
    proc = run_eval_child(*ARGS, *_paths(work, "ref"), cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _run_file(work, "ref")


def test_killed_encode_resumes_and_gives_the_identical_run(work: Path, reference: Path) -> None:
    cache_dir = work / "kill" / "c"
    killed = run_eval_child(*ARGS, *_paths(work, "kill"), cwd=work, env={"RTRIEVER_FAULT": "cache_shard_written:2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]  # killed right after its 2nd shard
    manifest = _corpus_manifest(cache_dir)
    assert manifest is not None and not manifest["complete"]
    key = manifest["key"]
    entry = EmbeddingCache(cache_dir).lookup_digest(key)
    assert entry is not None
    missing = entry.missing_shards()
    assert len(missing) == N_SHARDS - 2
    missing_rows = sum(min(SHARD * (j + 1), N_DISTINCT) - SHARD * j for j in missing)
    assert not _run_file(work, "kill").exists()

    # stage=search refuses an incomplete cache and lists the missing shards
    with pytest.raises(InputError) as exc:
        run_evaluation(_compose(*ARGS, *_paths(work, "kill"), "stage=search"))
    assert f"shard(s) {compact_ranges(missing)} of {N_SHARDS} missing" in str(exc.value) and key in str(exc.value)

    # the same command again: only the missing shards are encoded, and the run is byte-identical
    rerun = run_eval_child(*ARGS, *_paths(work, "kill"), cwd=work)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _run_file(work, "kill").read_bytes() == reference.read_bytes()
    summary = json.loads(_run_file(work, "kill").with_name(SUMMARY_FILE).read_text())
    assert summary["counts"]["documents_encoded"] == missing_rows < N_DISTINCT
    final = _corpus_manifest(cache_dir)
    assert final is not None and final["complete"]
    assert final["encode_log"][-1]["rows_encoded"] == missing_rows


def test_two_submitit_encode_workers_then_search_equal_the_unsharded_run(work: Path, reference: Path) -> None:
    """Real processes through Hydra's submitit launcher: the launcher wiring is the point."""
    proc = _eval(
        work,
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.gpus_per_node=0",
        "stage=encode",
        "shard.index=0,1",
        "shard.count=2",
        *ARGS[:-1],
        *_paths(work, "sharded"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Tables written" not in proc.stdout and "nDCG@10" not in proc.stdout  # no report for encode-only
    assert not _run_file(work, "sharded").exists()
    manifest = _corpus_manifest(work / "sharded" / "c")
    assert manifest is not None and manifest["complete"]
    by_worker = {r["session"].split(":")[1]: r["shards"] for r in manifest["encode_log"]}
    assert sorted(by_worker.values()) == [[0, 2, 4], [1, 3, 5]]  # two processes, shard j to worker j % 2
    assert os.getpid() not in {int(pid) for pid in by_worker}
    workers = sorted((work / "sharded" / "r").glob("default/.runs/*/minilm/sample/_encode/shard-*-of-2"))
    assert [p.name for p in workers] == ["shard-0-of-2", "shard-1-of-2"]

    (outcome,) = run_evaluation(_compose(*ARGS, *_paths(work, "sharded"), "stage=search"))
    assert outcome.summary.counts["documents_encoded"] == 0
    ours, ref = read_run(_run_file(work, "sharded")), read_run(reference)
    assert ours.keys() == ref.keys()
    for qid in ref:
        assert list(ours[qid]) == list(ref[qid])
        # same shards and kernels; the workers run one thread, the reference two (a BLAS may split sums by threads)
        assert all(abs(ours[qid][d] - ref[qid][d]) <= 1e-6 for d in ref[qid])


@pytest.mark.parametrize(
    ("launcher", "target"), [("submitit_local", "LocalLauncher"), ("submitit_slurm", "SlurmLauncher")]
)
def test_launcher_configs_compose_with_the_project_hydra_defaults(launcher: str, target: str) -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[f"hydra/launcher={launcher}", "stage=encode", "shard.index=1", "shard.count=4"],
            return_hydra_config=True,
        )
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg._target_.endswith(target) and launcher_cfg.timeout_min >= 60
    # under the results folder, in this invocation's own folder of Hydra records
    folder = str(launcher_cfg.submitit_folder)
    assert re.fullmatch(r"results/default/\.runs/[0-9]{8}-[0-9]{6}-[0-9]{6}/\.submitit/%j", folder), folder
    assert launcher_cfg.name == "rtriever-encode"
    assert cfg.hydra.sweep.subdir == "bm25/sample/_encode/shard-1-of-4"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stage=index"], "stage must be one of all, encode, search, plan, got 'index'"),
        (["stage=encode", "shard.index=2", "shard.count=2"], "0 <= shard.index < shard.count"),
        (["shard.count=2"], "use it with stage=encode"),
        (["stage=encode", "cache.mode=read"], "needs cache.mode=readwrite"),
        (["stage=search", "cache.mode=off"], "cache.mode=off"),
    ],
)
def test_stage_settings_that_cannot_work_fail_before_any_work(overrides: list[str], message: str) -> None:
    from rtriever_eval.job.plan import check_stage
    from rtriever_eval.settings.hydra import to_settings

    with pytest.raises(InputError, match=re.escape(message)):
        check_stage(to_settings(_compose(*overrides)))
