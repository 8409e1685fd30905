"""SIGKILL at several points of a real run, then the same command again: results byte-identical to a run that
was never interrupted, and no summary for a domain that did not finish.

The kill happens inside a real child process at named points (rtriever_eval.base.faults), so it lands exactly there;
children are forked from a server that imported the libraries once (tests.helpers.run_eval_child).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from rtriever_eval.results.contract import PER_QUERY_FILE, RUN_FILE, SUMMARY_FILE
from tests.helpers import ChildRun, run_eval_child

ARGS = ["model=minilm", "domains=[biology,leetcode]", "cache.shard_size=8", "print_report=false"]
FILES = (RUN_FILE, PER_QUERY_FILE)


def _run(root: Path, fault: str | None = None, *extra: str) -> ChildRun:
    env = {"RTRIEVER_FAULT": fault} if fault else {}
    return run_eval_child(
        *ARGS, f"paths.results_dir={root / 'r'}", f"paths.cache_dir={root / 'c'}", *extra, cwd=root, env=env
    )


def _outputs(root: Path) -> dict[str, bytes | dict[str, float]]:
    out: dict[str, bytes | dict[str, float]] = {}
    for domain in ("biology", "leetcode"):
        folder = next((root / "r").rglob(f"sample/{domain}"))
        for name in FILES:
            out[f"{domain}/{name}"] = (folder / name).read_bytes()
        out[f"{domain}/metrics"] = json.loads((folder / SUMMARY_FILE).read_text())["metrics"]
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
        "cache_shard_written:3",  # during corpus encoding of the first domain (after 3 of 5 shards)
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
    for summary in (tmp_path / "r").rglob(SUMMARY_FILE):
        assert all((summary.parent / name).is_file() for name in FILES)
    rerun = _run(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _outputs(tmp_path) == reference
    assert not [p for p in (tmp_path / "r").rglob("*") if p.name.endswith(".tmp")]


def test_sweep_resumes_domain_by_domain(tmp_path: Path) -> None:
    """A multirun killed in its second job: the rerun skips every finished domain and completes the rest."""
    sweep = ["-m", "model=bm25,minilm", "domains=[biology,leetcode]", "print_report=false"]
    paths = [f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}"]
    killed = run_eval_child(*sweep, *paths, cwd=tmp_path, env={"RTRIEVER_FAULT": "searched:3"})
    assert killed.returncode == -signal.SIGKILL

    def finished() -> dict[str, int]:
        found = (tmp_path / "r").rglob(SUMMARY_FILE)
        return {p.parent.parent.parent.name + "/" + p.parent.name: p.stat().st_mtime_ns for p in found}

    done = finished()
    assert set(done) == {"bm25/biology", "bm25/leetcode"}  # the third search (minilm/biology) was killed
    rerun = run_eval_child(*sweep, *paths, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = finished()
    assert set(after) == {"bm25/biology", "bm25/leetcode", "minilm/biology", "minilm/leetcode"}
    assert all(after[k] == v for k, v in done.items())  # finished domains were not recomputed


def test_sigterm_during_corpus_encoding_stops_at_a_safe_point_and_the_rerun_resumes(
    tmp_path: Path, reference: dict[str, bytes | dict[str, float]]
) -> None:
    """SIGTERM (what SLURM sends on preemption) right after the second corpus shard is written: the run stops before
    the next shard with a clear line and exit 143, both finished shards on disk; the rerun encodes only the rest."""
    stopped = _run(tmp_path, "cache_shard_written:2:TERM")
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    text = " ".join(stopped.stderr.split())
    assert "stopped by SIGTERM at a safe point" in text and "Run the same command again to resume" in text
    assert "Traceback" not in stopped.stderr
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "c").rglob("manifest.json")]
    (biology,) = [m for m in manifests if m["info"]["label"] == "sample/biology" and m["info"]["side"] == "documents"]
    assert [s["index"] for s in biology["shards"]] == [0, 1] and not biology["complete"]
    assert not list((tmp_path / "r").rglob(SUMMARY_FILE))
    rerun = _run(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _outputs(tmp_path) == reference
    biology = json.loads(next(p for p in (tmp_path / "c").rglob("manifest.json")
                              if json.loads(p.read_text())["info"] == biology["info"]).read_text())  # fmt: skip
    assert biology["rows_encoded_total"] == biology["n"]  # the two shards were not encoded again
