"""SIGKILL at several points of a real run, then the same command again: results byte-identical to a run that
was never interrupted, and no summary.json for a domain that did not finish.

The kill happens inside the process at named points (rtriever_eval.faults), so it lands exactly there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
ARGS = ["model=minilm", "domains=[biology,leetcode]", "cache.shard_size=8", "print_report=false"]
FILES = ("run.trec", "per_query.tsv")


def _run(root: Path, fault: str | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**ENV, "RTRIEVER_FAULT": fault} if fault else ENV
    return subprocess.run(
        [str(BIN / "rtriever-eval"), *ARGS, f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}", *extra],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _outputs(root: Path) -> dict[str, bytes | dict[str, float]]:
    out: dict[str, bytes | dict[str, float]] = {}
    for domain in ("biology", "leetcode"):
        folder = next((root / "r").rglob(f"sample/{domain}"))
        for name in FILES:
            out[f"{domain}/{name}"] = (folder / name).read_bytes()
        out[f"{domain}/metrics"] = json.loads((folder / "summary.json").read_text())["metrics"]
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | dict[str, float]]:
    root = tmp_path_factory.mktemp("reference")
    proc = _run(root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return _outputs(root)


@pytest.mark.parametrize(
    "fault",
    [
        "cache_shard_written:3",  # during corpus encoding of the first domain (after 3 of 6 shards)
        "queries_encoded:1",  # corpus and queries cached, before ranking
        "searched:2",  # second domain ranked, nothing written yet
        "run_written:1",  # first domain: run.trec on disk, per_query.tsv and summary.json not
        "per_query_written:2",  # second domain: all but summary.json
    ],
)
def test_kill_then_rerun_gives_identical_results(
    tmp_path: Path, fault: str, reference: dict[str, bytes | dict[str, float]]
) -> None:
    killed = _run(tmp_path, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # whatever was left, no domain looks finished unless it is: summary.json only beside complete files
    for summary in (tmp_path / "r").rglob("summary.json"):
        assert all((summary.parent / name).is_file() for name in FILES)
    rerun = _run(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _outputs(tmp_path) == reference
    assert not [p for p in (tmp_path / "r").rglob("*") if p.name.endswith(".tmp")]


def test_sweep_resumes_domain_by_domain(tmp_path: Path) -> None:
    """A multirun killed in its second job: the rerun skips every finished domain and completes the rest."""
    sweep = ["-m", "model=bm25,minilm"]
    killed = subprocess.run(
        [
            str(BIN / "rtriever-eval"),
            *sweep,
            "domains=[biology,leetcode]",
            f"paths.results_dir={tmp_path / 'r'}",
            f"paths.cache_dir={tmp_path / 'c'}",
            "print_report=false",
        ],
        cwd=tmp_path,
        env={**ENV, "RTRIEVER_FAULT": "searched:3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL
    done = {
        p.parent.parent.parent.name + "/" + p.parent.name: p.stat().st_mtime_ns
        for p in (tmp_path / "r").rglob("summary.json")
    }
    assert set(done) == {"bm25/biology", "bm25/leetcode"}  # the third search (minilm/biology) was killed
    rerun = subprocess.run(
        [
            str(BIN / "rtriever-eval"),
            *sweep,
            "domains=[biology,leetcode]",
            f"paths.results_dir={tmp_path / 'r'}",
            f"paths.cache_dir={tmp_path / 'c'}",
            "print_report=false",
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = {
        p.parent.parent.parent.name + "/" + p.parent.name: p.stat().st_mtime_ns
        for p in (tmp_path / "r").rglob("summary.json")
    }
    assert set(after) == {"bm25/biology", "bm25/leetcode", "minilm/biology", "minilm/leetcode"}
    assert all(after[k] == v for k, v in done.items())  # finished domains were not recomputed
