"""What this machine has: cores and memory. Used for default load settings and memory checks."""

from __future__ import annotations

import functools
import glob
import os
import subprocess
import sys


def cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for generation: the physical cores when the OS says how many (beyond them llama.cpp
    gets slower, not faster); otherwise half the logical CPUs on big machines."""
    physical = physical_cores()
    if physical is not None:
        return physical
    n = cpu_count()
    return n if n <= 4 else max(4, n // 2)


@functools.cache
def physical_cores() -> int | None:
    """Physical cores this process may run on; None where the OS does not tell us (Windows)."""
    platform: str = sys.platform  # a variable: mypy would judge the other platforms' branches dead
    try:
        if platform.startswith("linux"):
            return _linux_physical_cores()
        if platform == "darwin":
            out = subprocess.run(
                ["sysctl", "-n", "hw.physicalcpu"], capture_output=True, text=True, timeout=2, check=False
            ).stdout.strip()
            return int(out) if out.isdigit() and int(out) > 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return None


def _linux_physical_cores() -> int | None:
    """Distinct (package, core) pairs among the CPUs in our affinity mask: sysfs, else /proc/cpuinfo."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cores: set[tuple[str, str]] = set()
    for topology in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology"):
        cpu = int(os.path.basename(os.path.dirname(topology))[3:])
        if allowed is not None and cpu not in allowed:
            continue
        try:
            with open(os.path.join(topology, "physical_package_id"), encoding="ascii") as fh:
                package = fh.read().strip()
            with open(os.path.join(topology, "core_id"), encoding="ascii") as fh:
                core = fh.read().strip()
        except OSError:
            continue
        cores.add((package, core))
    if cores:
        return len(cores)
    return _cpuinfo_physical_cores(allowed)


def _cpuinfo_physical_cores(allowed: set[int] | None) -> int | None:
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            blocks = fh.read().split("\n\n")
    except OSError:
        return None
    for block in blocks:
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in block.splitlines())
        )
        if "core id" not in fields:
            continue
        processor = fields.get("processor", "")
        if allowed is not None and processor.isdigit() and int(processor) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def total_memory_bytes() -> int | None:
    if sys.platform == "win32":
        return None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def available_memory_bytes() -> int | None:
    """Memory that can be used without swapping (Linux MemAvailable), else the total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return total_memory_bytes()


def resident_memory_bytes() -> int | None:
    """This process's resident set size (for the status bar and the fit-estimate check)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)
    except (ImportError, OSError):
        return None
