"""All devices of one node: one corpus-encoding worker process per device (model.devices), each filling shards of
the same cache entry through the cache's per-shard claims, before the one search that reads them.

Knows settings, processes and the dense retriever's encode_corpus; nothing of ranking or results. A worker
that dies releases its claims with its process: the others take its shards, and the search encodes whatever
is still missing, so the result never depends on which worker did what.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.job import EvaluateSettings
from rtriever_eval.settings.models import DenseSettings

log = logging.getLogger(__name__)
WORKER_FAULT = "RTRIEVER_WORKER_FAULT"


@dataclass(frozen=True)
class WorkersOutcome:
    """What the workers did: exit codes, wall seconds from the first start to the last exit, and what the workers
    that finished reported (rows and tokens encoded, seconds tokenising and in forward passes summed over devices,
    cache bytes written). A worker that died reports nothing: the search encodes and counts its shards."""

    codes: list[int | None]
    wall_s: float
    reported: int = 0
    rows_encoded: int = 0
    tokens_encoded: int | None = 0
    tokenise_s: float = 0.0
    forward_s: float = 0.0
    load_s: float = 0.0
    bytes_written: int = 0

    def cost(self) -> dict[str, Any]:
        return {"count": len(self.codes), **{k: v for k, v in dataclasses.asdict(self).items() if k != "codes"}}


def _gather(codes: list[int | None], wall_s: float, folder: Path) -> WorkersOutcome:
    reports = []
    for path in sorted(folder.glob("worker-*.json")):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a worker killed while writing its report: counted by the search instead
    tokens = [r["tokens_encoded"] for r in reports]
    seconds = {k: round(sum(r[k] for r in reports), 4) for k in ("tokenise_s", "forward_s", "load_s")}
    return WorkersOutcome(
        codes, round(wall_s, 4), len(reports), sum(r["rows_encoded"] for r in reports),
        None if any(t is None for t in tokens) else sum(tokens), **seconds,
        bytes_written=sum(r["bytes_written"] for r in reports),
    )  # fmt: skip


def resolve_devices(spec: Any) -> list[str]:
    """``None`` -> [] (this process alone); ``"all"`` -> every CUDA device; ints -> ``cuda:<i>``; strings as given."""
    if spec is None:
        return []
    if spec == "all":
        import torch

        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError("model.devices=all but this machine has no CUDA device", field="model.devices")
        return [f"cuda:{i}" for i in range(count)]
    out = [f"cuda:{d}" if isinstance(d, int) or str(d).isdigit() else str(d) for d in spec]
    return out


def _worker(settings: EvaluateSettings, domain: str, device: str, index: int, count: int, threads: int,
            fault: str = "", report_dir: str = "") -> None:  # fmt: skip
    """In the child: load the domain, encode every missing shard starting at this worker's share, exit.

    ``fault`` ("<index>:<point>[:N]", from RTRIEVER_WORKER_FAULT in the parent) arms a crash test's fault point
    in worker ``index`` only; it is passed as an argument because a forkserver started before the variable was
    set would never hand it to the worker through the environment."""
    import torch

    from rtriever_eval.base.faults import checkpoint
    from rtriever_eval.job.domains import load_evaluated
    from rtriever_eval.retrievers.dense import DenseRetriever

    if device.startswith("cpu"):
        torch.set_num_threads(threads)
    os.environ.pop(WORKER_FAULT, None)
    if fault.partition(":")[0] == str(index):
        os.environ["RTRIEVER_FAULT"] = fault.partition(":")[2]
    model = dataclasses.replace(settings.model, device=device, devices=None)
    retriever = DenseRetriever(model, cache_dir=settings.paths.cache_dir, cache_mode=settings.cache.mode,
                               shard_size=settings.cache.shard_size)  # fmt: skip
    data = load_evaluated(settings, domain)
    checkpoint("worker_started")
    stats = retriever.encode_corpus(data, shard_index=index, shard_count=count, share=True)
    log.info("worker %d/%d on %s: %d rows encoded, %d cached", index + 1, count, device, stats.rows_encoded,
             stats.rows_cached)  # fmt: skip
    if report_dir:
        from rtriever_eval.base.io import write_json_atomic

        usage = retriever.encoder.usage
        write_json_atomic(Path(report_dir) / f"worker-{index}.json", {
            "rows_encoded": stats.rows_encoded, "tokens_encoded": stats.tokens_encoded, "tokenise_s": usage.tokenise_s,
            "forward_s": usage.forward_s, "load_s": usage.load_s, "bytes_written": stats.bytes_written,
        })  # fmt: skip


def encode_on_devices(settings: EvaluateSettings, domain: str) -> WorkersOutcome | None:
    """Run one worker per device of ``settings.model.devices`` over ``domain``'s corpus and wait for them all;
    returns what they did (a non-zero exit is logged: its unfinished shards fall to the others or the search), or
    None when there is no second device to share with."""
    if not isinstance(settings.model, DenseSettings):
        return None
    devices = resolve_devices(settings.model.devices)
    if len(devices) < 2:
        return None
    if settings.cache.mode != "readwrite":
        raise ConfigError("model.devices shares the encoding through the cache: it needs cache.mode=readwrite",
                          field="cache.mode")  # fmt: skip
    cpus = os.cpu_count() or 1
    threads = (
        max(1, cpus // sum(d.startswith("cpu") for d in devices)) if any(d.startswith("cpu") for d in devices) else 1
    )
    # CUDA cannot be forked: spawn; CPU workers fork from a clean server process (cheaper, same isolation)
    ctx: Any = multiprocessing.get_context("spawn" if any(d.startswith("cuda") for d in devices) else "forkserver")
    started = time.perf_counter()
    fault = os.environ.get(WORKER_FAULT, "")
    with tempfile.TemporaryDirectory(prefix="rtriever-workers-") as reports:
        procs = [
            ctx.Process(target=_worker, args=(settings, domain, device, i, len(devices), threads, fault, reports),
                        name=f"encode-{device}")
            for i, device in enumerate(devices)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        codes = [proc.exitcode for proc in procs]
        outcome = _gather(codes, time.perf_counter() - started, Path(reports))
    for device, code in zip(devices, codes, strict=True):
        if code != 0:
            log.warning("%s: the encoding worker on %s ended with exit code %s; the shards it did not finish are "
                        "encoded by the search", domain, device, code)  # fmt: skip
    log.info("%s: %d encoding workers (%s) finished in %.1fs", domain, len(devices), ", ".join(devices),
             outcome.wall_s)  # fmt: skip
    return outcome
