"""Tell a rendered prompt's markup from the messages' text, so message words never become control tokens.

The engine tokenizes special tokens (`<end_of_turn>`) only in what the template itself wrote; what a
user or an API client typed is always plain text, whatever it says.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates.errors import HINT_OVERRIDE
from desktop_app.core.templates.rendering import render_chat

log = logging.getLogger(__name__)


class Segment(NamedTuple):
    """A piece of a rendered prompt: the template's own text, or the text of a message."""

    text: str
    #: True: written by the template (its special tokens count); False: a message's words, plain text
    markup: bool


def render_segments(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> list[Segment]:
    """Render a conversation as alternating template markup and message text.

    Why: the tokenizer must read special tokens (`<end_of_turn>`) in the template's markup and never in
    what a user or an API client typed. How: the template is rendered once with every message's
    content replaced by an unguessable marker (a fresh random nonce per call), which yields the markup
    pieces and which message goes where, and once with the real contents; the real render must then be
    exactly markup, content, markup…, where a content may appear as written or trimmed (`| trim`, which
    most templates apply). The markup comes only from the marker render, so no message text can ever end
    up in it. Positions are forced, never searched for, so a message that repeats the template's own
    text (`<start_of_turn>user`…) cannot shift them. If the two renders disagree (the template rewrites
    contents in another way, or branches on them), the marker render is used with the contents as
    written: still safe, only the template's own rewriting of the text is lost. A template that mangles
    the markers themselves (slices or upper-cases contents) gets a TemplateError, never a guess.
    Roles stay in the markup: callers pass only fixed role names (the API maps them).
    """
    contents = [str(message.get("content", "")) for message in messages]
    nonce = secrets.token_hex(8)
    markers = [f"\ue000{nonce}.{i}\ue001" if text else "" for i, text in enumerate(contents)]
    masked = [{**message, "content": marker} for message, marker in zip(messages, markers, strict=True)]
    options: dict[str, Any] = {
        "bos_token": bos_token, "eos_token": eos_token, "add_generation_prompt": add_generation_prompt,
    }  # fmt: skip
    skeleton = render_chat(template, masked, **options)
    parts = re.split(f"\ue000{nonce}\\.(\\d+)\ue001", skeleton)
    markup, refs = parts[0::2], [int(index) for index in parts[1::2]]
    if any(index >= len(contents) for index in refs) or any(
        "\ue000" in text or "\ue001" in text or nonce in text for text in markup
    ):
        raise TemplateError(
            "The chat template changes the text of the messages in a way Hearth cannot tell apart from "
            "the template's own markup, so the prompt could not be built safely.",
            hint=HINT_OVERRIDE,
        )
    written = [contents[index] for index in refs]
    placed = _place_contents(render_chat(template, messages, **options), markup, written)
    if placed is None:
        log.info("chat template rewrites message text; its markup is used with the text as written")
        placed = written
    segments = [Segment(markup[0], True)]
    for text, following in zip(placed, markup[1:], strict=True):
        segments += [Segment(text, False), Segment(following, True)]
    return [segment for segment in segments if segment.text]


def _place_contents(rendered: str, markup: Sequence[str], contents: Sequence[str]) -> list[str] | None:
    """What each content became in `rendered` (as written, or trimmed), if `rendered` is exactly
    markup[0] + content + markup[1] + …; else None. Each piece must start where the previous ended."""
    if not rendered.startswith(markup[0]):
        return None
    position = len(markup[0])
    placed: list[str] = []
    for content, following in zip(contents, markup[1:], strict=True):
        for candidate in dict.fromkeys((content, content.strip(), content.rstrip(), content.lstrip())):
            end = position + len(candidate)
            if rendered.startswith(candidate, position) and rendered.startswith(following, end):
                placed.append(candidate)
                position = end + len(following)
                break
        else:
            return None
    return placed if position == len(rendered) else None
