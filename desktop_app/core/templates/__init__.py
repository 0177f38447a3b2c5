"""Chat templates: which format a model's prompt is written in, and the sandbox that renders it."""

from desktop_app.core.templates.sandbox import (
    ChatFormat,
    Segment,
    detect_family,
    list_builtin_families,
    render_chat,
    render_segments,
    render_template,
    resolve_chat_format,
    validate_template,
)

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
