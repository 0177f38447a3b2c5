"""How much of the CPU other programs use, read from the OS: when a thread governor probe is worth it.

Why: the governor learns that the CPU is busy only from slow steps, and that the load went away only
by trying one more thread. Under a steady load every such probe fails, and it costs a run of collapsed
steps: measured on 2 cores with one busy process, two probes in a 128-token reply cost 0.6-1.3 s of
about 5 s. The OS already counts every CPU's idle time, and reading the counts costs about 50 µs. So
the governor asks before it probes. It goes up only when a CPU stood idle, and goes down from the top
only when other programs took a core. The timed trial still decides which count to keep; readings only
say when to run one.

Linux reads /proc/stat, keeping the CPUs in this process's affinity mask (a container sees all of the
host's CPUs there). Other systems get None, and the governor probes on its timer as before.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

MIN_INTERVAL_S: Final = 0.2  # the counts tick every 10 ms: a shorter interval is mostly rounding
STAT_PATH: Final = "/proc/stat"
_STAT_MAX_BYTES: Final = 1 << 20  # a /proc/stat line per CPU: far below this on any machine


@dataclass(frozen=True)
class CpuReading:
    """Averages over the interval since the previous reading, in CPUs (1.0 = one CPU all the time)."""

    idle: float  # CPUs that stood idle: room for another thread
    others: float  # CPUs that other processes (or the hypervisor, as steal) kept busy


class CpuLoad:
    """Readings of the CPUs this process may use. `read_stat` returns /proc/stat's text; `read_self`
    is this process's CPU seconds (all threads); `clock` is monotonic seconds. Tests inject all three."""

    def __init__(
        self,
        *,
        read_stat: Callable[[], str] | None = None,
        read_self: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        cpus: Iterable[int] | None = None,
        ticks_per_s: float | None = None,
    ) -> None:
        self._read_stat = read_stat or _read_proc_stat
        self._read_self = read_self
        self._clock = clock
        self._cpus = frozenset(cpus) if cpus is not None else _allowed_cpus()
        self._hz = ticks_per_s or _ticks_per_s()
        self._last: tuple[float, float, float, float] | None = None  # wall, busy s, idle s, own s
        self._reading: CpuReading | None = None

    def reading(self) -> CpuReading | None:
        """The load since the previous reading at least MIN_INTERVAL_S ago; None until there are two
        readings, or when the counts cannot be read."""
        now = self._clock()
        if self._last is not None and now - self._last[0] < MIN_INTERVAL_S:
            return self._reading
        try:
            busy, idle = parse_stat(self._read_stat(), self._cpus)
        except (OSError, ValueError):
            return None
        sample = (now, busy / self._hz, idle / self._hz, self._read_self())
        last, self._last = self._last, sample
        if last is None:
            return None
        wall = sample[0] - last[0]
        own = max(sample[3] - last[3], 0.0)
        self._reading = CpuReading(
            idle=max((sample[2] - last[2]) / wall, 0.0),
            others=max((sample[1] - last[1] - own) / wall, 0.0),
        )
        return self._reading


def sensor() -> CpuLoad | None:
    """A reader for this system, or None where the counts are not available."""
    platform: str = sys.platform  # a variable: mypy would judge the other platforms' branches dead
    if not platform.startswith("linux") or not _readable():
        return None
    load = CpuLoad()
    load.reading()  # the first sample: readings are differences
    return load


def parse_stat(text: str, cpus: frozenset[int]) -> tuple[int, int]:
    """Busy and idle ticks summed over `cpus` (all CPUs when empty). Busy counts steal (the
    hypervisor ran someone else on our CPU); guest time is already inside user time. Raises
    ValueError when no line matches: a read that says nothing must not read as an idle machine."""
    busy = idle = 0
    seen = 0
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if not name[3:].isdigit() or (cpus and int(name[3:]) not in cpus) or len(fields) < 4:
            continue
        values = [int(v) for v in fields[:8]]
        values += [0] * (8 - len(values))
        user, nice, system, idle_t, iowait, irq, softirq, steal = values
        busy += user + nice + system + irq + softirq + steal
        idle += idle_t + iowait
        seen += 1
    if not seen:
        raise ValueError("no CPU lines in /proc/stat")
    return busy, idle


def _read_proc_stat() -> str:
    with open(STAT_PATH, "rb") as stat:
        return stat.read(_STAT_MAX_BYTES).decode("ascii", "replace")


def _readable() -> bool:
    try:
        parse_stat(_read_proc_stat(), _allowed_cpus())
    except (OSError, ValueError):
        return False
    return True


def _allowed_cpus() -> frozenset[int]:
    if hasattr(os, "sched_getaffinity"):
        try:
            return frozenset(os.sched_getaffinity(0))
        except OSError:
            pass
    return frozenset()


def _ticks_per_s() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0
