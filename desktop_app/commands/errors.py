"""How a command reports a HearthError: one clear line on stderr, no traceback, and its exit code.

Here rather than in cli.py so that commands never import the CLI that dispatches to them.
"""

from __future__ import annotations

import sys

from desktop_app.core.errors import HearthError

__all__ = ["report_error"]


def report_error(exc: HearthError) -> int:
    """Print "hearth: error: what happened, then what to do" on stderr; return the exit code."""
    print(f"hearth: error: {exc}", file=sys.stderr)
    return exc.exit_code
