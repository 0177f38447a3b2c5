"""Inspect and validate a GGUF model file before llama.cpp ever opens it.

inspection.py is the way in; reader.py reads within the file's bounds, parser.py checks the header,
metadata and tensor list against limits.py, and summarize.py turns what it found into a ModelSummary.
"""

from desktop_app.core.gguf_info.errors import IncompleteHeaderError
from desktop_app.core.gguf_info.inspection import inspect_gguf, inspect_gguf_header
from desktop_app.core.gguf_info.summary import ModelSummary

__all__ = ["IncompleteHeaderError", "ModelSummary", "inspect_gguf", "inspect_gguf_header"]
