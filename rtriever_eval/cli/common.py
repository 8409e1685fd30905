"""What every CLI shares: turning bad input into a one-paragraph message and exit code 2, never a traceback.

Knows nothing about what the commands do.
"""

from __future__ import annotations

import sys
import textwrap

EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print `message` as one wrapped paragraph on stderr and exit with `code`."""
    text = " ".join(message.split())
    print(
        textwrap.fill(f"error: {text}", width=110, break_on_hyphens=False, break_long_words=False),
        file=sys.stderr,
    )
    raise SystemExit(code)
