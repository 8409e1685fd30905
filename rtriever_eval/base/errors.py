"""The one exception type for bad user input, with the file, line and field it concerns.

The CLIs turn it into a one-paragraph message and a non-zero exit; nothing here prints or exits.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input that the user can fix: names the file, the line (1-based, when known) and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(InputError):
    """A configuration value that cannot work (unknown domain, missing model path, ...)."""
