"""Size guards: refuse a value a template is about to build before it is allocated.

The sandbox stops escapes but not a denial of service from a short expression that builds a huge
value (`'a' * 10**10`, `2 ** 10**9`, `'%999999999s' % x`, ten lines of nested lists that print as
gigabytes). Every operator, method, filter and output that can do that asks here first, against the
output limit of the render running in this thread.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterable, Mapping, MappingView
from contextvars import ContextVar
from typing import Any

from jinja2.utils import Namespace

from desktop_app.core.errors import TemplateError
from desktop_app.core.templates.errors import HINT_OVERRIDE

#: ints above this many bits are refused (`2 ** 10**9` would take seconds and hundreds of MB)
_MAX_INT_BITS = 1 << 16

#: Size limit for the render running in this thread; read by the guards, which get no other context.
LIMIT: ContextVar[int] = ContextVar("hearth_template_limit", default=1_000_000)


def printed_size(value: object) -> int:
    """Characters `value` would take once printed, counted up to just past the current limit.

    Containers count their children every time they appear, so ten lines of `[a, a, a, …]` that would
    print as gigabytes ("billion laughs") count as gigabytes; each container is still walked once.
    """
    cap = LIMIT.get()
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


def ensure_fits(estimate: int, what: str) -> None:
    limit = LIMIT.get()
    if estimate > limit:
        raise TemplateError(
            f"The chat template tried to build {what} of more than {limit:,} characters and was stopped.",
            hint=HINT_OVERRIDE,
        )


def as_int(value: object) -> int:
    """An int argument as a size; anything else is Python's own error to raise."""
    return value if isinstance(value, int) else 0


def _digits(text: str) -> int:
    """Sum of the numbers written in a format spec (widths, precisions), saturating on long runs."""
    return sum(int(run) if len(run) < 13 else 10**12 for run in re.findall(r"\d+", text))


def _int_total(values: Iterable[object]) -> int:
    """Sum of the int arguments, which a `*` or a nested format field turns into a width."""
    return sum(abs(value) for value in values if isinstance(value, int))


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?")


def percent_estimate(fmt: object, args: object) -> int:
    """Upper bound for `fmt % args`: `'%999999999s' % x` is a gigabyte from a dozen characters."""
    if not isinstance(fmt, str):
        return printed_size(fmt) + printed_size(args)
    specs = "".join(_PERCENT_SPEC.findall(fmt))
    widths = _digits(specs)
    if "*" in specs:
        widths += _int_total(args if isinstance(args, tuple) else (args,))
    return len(fmt) + widths + printed_size(args)


def format_estimate(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Upper bound for `fmt.format(*args, **kwargs)`: widths in specs, nested ones taken from the args."""
    total = len(fmt) + printed_size(args) + printed_size(kwargs)
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


def check_binop(operator: str, left: object, right: object) -> None:
    """Refuse `'a' * 10**10`, `2 ** 10**9`, `'%999999999s' % x` and the like before Python runs them."""
    if isinstance(left, int) and isinstance(right, int):
        _check_int_op(operator, left, right)
    elif operator == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | bytes | list | tuple):
            ensure_fits(printed_size(sequence) * max(count, 0), "a repeated value")
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            ensure_fits(printed_size(left) + printed_size(right), "a joined value")
    elif operator == "%" and isinstance(left, str):
        ensure_fits(percent_estimate(left, right), "a formatted string")


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
            hint=HINT_OVERRIDE,
        )


_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def str_method_estimate(
    text: str | bytes, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> int:
    """Upper bound for the str methods whose result can be far longer than the string they start from."""

    def arg(index: int, name: str, default: object) -> object:
        return args[index] if len(args) > index else kwargs.get(name, default)

    if method in _PADDING_METHODS:
        return max(len(text), as_int(arg(0, "width", 0)))
    if method == "expandtabs":
        tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
        return len(text) + tabs * max(0, as_int(arg(0, "tabsize", 8)))
    if method == "replace":
        old, new, count = arg(0, "old", ""), arg(1, "new", ""), as_int(arg(2, "count", -1))
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


def checked_output(value: object) -> object:
    """`finalize` hook: every `{{ … }}` passes here before `str()` turns a container into text."""
    ensure_fits(printed_size(value), "an output value")
    return value


def checked_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    """Called by the generated code before `a ~ b ~ …` is joined."""
    ensure_fits(sum(printed_size(part) for part in parts), "a joined string")
    return parts


def checked_concat(pieces: Iterable[str]) -> str:
    """`Environment.concat`: joins the buffers of `{% set %}` blocks, macros and filter blocks."""
    items = list(pieces)
    ensure_fits(sum(len(item) for item in items), "a block of text")
    return "".join(items)
