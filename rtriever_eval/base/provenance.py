"""What produced a number: library versions, the git commit of the harness, and safe folder names.

Knows nothing about datasets or metrics; everything here is cheap and side-effect free.
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGES = (
    "rtriever-eval",
    "torch",
    "transformers",
    "sentence-transformers",
    "numpy",
    "scipy",
    "pandas",
    "pytrec-eval-terrier",
    "regex",
    "datasets",
    "hydra-core",
)


@functools.cache
def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def git_state() -> dict[str, str | bool | None]:
    """The harness checkout's commit and whether it had uncommitted changes (None outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            != ""
        )
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")


def safe_component(name: str) -> str:
    """A name turned into one safe path component: unusual characters %-escaped, never '.', '..' or empty."""
    escaped = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), name)
    if escaped in {"", ".", ".."}:
        escaped = escaped.replace(".", "%2E") or "%"  # a lone % never comes out of escaping
    return escaped
