"""The same config gives byte-identical run.trec and per_query.tsv, once on an idle machine and once beside two
processes that burn a CPU core each: nothing that changes a number may depend on timing or load.

Real processes on purpose: each run is a child process that chooses its kernels as a fresh `rtriever-eval`
does (forked from a server that imported the libraries, tests.helpers.run_eval_child).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cpu_burners, run_eval_child


def _run(tmp_path: Path, model: str, i: int) -> Path:
    proc = run_eval_child(
        f"model={model}",
        "domains=[leetcode]",
        f"paths.results_dir={tmp_path / f'r{i}'}",
        f"paths.cache_dir={tmp_path / f'c{i}'}",  # a cache of its own: both runs really encode
        "print_report=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next((tmp_path / f"r{i}").rglob("leetcode/summary.json")).parent


@pytest.mark.parametrize("model", ["bm25", "bm25_bright", "minilm"])
def test_idle_and_loaded_runs_are_byte_identical(tmp_path: Path, model: str) -> None:
    idle = _run(tmp_path, model, 0)
    with cpu_burners(2):
        loaded = _run(tmp_path, model, 1)
    assert (idle / "run.trec").read_bytes() == (loaded / "run.trec").read_bytes()
    assert (idle / "per_query.tsv").read_bytes() == (loaded / "per_query.tsv").read_bytes()
    sa, sb = (json.loads((x / "summary.json").read_text()) for x in (idle, loaded))
    assert sa["metrics"] == sb["metrics"] and sa["fingerprint"] == sb["fingerprint"]
    assert sa["query_prompt"] == sb["query_prompt"] and sa["n_docs"] == sb["n_docs"]
    if model == "minilm":
        assert sa["model_settings"]["kernels"] == sb["model_settings"]["kernels"]
