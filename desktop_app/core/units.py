"""One way to write a number of bytes for people, used by the window, the CLI and error messages alike."""

from __future__ import annotations

_DECIMAL = ("B", "KB", "MB", "GB", "TB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(num_bytes: float, *, binary: bool = False) -> str:
    """'253.1 MB', '4.7 GB', '812 KB'. Sizes of files and memory are decimal, as disks and the OS's file
    managers show them; `binary=True` is for limits that are powers of two ('32 MiB', '256 KiB')."""
    step, units = (1024, _BINARY) if binary else (1000, _DECIMAL)
    value = float(num_bytes)
    for unit in units[:-1]:
        if abs(value) < step:
            if unit in ("B", units[1]) or (binary and value == int(value)):
                return f"{value:.0f} {unit}"
            return f"{value:.1f} {unit}"
        value /= step
    return f"{value:.0f} {units[-1]}" if binary and value == int(value) else f"{value:.1f} {units[-1]}"
