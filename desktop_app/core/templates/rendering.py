"""Where a chat template renders: ours in this process, every other one in the worker process.

A template that did not ship with Hearth (a model file's, a user's override) could run one C-level
operation on crafted data for hours, which no in-process check can stop; template_worker.py renders it
in a killable process with resource limits. The built-in templates are rendered several times per turn
and stay here. Validation renders a small sample conversation the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates.builtin_formats import BUILTIN_TEXTS
from desktop_app.core.templates.errors import TemplateRaisedError
from desktop_app.core.templates.sandbox import render_template


def render_chat(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    time_limit_s: float = 2.0,
    max_chars: int = 1_000_000,
) -> str:
    """Render a chat template where that is safe: ours in this process, any other in the worker process.

    Only a template that ships with Hearth runs here; everything else (a model file's, an override
    typed by the user, even one equal to a built-in but for a space) goes to template_worker.py.
    """
    if template in BUILTIN_TEXTS:
        return render_template(
            template, messages, bos_token=bos_token, eos_token=eos_token,
            add_generation_prompt=add_generation_prompt, time_limit_s=time_limit_s, max_chars=max_chars,
        )  # fmt: skip
    from desktop_app.core.template_worker import render_isolated

    return render_isolated(
        template, messages, bos_token=bos_token, eos_token=eos_token,
        add_generation_prompt=add_generation_prompt, time_limit_s=time_limit_s, max_chars=max_chars,
    )  # fmt: skip


#: what validation (and stop-string detection) renders: every role, a system prompt first
_SAMPLE_CONVERSATION: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "Sample question 7f3a"},
)


def validate_template(template: str) -> None:
    """Check a template the user is about to save by rendering a small sample conversation.

    Rendered like any untrusted template (in the worker process unless it is a built-in one). Templates
    of models without a system role (Gemma 1, early Mistral) refuse a system message with
    `raise_exception`; that is their contract, not a defect, so we retry without one. A template that
    renders but drops the user's words is broken in a way that otherwise shows up only as nonsense.
    """
    render_sample(template)


def render_sample(template: str) -> str:
    """The sample conversation as `template` renders it (validation, and the stop strings it writes)."""
    conversation = _SAMPLE_CONVERSATION
    try:
        rendered = render_chat(template, conversation, bos_token="<s>", eos_token="</s>")
    except TemplateRaisedError:
        rendered = render_chat(template, conversation[1:], bos_token="<s>", eos_token="</s>")
    if conversation[-1]["content"] not in rendered:
        raise TemplateError(
            "The chat template does not include the messages in the prompt it renders.",
            hint="Check that it loops over `messages` and prints each `message['content']`.",
        )
    return rendered
