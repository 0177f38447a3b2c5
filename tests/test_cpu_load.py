"""The OS's CPU counts the thread governor asks before it probes: /proc/stat parsed from crafted text,
readings computed from injected counters, and the real file on this machine."""

from __future__ import annotations

import sys
import time

import pytest

from desktop_app.core.engine import cpu_load
from desktop_app.core.engine.cpu_load import MIN_INTERVAL_S, CpuLoad, parse_stat, proc_stat_counts
from desktop_app.core.system import allowed_cpus

STAT = """cpu  300 0 100 900 20 0 0 0 0 0
cpu0 100 0 50 400 10 0 0 0 0 0
cpu1 200 0 50 500 10 0 0 0 0 0
intr 12345 0 0
ctxt 999
"""


def test_parse_stat_sums_the_allowed_cpus() -> None:
    assert parse_stat(STAT, frozenset()) == (400, 920)  # all CPUs; the aggregate line is skipped
    assert parse_stat(STAT, frozenset({1})) == (250, 510)  # the affinity mask keeps cpu1 only


def test_parse_stat_counts_steal_as_busy_and_accepts_short_old_lines() -> None:
    text = "cpu0 10 1 2 100 3 4 5 6 7 8\ncpu1 10 0 0 100\n"  # steal 6; a pre-2.6 line has 4 fields
    assert parse_stat(text, frozenset()) == (10 + 1 + 2 + 4 + 5 + 6 + 10, 100 + 3 + 100)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cpu  1 2 3 4\n",  # only the aggregate line
        "cpu0 1 2\n",  # too few fields
        "cpuX 1 2 3 4\n",  # not a CPU number
        "cpu7 1 2 3 4\n",  # a CPU outside the mask
        "\x00" * 4096,
    ],
)
def test_parse_stat_refuses_text_that_says_nothing(text: str) -> None:
    """An unreadable count must not read as an idle machine (the governor would probe up on it)."""
    with pytest.raises(ValueError):
        parse_stat(text, frozenset({0, 1}))


def test_parse_stat_refuses_garbage_numbers() -> None:
    with pytest.raises(ValueError):
        parse_stat("cpu0 1 2 three 4\n", frozenset())


class Counters:
    """A fake /proc/stat for two CPUs, this process's CPU seconds and a clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 50.0
        self.busy = [0, 0]  # ticks (100 a second)
        self.idle = [0, 0]
        self.own = 0.0

    def stat(self) -> str:
        return "".join(
            f"cpu{i} {b} 0 0 {d} 0 0 0 0\n" for i, (b, d) in enumerate(zip(self.busy, self.idle, strict=True))
        )

    def advance(self, seconds: float, *, own: float, others: float) -> None:
        """`own` and `others` CPUs kept busy for `seconds`; the rest of the two stood idle."""
        self.now += seconds
        per_cpu_busy = (own + others) * seconds * 100 / 2
        for i in range(2):
            self.busy[i] += round(per_cpu_busy)
            self.idle[i] += round((2 - own - others) * seconds * 100 / 2)
        self.own += own * seconds

    def load(self) -> CpuLoad:
        return CpuLoad(
            proc_stat_counts(self.stat, cpus=(0, 1), ticks_per_s=100),
            read_self=lambda: self.own,
            clock=lambda: self.now,
        )


def test_readings_split_busy_time_into_ours_and_others() -> None:
    counters = Counters()
    load = counters.load()
    assert load.reading() is None  # readings are differences: the first one has nothing to compare
    counters.advance(1.0, own=1.0, others=1.0)  # we run one thread, a busy process the other core
    reading = load.reading()
    assert reading is not None
    assert reading.others == pytest.approx(1.0) and reading.idle == pytest.approx(0.0)

    counters.advance(1.0, own=1.0, others=0.0)  # the busy process ended: a CPU stands idle
    reading = load.reading()
    assert reading is not None
    assert reading.others == pytest.approx(0.0) and reading.idle == pytest.approx(1.0)


def test_readings_closer_than_the_tick_interval_repeat_the_last_one() -> None:
    counters = Counters()
    load = counters.load()
    load.reading()
    counters.advance(1.0, own=2.0, others=0.0)
    first = load.reading()
    counters.advance(MIN_INTERVAL_S / 4, own=0.0, others=2.0)
    assert load.reading() == first  # a few ticks say little: the next reading waits for more


def test_an_unreadable_file_gives_no_reading() -> None:
    def broken() -> str:
        raise OSError("gone")

    load = CpuLoad(proc_stat_counts(broken, cpus=(0,), ticks_per_s=100), read_self=lambda: 0.0)
    assert load.reading() is None


def test_the_counts_of_one_cpu_only_see_that_cpu() -> None:
    read = proc_stat_counts(lambda: STAT, cpus=(0,), ticks_per_s=100)
    assert read() == (1.5, 4.1)  # cpu0: 150 busy ticks, 410 idle (idle + iowait)


@pytest.mark.skipif(sys.platform.startswith("linux"), reason="Windows and macOS ask their kernels")
def test_the_real_counts_are_read_on_this_system() -> None:
    assert cpu_load.sensor() is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_the_real_counts_on_this_machine_are_sane() -> None:
    load = cpu_load.sensor()
    assert load is not None
    end = time.monotonic() + MIN_INTERVAL_S + 0.05
    while time.monotonic() < end:  # keep one CPU busy in this process: ours, not others'
        pass
    reading = load.reading()
    assert reading is not None
    cpus = len(allowed_cpus() or ()) or 1
    assert 0.0 <= reading.idle <= cpus + 0.1
    assert 0.0 <= reading.others <= cpus + 0.1
