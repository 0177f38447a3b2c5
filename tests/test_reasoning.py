"""Streaming split of `<think>…</think>` reasoning from the answer."""

from __future__ import annotations

import itertools

import pytest

from desktop_app.core.reasoning import Piece, ReasoningSplitter


def run(chunks: list[str], **kwargs: object) -> list[Piece]:
    """Feed the chunks, flush, and merge adjacent same-kind pieces across calls."""
    splitter = ReasoningSplitter(**kwargs)  # type: ignore[arg-type]
    pieces: list[Piece] = []
    for chunk in chunks:
        pieces += splitter.feed(chunk)
    pieces += splitter.flush()
    merged: list[Piece] = []
    for kind, text in pieces:
        assert text, "empty pieces must not be emitted"
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


CASES: list[tuple[str, list[Piece]]] = [
    ("<think>\nLet me see.\n</think>\nIt is 4.", [("reasoning", "\nLet me see.\n"), ("answer", "It is 4.")]),
    ("No thinking here.", [("answer", "No thinking here.")]),
    ("<think>still thinking, never closed", [("reasoning", "still thinking, never closed")]),
    ("Sure. <think>hmm</think>Done", [("answer", "Sure. "), ("reasoning", "hmm"), ("answer", "Done")]),
    ("<think></think>\n\nHi", [("answer", "\nHi")]),  # only one newline is layout
    ("a < b and <thin ice>", [("answer", "a < b and <thin ice>")]),
    ("ends with a partial tag <thi", [("answer", "ends with a partial tag <thi")]),
    ("<think>x</think", [("reasoning", "x</think")]),
    ("<think>a</think>b<think>c</think>\nd", [("reasoning", "a"), ("answer", "b"), ("reasoning", "c"),
                                              ("answer", "d")]),
    ("<think><<</think>>>", [("reasoning", "<<"), ("answer", ">>")]),
    ("", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_whole_text(text: str, expected: list[Piece]) -> None:
    assert run([text]) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_single_split_point_gives_the_same_result(text: str, expected: list[Piece]) -> None:
    for cut in range(len(text) + 1):
        assert run([text[:cut], text[cut:]]) == expected, f"split at {cut}: {text[:cut]!r} | {text[cut:]!r}"


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_pair_of_split_points_gives_the_same_result(text: str, expected: list[Piece]) -> None:
    for first, second in itertools.combinations_with_replacement(range(len(text) + 1), 2):
        chunks = [text[:first], text[first:second], text[second:]]
        assert run(chunks) == expected, f"chunks {chunks!r}"


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_one_character_at_a_time(text: str, expected: list[Piece]) -> None:
    assert run(list(text)) == expected


def test_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("Hello <") == [("answer", "Hello ")]  # "<" may start "<think>"
    assert splitter.feed("b>") == [("answer", "<b>")]
    assert splitter.feed("<think>abc</th") == [("reasoning", "abc")]
    states = [splitter.in_reasoning]
    assert splitter.feed("ink>") == []
    states.append(splitter.in_reasoning)
    assert states == [True, False]
    assert splitter.feed("\nok") == [("answer", "ok")]


def test_held_back_text_is_never_longer_than_the_tag() -> None:
    splitter = ReasoningSplitter()
    splitter.feed("x" * 1000 + "<think")
    assert len(splitter._pending) == len("<think")


def test_starts_in_reasoning_when_the_prompt_opened_the_block() -> None:
    assert run(["plan first\n</think>\n", "answer"], starts_in_reasoning=True) == [
        ("reasoning", "plan first\n"),
        ("answer", "answer"),
    ]


def test_for_prompt_starts_inside_when_the_template_opened_the_block() -> None:
    assert ReasoningSplitter.for_prompt("User: 2+2?\nAssistant: <think>\n").in_reasoning
    assert not ReasoningSplitter.for_prompt("<|im_start|>assistant\n").in_reasoning
    assert not ReasoningSplitter.for_prompt("<think>old</think> answer").in_reasoning


def test_custom_tags() -> None:
    text = "<thinking>deep</thinking>\nshallow <think>not a tag here</think>"
    assert run([text], open_tag="<thinking>", close_tag="</thinking>") == [
        ("reasoning", "deep"),
        ("answer", "shallow <think>not a tag here</think>"),
    ]


def test_empty_tags_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        ReasoningSplitter(open_tag="")


def test_feed_cost_does_not_grow_with_the_reply() -> None:
    """O(delta) per feed: 20k deltas after a long reply cost the same as the first 20k."""
    import time

    def timed(splitter: ReasoningSplitter) -> float:
        started = time.perf_counter()
        for _ in range(20_000):
            splitter.feed("word <")
            splitter.feed("/b> ")
        return time.perf_counter() - started

    splitter = ReasoningSplitter(starts_in_reasoning=True)
    first = timed(splitter)
    splitter.feed("x" * 5_000_000)
    later = timed(splitter)
    assert later < first * 3 + 0.05
