"""Shared fixtures. Every test gets its own HEARTH_HOME and runs Qt offscreen."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from tests.gemma_model import ensure_gemma


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a Python thread running (napari does the same)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"test left threads running: {[t.name for t in leaked]}"


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The real Gemma 3 270M Q4_K_M file (253 MB), assembled once per machine."""
    return ensure_gemma()


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., Path]:
    """Factory: `tiny_gguf(name="x", chat_template=...)` writes a tiny random-weight model."""
    from tests.tiny_gguf import write_tiny_model

    counter = iter(range(1_000_000))

    def make(filename: str | None = None, **kwargs: Any) -> Path:
        path = tmp_path / "tiny" / (filename or f"tiny-{next(counter)}.gguf")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_tiny_model(path, **kwargs)

    return make


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local Hugging Face Hub on 127.0.0.1 (tests/fake_hub.py), with HF_ENDPOINT pointing at it."""
    from tests.fake_hub import FakeHub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        yield hub
