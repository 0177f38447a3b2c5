"""A JSON schema as a GBNF grammar, so llama.cpp's grammar sampler makes a reply match it.

The conversion is llama-cpp-python's port of llama.cpp's json-schema-to-grammar. A schema comes from an
API request, so it is hostile: the converter expands repetition counts (`maxItems: 10**9`, `a{10**9}` in
a pattern) into text, recurses per level of nesting, and asserts on what it cannot read. So the schema
is checked first here, within small bounds, and whatever the converter still refuses becomes a
SettingsError that says what to change. Remote `$ref`s are never fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import GRAMMAR_MAX_CHARS

MAX_SCHEMA_CHARS: Final = 32 * 1024  # the schema as compact JSON
MAX_DEPTH: Final = 12  # nested objects and lists in the schema
MAX_NODES: Final = 1_000  # objects, lists and values in the schema
MAX_REPEAT: Final = 64  # minItems/maxItems/minLength/maxLength, and {m,n} in a pattern
MAX_PATTERN_CHARS: Final = 256
#: optional and repeated parts in all patterns together (each ?, * and +, and each {m,n} counts n): an
#: ambiguous pattern such as (a?){256} made llama.cpp's grammar take seconds per token here (~cubic);
#: at this budget the worst case measured stays under 0.1 s for a whole reply
MAX_PATTERN_REPEATS: Final = 64
MAX_GRAMMAR_CHARS: Final = min(64 * 1024, GRAMMAR_MAX_CHARS)

#: what the converter understands; anything else would be silently ignored, so it is refused
_KEYWORDS: Final = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems",
        "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
        "pattern", "format", "minLength", "maxLength",
        # annotations: no effect on the grammar
        "title", "description", "$schema", "$id", "$comment", "default", "examples",
    }
)  # fmt: skip
_TYPES: Final = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_FORMATS: Final = frozenset(
    {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
)
_REPEAT_KEYWORDS: Final = ("minItems", "maxItems", "minLength", "maxLength")
_QUANTIFIER = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")
_HINT: Final = 'Simplify the schema, or use {"type": "json_object"} for any JSON object.'


class SchemaError(SettingsError):
    """The schema cannot become a grammar; the message names the place in the schema."""


def schema_to_gbnf(schema: object) -> str:
    """The GBNF grammar of `schema` (a parsed JSON schema). SchemaError when it is too large or deep,
    uses what Hearth cannot enforce, or the converter refuses it."""
    if not isinstance(schema, Mapping):
        raise SchemaError("The JSON schema must be an object.", hint=_HINT)
    try:
        text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SchemaError(f"The JSON schema is not plain JSON: {exc}.", hint=_HINT) from exc
    if len(text) > MAX_SCHEMA_CHARS:
        raise SchemaError(
            f"The JSON schema is too large ({len(text):,} characters; at most {MAX_SCHEMA_CHARS:,}).",
            hint=_HINT,
        )
    _Checker().check(schema, "schema", 0)
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(text)
    except KeyError as exc:  # a $ref the converter could not follow (one at the schema's top, say)
        raise SchemaError(f"The JSON schema's reference {exc} cannot be resolved.", hint=_HINT) from exc
    except (AssertionError, ValueError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise SchemaError(f"The JSON schema cannot be enforced: {exc}.", hint=_HINT) from exc
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise SchemaError(
            f"The JSON schema makes a grammar of {len(grammar):,} characters "
            f"(at most {MAX_GRAMMAR_CHARS:,}).",
            hint=_HINT,
        )
    return str(grammar)


class _Checker:
    """Walks the schema once, bounding its size, depth and repetition counts."""

    def __init__(self) -> None:
        self.nodes = 0
        self.pattern_repeats = 0

    def check(self, node: object, where: str, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SchemaError(f"The JSON schema has more than {MAX_NODES:,} parts.", hint=_HINT)
        if depth > MAX_DEPTH:
            raise SchemaError(f"The JSON schema nests deeper than {MAX_DEPTH} levels at {where}.", hint=_HINT)
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.check(item, f"{where}[{i}]", depth + 1)
        elif isinstance(node, Mapping):
            self._schema(node, where, depth)

    def _schema(self, node: Mapping[str, Any], where: str, depth: int) -> None:
        unknown = sorted(str(k) for k in node if k not in _KEYWORDS)
        if unknown:
            raise SchemaError(
                f"{where} uses {', '.join(repr(k) for k in unknown[:5])}, which Hearth cannot enforce "
                "(supported: type, properties, required, additionalProperties, items, prefixItems, "
                "minItems, maxItems, enum, const, anyOf, oneOf, allOf, $ref to #/$defs, pattern, "
                "format, minLength, maxLength).",
                hint=_HINT,
            )
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(k is not None and k not in _TYPES for k in kinds):
            raise SchemaError(f"{where}.type must be one of {', '.join(sorted(_TYPES))}.", hint=_HINT)
        fmt = node.get("format")
        if fmt is not None and fmt not in _FORMATS:
            raise SchemaError(
                f"{where}.format {fmt!r} cannot be enforced (supported: {', '.join(sorted(_FORMATS))}).",
                hint=_HINT,
            )
        for name in _REPEAT_KEYWORDS:
            value = node.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPEAT
            ):
                raise SchemaError(
                    f"{where}.{name} must be a whole number from 0 to {MAX_REPEAT}, not {value!r}.",
                    hint=_HINT,
                )
        ref = node.get("$ref")
        if ref is not None and (not isinstance(ref, str) or not ref.startswith("#/")):
            raise SchemaError(
                f'{where}.$ref must point inside the schema ("#/$defs/…"), not {ref!r}.', hint=_HINT
            )
        pattern = node.get("pattern")
        if pattern is not None:
            self._pattern(pattern, f"{where}.pattern")
        for key in ("properties", "$defs", "definitions"):
            section = node.get(key)
            if section is not None and not isinstance(section, Mapping):
                raise SchemaError(f"{where}.{key} must be an object.", hint=_HINT)
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
                for name, sub in value.items():
                    self.check(sub, f"{where}.{key}.{name}", depth + 1)
            elif key in ("enum", "const", "default", "examples"):
                self.check_value(value, f"{where}.{key}", depth + 1)
            else:
                self.check(value, f"{where}.{key}", depth + 1)

    def check_value(self, value: object, where: str, depth: int) -> None:
        """A literal (enum, const): only its size matters."""
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise SchemaError(f"The JSON schema is too large or deep at {where}.", hint=_HINT)
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.check_value(item, f"{where}[{i}]", depth + 1)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.check_value(item, f"{where}.{key}", depth + 1)

    def _pattern(self, pattern: object, where: str) -> None:
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
            raise SchemaError(f"{where} must be text of at most {MAX_PATTERN_CHARS} characters.", hint=_HINT)
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise SchemaError(f"{where} must start with ^ and end with $.", hint=_HINT)
        if pattern.count("(") > 16:
            raise SchemaError(f"{where} has more than 16 groups.", hint=_HINT)
        repeats = sum(pattern.count(c) for c in "?*+")
        for match in _QUANTIFIER.finditer(pattern):
            numbers = [int(n) for n in match.groups() if n]
            if any(n > MAX_REPEAT for n in numbers):
                raise SchemaError(
                    f"{where} repeats up to {max(numbers)} times; at most {MAX_REPEAT} are allowed.",
                    hint=_HINT,
                )
            repeats += max(numbers, default=1)
        self.pattern_repeats += repeats
        if self.pattern_repeats > MAX_PATTERN_REPEATS:
            raise SchemaError(
                f"The schema's patterns have too many optional or repeated parts (at {where}: "
                f"{self.pattern_repeats}; at most {MAX_PATTERN_REPEATS} in all, counting each ?, * and + "
                "and each {m,n} as n).",
                hint=_HINT,
            )
