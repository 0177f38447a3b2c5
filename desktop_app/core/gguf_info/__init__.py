"""Inspect and validate a GGUF model file before llama.cpp ever opens it.

inspection.py is the way in; reader.py reads within the file's bounds, parser.py checks the header,
metadata and tensor list against limits.py, and summarize.py turns what it found into a ModelSummary.
"""

import importlib
from typing import TYPE_CHECKING, Any

from desktop_app.core.gguf_info.errors import IncompleteHeaderError
from desktop_app.core.gguf_info.summary import ModelSummary

if TYPE_CHECKING:
    from desktop_app.core.gguf_info.inspection import inspect_gguf, inspect_gguf_header


def __getattr__(name: str) -> Any:
    """The parser imports gguf and numpy (a few hundred ms): loaded on first use, not with the window."""
    if name in ("inspect_gguf", "inspect_gguf_header"):
        return getattr(importlib.import_module(f"{__name__}.inspection"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["IncompleteHeaderError", "ModelSummary", "inspect_gguf", "inspect_gguf_header"]
