"""All devices of one node: one corpus-encoding worker process per device (model.devices), each filling shards of
the same cache entry through the cache's per-shard claims, before the one search that reads them.

Knows settings, processes and the dense retriever's encode_corpus; nothing of ranking or results. A worker
that dies releases its claims with its process: the others take its shards, and the search encodes whatever
is still missing, so the result never depends on which worker did what.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from typing import Any

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.job import EvaluateSettings
from rtriever_eval.settings.models import DenseSettings

log = logging.getLogger(__name__)
WORKER_FAULT = "RTRIEVER_WORKER_FAULT"


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
            fault: str = "") -> None:  # fmt: skip
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


def encode_on_devices(settings: EvaluateSettings, domain: str) -> list[int | None]:
    """Run one worker per device of ``settings.model.devices`` over ``domain``'s corpus and wait for them all;
    returns their exit codes (a non-zero one is logged: its unfinished shards fall to the others or the search)."""
    if not isinstance(settings.model, DenseSettings):
        return []
    devices = resolve_devices(settings.model.devices)
    if len(devices) < 2:
        return []
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
    procs = [
        ctx.Process(
            target=_worker, args=(settings, domain, device, i, len(devices), threads, fault), name=f"encode-{device}"
        )
        for i, device in enumerate(devices)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    codes = [proc.exitcode for proc in procs]
    for device, code in zip(devices, codes, strict=True):
        if code != 0:
            log.warning("%s: the encoding worker on %s ended with exit code %s; the shards it did not finish are "
                        "encoded by the search", domain, device, code)  # fmt: skip
    log.info("%s: %d encoding workers (%s) finished in %.1fs", domain, len(devices), ", ".join(devices),
             time.perf_counter() - started)  # fmt: skip
    return codes
