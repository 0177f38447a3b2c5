"""`hearth docs`: being built (issue #15)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("docs", help=argparse.SUPPRESS)
    parser.set_defaults(handler=lambda _args: 2)
