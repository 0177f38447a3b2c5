"""How much of the CPU other programs use, read from the OS: when a thread governor probe is worth it.

Why: the governor learns that the CPU is busy only from slow steps, and that the load went away only
by trying one more thread. Under a steady load every such probe fails, and it costs a run of collapsed
steps: measured on 2 cores with one busy process, two probes in a 128-token reply cost 0.6-1.3 s of
about 5 s. The OS already counts every CPU's idle time, and reading the counts costs about 50 µs. So
the governor asks before it probes. It goes up only when a CPU stood idle, and goes down from the top
only when other programs took a core. The timed trial still decides which count to keep; readings only
say when to run one.

Linux reads /proc/stat, keeping the CPUs in this process's affinity mask (a container sees all of the
host's CPUs there); Windows asks GetSystemTimes and macOS host_statistics (all CPUs, through ctypes).
Where the counts cannot be read the sensor is None, and the governor probes on its timer alone. A
reading that is wrong (a counter that wrapped) only moves when a probe runs: the trial still decides.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from desktop_app.core.system import allowed_cpus

MIN_INTERVAL_S: Final = 0.2  # the counts tick every 10 ms: a shorter interval is mostly rounding
STAT_PATH: Final = "/proc/stat"
_STAT_MAX_BYTES: Final = 1 << 20  # a /proc/stat line per CPU: far below this on any machine


@dataclass(frozen=True)
class CpuReading:
    """Averages over the interval since the previous reading, in CPUs (1.0 = one CPU all the time)."""

    idle: float  # CPUs that stood idle: room for another thread
    others: float  # CPUs that other processes (or the hypervisor, as steal) kept busy


Counts = tuple[float, float]  # busy and idle CPU-seconds since boot, summed over the CPUs watched


class CpuLoad:
    """Readings of the CPUs this process may use. `read_counts` gives the system's counts
    (`proc_stat_counts`, `windows_counts`, `mac_counts`); `read_self` is this process's CPU seconds
    (all threads); `clock` is monotonic seconds. Tests inject all three."""

    def __init__(
        self,
        read_counts: Callable[[], Counts],
        *,
        read_self: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_counts = read_counts
        self._read_self = read_self
        self._clock = clock
        self._last: tuple[float, float, float, float] | None = None  # wall, busy s, idle s, own s
        self._reading: CpuReading | None = None

    def reading(self) -> CpuReading | None:
        """The load since the previous reading at least MIN_INTERVAL_S ago; None until there are two
        readings, or when the counts cannot be read."""
        now = self._clock()
        if self._last is not None and now - self._last[0] < MIN_INTERVAL_S:
            return self._reading
        try:
            busy, idle = self._read_counts()
        except (OSError, ValueError):
            return None
        sample = (now, busy, idle, self._read_self())
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
    read: Callable[[], Counts]
    if platform.startswith("linux"):
        read = proc_stat_counts()
    elif platform == "win32":
        read = windows_counts
    elif platform == "darwin":
        read = mac_counts
    else:
        return None
    try:
        read()  # ctypes errors (a missing symbol) raise AttributeError: such a system gets no sensor
    except (OSError, ValueError, AttributeError):
        return None
    load = CpuLoad(read)
    load.reading()  # the first sample: readings are differences
    return load


def proc_stat_counts(
    read_stat: Callable[[], str] | None = None,
    cpus: Iterable[int] | None = None,
    ticks_per_s: float | None = None,
) -> Callable[[], Counts]:
    """Linux's counts: /proc/stat's lines for `cpus` (default: this process's affinity mask)."""
    read = read_stat or _read_proc_stat
    allowed = frozenset(cpus) if cpus is not None else (allowed_cpus() or frozenset())
    hz = ticks_per_s or _ticks_per_s()

    def counts() -> Counts:
        busy, idle = parse_stat(read(), allowed)
        return busy / hz, idle / hz

    return counts


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


def _ticks_per_s() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def windows_counts() -> Counts:
    """GetSystemTimes: idle, kernel (which includes idle) and user time of all CPUs, in 100 ns."""
    import ctypes

    class FileTime(ctypes.Structure):
        _fields_ = [("low", ctypes.c_uint32), ("high", ctypes.c_uint32)]

    idle, kernel, user = FileTime(), FileTime(), FileTime()
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]  # only on Windows
    if not kernel32.GetSystemTimes(ctypes.byref(idle), ctypes.byref(kernel), ctypes.byref(user)):
        raise OSError("GetSystemTimes failed")

    def seconds(value: FileTime) -> float:
        return ((int(value.high) << 32) | int(value.low)) / 1e7

    return seconds(kernel) - seconds(idle) + seconds(user), seconds(idle)


_HOST_CPU_LOAD_INFO: Final = 3  # mach/host_info.h: user, system, idle and nice ticks of all CPUs
_MACH_TICKS_PER_S: Final = 100.0  # CLK_TCK on macOS
_mach: dict[str, object] = {}


def mac_counts() -> Counts:
    """host_statistics(HOST_CPU_LOAD_INFO). The host port is asked for once: each mach_host_self()
    call takes another reference to it."""
    import ctypes
    import ctypes.util

    lib = _mach.get("lib")
    if not isinstance(lib, ctypes.CDLL):
        lib = ctypes.CDLL(ctypes.util.find_library("System") or "/usr/lib/libSystem.B.dylib")
        lib.mach_host_self.restype = ctypes.c_uint32
        lib.host_statistics.restype = ctypes.c_int
        lib.host_statistics.argtypes = [
            ctypes.c_uint32, ctypes.c_int, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)
        ]  # fmt: skip
        _mach["host"] = int(lib.mach_host_self())
        _mach["lib"] = lib
    ticks = (ctypes.c_uint32 * 4)()
    count = ctypes.c_uint32(4)
    host = _mach["host"]
    assert isinstance(host, int)
    if lib.host_statistics(host, _HOST_CPU_LOAD_INFO, ticks, ctypes.byref(count)) != 0:
        raise OSError("host_statistics failed")
    user, system, idle, nice = (int(t) for t in ticks)
    return (user + system + nice) / _MACH_TICKS_PER_S, idle / _MACH_TICKS_PER_S
