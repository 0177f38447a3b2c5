"""Inspect and validate a GGUF model file before llama.cpp ever opens it."""

from desktop_app.core.gguf_info.parser import (
    IncompleteHeaderError,
    ModelSummary,
    inspect_gguf,
    inspect_gguf_header,
)

__all__ = ["IncompleteHeaderError", "ModelSummary", "inspect_gguf", "inspect_gguf_header"]
