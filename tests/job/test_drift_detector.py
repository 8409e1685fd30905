"""A drift detector, not an independent truth: the quickstart must still match results/baselines/quickstart.json,
a baseline this code itself produced. It catches a change that moves the quickstart's numbers unnoticed (through
the real gate, rtriever-check); whether those numbers are right is what the reference checks elsewhere test."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtriever_eval.cli.check import main as check_main
from tests.conftest import Quickstart

BASELINE = Path(__file__).resolve().parents[2] / "results" / "baselines" / "quickstart.json"


def test_quickstart_matches_the_committed_baseline(quickstart: Quickstart, capsys: pytest.CaptureFixture[str]) -> None:
    check_main([str(BASELINE), str(quickstart.results), "--metric", "nDCG@10", "--tolerance", "0.01"])
    out = capsys.readouterr().out
    assert "OK: no domain dropped" in out and "9 checked" in out
