"""Chat templates: sandboxed rendering of untrusted Jinja, plus built-in fallbacks.

A GGUF file's `tokenizer.chat_template` is code written by whoever published the file, and
llama-cpp-python once rendered it in a plain Jinja environment (CVE-2024-34359: remote code execution
from a model download). Here a template can only ever run in Jinja's `ImmutableSandboxedEnvironment`,
and three more things are bounded, because the sandbox alone stops escapes but not a denial of service:

- time: a trace function checks a deadline on every line the render executes (template code and the
  Jinja runtime alike), in the calling thread, so nothing is left spinning when we give up;
- output: the rendered text is streamed and counted as it grows;
- memory: every operation that can turn a short expression into a huge value (`*`, `**`, `+`, `%`,
  `~`, padding and replace methods, `format`, the string-building filters, printing a container) is
  checked against the output limit *before* it allocates.

What these cannot bound is a single C-level operation on adversarially shaped data (for example
comparing two deeply nested lists built from shared parts); the time check runs between Python lines.
So every template that did not ship with Hearth (a model file's, a user's override) is rendered by
`render_chat` in a killable worker process with resource limits (template_worker.py), where these
guards run too. The built-in templates are our own code, render in well under a millisecond and stay
in this process: a chat renders several times per turn.

`render_segments` tells the template's own text (its special tokens) from the messages' text, so that
the engine never lets a message's words become control tokens.

Models without a template (such as the base Gemma 3 270M) get a built-in one chosen by architecture and
name, and every format carries the stop strings the engine should stop on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import re
import secrets
import string
import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, MappingView, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, Literal, NamedTuple, NoReturn

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, missing, pass_environment, pass_eval_context

from desktop_app.core.errors import TemplateError

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

log = logging.getLogger(__name__)

Source = Literal["override", "file", "builtin"]

_HINT_OVERRIDE = "Set a template override for this model in its settings (a built-in format usually works)."
_HINT_UNSAFE = (
    "This model file may be malicious. Don't use its template: set a template override for this model "
    "in its settings, or delete the model."
)
_TEMPLATE_FILENAME = "<template>"
#: ints above this many bits are refused (`2 ** 10**9` would take seconds and hundreds of MB)
_MAX_INT_BITS = 1 << 16
#: a user-visible message never quotes more than this much of a template's own text
_MAX_QUOTE = 300


# ---------------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class ChatFormat:
    """How to turn a conversation into a prompt for one model, and where that recipe came from."""

    template: str
    source: Source
    family: str
    stop_strings: tuple[str, ...]
    #: set when the model's own template (or the user's override) was refused and this one replaced it
    warning: str | None = None


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
    if template in _BUILTIN_TEXTS:
        return render_template(
            template, messages, bos_token=bos_token, eos_token=eos_token,
            add_generation_prompt=add_generation_prompt, time_limit_s=time_limit_s, max_chars=max_chars,
        )  # fmt: skip
    from desktop_app.core.template_worker import render_isolated

    return render_isolated(
        template, messages, bos_token=bos_token, eos_token=eos_token,
        add_generation_prompt=add_generation_prompt, time_limit_s=time_limit_s, max_chars=max_chars,
    )  # fmt: skip


def render_template(
    template: str,
    messages: Sequence[Mapping[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    time_limit_s: float = 2.0,
    max_chars: int = 1_000_000,
) -> str:
    """Render an untrusted chat template; any failure, escape attempt or overrun is a TemplateError."""
    variables: dict[str, Any] = {
        "messages": [dict(message) for message in messages],
        "bos_token": bos_token,
        "eos_token": eos_token,
        "add_generation_prompt": add_generation_prompt,
        "tools": None,
        "documents": None,
    }
    started = time.monotonic()
    generator: Iterator[str] | None = None
    try:
        with _watchdog(started + time_limit_s, max_chars):
            generator = _compile(template).generate(**variables)
            return _collect(generator, max_chars)
    except TemplateError:
        raise
    except _Timeout:
        raise TemplateError(
            f"The chat template took longer than {time_limit_s:g} s to render and was stopped.",
            hint=_HINT_OVERRIDE,
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"The chat template has a syntax error on line {exc.lineno}: {_clip(exc.message or '')}",
            hint=_HINT_OVERRIDE,
        ) from exc
    except SecurityError as exc:
        raise TemplateError(
            f"The chat template tried to do something unsafe ({_clip(str(exc))}) and was stopped.",
            hint=_HINT_UNSAFE,
            details=traceback.format_exc(),
        ) from exc
    except RecursionError as exc:
        raise TemplateError(
            "The chat template recursed too deeply and was stopped.", hint=_HINT_OVERRIDE
        ) from exc
    except MemoryError as exc:
        raise TemplateError("The chat template ran out of memory.", hint=_HINT_OVERRIDE) from exc
    except Exception as exc:  # anything a template can trigger: TypeError, UndefinedError, ValueError...
        raise TemplateError(
            f"The chat template failed{_where(exc.__traceback__)}: {_clip(str(exc) or type(exc).__name__)}",
            hint=_HINT_OVERRIDE,
            details=traceback.format_exc(),
        ) from exc
    finally:
        if isinstance(generator, Generator):
            generator.close()  # after the trace function is gone: closing runs no template code


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
    _render_sample(template)


def _render_sample(template: str) -> str:
    conversation = _SAMPLE_CONVERSATION
    try:
        rendered = render_chat(template, conversation, bos_token="<s>", eos_token="</s>")
    except _TemplateRaisedError:
        rendered = render_chat(template, conversation[1:], bos_token="<s>", eos_token="</s>")
    if conversation[-1]["content"] not in rendered:
        raise TemplateError(
            "The chat template does not include the messages in the prompt it renders.",
            hint="Check that it loops over `messages` and prints each `message['content']`.",
        )
    return rendered


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
            hint=_HINT_OVERRIDE,
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


def detect_family(architecture: str, name: str = "", chat_template: str | None = None) -> str:
    """Pick the built-in format closest to a model: by the markers in its template, else by arch/name.

    Used for the fallback template of models that lack one, and for the stop strings of models that have
    one (the template text says which special tokens end a turn).
    """
    if chat_template:
        for marker, family in _TEMPLATE_MARKERS:
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
    return _DEFAULT_FAMILY


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
    if key in _BUILTINS:
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
        display = _BUILTINS[chat_format.family].display_name
        warning = " ".join([*refusals, f"Using the built-in {display} format instead."])
        chat_format = dataclasses.replace(chat_format, warning=warning)
        log.warning("%s", warning)
    return chat_format


def list_builtin_families() -> list[tuple[str, str]]:
    """(key, display name) of every built-in format, for a picker in the model settings."""
    return [(key, builtin.display_name) for key, builtin in _BUILTINS.items()]


# ---------------------------------------------------------------------------------------------------
# Built-in formats


@dataclass(frozen=True)
class _Builtin:
    display_name: str
    template: str
    stop_strings: tuple[str, ...]


# Written with `{%-`/`-%}` so that trim_blocks/lstrip_blocks (always on, as in HF transformers) and the
# newlines between statements add nothing: what each renders is pinned by tests/test_templates.py.
_GEMMA = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') -}}
    {{- message['content'] | trim -}}
    {{- '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}
"""

_GEMMA_4 = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] in ['system', 'developer'] -%}
    {{- '<|turn>system\n' + messages[0]['content'] | trim + '<turn|>\n' -}}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<|turn>' + role + '\n' + message['content'] | trim + '<turn|>\n' -}}
{%- endfor -%}
{#- an empty thought channel: answer directly, as Google's template does with thinking off -#}
{%- if add_generation_prompt -%}{{- '<|turn>model\n<|channel>thought\n<channel|>' -}}{%- endif -%}
"""

_LLAMA_3 = """\
{{- bos_token -}}
{%- for message in messages -%}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' -}}
    {{- message['content'] | trim -}}
    {{- '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}{%- endif -%}
"""

_CHATML = """\
{%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""

_MISTRAL = """\
{{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message['role'] == 'user' -%}
        {{- '[INST] ' + (first_user_prefix if loop.first else '') + message['content'] + ' [/INST]' -}}
    {%- elif message['role'] == 'assistant' -%}
        {{- message['content'] + eos_token -}}
    {%- endif -%}
{%- endfor -%}
"""

_PHI_3 = """\
{%- for message in messages -%}
    {{- '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}
"""

_LLAMA_2 = """\
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_prefix = '<<SYS>>\n' + messages[0]['content'] + '\n<</SYS>>\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set system_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message['role'] == 'user' -%}
        {%- set content = (system_prefix if loop.first else '') + message['content'] | trim -%}
        {{- bos_token + '[INST] ' + content + ' [/INST]' -}}
    {%- elif message['role'] == 'assistant' -%}
        {{- ' ' + message['content'] | trim + ' ' + eos_token -}}
    {%- endif -%}
{%- endfor -%}
"""

_BUILTINS: dict[str, _Builtin] = {
    "chatml": _Builtin("ChatML (Qwen, many fine-tunes)", _CHATML, ("<|im_end|>", "<|im_start|>")),
    "gemma": _Builtin("Gemma 1-3", _GEMMA, ("<end_of_turn>", "<start_of_turn>")),
    "gemma-4": _Builtin("Gemma 4", _GEMMA_4, ("<turn|>", "<|turn>")),
    "llama-3": _Builtin("Llama 3", _LLAMA_3, ("<|eot_id|>", "<|eom_id|>", "<|start_header_id|>")),
    "llama-2": _Builtin("Llama 2", _LLAMA_2, ("</s>", "[INST]")),
    "mistral": _Builtin("Mistral", _MISTRAL, ("</s>", "[INST]")),
    "phi-3": _Builtin("Phi-3", _PHI_3, ("<|end|>", "<|endoftext|>", "<|user|>")),
}
_DEFAULT_FAMILY = "chatml"
#: the template texts that may render in this process (see render_chat)
_BUILTIN_TEXTS = frozenset(builtin.template for builtin in _BUILTINS.values())

#: The special tokens that give a template's family away; the more specific marker comes first
#: (Llama 2's template also contains `[INST]`).
_TEMPLATE_MARKERS: tuple[tuple[str, str], ...] = (
    ("<start_of_turn>", "gemma"),
    ("<|turn>", "gemma-4"),
    ("<|start_header_id|>", "llama-3"),
    ("<|im_start|>", "chatml"),
    ("<|assistant|>", "phi-3"),
    ("<<SYS>>", "llama-2"),
    ("[INST]", "mistral"),
)


def _builtin_format(family: str, source: Source) -> ChatFormat:
    builtin = _BUILTINS[family]
    return ChatFormat(builtin.template, source, family, builtin.stop_strings)


def _custom_format(template: str, source: Source, family: str) -> ChatFormat:
    """Raises TemplateError when the template does not render the sample conversation."""
    sample = _render_sample(template)
    return ChatFormat(
        template, source, family, _stops_written_by(template, sample, _BUILTINS[family].stop_strings)
    )


def _stops_written_by(template: str, sample: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The family's turn markers that this template really writes.

    A guessed family whose markers the template never uses (DeepSeek falls back to "chatml") would
    only cut replies that happen to quote them; the model's end-of-generation tokens end the reply
    either way. Markers can be built from pieces (`'<|' + role + '|>'`), so the sample render counts too.
    """
    return tuple(stop for stop in candidates if stop in template or stop in sample)


# ---------------------------------------------------------------------------------------------------
# Rendering under a deadline


class _Timeout(BaseException):
    """Raised by the trace function. A BaseException, so no `except Exception` in a library eats it."""


class _TemplateRaisedError(TemplateError):
    """The template called `raise_exception`: it refuses this conversation (a deliberate error)."""


#: Size limit for the render running in this thread; read by the guards, which get no other context.
_LIMIT: ContextVar[int] = ContextVar("hearth_template_limit", default=1_000_000)


@contextlib.contextmanager
def _watchdog(deadline: float, max_chars: int) -> Iterator[None]:
    """Bound this thread's render by `deadline`, then put back whatever trace function was there.

    `sys.settrace` is per thread, so the check costs nothing elsewhere, and raising from it stops the
    render where it stands: there is no abandoned thread left computing.
    """

    def tracer(frame: FrameType, event: str, arg: object, _now: Callable[[], float] = time.monotonic) -> Any:
        if _now() > deadline:
            raise _Timeout
        return tracer

    previous = sys.gettrace()
    token = _LIMIT.set(max_chars)
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
        _LIMIT.reset(token)


def _collect(pieces: Iterator[str], max_chars: int) -> str:
    """Join the streamed output, refusing as soon as it passes `max_chars`."""
    parts: list[str] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_chars:
            raise TemplateError(
                f"The chat template produced more than {max_chars:,} characters and was stopped.",
                hint="If this chat is very long, start a new one. Otherwise set a template override for "
                "this model in its settings.",
            )
        parts.append(piece)
    return "".join(parts)


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    """Compile once per template text: a chat renders the same template on every turn."""
    return _ENVIRONMENT.from_string(source)


def _where(tb: TracebackType | None) -> str:
    """' on line N' for the innermost template line in a traceback (Jinja maps them back for us)."""
    lineno = None
    for frame, line in traceback.walk_tb(tb):
        if frame.f_code.co_filename == _TEMPLATE_FILENAME:
            lineno = line
    return f" on line {lineno}" if lineno is not None else ""


def _clip(text: str) -> str:
    """Template-controlled text goes into error messages; keep it short."""
    return text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE] + "…"


# ---------------------------------------------------------------------------------------------------
# Size guards: refuse a value before it is allocated


def _size(value: object) -> int:
    """Characters `value` would take once printed, counted up to just past the current limit.

    Containers count their children every time they appear, so ten lines of `[a, a, a, …]` that would
    print as gigabytes ("billion laughs") count as gigabytes; each container is still walked once.
    """
    cap = _LIMIT.get()
    memo: dict[int, int] = {}

    def walk(item: object) -> int:
        if isinstance(item, str | bytes):
            return len(item)
        if isinstance(item, int):
            return item.bit_length() * 30103 // 100_000 + 2  # decimal digits, sign
        if isinstance(item, Namespace):
            item = getattr(item, "_Namespace__attrs", {})
        if isinstance(item, Mapping):
            children: Any = itertools.chain.from_iterable(item.items())
        elif isinstance(item, list | tuple | set | frozenset | MappingView):
            children = item
        else:
            return 1  # None, floats, loop objects, macros: short reprs
        key = id(item)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a cycle counts once: repr prints it as "[...]"
        total = 1
        for child in children:
            total += walk(child)
            if total > cap:
                break
        memo[key] = total
        return total

    return walk(value)


def _ensure_fits(estimate: int, what: str) -> None:
    limit = _LIMIT.get()
    if estimate > limit:
        raise TemplateError(
            f"The chat template tried to build {what} of more than {limit:,} characters and was stopped.",
            hint=_HINT_OVERRIDE,
        )


def _as_int(value: object) -> int:
    """An int argument as a size; anything else is Python's own error to raise."""
    return value if isinstance(value, int) else 0


def _digits(text: str) -> int:
    """Sum of the numbers written in a format spec (widths, precisions), saturating on long runs."""
    return sum(int(run) if len(run) < 13 else 10**12 for run in re.findall(r"\d+", text))


def _int_total(values: Iterable[object]) -> int:
    """Sum of the int arguments, which a `*` or a nested format field turns into a width."""
    return sum(abs(value) for value in values if isinstance(value, int))


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?")


def _percent_estimate(fmt: object, args: object) -> int:
    """Upper bound for `fmt % args`: `'%999999999s' % x` is a gigabyte from a dozen characters."""
    if not isinstance(fmt, str):
        return _size(fmt) + _size(args)
    specs = "".join(_PERCENT_SPEC.findall(fmt))
    widths = _digits(specs)
    if "*" in specs:
        widths += _int_total(args if isinstance(args, tuple) else (args,))
    return len(fmt) + widths + _size(args)


def _format_estimate(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Upper bound for `fmt.format(*args, **kwargs)`: widths in specs, nested ones taken from the args."""
    total = len(fmt) + _size(args) + _size(kwargs)
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return total  # str.format raises the same error itself
    for _literal, _field, spec, _conversion in fields:
        if spec:
            total += _digits(spec)
            if "{" in spec:
                total += _int_total(args) + _int_total(kwargs.values())
    return total


def _check_binop(operator: str, left: object, right: object) -> None:
    """Refuse `'a' * 10**10`, `2 ** 10**9`, `'%999999999s' % x` and the like before Python runs them."""
    if isinstance(left, int) and isinstance(right, int):
        _check_int_op(operator, left, right)
    elif operator == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | bytes | list | tuple):
            _ensure_fits(_size(sequence) * max(count, 0), "a repeated value")
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            _ensure_fits(_size(left) + _size(right), "a joined value")
    elif operator == "%" and isinstance(left, str):
        _ensure_fits(_percent_estimate(left, right), "a formatted string")


def _check_int_op(operator: str, left: int, right: int) -> None:
    if operator == "*":
        bits = left.bit_length() + right.bit_length()
    elif operator == "**" and abs(left) > 1 and right > 0:
        bits = left.bit_length() * right
    else:
        return
    if bits > _MAX_INT_BITS:
        raise TemplateError(
            f"The chat template tried to compute a number of more than {_MAX_INT_BITS:,} bits "
            "and was stopped.",
            hint=_HINT_OVERRIDE,
        )


_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _str_method_estimate(
    text: str | bytes, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> int:
    """Upper bound for the str methods whose result can be far longer than the string they start from."""

    def arg(index: int, name: str, default: object) -> object:
        return args[index] if len(args) > index else kwargs.get(name, default)

    if method in _PADDING_METHODS:
        return max(len(text), _as_int(arg(0, "width", 0)))
    if method == "expandtabs":
        tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
        return len(text) + tabs * max(0, _as_int(arg(0, "tabsize", 8)))
    if method == "replace":
        old, new, count = arg(0, "old", ""), arg(1, "new", ""), _as_int(arg(2, "count", -1))
        if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
            return len(text)
        hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        return len(text) + (hits if count < 0 else min(hits, count)) * len(new)
    if method == "translate":
        table = arg(0, "table", {})
        longest = (
            max((len(v) for v in table.values() if isinstance(v, str)), default=1)
            if isinstance(table, Mapping)
            else 1
        )
        return len(text) * max(longest, 1)
    return len(text)


def _checked_output(value: object) -> object:
    """`finalize` hook: every `{{ … }}` passes here before `str()` turns a container into text."""
    _ensure_fits(_size(value), "an output value")
    return value


def _checked_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Called by the generated code before `a ~ b ~ …` is joined."""
    _ensure_fits(sum(_size(part) for part in parts), "a joined string")
    return parts


def _checked_concat(pieces: Iterable[str]) -> str:
    """`Environment.concat`: joins the buffers of `{% set %}` blocks, macros and filter blocks."""
    items = list(pieces)
    _ensure_fits(sum(len(item) for item in items), "a block of text")
    return "".join(items)


# ---------------------------------------------------------------------------------------------------
# Filters: the string-building ones are checked; the cheap ones stay as they are


#: filters that never stringify or enlarge their input beyond a list of references to it
_UNGUARDED_FILTERS = frozenset({
    "abs", "attr", "count", "d", "default", "dictsort", "filesizeformat", "first", "float", "groupby",
    "int", "items", "last", "length", "list", "map", "max", "min", "random", "reject", "rejectattr",
    "reverse", "round", "select", "selectattr", "slice", "sort", "sum", "unique", "wordcount",
})  # fmt: skip


def _guard_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a filter call whose arguments are already too big to turn into text."""

    @functools.wraps(func)  # keeps Jinja's pass_context/pass_eval_context marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _ensure_fits(_size(args) + _size(kwargs), "a filtered value")
        return func(*args, **kwargs)

    return guarded


def _amplifying_filters(original: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Replacements for the filters whose *parameters* can make the result huge (`center(10**9)`)."""

    def center(value: Any, width: int = 80) -> Any:
        _ensure_fits(max(_size(value), _as_int(width)), "a centred string")
        return original["center"](value, width)

    def indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> Any:
        step = width if isinstance(width, int) else len(str(width))
        lines = s.count("\n") + 1 if isinstance(s, str) else _size(s)
        _ensure_fits(_size(s) + lines * max(step, 0), "an indented string")
        return original["indent"](s, width, first, blank)

    @pass_environment
    def wordwrap(  # noqa: PLR0917 (Jinja's own signature)
        environment: jinja2.Environment,
        s: Any,
        width: int = 79,
        break_long_words: bool = True,
        wrapstring: str | None = None,
        break_on_hyphens: bool = True,
    ) -> Any:
        _ensure_fits(_size(s) * (1 + len(str(wrapstring or "\n"))), "a wrapped string")
        return original["wordwrap"](environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    @pass_eval_context
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        method_args = (str(old), str(new), -1 if count is None else count)
        estimate = _str_method_estimate(s, "replace", method_args, {}) if isinstance(s, str) else _size(s)
        _ensure_fits(estimate, "a replaced string")
        return original["replace"](eval_ctx, s, old, new, count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        _ensure_fits(_percent_estimate(value, kwargs or args), "a formatted string")
        return original["format"](value, *args, **kwargs)

    @pass_eval_context
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> Any:
        items = list(value)  # a generator would be spent by the estimate
        _ensure_fits(_size(items) + len(str(d)) * len(items), "a joined string")
        return original["join"](eval_ctx, items, d, attribute)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        padding = _as_int(linecount) * _size(fill_with) if fill_with is not None else 0
        _ensure_fits(_size(value) + padding, "a batch")
        return original["batch"](value, linecount, fill_with)

    return {"center": center, "indent": indent, "wordwrap": wordwrap, "replace": replace,
            "format": format_, "join": join, "batch": batch}  # fmt: skip


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """HF transformers' `tojson`: plain JSON, not Jinja's HTML-escaped one, so tool schemas read right."""
    step = indent if isinstance(indent, int) else len(indent or "")
    extra = sum(len(str(part)) for part in separators or ())
    _ensure_fits(_size(value) * (2 + max(step, 0) + extra), "a JSON string")
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


# ---------------------------------------------------------------------------------------------------
# Globals HF templates expect


def _raise_exception(message: object = "") -> NoReturn:
    raise _TemplateRaisedError(
        f"The chat template refused this conversation: {_clip(str(message))}",
        hint="The model may not accept this kind of message (for example a system prompt). " + _HINT_OVERRIDE,
    )


def _strftime_now(fmt: str) -> str:
    if len(fmt) > 256:
        raise ValueError("strftime_now() format is too long")
    return datetime.now().strftime(fmt)


# ---------------------------------------------------------------------------------------------------
# The sandbox


#: names a template may not even look up: reaching for them only makes sense as an escape attempt
_FORBIDDEN_NAMES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "shutil", "socket", "ctypes", "pickle", "marshal",
    "io", "posix", "nt", "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals",
    "locals", "vars", "breakpoint", "input",
})  # fmt: skip


class _GuardedUndefined(Undefined):
    """Jinja's lenient Undefined, except that asking for `os`, `eval` or any `_private` name fails loudly.

    HF templates rely on missing keys and variables being quietly empty, so that stays. An escape attempt
    would otherwise also be quietly empty, and the user would never learn the file tried one.
    """

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[jinja2.TemplateRuntimeError] = UndefinedError,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        if name is not None and (name.startswith("_") or (obj is missing and name in _FORBIDDEN_NAMES)):
            raise SecurityError(f"access to {name!r} is not allowed")


class _GenerationTag(jinja2.ext.Extension):
    """HF's `{% generation %}…{% endgeneration %}` marks assistant text for training; rendering ignores it."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _GuardedCodeGenerator(CodeGenerator):
    """Routes `a ~ b` through a size check; Jinja offers no runtime hook for concatenation."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.checked_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size checks on the operators and methods that can blow up."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator
    concat = staticmethod(_checked_concat)
    checked_parts = staticmethod(_checked_parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes):
            method = getattr(obj, "__name__", "")
            if method == "join" and len(args) == 1 and not kwargs:
                args = (list(args[0]),)  # materialise once, so the estimate does not spend a generator
                _ensure_fits(_size(args[0]) + len(owner) * len(args[0]), "a joined string")
            else:
                _ensure_fits(_str_method_estimate(owner, method, args, kwargs), f"a string (.{method})")
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        fmt: str = value.__self__
        is_format_map = value.__name__ == "format_map"
        checked_formatter: Callable[..., str] = formatter

        def checked(*args: Any, **kwargs: Any) -> str:
            named = args[0] if is_format_map and args and isinstance(args[0], Mapping) else kwargs
            _ensure_fits(_format_estimate(fmt, args, named), "a formatted string")
            return checked_formatter(*args, **kwargs)

        return checked

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Fail at once: Jinja's default returns an Undefined that prints as "" and hides the attempt."""
        kind = type(obj).__name__
        raise SecurityError(f"access to attribute {attribute!r} of a {kind!r} object is not allowed")


def _make_environment() -> _Sandbox:
    env = _Sandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols, _GenerationTag],
        undefined=_GuardedUndefined,
        finalize=_checked_output,
        autoescape=False,
        cache_size=0,
    )
    env.globals.pop("lipsum", None)  # a paragraph generator no chat template uses
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    env.filters["tojson"] = _tojson
    original = dict(env.filters)
    for name, func in original.items():
        if name not in _UNGUARDED_FILTERS:
            env.filters[name] = _guard_filter(func)
    env.filters.update(_amplifying_filters(original))
    return env


_ENVIRONMENT = _make_environment()
