"""Test session settings and the fixtures many modules share: never touch the Hugging Face hub; one real
`rtriever-eval experiment=quickstart` run for everything that reads its results; trec_eval's own test suite."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@dataclass(frozen=True)
class Quickstart:
    """The quickstart as a user runs it: `results` is <results_dir>/quickstart, `proc` what the command printed."""

    root: Path
    results: Path
    cache: Path
    proc: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Quickstart:
    """`rtriever-eval experiment=quickstart` once per session, through the real console script (a Hydra
    multirun that prints the table). Tests read it; one that writes into a results tree copies it first."""
    from tests.helpers import run_console

    root = tmp_path_factory.mktemp("quickstart")
    proc = run_console(
        "rtriever-eval",
        "experiment=quickstart",
        f"paths.results_dir={root / 'results'}",
        f"paths.cache_dir={root / 'cache'}",
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Quickstart(root, root / "results" / "quickstart", root / "cache", proc)


@pytest.fixture(scope="session")
def trec_eval_dir() -> Path:
    """trec_eval 10.0's own test suite (qrels, runs, expected outputs) beside the checkout; skipped when absent."""
    from tests.helpers import shared_data

    return shared_data("trec_eval")
