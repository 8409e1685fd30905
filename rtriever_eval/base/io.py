"""Atomic file writing (write to a temporary sibling, fsync, rename over the target) and advisory file locks
between processes (flock on a lock file, waiting when another process holds it).

A reader never sees a half-written file; this module knows nothing about what the bytes mean.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rtriever_eval.base.interrupt import waiting

log = logging.getLogger(__name__)
NO_LOCKS = (errno.ENOLCK, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
"""What flock/lockf raise where a file system has no locks (some NFS mounts; Lustre without flock)."""
_warned: set[str] = set()


def warn_no_locks(where: Path) -> None:
    """Say once per folder that its file system takes no locks: concurrent jobs there are not kept apart."""
    key = str(where)
    if key not in _warned:
        _warned.add(key)
        log.warning("%s: this file system takes no file locks; jobs sharing it are not kept apart (mount it with "
                    "locks, e.g. Lustre's 'flock', or run one job at a time)", where)  # fmt: skip


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; on clean exit it replaces `path`, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are for people to read
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else "") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


class PlannedTexts(dict[Path, str]):
    """Files to write, each with the result it came from: a second result that wants one path with other content
    is refused at planning, naming both (two runs exported to one MTEB model folder, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[Path, str] = {}

    def put(self, path: Path, text: str, source: str, hint: str = "") -> None:
        from rtriever_eval.base.errors import InputError

        if path in self and self[path] != text:
            raise InputError(f"{source} and {self.sources[path]} would both be written to this file{hint}", path=path)
        self.setdefault(path, text)
        self.sources.setdefault(path, source)


def write_new_texts(files: dict[Path, str], *, check_only: bool = False) -> list[Path]:
    """Write every file atomically after checking that none would replace a file with other content (then nothing
    is written: InputError naming it); a file that exists with the same content is left as it is. ``check_only``
    checks and writes nothing."""
    from rtriever_eval.base.errors import InputError

    for path, text in files.items():
        if path.exists() and path.read_text(encoding="utf-8") != text:
            raise InputError("exists with other content; exported files are never overwritten (choose another OUT)",
                             path=path)  # fmt: skip
    if check_only:
        return []
    for path, text in files.items():
        if not path.exists():
            write_text_atomic(path, text)
    return list(files)


@contextlib.contextmanager
def file_lock(path: str | Path, *, shared: bool = False, what: str = "") -> Iterator[None]:
    """Hold an flock on ``path`` (created) for the block. When another process holds it, log ``what`` it is doing
    (and who: the holder writes its host and pid into the file) and wait. A folder where the lock file cannot be
    made (read-only) or a file system without locks gives no lock: the callers' own checks still hold."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            log.warning("%s is held by %s%s; waiting for it", target, holder, f" ({what})" if what else "")
            with waiting():
                fcntl.flock(fd, mode)
        except OSError as exc:
            if exc.errno not in NO_LOCKS:
                raise
            warn_no_locks(target.parent)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{socket.gethostname()}:{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
