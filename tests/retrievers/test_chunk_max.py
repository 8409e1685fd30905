"""model.long_documents=chunk_max end to end with all-MiniLM-L6-v2: the long track through the real CLI (R@1
headlined), a corpus that fits one chunk per document scoring exactly as truncation, and a passage beyond
max_length found by chunk_max and missed by truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.settings.hydra import PACKAGE_DIR
from tests.helpers import evaluate_in_process, run_eval_child

SAMPLE = PACKAGE_DIR / "data" / "sample"


def _summary(results: Path, run: str, domain: str) -> dict:  # type: ignore[type-arg]
    return json.loads(next(results.glob(f"*/{run}/*/{domain}/summary.json")).read_text())


def test_bright_long_on_a_local_copy_reports_r1_through_the_cli(tmp_path: Path) -> None:
    proc = run_eval_child(
        "model=minilm", "dataset=bright_long", f"dataset.path={SAMPLE}", "domains=[biology,earth_science]",
        "model.long_documents=chunk_max", f"paths.cache_dir={tmp_path / 'c'}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### R@1 ×100 on bright_long" in proc.stdout
    for domain in ("biology", "earth_science"):
        s = _summary(tmp_path / "results", "minilm", domain)
        assert s["track"] == "long" and next(iter(s["metrics"])) == "R@1"
        assert s["counts"]["chunks"] > s["n_docs"] and s["counts"]["documents_split"] > 0
        assert s["config"]["model"]["long_documents"] == "chunk_max"


def test_documents_that_fit_one_chunk_score_exactly_as_truncated(tmp_path: Path) -> None:
    common = ("model=minilm", "model.max_length=512", "dataset=sample", "print_report=false", "run_name=same")
    evaluate_in_process(*common, f"paths.results_dir={tmp_path / 't'}", f"paths.cache_dir={tmp_path / 'ct'}")
    evaluate_in_process(
        *common, "model.long_documents=chunk_max", f"paths.results_dir={tmp_path / 'k'}",
        f"paths.cache_dir={tmp_path / 'ck'}",
    )  # fmt: skip
    for domain in ("biology", "earth_science", "leetcode"):
        chunked = _summary(tmp_path / "k", "same", domain)
        assert chunked["counts"]["documents_split"] == 0  # every sample document fits 510 tokens
        a = next((tmp_path / "t").glob(f"*/same/*/{domain}/run.trec")).read_bytes()
        b = next((tmp_path / "k").glob(f"*/same/*/{domain}/run.trec")).read_bytes()
        assert a == b


FILLER = (
    "The committee met on Tuesday to discuss the parking schedule for the spring term, the new rules for visitor "
    "badges, the painting of the east stairwell and the timetable for the quarterly fire drill. Members agreed "
    "that the minutes of the previous meeting were accurate and that the budget line for printer paper should "
    "be kept as it was. The next meeting will be held in the same room at the same hour. "
)
PASSAGES = {
    "gold": "Tardigrades survive complete dehydration by entering a tun state: they curl up, replace water with "
    "protective sugars and disordered proteins, and halt their metabolism until water returns.",
    "z1": "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the flour's sugars.",
    "z2": "Volcanic eruptions can cool the climate for a year or two by injecting sulfate aerosols up high.",
    "z3": "Octopuses change colour using chromatophores, small elastic sacs of pigment controlled by muscles.",
}


@pytest.fixture(scope="module")
def needle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BRIGHT-layout local copy: every document opens with the same long filler (well past 64 tokens) and ends
    with its own passage; the gold one (smallest id, so it loses every exact tie) answers the query."""
    root = tmp_path_factory.mktemp("needle")
    (root / "long_documents").mkdir()
    (root / "examples").mkdir()
    with open(root / "long_documents" / "biology.jsonl", "w") as fh:
        for name, passage in PASSAGES.items():
            fh.write(json.dumps({"id": f"biology/{name}.txt", "content": FILLER * 2 + passage}) + "\n")
    with open(root / "examples" / "biology.jsonl", "w") as fh:
        row = {"id": "0", "query": "How do tardigrades survive being completely dried out?", "gold_ids": [],
               "gold_ids_long": ["biology/gold.txt"], "excluded_ids": ["N/A"]}  # fmt: skip
        fh.write(json.dumps(row) + "\n")
    return root


@pytest.mark.parametrize(("mode", "expected"), [("truncate", 0.0), ("chunk_max", 1.0)])
def test_a_passage_beyond_max_length_is_found_by_chunk_max_only(
    needle: Path, tmp_path: Path, mode: str, expected: float
) -> None:
    evaluate_in_process(
        "model=minilm", "dataset=bright_long", f"dataset.path={needle}", "domains=[biology]", "model.max_length=64",
        f"model.long_documents={mode}", "model.chunk_overlap=16", "print_report=false",
        f"paths.results_dir={tmp_path / 'r'}", f"paths.cache_dir={tmp_path / 'c'}",
    )  # fmt: skip
    s = _summary(tmp_path / "r", "minilm", "biology")
    assert s["metrics"]["R@1"] == expected
