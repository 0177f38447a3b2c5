"""Chat templates: which format a model's prompt is written in, and the sandbox that renders it.

formats.py chooses (override, the file's template, or a built-in one from builtin_formats.py);
rendering.py sends a template to the sandbox (sandbox.py, guards.py, filters.py) in this process or
in the worker process; segments.py tells the template's markup from the messages' text.
"""

import importlib
from typing import TYPE_CHECKING, Any

from desktop_app.core.templates.formats import (
    ChatFormat,
    detect_family,
    list_builtin_families,
    resolve_chat_format,
)

if TYPE_CHECKING:
    from desktop_app.core.templates.rendering import render_chat, validate_template
    from desktop_app.core.templates.sandbox import render_template
    from desktop_app.core.templates.segments import Segment, render_segments

#: what imports Jinja, and so loads on first use rather than with the window (start-up time)
_LAZY = {
    "render_chat": "rendering",
    "validate_template": "rendering",
    "render_template": "sandbox",
    "Segment": "segments",
    "render_segments": "segments",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

__all__ = [
    "ChatFormat",
    "Segment",
    "detect_family",
    "list_builtin_families",
    "render_chat",
    "render_segments",
    "render_template",
    "resolve_chat_format",
    "validate_template",
]
