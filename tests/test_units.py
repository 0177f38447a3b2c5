"""The one size formatter: the same byte count reads the same in the window, the CLI and errors."""

from __future__ import annotations

import pytest

from desktop_app.core.units import human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (999, "999 B"), (1_000, "1 KB"), (812_400, "812 KB"), (253_113_024, "253.1 MB"),
     (4_700_000_000, "4.7 GB"), (2_000_000_000_000, "2.0 TB"), (-1_500_000, "-1.5 MB")],
)  # fmt: skip
def test_decimal_sizes(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(256 * 1024, "256 KiB"), (32 << 20, "32 MiB"), (1 << 30, "1 GiB"), (1536 << 20, "1.5 GiB"),
     (512, "512 B")],
)  # fmt: skip
def test_binary_limits(size: int, text: str) -> None:
    assert human_size(size, binary=True) == text
