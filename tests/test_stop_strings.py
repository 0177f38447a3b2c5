"""StopBuffer: stop strings are never shown, even in pieces, and nothing else is lost or doubled."""

from __future__ import annotations

import itertools

import pytest

from desktop_app.core.stop_strings import StopBuffer


def feed(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, str | None]:
    """Push every piece (stopping after a hit, as the engine does) and flush; return (shown, hit)."""
    buffer = StopBuffer(stops)
    shown: list[str] = []
    for piece in pieces:
        shown.append(buffer.push(piece))
        if buffer.hit is not None:
            break
    shown.append(buffer.flush())
    return "".join(shown), buffer.hit


def splits(text: str, cuts: tuple[int, ...]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


TEXT = "Hello there, friend.<|im_end|> and after"
STOP = "<|im_end|>"
BEFORE = "Hello there, friend."


@pytest.mark.parametrize("cut", range(1, len(TEXT)))
def test_stop_split_in_two_at_every_point(cut: int) -> None:
    shown, hit = feed((STOP,), splits(TEXT, (cut,)))
    assert hit == STOP
    assert shown == BEFORE


def test_stop_split_in_three_at_every_pair_of_points() -> None:
    start = TEXT.index(STOP)
    # every pair of cuts that falls in or around the stop string (cuts elsewhere change nothing)
    span = range(max(1, start - 3), start + len(STOP) + 3)
    for a, b in itertools.combinations(span, 2):
        shown, hit = feed((STOP,), splits(TEXT, (a, b)))
        assert (shown, hit) == (BEFORE, STOP), (a, b)


def test_stop_one_character_at_a_time_shows_each_character_once() -> None:
    buffer = StopBuffer((STOP,))
    pushed: list[str] = []
    for char in TEXT:
        out = buffer.push(char)
        pushed.append(out)
        if buffer.hit is not None:
            break
    assert "".join(pushed) == BEFORE
    assert buffer.flush() == ""
    # after a hit nothing more is ever shown
    assert buffer.push("more text") == ""
    assert buffer.flush() == ""


def test_text_that_only_resembles_a_prefix_is_released() -> None:
    buffer = StopBuffer(("<|im_end|>",))
    # "<|im" could start the stop string: it is held back …
    assert buffer.push("a <|im") == "a "
    # … until the next piece proves it is not one; then it is shown, exactly once
    assert buffer.push("ported goods") == "<|imported goods"
    assert buffer.hit is None
    assert buffer.flush() == ""


def test_text_from_inside_a_stop_string_is_not_held() -> None:
    # "end" and "_end|" occur inside "<|im_end|>" but cannot start it: shown at once
    buffer = StopBuffer(("<|im_end|>",))
    assert buffer.push("the end") == "the end"
    assert buffer.push(" im_end|") == " im_end|"
    assert buffer.push("<") == ""  # but a real prefix is held
    assert buffer.flush() == "<"


def test_prefix_held_then_broken_across_many_pieces() -> None:
    shown, hit = feed(("STOP",), ["xS", "T", "O", "x"])  # "xSTOx": the stop never completes
    assert hit is None
    assert shown == "xSTOx"


def test_flush_returns_the_held_text_when_no_stop_string_came() -> None:
    buffer = StopBuffer(("</answer>",))
    assert buffer.push("the end </ans") == "the end "
    assert buffer.hit is None
    assert buffer.flush() == "</ans"
    assert buffer.flush() == ""  # flushing twice gives nothing twice


def test_nothing_is_held_when_no_suffix_can_start_a_stop() -> None:
    buffer = StopBuffer(("###",))
    assert buffer.push("plain words") == "plain words"
    assert buffer.flush() == ""


def test_multiple_stops_earliest_occurrence_wins() -> None:
    # "STOP" comes first in the text although "END" is listed first
    shown, hit = feed(("END", "STOP"), ["one STOP two END three"])
    assert (shown, hit) == ("one ", "STOP")
    shown, hit = feed(("STOP", "END"), ["one END two STOP"])
    assert (shown, hit) == ("one ", "END")


def test_multiple_stops_split_across_pushes() -> None:
    text = "alpha beta <eot> gamma </s>"
    for cut in range(1, len(text)):
        shown, hit = feed(("</s>", "<eot>"), splits(text, (cut,)))
        assert (shown, hit) == ("alpha beta ", "<eot>"), cut


def test_overlapping_stops_the_one_starting_first_wins() -> None:
    # "abc" starts at 1, "bcd" at 2: the earlier start wins even though both complete in one push
    shown, hit = feed(("bcd", "abc"), ["xabcd"])
    assert (shown, hit) == ("x", "abc")


def test_stop_at_the_very_start() -> None:
    shown, hit = feed(("<end>",), ["<e", "nd>rest"])
    assert (shown, hit) == ("", "<end>")


@pytest.mark.parametrize("stops", [(), ("",), ("", "")])
def test_empty_stops_pass_everything_through(stops: tuple[str, ...]) -> None:
    buffer = StopBuffer(stops)
    assert buffer.push("any <|im_end|> text") == "any <|im_end|> text"
    assert buffer.push("") == ""
    assert buffer.hit is None
    assert buffer.flush() == ""


def test_single_character_stop_holds_nothing_back() -> None:
    buffer = StopBuffer(("\n",))
    assert buffer.push("line one") == "line one"
    assert buffer.push(" and\nline two") == " and"
    assert buffer.hit == "\n"


def test_repeated_partial_prefixes_lose_no_text() -> None:
    # "<<<" keeps looking like the start of "<<END>>" for a while
    text = "a<<<<b<<EN<<END>>c"
    for cut in range(1, len(text)):
        shown, hit = feed(("<<END>>",), splits(text, (cut,)))
        assert (shown, hit) == ("a<<<<b<<EN", "<<END>>"), cut


def test_list_of_stops_and_duplicates_are_accepted() -> None:
    buffer = StopBuffer(["x", "x", "yz"])
    assert buffer.push("abyzx") == "ab"
    assert buffer.hit == "yz"
