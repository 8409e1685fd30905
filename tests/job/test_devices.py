"""model.devices: two CPU worker processes fill the cache's shards and the run equals a one-process run byte for
byte; a worker killed after its first shard leaves the rest to the other worker and the search, same result. The
cost record counts the workers' tokens as encoded by this run and their wall seconds on both devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.job.devices import resolve_devices
from tests.helpers import evaluate_in_process


def test_devices_resolve() -> None:
    assert resolve_devices(None) == [] and resolve_devices([0, "1", "cpu"]) == ["cuda:0", "cuda:1", "cpu"]


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    evaluate_in_process(
        "model=minilm", "dataset=sample", "domains=[biology]", "cache.shard_size=8", "print_report=false",
        "run_name=same", f"paths.results_dir={tmp_path / name}", f"paths.cache_dir={tmp_path / (name + '_cache')}",
        *extra,
    )  # fmt: skip
    return tmp_path / name


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("single"), "one")


@pytest.mark.parametrize("fault", ["", "0:cache_shard_written:1"])
def test_two_cpu_workers_give_the_one_process_run(
    single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    if fault:
        monkeypatch.setenv("RTRIEVER_WORKER_FAULT", fault)
    two = _run(tmp_path, "two", "model.devices=[cpu,cpu]")
    for domain in ("biology",):
        a = next(single.glob(f"*/same/*/{domain}/run.trec")).read_bytes()
        b = next(two.glob(f"*/same/*/{domain}/run.trec")).read_bytes()
        assert a == b
        summary = json.loads(next(two.glob(f"*/same/*/{domain}/summary.json")).read_text())
        counts = summary["counts"]
        # worker 0 was SIGKILLed right after writing its first shard (-9), or both workers finished (0, 0)
        assert counts["encode_worker_exit_codes"] == ([-9, 0] if fault else [0, 0])
        alone = json.loads(next(single.glob(f"*/same/*/{domain}/summary.json")).read_text())["cost"]
        cost = summary["cost"]
        docs, total = cost["tokens"]["documents"], alone["tokens"]["documents"]["encoded"]
        # every document token was spent by this run, by a worker or the search; only the killed worker's
        # unreported shard shows as found cached
        assert docs["encoded"] + docs["cached"] == total and (docs["cached"] > 0) == bool(fault)
        assert cost["device"]["count"] == 2 and cost["workers"]["reported"] == (1 if fault else 2)
        wall = cost["wall_s"]
        assert wall["workers_s"] > 0
        assert cost["device_hours"] == round((wall["total_s"] + wall["workers_s"]) / 3600, 6)
        manifests = [json.loads(p.read_text()) for p in (tmp_path / "two_cache" / "embeddings").glob("*/manifest.json")]
        manifest = next(m for m in manifests if m["info"]["side"] == "documents")
        if fault:
            # the killed worker's shard was written (its record exists) but never logged; the other worker and
            # the search encoded every other row, once
            assert manifest["complete"] and manifest["rows_encoded_total"] == counts["distinct_documents"] - 8
        else:
            # the workers encoded the corpus between them (each row once); the search found it all cached
            assert counts["documents_encoded"] == 0
            assert manifest["rows_encoded_total"] == counts["distinct_documents"]
