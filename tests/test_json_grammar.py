"""A JSON schema from an API request becomes a GBNF grammar within bounds, or a SchemaError that says why."""

from __future__ import annotations

from typing import Any

import pytest

from desktop_app.core.json_grammar import MAX_GRAMMAR_CHARS, SchemaError, schema_to_gbnf


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


def test_an_ordinary_schema_becomes_a_grammar_with_a_root_rule() -> None:
    grammar = schema_to_gbnf(
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 20},
                "born": {"type": "string", "format": "date"},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3},
                "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
            },
            "required": ["name"],
            "$defs": {"Node": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        }
    )
    assert "root ::=" in grammar
    assert '\\"name\\"' in grammar


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "must be an object"),
        (nested(20), "nests deeper than"),
        ({"type": "array", "maxItems": 10**9}, "maxItems must be a whole number from 0 to 64"),
        ({"type": "string", "maxLength": -1}, "maxLength"),
        ({"type": "string", "minLength": True}, "minLength"),
        ({"type": "string", "pattern": "^a{1000000}$"}, "repeats up to 1000000 times"),
        ({"type": "string", "pattern": "^" + "a" * 300 + "$"}, "at most 256 characters"),
        ({"type": "string", "pattern": "^(a?){64}b$"}, "too many optional or repeated parts"),
        ({"type": "string", "pattern": "^" + "a?" * 70 + "$"}, "too many optional or repeated parts"),
        (
            {"anyOf": [{"type": "string", "pattern": "^(a?){20}b$"} for _ in range(4)]},
            "too many optional or repeated parts",
        ),
        ({"type": "string", "pattern": "abc"}, "start with \\^"),
        ({"type": "string", "pattern": "^(?=a)$"}, "cannot be enforced"),
        ({"$ref": "https://example.com/schema.json"}, "must point inside the schema"),
        ({"$ref": "#/$defs/missing"}, "cannot be enforced|cannot be resolved"),
        ({"type": "integer", "minimum": 3}, "'minimum'"),
        ({"type": "string", "format": "email"}, "format 'email'"),
        ({"type": "str"}, "type must be one of"),
        ({"type": "object", "properties": [1]}, "properties must be an object"),
        ({"enum": list(range(2000))}, "too large or deep"),
        ({"type": "object", "description": "x" * 40_000}, "too large"),
        ({"type": "number", "default": float("nan")}, "not plain JSON"),
    ],
)
def test_hostile_or_unsupported_schemas_are_refused_with_the_reason(schema: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        schema_to_gbnf(schema)


def strings(count: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f"field{i}": {"type": "string", "maxLength": 64} for i in range(count)},
        "required": [f"field{i}" for i in range(count)],
    }


def test_the_grammar_a_schema_expands_to_is_capped_too() -> None:
    # each bounded string expands to its own nested rule: small schemas can still make big grammars
    assert len(schema_to_gbnf(strings(20))) <= MAX_GRAMMAR_CHARS
    with pytest.raises(SchemaError, match="makes a grammar of"):
        schema_to_gbnf(strings(150))
