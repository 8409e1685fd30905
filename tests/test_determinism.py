"""The same config twice gives byte-identical run.trec and per_query.tsv and equal metrics (timings aside)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.mark.parametrize("model", ["bm25", "bm25_bright", "minilm"])
def test_two_runs_are_byte_identical(tmp_path: Path, model: str) -> None:
    outs = []
    for i in range(2):
        proc = subprocess.run(
            [
                str(BIN / "rtriever-eval"),
                f"model={model}",
                "domains=[leetcode]",
                f"paths.results_dir={tmp_path / f'r{i}'}",
                f"paths.cache_dir={tmp_path / f'c{i}'}",
                "print_report=false",
            ],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(next((tmp_path / f"r{i}").rglob("leetcode/summary.json")).parent)
    a, b = outs
    assert (a / "run.trec").read_bytes() == (b / "run.trec").read_bytes()
    assert (a / "per_query.tsv").read_bytes() == (b / "per_query.tsv").read_bytes()
    sa, sb = (json.loads((x / "summary.json").read_text()) for x in outs)
    assert sa["metrics"] == sb["metrics"]
    assert sa["query_prompt"] == sb["query_prompt"] and sa["n_docs"] == sb["n_docs"]
