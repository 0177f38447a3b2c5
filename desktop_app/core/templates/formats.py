"""Format choice: which chat format a model gets, from its override, its file's template or a built-in.

Models without a template (such as the base Gemma 3 270M) get a built-in one chosen by architecture
and name. A template that fails, hangs or is killed is refused with a warning, and the next choice is
used. Every format carries the stop strings the engine should stop on.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Literal

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates.builtin_formats import BUILTINS, DEFAULT_FAMILY, TEMPLATE_MARKERS

log = logging.getLogger(__name__)

Source = Literal["override", "file", "builtin"]


@dataclass(frozen=True)
class ChatFormat:
    """How to turn a conversation into a prompt for one model, and where that recipe came from."""

    template: str
    source: Source
    family: str
    stop_strings: tuple[str, ...]
    #: set when the model's own template (or the user's override) was refused and this one replaced it
    warning: str | None = None


def detect_family(architecture: str, name: str = "", chat_template: str | None = None) -> str:
    """Pick the built-in format closest to a model: by the markers in its template, else by arch/name.

    Used for the fallback template of models that lack one, and for the stop strings of models that have
    one (the template text says which special tokens end a turn).
    """
    if chat_template:
        for marker, family in TEMPLATE_MARKERS:
            if marker in chat_template:
                return family
    arch = architecture.strip().lower()
    label = re.sub(r"[\s_]+", "-", name.strip().lower())
    if arch.startswith("gemma4") or re.search(r"gemma-?4(?!\d)", label):
        return "gemma-4"
    if arch.startswith("gemma") or "gemma" in label:
        return "gemma"
    if arch.startswith("qwen") or "qwen" in label:
        return "chatml"
    if arch in {"phi3", "phimoe"} or re.search(r"phi-?3(?!\d)", label):
        return "phi-3"
    if arch.startswith("mistral") or "mistral" in label or "mixtral" in label:
        return "mistral"
    if re.search(r"llama-?3(?!\d)", label):
        return "llama-3"
    if re.search(r"llama-?2(?!\d)", label):
        return "llama-2"
    return DEFAULT_FAMILY


def resolve_chat_format(
    *, architecture: str, name: str, file_template: str | None, override: str | None = None
) -> ChatFormat:
    """The format to use: the user's override, else the file's own template, else a built-in one.

    An override is either a built-in family key ("chatml") or full Jinja text. Jinja text is rendered
    once on a sample conversation (in the worker process); a template that fails, hangs or is killed
    is refused, and the next choice is used with a `warning` that says why, so that a model with a
    broken or hostile template still loads and chats in its family's built-in format.
    """
    key = (override or "").strip()
    if key in BUILTINS:
        return _builtin_format(key, "override")
    refusals: list[str] = []
    if override is not None and key:  # Jinja text is kept verbatim: its whitespace is part of the prompt
        try:
            return _custom_format(override, "override", detect_family(architecture, name, override))
        except TemplateError as exc:
            refusals.append(f"The chat template override in this model's settings was refused: {exc.message}")
    if file_template and file_template.strip():
        try:
            chat_format = _custom_format(
                file_template, "file", detect_family(architecture, name, file_template)
            )
        except TemplateError as exc:
            refusals.append(f"The chat template in this model file was refused: {exc.message}")
        else:
            if refusals:
                chat_format = dataclasses.replace(
                    chat_format, warning=" ".join([*refusals, "Using the model file's template instead."])
                )
            return chat_format
    chat_format = _builtin_format(detect_family(architecture, name, file_template), "builtin")
    if refusals:
        display = BUILTINS[chat_format.family].display_name
        warning = " ".join([*refusals, f"Using the built-in {display} format instead."])
        chat_format = dataclasses.replace(chat_format, warning=warning)
        log.warning("%s", warning)
    return chat_format


def list_builtin_families() -> list[tuple[str, str]]:
    """(key, display name) of every built-in format, for a picker in the model settings."""
    return [(key, builtin.display_name) for key, builtin in BUILTINS.items()]


def _builtin_format(family: str, source: Source) -> ChatFormat:
    builtin = BUILTINS[family]
    return ChatFormat(builtin.template, source, family, builtin.stop_strings)


def _custom_format(template: str, source: Source, family: str) -> ChatFormat:
    """Raises TemplateError when the template does not render the sample conversation."""
    from desktop_app.core.templates.rendering import render_sample  # Jinja: only when a template is used

    sample = render_sample(template)
    return ChatFormat(
        template, source, family, _stops_written_by(template, sample, BUILTINS[family].stop_strings)
    )


def _stops_written_by(template: str, sample: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The family's turn markers that this template really writes.

    A guessed family whose markers the template never uses (DeepSeek falls back to "chatml") would
    only cut replies that happen to quote them; the model's end-of-generation tokens end the reply
    either way. Markers can be built from pieces (`'<|' + role + '|>'`), so the sample render counts too.
    """
    return tuple(stop for stop in candidates if stop in template or stop in sample)
