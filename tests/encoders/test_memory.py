"""The memory guard: its parameter count against the real models' (MiniLM, Qwen3 at RTriever-4B's shape: 4.02B
by the model card) and the refusal through the real CLI, before any work and with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtriever_eval.encoders.memory import BYTES, estimate_peak
from rtriever_eval.testing import minilm_path, rtriever_4b_config


def _params(config) -> int:  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("which", ["minilm", "rtriever_4b"])
def test_weights_estimate_is_within_five_percent_of_the_real_count(which: str) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(minilm_path())) if which == "minilm" else rtriever_4b_config(151_669)
    real = _params(config)
    est = estimate_peak(config, dtype="float32", rows=1, max_length=8, tokens=8, materialised_attention=False)
    assert abs(est.weights / BYTES["float32"] - real) / real < 0.05
    if which == "rtriever_4b":
        assert 3.9e9 < real < 4.1e9  # Qwen3-Embedding-4B: 4.0B parameters by its card


def test_eager_attention_counts_the_score_matrix() -> None:
    config = rtriever_4b_config(151_669)
    sdpa = estimate_peak(
        config, dtype="bfloat16", rows=8, max_length=4096, tokens=8 * 4096, materialised_attention=False
    )
    eager = estimate_peak(
        config, dtype="bfloat16", rows=8, max_length=4096, tokens=8 * 4096, materialised_attention=True
    )
    assert sdpa.attention == 0 and eager.attention == 8 * 32 * 4096 * 4096 * 4
    assert eager.weights == sdpa.weights and eager.activations == sdpa.activations


def test_the_guard_refuses_through_the_cli_before_any_work(tmp_path: Path) -> None:
    from tests.helpers import run_eval_child

    proc = run_eval_child("model=minilm", "model.memory_limit_gb=0.01", f"paths.cache_dir={tmp_path / 'c'}",
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert "the longest batch (16 rows x 256 tokens in float32) needs about" in message
    assert "model.max_tokens_per_batch" in message and "Nothing was encoded" in message
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("*.npy"))
