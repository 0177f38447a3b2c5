"""How a refused template is reported: the hints, the quoting limit and the deliberate refusal.

Shared by the sandbox, its size guards and the worker process (template_worker.py), which rebuilds a
child's refusal as the same error type.
"""

from __future__ import annotations

from desktop_app.core.errors import TemplateError

HINT_OVERRIDE = "Set a template override for this model in its settings (a built-in format usually works)."
HINT_UNSAFE = (
    "This model file may be malicious. Don't use its template: set a template override for this model "
    "in its settings, or delete the model."
)
#: a user-visible message never quotes more than this much of a template's own text
_MAX_QUOTE = 300


class TemplateRaisedError(TemplateError):
    """The template called `raise_exception`: it refuses this conversation (a deliberate error)."""


def clip(text: str) -> str:
    """Template-controlled text goes into error messages; keep it short."""
    return text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE] + "…"
