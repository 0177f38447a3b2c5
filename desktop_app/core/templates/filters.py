"""What a template can call: Jinja's filters behind size checks, and the globals HF templates expect.

The string-building filters are checked before they run (`center(10**9)` would allocate a gigabyte);
the cheap ones, which never enlarge their input, stay as Jinja wrote them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

import jinja2
from jinja2.utils import pass_environment, pass_eval_context

from desktop_app.core.templates.errors import HINT_OVERRIDE, TemplateRaisedError, clip
from desktop_app.core.templates.guards import (
    as_int,
    ensure_fits,
    percent_estimate,
    printed_size,
    str_method_estimate,
)


def install(env: jinja2.Environment) -> None:
    """Give `env` the guarded filters, HF's `tojson`, and the globals chat templates use."""
    env.globals.pop("lipsum", None)  # a paragraph generator no chat template uses
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    env.filters["tojson"] = _tojson
    original = dict(env.filters)
    for name, func in original.items():
        if name not in _UNGUARDED_FILTERS:
            env.filters[name] = _guard_filter(func)
    env.filters.update(_amplifying_filters(original))


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
        ensure_fits(printed_size(args) + printed_size(kwargs), "a filtered value")
        return func(*args, **kwargs)

    return guarded


def _amplifying_filters(original: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Replacements for the filters whose *parameters* can make the result huge (`center(10**9)`)."""

    def center(value: Any, width: int = 80) -> Any:
        ensure_fits(max(printed_size(value), as_int(width)), "a centred string")
        return original["center"](value, width)

    def indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> Any:
        step = width if isinstance(width, int) else len(str(width))
        lines = s.count("\n") + 1 if isinstance(s, str) else printed_size(s)
        ensure_fits(printed_size(s) + lines * max(step, 0), "an indented string")
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
        ensure_fits(printed_size(s) * (1 + len(str(wrapstring or "\n"))), "a wrapped string")
        return original["wordwrap"](environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    @pass_eval_context
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        method_args = (str(old), str(new), -1 if count is None else count)
        estimate = (
            str_method_estimate(s, "replace", method_args, {}) if isinstance(s, str) else printed_size(s)
        )
        ensure_fits(estimate, "a replaced string")
        return original["replace"](eval_ctx, s, old, new, count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        ensure_fits(percent_estimate(value, kwargs or args), "a formatted string")
        return original["format"](value, *args, **kwargs)

    @pass_eval_context
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> Any:
        items = list(value)  # a generator would be spent by the estimate
        ensure_fits(printed_size(items) + len(str(d)) * len(items), "a joined string")
        return original["join"](eval_ctx, items, d, attribute)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        padding = as_int(linecount) * printed_size(fill_with) if fill_with is not None else 0
        ensure_fits(printed_size(value) + padding, "a batch")
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
    ensure_fits(printed_size(value) * (2 + max(step, 0) + extra), "a JSON string")
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def raise_exception(message: object = "") -> NoReturn:
    raise TemplateRaisedError(
        f"The chat template refused this conversation: {clip(str(message))}",
        hint="The model may not accept this kind of message (for example a system prompt). " + HINT_OVERRIDE,
    )


def strftime_now(fmt: str) -> str:
    if len(fmt) > 256:
        raise ValueError("strftime_now() format is too long")
    return datetime.now().strftime(fmt)
