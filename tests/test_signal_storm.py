from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_pinned_pyside_survives_a_signal_storm() -> None:
    script = Path(__file__).with_name("signal_storm.py")
    result = subprocess.run(
        [sys.executable, str(script), "200000"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-2000:]}"
    assert "received 200000 of 200000" in result.stdout
