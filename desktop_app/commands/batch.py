"""`hearth batch`: being built (issue #17)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("batch", help=argparse.SUPPRESS)
    parser.set_defaults(handler=lambda _args: 2)
