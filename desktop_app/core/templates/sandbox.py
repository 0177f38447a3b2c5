"""The Jinja sandbox that renders untrusted chat templates, under a deadline and an output limit.

A GGUF file's `tokenizer.chat_template` is code written by whoever published the file, and
llama-cpp-python once rendered it in a plain Jinja environment (CVE-2024-34359: remote code execution
from a model download). Here a template can only ever run in Jinja's `ImmutableSandboxedEnvironment`,
and three more things are bounded, because the sandbox alone stops escapes but not a denial of service:

- time: a trace function checks a deadline on every line the render executes (template code and the
  Jinja runtime alike), in the calling thread, so nothing is left spinning when we give up;
- output: the rendered text is streamed and counted as it grows;
- memory: every operation that can turn a short expression into a huge value (`*`, `**`, `+`, `%`,
  `~`, padding and replace methods, `format`, the string-building filters, printing a container) is
  checked against the output limit *before* it allocates (guards.py, filters.py).

What these cannot bound is a single C-level operation on adversarially shaped data (for example
comparing two deeply nested lists built from shared parts); the time check runs between Python lines.
So every template that did not ship with Hearth is rendered in a killable worker process
(rendering.py, template_worker.py), where these guards run too.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates import filters, guards
from desktop_app.core.templates.errors import HINT_OVERRIDE, HINT_UNSAFE, clip
from desktop_app.core.templates.guards import (
    LIMIT,
    check_binop,
    ensure_fits,
    format_estimate,
    printed_size,
    str_method_estimate,
)

_TEMPLATE_FILENAME = "<template>"


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
            hint=HINT_OVERRIDE,
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"The chat template has a syntax error on line {exc.lineno}: {clip(exc.message or '')}",
            hint=HINT_OVERRIDE,
        ) from exc
    except SecurityError as exc:
        raise TemplateError(
            f"The chat template tried to do something unsafe ({clip(str(exc))}) and was stopped.",
            hint=HINT_UNSAFE,
            details=traceback.format_exc(),
        ) from exc
    except RecursionError as exc:
        raise TemplateError(
            "The chat template recursed too deeply and was stopped.", hint=HINT_OVERRIDE
        ) from exc
    except MemoryError as exc:
        raise TemplateError("The chat template ran out of memory.", hint=HINT_OVERRIDE) from exc
    except Exception as exc:  # anything a template can trigger: TypeError, UndefinedError, ValueError...
        raise TemplateError(
            f"The chat template failed{_where(exc.__traceback__)}: {clip(str(exc) or type(exc).__name__)}",
            hint=HINT_OVERRIDE,
            details=traceback.format_exc(),
        ) from exc
    finally:
        if isinstance(generator, Generator):
            generator.close()  # after the trace function is gone: closing runs no template code


class _Timeout(BaseException):
    """Raised by the trace function. A BaseException, so no `except Exception` in a library eats it."""


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
    token = LIMIT.set(max_chars)
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
        LIMIT.reset(token)


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
    concat = staticmethod(guards.checked_concat)
    checked_parts = staticmethod(guards.checked_parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes):
            method = getattr(obj, "__name__", "")
            if method == "join" and len(args) == 1 and not kwargs:
                args = (list(args[0]),)  # materialise once, so the estimate does not spend a generator
                ensure_fits(printed_size(args[0]) + len(owner) * len(args[0]), "a joined string")
            else:
                ensure_fits(str_method_estimate(owner, method, args, kwargs), f"a string (.{method})")
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
            ensure_fits(format_estimate(fmt, args, named), "a formatted string")
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
        finalize=guards.checked_output,
        autoescape=False,
        cache_size=0,
    )
    filters.install(env)
    return env


_ENVIRONMENT = _make_environment()
