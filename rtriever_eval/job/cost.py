"""What a result cost: the cost record every summary carries (tokens encoded and found cached per side, encoder
seconds, wall seconds per stage, device kind and count, peak memory, cache bytes written, reranker pairs scored),
and the throughput log a later plan reads its device-hours estimate from.

Knows a search's usage, timings and the machine; nothing of what the numbers mean. A cost is never part of a
fingerprint: timings change with the load, and two runs that differ only in cost are the same result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

THROUGHPUT_LOG = "throughput.jsonl"
"""In the cache folder: one line per dense encode (model, device kind, dtype, max length, tokens, forward seconds)."""


@functools.cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_kind(device: str) -> str:
    """``cuda (NVIDIA H200)`` or ``cpu (AMD EPYC, 2 cores)``: what a throughput holds for."""
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            index = int(device.partition(":")[2] or 0)
            return f"cuda ({torch.cuda.get_device_name(index)})"
    return f"cpu ({cpu_name()}, {os.cpu_count()} cores)"


def reset_gpu_peak() -> None:
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> dict[str, float | None]:
    """The process's peak resident memory so far (it cannot be reset per domain) and, on CUDA, the peak allocated
    since the domain began."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    gpu = None
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            gpu = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return {"rss": round(rss, 1), "gpu_allocated": gpu}


def cost_record(usage: Mapping[str, Any], timings: Mapping[str, float], counts: Mapping[str, Any], *, load_s: float,
                evaluate_s: float, workers: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """The summary's ``cost``: ``usage`` from the search, its ``timings``, the job's own stage times, and what the
    encoding ``workers`` of model.devices did before the search (their tokens, forward seconds and bytes are
    added; their wall seconds count once per device in the device-hours)."""
    tokenise, forward = float(usage.get("tokenise_s", 0.0)), float(usage.get("forward_s", 0.0))
    model_load = float(usage.get("model_load_s", 0.0))
    search = float(timings.get("search_total_s", 0.0))
    wall = {
        "load_s": round(load_s + model_load, 4),  # the domain's data, and the weights when this domain loaded them
        "tokenise_s": round(tokenise, 4),
        "encode_s": round(forward, 4),
        "search_s": round(max(search - tokenise - forward - model_load, 0.0), 4),
        "evaluate_s": round(evaluate_s, 4),
        "write_s": None,  # filled by the writer, before the summary itself is written
    }
    tokens = {side: dict(v) for side, v in usage.get("tokens", {}).items()}
    record: dict[str, Any] = {
        "device": {"kind": device_kind(str(usage.get("device", "cpu"))), "count": 1},
        "tokens": tokens,
        "encoded_unit": usage.get("encoded_unit"),
        "encoder_forward_s": round(forward, 4),
        "wall_s": wall,
        "peak_memory_mb": peak_memory_mb(),
        "cache_bytes_written": int(usage.get("cache_bytes_written", 0)),
        "pairs_scored": counts.get("pairs_scored"),
    }
    if workers:
        # the search found the workers' shards cached: they were encoded by this run all the same
        docs = tokens.setdefault("documents", {"encoded": 0, "cached": 0})
        done = workers.get("tokens_encoded")
        docs["encoded"] = None if done is None or docs.get("encoded") is None else docs["encoded"] + done
        if done is not None and docs.get("cached") is not None:
            docs["cached"] = max(docs["cached"] - done, 0)
        record["device"]["count"] = int(workers["count"])
        record["encoder_forward_s"] = round(forward + float(workers.get("forward_s", 0.0)), 4)
        record["cache_bytes_written"] += int(workers.get("bytes_written", 0))
        record["workers"] = dict(workers)
        wall["workers_s"] = round(float(workers["wall_s"]), 4)
    return record


def model_key(identity: Mapping[str, Any], dtype: str, max_length: int) -> str:
    payload = json.dumps({"model": identity, "dtype": dtype, "max_length": max_length}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def record_throughput(cache_dir: str | Path | None, key: str, kind: str, tokens: int | None, seconds: float) -> None:
    """Append one encode's tokens and forward seconds to the cache folder's log (one line, appended whole)."""
    if cache_dir is None or not tokens or seconds <= 0:
        return
    line = json.dumps({"model": key, "device_kind": kind, "tokens": tokens, "forward_s": round(seconds, 4),
                       "at": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n"  # fmt: skip
    path = Path(cache_dir) / THROUGHPUT_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # a log for estimates only: never a reason to fail a run


def recorded_throughput(cache_dir: str | Path | None, key: str, kind: str) -> tuple[float, int] | None:
    """(tokens per second, lines read) that earlier encodes of this model on this device kind recorded; None when
    none did. Lines cut by a crash or damaged are skipped."""
    path = Path(cache_dir) / THROUGHPUT_LOG if cache_dir is not None else None
    if path is None or not path.is_file():
        return None
    tokens = seconds = 0.0
    lines = 0
    for raw in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if row.get("model") == key and row.get("device_kind") == kind:
            tokens += float(row["tokens"])
            seconds += float(row["forward_s"])
            lines += 1
    return (tokens / seconds, lines) if seconds > 0 else None
