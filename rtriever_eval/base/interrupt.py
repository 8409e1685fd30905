"""Preemption: SIGTERM (what SLURM sends before a time-limit kill or a preemption) noted by a handler and turned
into an ``Interrupted`` exception at the next safe point (between encoder batches, cache shards, domains, pairs).

Knows signals only; the safe points are the callers' ``check()`` calls. Inside ``waiting()`` (a blocking wait on
another process's lock) the handler raises at once, since no safe point comes while the wait lasts.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a process ended by it
_received: int | None = None
_waiting = 0


class Interrupted(BaseException):
    """The run was asked to stop (SIGTERM) and stopped at a safe point; finished work is on disk.

    A BaseException, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _handler(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signum
    if _waiting:
        raise Interrupted(signum)


@contextlib.contextmanager
def handling(signals: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """Note ``signals`` while the block runs (the previous handlers come back after); main thread only."""
    global _received
    previous: dict[int, Any] = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, _handler)
    except ValueError:  # not the main thread: nothing to install, check() stays silent
        previous.clear()
    _received = None
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _received = None  # what came was acted on (or the block ended anyway): nothing carries over


def requested() -> bool:
    return _received is not None


def check() -> None:
    """A safe point: raise Interrupted when a signal came."""
    if _received is not None:
        raise Interrupted(_received)


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """A blocking wait: a signal arriving now raises Interrupted at once (after one that came before)."""
    global _waiting
    check()
    _waiting += 1
    try:
        yield
    finally:
        _waiting -= 1
