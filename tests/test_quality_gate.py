"""CI regression of retrieval quality: the quickstart must still match the committed baseline (rtriever-check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
BASELINE = Path(__file__).resolve().parents[1] / "results" / "baselines" / "quickstart.json"


def test_quickstart_matches_the_committed_baseline(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = subprocess.run(
        [
            str(BIN / "rtriever-eval"),
            "experiment=quickstart",
            f"paths.results_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            "print_report=false",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    gate = subprocess.run(
        [
            str(BIN / "rtriever-check"),
            str(BASELINE),
            str(tmp_path / "quickstart"),
            "--metric",
            "nDCG@10",
            "--tolerance",
            "0.01",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "9 checked" in gate.stdout
