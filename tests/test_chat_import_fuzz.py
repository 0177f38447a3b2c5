"""A seeded fuzz test of chat imports: hundreds of damaged variants of valid exports, each of which must
either import cleanly or be refused with a ChatFileError that stores nothing, and never leave the
store in a state that listing, export or `hearth chats list --json` cannot handle."""

from __future__ import annotations

import copy
import json
import math
import random
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from desktop_app.cli import build_parser
from desktop_app.core.conversations import (
    ROLES,
    STATES,
    ChatFileError,
    ConversationStore,
    parse_chat_json,
    with_fixed_seed,
)
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats, TextDelta
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from tests.test_cli_engine import hearth

SEED = 1117
VARIANTS = 480
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-chat.json"
LATEST = 32_503_680_000.0  # 3000-01-01: a stored date must be below it (and not before 1970)


def sample_export(store: ConversationStore) -> dict[str, Any]:
    """An export using every field: a system prompt, a branch, reasoning, sampling, stats, a failed
    reply with its error, and an interrupted one."""
    conversation = store.create_conversation(model_name="Gemma 3 270m", system_prompt="Be brief.")
    store.add_message(conversation.id, "user", "What is 2+2?")
    first = store.add_message(conversation.id, "assistant", "Five.", model="Gemma 3 270m")
    sampling = with_fixed_seed(SamplingSettings(temperature=0.8, max_tokens=64, stop=("###",)))
    stats = GenerationStats(prompt_tokens=10, cached_tokens=0, evaluated_tokens=10, completion_tokens=3,
                            ttft_s=0.1, prefill_tps=100.0, generation_tps=30.0, stop_reason="eos",
                            )  # fmt: skip
    model = "Gemma 3 270m"
    with store.start_reply(conversation.id, sibling_of=first.id, model=model, sampling=sampling) as w:
        w.feed(TextDelta("2 plus 2", "reasoning"))
        w.feed(TextDelta("**Four.**"))
        w.feed(stats)
    store.add_message(conversation.id, "user", "And 3+3?")
    with store.start_reply(conversation.id, model="Gemma 3 270m") as w:
        w.feed(TextDelta("Si"))
        w.fail("out of memory")
    store.add_message(conversation.id, "user", "Try again")
    store.add_message(conversation.id, "assistant", "Six", state="interrupted", model="Other model")
    return store.export_json(conversation.id)


def bad_value(rng: random.Random) -> object:
    """A value of a wrong type or out of range for some field (and sometimes a valid one)."""
    pool: list[object] = [
        1e300, -1e20, float("nan"), float("inf"), -float("inf"), 10**30, -(10**30), 10**400, 2**63, -1, 0,
        1.5, True, False, None, "", "x", "\ud800", "a\udfffb", "\x00", "\x00\x1b[2J", "NaN",
        "2024-05-01T10:00:00+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1e300",
        [], {}, [1, [2, [3, [4]]]], {"a": {"b": [1]}}, ["x"], [None], "streaming", "assistant", "system",
        "user", "tool", {"generation_tps": "fast"}, {"completion_tokens": 10**30}, {"temperature": "hot"},
        {"seed": -1}, {"stop": [1]}, "x" * 10_001, list(range(50)),
    ]  # fmt: skip
    if rng.random() < 0.01:
        return "y" * 4_000_001  # longer than any text may be
    if rng.random() < 0.05:
        nested: object = 1
        for _ in range(rng.randrange(2, 200)):
            nested = [nested]
        return nested
    return rng.choice(pool)


def containers(node: object, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a parsed JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            containers(value, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            containers(value, found)
    return found


FIELDS = ("title", "id", "messages", "role", "content", "reasoning", "created_at", "model", "sampling",
          "stats", "state", "error", "generation_tps", "ttft_s", "completion_tokens", "seed", "stop",
          "temperature", "stop_reason", "parent_id", "branch")  # fmt: skip


def mutate_object(data: dict[str, Any], rng: random.Random) -> str:
    """Damage a parsed export in one to three places and return its JSON text."""
    for _ in range(rng.randrange(1, 4)):
        pairs = containers(data, [])
        kind = rng.random()
        if not pairs or kind < 0.55:
            container, key = rng.choice(pairs) if pairs else (data, "messages")
            container[key] = bad_value(rng)
        elif kind < 0.75:
            container, key = rng.choice(pairs)
            del container[key]
        elif kind < 0.9:
            dicts = [c for c, _ in pairs if isinstance(c, dict)] or [data]
            rng.choice(dicts)[rng.choice(FIELDS)] = bad_value(rng)
        else:
            messages = data.get("messages")
            if isinstance(messages, list) and messages:
                messages.insert(rng.randrange(len(messages) + 1), copy.deepcopy(rng.choice(messages)))
    return json.dumps(data, ensure_ascii=rng.random() < 0.5)


def mutate_text(text: str, rng: random.Random) -> str | bytes:
    """Damage the JSON text itself: truncated, deeply nested, a huge number, stray bytes."""
    kind = rng.randrange(6)
    if kind == 0:
        return text[: rng.randrange(len(text))]
    if kind == 1:
        depth = rng.choice((500, 5_000, 100_000))
        at = text.index('"content": ') + len('"content": ')
        return text[:at] + "[" * depth + "1" + "]" * depth + text[text.index(",", at) :]
    if kind == 2:
        return "[" * rng.choice((999, 100_000)) + text
    if kind == 3:
        return text.replace('"role": "user"', '"role": ' + "9" * rng.choice((30, 4_000, 5_000)), 1)
    if kind == 4:
        data = bytearray(text.encode("utf-8"))
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return text.replace('"messages"', '"messages"' * rng.randrange(1, 3), 1)


def cli_list(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """`hearth chats list --json`, run in this process (the subprocess runs once, at the end)."""
    args = build_parser().parse_args(["chats", "list", "--json"])
    assert args.handler(args) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def check_stored(store: ConversationStore, conversation_id: int) -> None:
    """What a successful import stored is in range: the UI paints these values without checking."""
    conversation = store.get_conversation(conversation_id)
    assert isinstance(conversation.title, str) and isinstance(conversation.system_prompt, str)
    assert 0 <= conversation.created_at < LATEST
    for message in store.path(conversation_id):
        assert message.role in ROLES and message.state in STATES and message.state != "streaming"
        assert isinstance(message.content, str) and isinstance(message.reasoning, str)
        assert isinstance(message.created_at, float) and 0 <= message.created_at < LATEST
        assert message.model is None or isinstance(message.model, str)
        assert message.error is None or isinstance(message.error, str)
        for details in (message.stats or {}, message.sampling or {}):
            for key, value in details.items():
                if key == "stop":
                    assert all(isinstance(s, str) and s for s in value)
                    continue
                if key == "logit_bias":  # [[token id, bias], ...], as the settings accept them
                    assert SamplingSettings.from_dict({key: value}).logit_bias == tuple(map(tuple, value))
                    continue
                assert value is None or isinstance(value, bool | int | float | str), (key, value)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    assert math.isfinite(value) and abs(value) <= 1e12, (key, value)
        stats = message.stats or {}
        for key in ("completion_tokens", "prompt_tokens", "dropped_messages"):
            assert key not in stats or (type(stats[key]) is int and stats[key] >= 0), stats
        for key in ("generation_tps", "ttft_s", "prefill_tps"):
            assert key not in stats or float(stats[key]) >= 0, stats
        if message.sampling:  # the settings drawer could load the ones it knows (a newer version's stay)
            known = {field.name for field in fields(SamplingSettings)}
            SamplingSettings.from_dict({k: v for k, v in message.sampling.items() if k in known})


def test_fuzzed_chat_imports_are_clean_or_refused(
    hearth_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ConversationStore(Database(app_paths().ensure().database))
    example_text = EXAMPLE.read_text(encoding="utf-8")
    example = json.loads(example_text)
    # Hearth's own files import identically first: the example in docs/, and a full export
    copied = store.export_json(store.import_json(parse_chat_json(example_text, str(EXAMPLE))))
    assert {**copied, "id": example["id"]} == {
        **example, "messages": [{**m, "created_at": c["created_at"]} if m["role"] != "system" else m
                                for m, c in zip(example["messages"], copied["messages"], strict=True)]
    }  # fmt: skip
    sample = sample_export(store)
    again = store.export_json(store.import_json(json.loads(store.export_text(sample["id"], "json"))))
    assert {**again, "id": None} == {**sample, "id": None}
    bases = [json.dumps(example, indent=2), json.dumps(sample, indent=2, ensure_ascii=False)]

    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    for variant in range(VARIANTS):
        base = rng.choice(bases)
        payload = mutate_text(base, rng) if rng.random() < 0.25 else mutate_object(json.loads(base), rng)
        before = [c.id for c in store.list_conversations()]
        messages_before = store.db.read("SELECT COUNT(*) FROM messages").fetchone()[0]
        new_id: int | None = None
        try:
            new_id = store.import_json(parse_chat_json(payload, "fuzz.json"))
            outcomes["imported"] += 1
        except ChatFileError as exc:
            outcomes["refused"] += 1
            if "\n" in str(exc) or len(exc.message) > 400 or not exc.hint:
                outcomes["refused with an unreadable message"] += 1
                problems.append(f"variant {variant}: a {len(exc.message)}-char message: {exc.message[:120]}")
        except Exception as exc:  # anything else is what this test hunts
            outcomes[f"crashed on import: {type(exc).__name__}"] += 1
            problems.append(f"variant {variant}: import raised {type(exc).__name__}: {str(exc)[:120]}")
        after = [c.id for c in store.list_conversations()]
        if new_id is None:
            left = store.db.read("SELECT COUNT(*) FROM messages").fetchone()[0] - messages_before
            if after != before or left:
                outcomes["refused but left something behind"] += 1
                problems.append(f"variant {variant}: a refused import left {left} messages behind")
            continue
        assert sorted(after) == sorted([*before, new_id])
        try:
            check_stored(store, new_id)
            for summary in store.list_conversations():
                json.dumps(summary.to_dict())
            store.export_text(new_id, "md")
            store.import_json(json.loads(store.export_text(new_id, "json")))  # and it round-trips
            assert [row["id"] for row in cli_list(capsys)] == [c.id for c in store.list_conversations()]
        except Exception as exc:
            outcomes[f"broke after import: {type(exc).__name__}"] += 1
            problems.append(f"variant {variant}: after import {type(exc).__name__}: {str(exc)[:120]}")
            store.delete_conversation(new_id)  # keep the rest of the run meaningful

    print(f"\nchat import fuzz: {VARIANTS} variants, {dict(outcomes)}")
    assert not problems, f"{len(problems)} problems, {dict(outcomes)}:\n" + "\n".join(problems[:40])
    assert outcomes["imported"] > 20 and outcomes["refused"] > 200, outcomes  # both paths exercised

    listed = hearth(["chats", "list", "--json"], hearth_home)  # and the real command, once
    assert listed.returncode == 0, listed.stderr
    assert [row["id"] for row in json.loads(listed.stdout)] == [c.id for c in store.list_conversations()]
