"""Atomic writes: a failure mid-write (disk full, crash) leaves the previous file intact and no temp file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from rtriever_eval.base import io
from rtriever_eval.base.io import atomic_open, write_json_atomic, write_text_atomic


def test_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "summary.json"
    write_json_atomic(target, {"x": 1})
    write_json_atomic(target, {"x": 2})
    assert target.read_text() == '{\n  "x": 2\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_disk_full_during_write_keeps_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run.trec"
    write_text_atomic(target, "old complete content\n")
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(target, "new content that never fully lands\n" * 1000)
    monkeypatch.setattr(io.os, "fsync", real_fsync)
    assert target.read_text() == "old complete content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trec"]


def test_exception_inside_block_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "per_query.tsv"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half a row\t")
        raise RuntimeError("crash while writing")
    assert not target.exists() and not list(tmp_path.iterdir())


def test_written_files_follow_the_umask_not_mkstemp_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "summary.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644
