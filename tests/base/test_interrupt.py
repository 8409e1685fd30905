"""SIGTERM is noted and raised at the next safe point; inside a blocking wait it ends the wait at once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

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


def test_a_wait_on_a_lock_another_process_holds_ends_at_the_signal(tmp_path: Path) -> None:
    import subprocess
    import sys

    from rtriever_eval.base.io import file_lock

    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_CREAT | os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        with interrupt.handling():
            timer.start()
            started = time.monotonic()
            with pytest.raises(interrupt.Interrupted), file_lock(path, what="a test"):
                pytest.fail("the lock was taken while another process held it")
            assert time.monotonic() - started < 30  # the real flock(2) wait ended, not the holder's two minutes
        timer.cancel()
        assert holder.poll() is None  # the holder still holds it: the wait was ended by the signal alone
    finally:
        holder.kill()
        holder.wait()
