"""Sweep jobs that start together on one corpus and cache folder: real processes (three at once beside two
CPU-burning ones, and Hydra's local parallel launcher over an instruction sweep) all finish, each run file equals
what the same run gives alone, byte for byte, and every distinct text is encoded once between them. Two runs given
one run name and results folder never interleave their files: the second waits, then reuses or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.testing import save_tiny_qwen3
from tests.helpers import cpu_burners, evaluate_in_process, run_console, start_eval_child

SETS = ("natural", "bright_paper", "web_search")  # three instruction sets: three query prompts, one corpus
DOMAINS = ("biology", "leetcode")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny"), eos_postprocessor=True, with_st_modules=False)


def _args(tiny: Path, instructions: str) -> list[str]:
    return ["model=qwen3_embedding_0_6b", f"model.path={tiny}", "model.dtype=float32", "model.max_length=128",
            f"domains=[{','.join(DOMAINS)}]", "cache.shard_size=8", "print_report=false",
            f"instructions={instructions}", f"run_name=qwen-{instructions}"]  # fmt: skip


PROMPTS: set[tuple[str, str]] = set()  # (domain, query prompt) of the lone runs: one query entry each


@pytest.fixture(scope="module")
def lone(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], bytes]:
    """Each instruction set's run alone, with a cache of its own."""
    root = tmp_path_factory.mktemp("lone")
    out = {}
    for s in SETS:
        for o in evaluate_in_process(*_args(tiny, s), f"paths.results_dir={root / s}", f"paths.cache_dir={root / s}c"):
            out[s, o.domain] = (o.out_dir / "run.trec").read_bytes()
            PROMPTS.add((o.domain, o.summary.query_prompt))
    return out


def _entries(cache: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in sorted((cache / "embeddings").glob("*/manifest.json"))]


def _encoded_once(cache: Path) -> None:
    """Every entry complete, each of its rows encoded by exactly one process (the encode logs say so)."""
    entries = _entries(cache)
    sides = sorted(e["info"]["side"] for e in entries)
    assert sides == ["documents"] * len(DOMAINS) + ["queries"] * len(PROMPTS)  # one corpus entry per domain
    assert len(PROMPTS) > len(DOMAINS)  # the sets do differ in their query prompts
    for e in entries:
        assert e["complete"] and e["rows_encoded_total"] == e["n"], e["info"]
        assert sum(r["rows_encoded"] for r in e["encode_log"]) == e["n"]


def test_three_processes_started_together_share_one_cache(tiny: Path, lone: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    cache = tmp_path / "cache"
    with cpu_burners(2):
        children = [start_eval_child(*_args(tiny, s), f"paths.results_dir={tmp_path / s}", f"paths.cache_dir={cache}",
                                     cwd=tmp_path) for s in SETS]  # fmt: skip
        ended = [child.wait() for child in children]
    assert [c.returncode for c in ended] == [0, 0, 0], [c.stderr[-1500:] for c in ended]
    for s in SETS:
        for d in DOMAINS:
            got = next((tmp_path / s).rglob(f"qwen-{s}/sample/{d}/run.trec")).read_bytes()
            assert got == lone[s, d], (s, d)
    _encoded_once(cache)


def test_the_local_parallel_launcher_over_an_instruction_sweep(tiny: Path, lone: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    args = [a for a in _args(tiny, "x") if not a.startswith(("instructions=", "run_name="))]
    proc = run_console(
        "rtriever-eval", "-m", "hydra/launcher=submitit_local", "hydra.launcher.gpus_per_node=0",
        f"instructions={','.join(SETS)}", "run_name=qwen-${instructions.name}", *args,
        f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'cache'}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = sorted((tmp_path / "r").rglob(".submitit/*/*_log.err"))
    assert len(logs) == len(SETS)  # three jobs, each its own process
    for s in SETS:
        for d in DOMAINS:
            assert (tmp_path / "r" / "default" / f"qwen-{s}" / "sample" / d / "run.trec").read_bytes() == lone[s, d]
    _encoded_once(tmp_path / "cache")


def test_two_runs_of_one_name_and_folder_never_interleave(tiny: Path, lone: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """Same run name and results folder, other prompts: one writes, the other waits for it, then refuses (its
    settings differ); the folder holds the winner's files exactly as its lone run writes them."""
    same = [f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'cache'}", "run_name=qwen-natural"]
    children = [start_eval_child(*_args(tiny, s), *same, cwd=tmp_path) for s in ("natural", "bright_paper")]
    ended = [child.wait() for child in children]
    assert sorted(c.returncode for c in ended) == [0, 2], [c.stderr[-1500:] for c in ended]
    winner = ("natural", "bright_paper")[[c.returncode for c in ended].index(0)]
    loser = ended[[c.returncode for c in ended].index(2)]
    assert "computed under other settings" in " ".join(loser.stderr.split())
    for d in DOMAINS:
        got = (tmp_path / "r" / "default" / "qwen-natural" / "sample" / d / "run.trec").read_bytes()
        expected = lone[winner, d].replace(f"qwen-{winner}".encode(), b"qwen-natural")  # the run tag
        assert got == expected
