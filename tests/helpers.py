"""Helpers shared by tests: where the real data beside the checkout lives, skipping when it is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives beside the project checkout)")
    return path


def compose_config(*overrides: str) -> Any:
    """The real `rtriever-eval` config with these overrides, composed in-process (no Hydra job, no subprocess)."""
    from hydra import compose, initialize_config_dir

    from rtriever_eval.config import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def evaluate_in_process(*overrides: str) -> Any:
    """`rtriever-eval <overrides>` as a function call: the pipeline on the composed config (single run only)."""
    from rtriever_eval.pipeline import run_evaluation

    return run_evaluation(compose_config(*overrides))


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder`, by relative path: to prove nothing changed."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
