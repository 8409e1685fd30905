"""SIGTERM is noted and raised at the next safe point; inside a blocking wait it ends the wait at once."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from rtriever_eval.base import interrupt


def test_a_signal_is_raised_at_the_next_safe_point_only() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.handling():
        interrupt.check()  # nothing came yet
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupt.requested()  # noted, not raised: the code between safe points finishes its step
        with pytest.raises(interrupt.Interrupted, match="SIGTERM"):
            interrupt.check()
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_a_blocking_wait_ends_within_a_second_of_the_signal() -> None:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    with interrupt.handling():
        timer.start()
        started = time.monotonic()
        with pytest.raises(interrupt.Interrupted), interrupt.waiting():
            time.sleep(30)  # stands for a lock held by another process
        assert time.monotonic() - started < 5
    timer.cancel()
