"""Fault-injection points for crash-safety tests: `checkpoint(name)` signals the process when the environment
variable RTRIEVER_FAULT names that point (``name``, ``name:N`` for its N-th hit, ``name:N:TERM`` to send SIGTERM,
what SLURM sends on preemption, instead of the default SIGKILL).

Does nothing unless that variable is set; knows nothing about what the points guard.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "RTRIEVER_FAULT"
_hits: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    nth, _, sig = rest.partition(":")
    _hits[name] += 1
    if _hits[name] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGTERM if sig.upper() == "TERM" else signal.SIGKILL)
