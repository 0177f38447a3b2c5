"""Prompt templates with `{column}` fields, filled by plain lookup.

Not `str.format`: that would let a file's author (or a template typed from a tutorial) reach
attributes (`{row.__class__}`), indexes and format specs (`{x:>99999999}`, a memory bomb). Here a field
is only a name looked up as is; `{{` and `}}` stand for literal braces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from desktop_app.core.errors import SettingsError

MAX_TEMPLATE_CHARS = 100_000


class MissingColumnError(KeyError):
    """A row lacks a field the template names (a per-row error, not a broken template)."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template: literal text and field names, alternating (a field is a 1-tuple)."""

    parts: tuple[str | tuple[str], ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p[0] for p in self.parts if isinstance(p, tuple))

    def fill(self, row: Mapping[str, object]) -> str:
        """The prompt for `row`. Raises MissingColumnError for a field the row lacks."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name = part[0]
            if name not in row:
                raise MissingColumnError(name)
            out.append(cell_text(row[name]))
        return "".join(out)


def cell_text(value: object) -> str:
    """A value as the template shows it: text as is, null as nothing, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def parse_template(text: str) -> PromptTemplate:
    """Parse `text`; raises SettingsError for an unmatched brace or an empty field."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise SettingsError(
            f"The template is {len(text):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}.",
            hint="Shorten the template.",
        )
    parts: list[str | tuple[str]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "{":
            end = text.find("}", i + 1)
            inner = text[i + 1 : end] if end != -1 else ""
            if end == -1 or "{" in inner:
                raise SettingsError(
                    f"The template has a '{{' without its '}}' (at character {i + 1}).",
                    hint="Write {column} for a column, or {{ for a literal brace.",
                )
            if not inner.strip():
                raise SettingsError(
                    f"The template has an empty field {{}} (at character {i + 1}).",
                    hint="Put a column name inside the braces, e.g. {question}.",
                )
            if literal:
                parts.append("".join(literal))
                literal.clear()
            parts.append((inner,))
            i = end + 1
        elif char == "}":
            raise SettingsError(
                f"The template has a '}}' without its '{{' (at character {i + 1}).",
                hint="Write }} for a literal brace.",
            )
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return PromptTemplate(tuple(parts))
