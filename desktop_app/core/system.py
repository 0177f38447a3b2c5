"""What this machine has: cores and memory. Used for default load settings and memory checks."""

from __future__ import annotations

import os
import sys


def cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for generation. Beyond the physical cores llama.cpp gets slower, not faster;
    without a portable physical-core count we take half the logical CPUs on big machines."""
    n = cpu_count()
    return n if n <= 4 else max(4, n // 2)


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
